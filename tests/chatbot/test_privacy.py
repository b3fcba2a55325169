"""Visitors' personal data: masked in agents' exports; exported and erased for one visitor (the
`visitor_data` command and the admin's actions); the retention period; and the audit log of
agents' and admins' actions, read-only in the admin."""

import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from chatbot.audit.models import AuditEvent
from chatbot.cache.models import CachedAnswer
from chatbot.cache.pii import personal_masked
from chatbot.handoff import assignment
from chatbot.handoff import services as handoff
from chatbot.handoff.models import AgentNote, LeftMessage, TranscriptEmail
from chatbot.inbox import visitor
from chatbot.inbox.models import VisitorContext
from chatbot.models import Attachment, Conversation, Feedback, Message
from chatbot.privacy import services
from chatbot.privacy.tasks import retention_run
from chatbot.security.identity import Identity
from knowledge.models import FAQ, Document, DocumentCitation, NegativeExample
from tests.handoff.conftest import make_agent


def make_admin() -> User:
    return User.objects.create_superuser("root", password="pw-root-1234")


pytestmark = pytest.mark.django_db

ANN_TEXT = "Hi, I'm Ann Lee, email ann.lee@example.com, phone +44 7700 900123"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("my email is ann@example.com.", "my email is [email]."),
        ("call me on +44 7700 900123 please", "call me on [phone] please"),
        ("I live at 221b Baker Street, London", "[address], London"),
        ("My name is john smith, where is it?", "[name], where is it?"),
        (
            "我的手机号是13812345678，地址是北京市朝阳区建国路88号",
            "我的手机号是[phone]，[address]",
        ),
        ("pay with 4111 1111 1111 1111 please", "pay with [card] please"),
        ("my card is 4111-1111-1111-1111", "my [number]"),
        ("用这张卡4111111111111111付款", "用这张卡[card]"),
        ("order 4111 1111 1111 1112 please", "[number] please"),
        ("card ending 4242, born 3 march 1990", "card [number], [date]"),
        ("How do I reset my password?", "How do I reset my password?"),
        # The name, not the request after it (a transcript read "您好，[name]。").
        ("您好，我是李华，请提供一下订单号。", "您好，[name]，请提供一下订单号。"),
        ("本人李明申请退款", "[name]申请退款"),
        ("我叫张三，想问一下退货", "[name]，想问一下退货"),
    ],
)
def test_personal_details_are_masked_by_kind(text, masked):
    assert personal_masked(text) == masked


def _visitor_conversation(
    *, text: str = ANN_TEXT, user_id: str = "", email: str = "", status: str = "closed"
) -> Conversation:
    c = Conversation.objects.create(status=status, rating=2, rating_comment="call +44 7700 900123")
    question = Message.objects.create(conversation=c, role="visitor", text=text)
    answer = Message.objects.create(
        conversation=c, role="bot", text="Sure, Ann.", source="llm", reply_to=question
    )
    Feedback.objects.create(message=answer, value="down", comment="write to ann@example.com")
    visitor.visitor_context_save(
        conversation_id=c.pk,
        context=visitor.Context(
            visitor_id="browser-000000000000001",
            page_url="https://shop.example/orders/77",
            identity=Identity(user_id, "Ann Lee", email) if user_id else None,
        ),
    )
    if email:
        LeftMessage.objects.create(conversation=c, email=email, text="Please call me back")
        TranscriptEmail.objects.create(conversation=c, email=email)
    AgentNote.objects.create(conversation=c, text="VIP, phone +44 7700 900123")
    return c


def _cited(conversation: Conversation) -> None:
    """The help-centre page's "questions answered from this" row of the conversation's answer."""
    document = Document.objects.get_or_create(
        source_key="returns.md", defaults={"title": "Returns", "content_hash": "x"}
    )[0]
    question = Message.objects.filter(conversation=conversation, role="visitor").first()
    answer = Message.objects.filter(conversation=conversation, role="bot").first()
    DocumentCitation.objects.create(
        document=document,
        question=question.text,
        conversation_id=conversation.pk,
        message_id=answer.pk,
        document_version=1,
    )


def test_agents_exports_mask_personal_details_and_are_audited():
    ann = make_agent("ann")
    ann.user_permissions.add(Permission.objects.get(codename="view_conversation"))
    c = _visitor_conversation()
    client = Client()
    client.force_login(ann)
    today = timezone.localdate().isoformat()
    body = b"".join(client.get(f"/console/export.json?from={today}&to={today}").streaming_content)
    exported = json.loads(body)
    texts = [m["text"] for m in exported[0]["messages"]]
    assert "ann.lee@example.com" not in body.decode() and "7700" not in body.decode()
    assert "[email]" in texts[0] and "[phone" in texts[0]
    assert exported[0]["rating_comment"] == "call [phone]"
    csv_body = b"".join(
        client.get(f"/console/export.csv?from={today}&to={today}").streaming_content
    ).decode()
    assert c.public_id in csv_body and "ann.lee@example.com" not in csv_body
    page = client.get(f"/console/conversations/{c.public_id}/transcript/").content.decode()
    assert "ann.lee@example.com" not in page and "[email]" in page
    assert "call [phone]" in page  # the rating comment
    events = list(AuditEvent.objects.filter(action="export").order_by("id"))
    assert [(e.actor_name, e.detail["format"]) for e in events] == [
        ("ann", "json"),
        ("ann", "csv"),
        ("ann", "transcript"),
    ]
    assert events[-1].conversation == c.public_id


def test_one_visitor_is_found_by_conversation_verified_user_or_email():
    mine = _visitor_conversation(user_id="u-42", email="ann@example.com")
    phone = _visitor_conversation(text="Is it shipped?", user_id="u-42")
    left_only = _visitor_conversation(text="hello", email="ANN@example.com")
    written = _visitor_conversation(text="reply to ann@example.com please")
    other = _visitor_conversation(text="Someone else", user_id="u-77", email="bob@example.com")
    lookalikes = _visitor_conversation(text="I am joann@example.com, not ann@example.com.au")
    ends_a_sentence = _visitor_conversation(text="Write to ANN@example.com.")
    assert services.visitor_conversations(public_id=phone.public_id) == [mine, phone], (
        "with the verified user's other conversations, as the admin's actions"
    )
    assert services.visitor_conversations(user_id="u-42") == [mine, phone]
    found = services.visitor_conversations(email="ann@example.com")
    assert lookalikes not in found, "another visitor's address that contains Ann's"
    assert found == [mine, phone, left_only, written, ends_a_sentence]
    for part in ("example.com", "ann", "@example.com"):  # every visitor of the domain, else
        with pytest.raises(ValueError, match="not a whole email address"):
            services.visitor_conversations(email=part)
        with pytest.raises(CommandError, match="whole address"):
            call_command("visitor_data", "erase", "--email", part)
    assert other not in services.visitor_conversations(user_id="u-42", email="ann@example.com")
    assert services.visitor_conversations() == []


def test_the_command_exports_everything_about_the_visitor_as_json(tmp_path):
    mine = _visitor_conversation(user_id="u-42", email="ann@example.com")
    _cited(mine)
    _visitor_conversation(text="Someone else", user_id="u-77")
    out = tmp_path / "ann.json"
    call_command("visitor_data", "export", "--user-id", "u-42", "--output", str(out))
    data = json.loads(out.read_text())
    [c] = data["conversations"]
    assert c["conversation"] == mine.public_id
    assert c["visitor"]["verified_email"] == "ann@example.com"
    assert c["visitor"]["page_url"] == "https://shop.example/orders/77"
    assert c["messages"][0]["text"] == ANN_TEXT  # the visitor gets their own words unmasked
    assert c["left_messages"][0]["email"] == "ann@example.com"
    assert c["feedback"][0]["comment"] == "write to ann@example.com"
    assert c["agent_notes"][0]["text"].startswith("VIP")
    assert c["documents_cited"] == [
        {"document": "Returns", "question": ANN_TEXT, "cited": c["documents_cited"][0]["cited"]}
    ]
    event = AuditEvent.objects.get(action="visitor_export")
    assert event.detail == {"found_by": "user_id", "conversations": [mine.public_id]}
    assert "ann@example.com" not in json.dumps(event.detail)
    with pytest.raises(CommandError):
        call_command("visitor_data", "export")


def test_erasure_deletes_the_visitor_and_what_derives_from_them(
    settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = str(tmp_path)
    mine = _visitor_conversation(user_id="u-42", email="ann@example.com")
    phone = _visitor_conversation(text="Is it shipped?", user_id="u-42")
    other = _visitor_conversation(text="Someone else", user_id="u-77")
    attachment = Attachment(name="passport.png", size=3, content_type="image/png")
    attachment.file.save("x.png", ContentFile(b"png"), save=False)
    attachment.save()
    Message.objects.create(
        conversation=phone, role="visitor", text="passport.png", attachment=attachment
    )
    stored_file = tmp_path / attachment.file.name
    assert stored_file.exists()
    bot = Message.objects.filter(conversation=mine, role="bot").get()
    _cited(mine)
    _cited(other)
    faq = FAQ.objects.create(question="Where is my order?", answer="Track it.")
    NegativeExample.objects.create(faq=faq, text=ANN_TEXT, score=0.9, message_id=bot.pk)
    CachedAnswer.objects.create(
        question="q",
        answer="a",
        embedding=b"",
        knowledge_version=1,
        config_fingerprint="x",
        origin_message_id=Message.objects.filter(conversation=mine, role="visitor").get().pk,
        expires_at=timezone.now() + dt.timedelta(days=1),
    )

    err = io.StringIO()
    with pytest.raises(CommandError):  # lists, deletes nothing without --yes
        call_command("visitor_data", "erase", "--user-id", "u-42", stderr=err)
    assert Conversation.objects.count() == 3 and mine.public_id in err.getvalue()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("visitor_data", "erase", "--user-id", "u-42", "--yes", stderr=err)

    assert list(Conversation.objects.all()) == [other]
    assert not Message.objects.exclude(conversation=other).exists()
    assert not VisitorContext.objects.exclude(conversation=other).exists()
    assert not LeftMessage.objects.exists() and not TranscriptEmail.objects.exists()
    assert not Attachment.objects.exists() and not stored_file.exists()
    assert not NegativeExample.objects.exists()
    assert not CachedAnswer.objects.exists()
    assert list(DocumentCitation.objects.values_list("conversation_id", flat=True)) == [other.pk]
    event = AuditEvent.objects.get(action="visitor_erase")
    assert set(event.detail["conversations"]) == {mine.public_id, phone.public_id}


def _age(conversation: Conversation, days: int) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(
        updated_at=timezone.now() - dt.timedelta(days=days)
    )


def test_retention_anonymises_old_conversations_whatever_their_status(settings):
    """A queued one left for the whole period was abandoned: its left message's email went
    with it (before, queued and claimed ones waited for a person for good)."""
    settings.CHAT_RETENTION_DAYS, settings.CHAT_RETENTION_MODE = 30, "anonymise"
    old_closed = _visitor_conversation(email="ann@example.com")
    old_bot = _visitor_conversation(status="bot", text="my email is bob@example.com")
    abandoned = _visitor_conversation(status="queued", email="cy@example.com")
    recent = _visitor_conversation()
    waiting = _visitor_conversation(status="queued")
    for c in (old_closed, old_bot, abandoned):
        _age(c, 31)
    for c in (recent, waiting):
        _age(c, 29)
    _cited(old_closed)

    assert retention_run() == 3
    assert DocumentCitation.objects.get().question == personal_masked(ANN_TEXT) != ANN_TEXT
    assert LeftMessage.objects.get(conversation=abandoned).email == ""
    for c in (old_closed, old_bot, abandoned):
        c.refresh_from_db()
        assert c.anonymised_at is not None
        texts = list(Message.objects.filter(conversation=c).values_list("text", flat=True))
        assert not any("@example.com" in t or "7700" in t for t in texts), texts
        assert not VisitorContext.objects.filter(conversation=c).exists()
        assert c.rating == 2 and "7700" not in c.rating_comment  # the figures stay
        assert Message.objects.filter(conversation=c, source="llm").exists()
    assert LeftMessage.objects.get(conversation=old_closed).email == ""
    assert "7700" not in AgentNote.objects.get(conversation=old_closed).text
    assert "@" not in Feedback.objects.get(message__conversation=old_closed).comment
    for c in (recent, waiting):
        assert Message.objects.filter(conversation=c, text=ANN_TEXT).exists()
        assert VisitorContext.objects.filter(conversation=c).exists()
    assert retention_run() == 0  # nothing due twice
    assert AuditEvent.objects.get(action="retention").detail == {
        "mode": "anonymise",
        "days": 30,
        "conversations": 3,
    }


def test_retention_can_delete_and_is_off_by_default(settings):
    old = _visitor_conversation()
    _age(old, 400)
    settings.CHAT_RETENTION_DAYS = 0
    assert retention_run() == 0 and Conversation.objects.count() == 1
    settings.CHAT_RETENTION_DAYS, settings.CHAT_RETENTION_MODE = 365, "delete"
    assert retention_run() == 1 and not Conversation.objects.exists()


def test_agents_actions_are_audited():
    ann, bob = make_agent("ann"), make_agent("bob")
    c = Conversation.objects.create(status="queued", queued_at=timezone.now())
    handoff.conversation_claim(public_id=c.public_id, agent=ann)
    assignment.conversation_assign(public_id=c.public_id, agent=ann, to_agent_id=bob.pk)
    handoff.conversation_return_to_bot(public_id=c.public_id, agent=bob)
    Conversation.objects.filter(pk=c.pk).update(status="agent", assigned_to=bob)
    handoff.conversation_close(public_id=c.public_id, agent=bob, reason="solved")
    lines = [
        (e.actor_name, e.action, e.conversation, e.detail)
        for e in AuditEvent.objects.order_by("id")
    ]
    assert lines == [
        ("ann", "claim", c.public_id, {}),
        ("ann", "transfer", c.public_id, {"to_agent": "bob"}),
        ("bob", "return_to_bot", c.public_id, {}),
        ("bob", "close", c.public_id, {"reason": "solved"}),  # shown in the transcript
    ]
    # A claim that lost changes nothing and writes no line.
    handoff.conversation_claim(public_id=c.public_id, agent=ann)
    assert AuditEvent.objects.count() == 4


def test_the_audit_log_is_read_only_in_the_admin(admin_client):
    AuditEvent.objects.create(action="claim", actor_name="ann", conversation="abc")
    page = admin_client.get("/admin/audit/auditevent/")
    assert page.status_code == 200 and b"abc" in page.content
    event = AuditEvent.objects.get()
    assert admin_client.get("/admin/audit/auditevent/add/").status_code == 403
    assert admin_client.post(f"/admin/audit/auditevent/{event.pk}/delete/").status_code == 403
    change = admin_client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"action": "close"})
    assert change.status_code in (200, 403)
    event.refresh_from_db()
    assert event.action == "claim"


def test_admin_actions_export_and_erase_with_their_permissions():
    mine = _visitor_conversation(user_id="u-42", email="ann@example.com")
    phone = _visitor_conversation(text="Is it shipped?", user_id="u-42")
    other = _visitor_conversation(text="Someone else")
    staff = make_agent("carol")
    client = Client()
    client.force_login(staff)
    changelist = "/admin/chatbot/conversation/"
    found = Client()
    found.force_login(make_admin())
    listed = found.get(changelist, {"q": "u-42"}).content.decode()
    assert mine.public_id in listed and phone.public_id in listed
    assert other.public_id not in listed
    lookalike = _visitor_conversation(text="mail joann@example.com")
    listed = found.get(changelist, {"q": " ann@example.com "}).content.decode()
    assert mine.public_id in listed and phone.public_id in listed, "the verified user's too"
    assert lookalike.public_id not in listed and other.public_id not in listed
    Conversation.objects.filter(pk=lookalike.pk).delete()
    export = {"action": "visitor_export", "_selected_action": [mine.pk]}
    # Agents are staff without model permissions: no access to either action.
    assert client.post(changelist, export).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_conversation"))
    response = client.post(changelist, export)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    data = json.loads(response.content)
    assert {c["conversation"] for c in data["conversations"]} == {mine.public_id, phone.public_id}

    erase = {"action": "visitor_erase", "_selected_action": [mine.pk]}
    response = client.post(changelist, erase)  # only view: the action is not offered
    assert Conversation.objects.count() == 3
    staff.user_permissions.add(Permission.objects.get(codename="delete_conversation"))
    confirm = client.post(changelist, erase)
    assert confirm.status_code == 200 and phone.public_id.encode() in confirm.content
    assert Conversation.objects.count() == 3
    client.post(changelist, {**erase, "confirm_erase": "yes"})
    assert list(Conversation.objects.all()) == [other]
    assert AuditEvent.objects.filter(action="visitor_erase", actor_name="carol").exists()


def _beat(**env: str) -> subprocess.CompletedProcess:
    code = "from django.conf import settings; print(settings.CELERY_BEAT_SCHEDULE.get('retention'))"
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "SECRET_KEY": "x", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.django_db(databases=[])
def test_beat_runs_retention_only_when_a_period_is_set():
    assert _beat().stdout.strip().endswith("None")
    on = _beat(CHAT_RETENTION_DAYS="30", CHAT_RETENTION_EVERY_S="3600")
    assert "'task': 'chatbot.retention_apply'" in on.stdout and "3600" in on.stdout
    wrong = _beat(CHAT_RETENTION_DAYS="30", CHAT_RETENTION_MODE="shred")
    assert wrong.returncode != 0 and "CHAT_RETENTION_MODE" in wrong.stderr
