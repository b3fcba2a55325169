"""The console's pages and reads: who may open it, CSRF on its POSTs, the one-click FAQ draft
that is not served until approved, canned replies from approved answers, search."""

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

from chatbot.handoff import selectors
from chatbot.handoff.models import LeftMessage
from chatbot.models import Conversation, Message
from knowledge import services as knowledge
from knowledge.models import FAQ, AnswerVariant
from tests.handoff.conftest import make_agent

pytestmark = pytest.mark.django_db


def signed_in(user: User, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def test_console_page_is_for_staff_agents_only(agents):
    assert Client().get("/console/").url.startswith("/console/login/")
    outsider = make_agent("eve", in_group=False)
    refused = signed_in(outsider).get("/console/")
    assert refused.status_code == 403
    assert b"this account is not an agent" in refused.content and b"agents" in refused.content
    assert b"console/console.js" not in refused.content
    not_staff = make_agent("mallory", staff=False)
    assert signed_in(not_staff).get("/console/").status_code == 403
    page = signed_in(agents["ann"]).get("/console/")
    assert page.status_code == 200 and b"console/console.js" in page.content


def test_the_console_words_close_reasons_and_an_unnamed_agent_in_the_agents_language(agents):
    """An upgrade walk saw "? replied in the chat since" for agent messages written before they
    recorded their author, and codes ("resolved") for close reasons."""

    def words(language: str) -> tuple[dict, dict]:
        page = signed_in(agents["ann"]).get("/console/", HTTP_ACCEPT_LANGUAGE=language)
        html = page.content.decode()

        def script(name: str) -> dict:
            start = html.index(f'id="{name}" type="application/json">') + len(name) + 30
            return json.loads(html[start : html.index("</script>", start)])

        return script("console-text"), script("left-message-text")

    console, left = words("en")
    assert console["closeReasons"]["resolved"] == "Resolved"
    assert console["closeReasons"]["abandoned"] == "Left the queue"
    assert left["someAgent"] == "An agent"
    console, left = words("zh-hans")
    assert console["closeReasons"]["resolved"] == "已解决" and left["someAgent"] == "一位客服"


def test_login_form_needs_the_csrf_token(agents):
    client = Client(enforce_csrf_checks=True)
    refused = client.post("/console/login/", {"username": "ann", "password": "pw-ann"})
    assert refused.status_code == 403
    page = client.get("/console/login/")
    token = page.context["csrf_token"]
    ok = client.post(
        "/console/login/",
        {"username": "ann", "password": "pw-ann", "csrfmiddlewaretoken": str(token)},
    )
    assert ok.status_code == 302 and ok.url == "/console/"


def _agent_reply(question: str, answer: str, locale: str = "en") -> Message:
    conversation = Conversation.objects.create(locale=locale)
    Message.objects.create(conversation=conversation, role="visitor", text=question)
    return Message.objects.create(conversation=conversation, role="agent", text=answer)


def test_faq_draft_in_one_click_is_not_served_until_approved(agents):
    reply = _agent_reply("Can I change my delivery address?", "Yes, until the parcel ships.")
    url = f"/console/messages/{reply.pk}/faq-draft/"
    assert signed_in(agents["ann"], csrf=True).post(url).status_code == 403, "CSRF enforced"
    assert signed_in(make_agent("eve", in_group=False)).post(url).status_code == 403
    response = signed_in(agents["ann"]).post(url)
    assert response.status_code == 201 and response.json()["created"] is True
    faq = FAQ.objects.get(question="Can I change my delivery address?")
    assert faq.active is False and faq.answer == "Yes, until the parcel ships."
    assert not AnswerVariant.objects.filter(
        faq=faq, status=AnswerVariant.Status.APPROVED, faq__active=True
    ).exists(), "nothing of it may be served"
    assert selectors.canned_replies(query="delivery address") == []
    # Visible in the admin for approval.
    admin = User.objects.create_superuser("root", "", "pw")
    listing = signed_in(admin).get("/admin/knowledge/faq/?active__exact=0")
    assert b"Can I change my delivery address?" in listing.content
    # The same question again becomes a draft variant of the existing FAQ.
    again = _agent_reply("Can I change my delivery address?", "Yes: write to us before it ships.")
    second = signed_in(agents["ann"]).post(f"/console/messages/{again.pk}/faq-draft/")
    assert second.json() == {"faq": faq.pk, "created": False}
    assert faq.variants.get(text="Yes: write to us before it ships.").status == "draft"


def test_canned_replies_come_from_approved_answers_only():
    faq = knowledge.faq_save(question="How long is delivery?", answer="Three to five days.")
    knowledge.variants_add(faq=faq, texts=["Usually 3-5 days."], origin="human", status="draft")
    found = selectors.canned_replies(query="delivery")
    assert [c["text"] for c in found] == ["Three to five days."]
    assert selectors.canned_replies(query="delivery", locale="zh-hans") == []


def test_search_by_text_or_visitor():
    reply = _agent_reply("My umbrella broke", "Sorry to hear that")
    conversation = reply.conversation
    LeftMessage.objects.create(conversation=conversation, email="ada@example.com", text="x")
    by_text = selectors.conversations_search(query="umbrella")
    by_email = selectors.conversations_search(query="ada@example")
    by_id = selectors.conversations_search(query=conversation.public_id)
    for found in (by_text, by_email, by_id):
        assert [c["conversation"] for c in found] == [conversation.public_id]
    assert selectors.conversations_search(query="nothing like this") == []


def test_the_left_messages_inbox_speaks_the_agents_language(agents):
    english = signed_in(agents["ann"]).get("/console/").content.decode()
    assert "Left messages" in english and '"send": "Send by email"' in english
    chinese = (
        signed_in(agents["ann"]).get("/console/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    )
    assert ">留言 <span" in chinese
    assert '"send": "\\u901a\\u8fc7\\u90ae\\u4ef6\\u53d1\\u9001"' in chinese  # 通过邮件发送


def test_the_console_and_its_pages_speak_chinese(agents):
    chinese = signed_in(agents["ann"]).get("/console/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    page = chinese.content.decode()
    assert '<html lang="zh-hans">' in page
    for words in ("客服控制台", ">接入</button>", ">交还机器人</button>", "内部备注", "键盘快捷键"):
        assert words in page, words
    script_words = chinese.context["console_text"]
    assert script_words["youOwn"] == "此对话归您处理。"
    assert script_words["agentsOnline"] == "{n} 位客服在线"
    assert chinese.context["assignment_text"]["transferred"] == "{actor} 已将此对话转给 {agent}。"
    assert "visitor.name|您}}</code> 在值未知时写作“您”" in page, "not an English example"
    outsider = signed_in(make_agent("eve", in_group=False))
    refused = outsider.get("/console/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "您已登录为 <strong>eve</strong>，但此账号不是客服" in refused
    login = Client().get("/console/login/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert ">用户名</label>" in login and ">登录</button>" in login


def test_every_console_script_text_has_its_chinese(agents):
    """The console's script words (a bot answer's trace line among them) come translated: none
    is left as its English in a zh-hans console."""
    english = signed_in(agents["ann"]).get("/console/").context["console_text"]
    chinese = signed_in(agents["ann"]).get("/console/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    words = chinese.context["console_text"]
    assert words["traceLatency"] == "耗时 {ms} 毫秒"
    assert words["traceUngrounded"] == "无依据：未引用任何来源"
    untranslated = [key for key, text in words.items() if text == english[key]]
    assert untranslated == []


def test_the_admins_canned_reply_form_refuses_a_variable_the_console_cannot_fill(admin_client):
    """It took `{{order.id}}` and the console then sent "Your order is on its way." (a walk)."""
    from chatbot.inbox.models import CannedReply

    form = {"shortcut": "ordr", "locale": "", "team": "", "title": "Order", "text": ""}
    page = admin_client.post(
        "/admin/inbox/cannedreply/add/", {**form, "text": "Your order {{order.id}} is on its way."}
    )
    assert page.status_code == 200
    assert "These variables cannot be filled in: {{order.id}}" in page.content.decode()
    assert not CannedReply.objects.exists()
    saved = admin_client.post(
        "/admin/inbox/cannedreply/add/", {**form, "text": "Hi {{visitor.name|there}}!"}
    )
    assert saved.status_code == 302 and CannedReply.objects.get().shortcut == "ordr"
