"""Conversation exports: one transcript as a printable page (escaped, agents by name), and the
conversations of a date range as CSV and JSON, checked row by row against what was stored."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from chatbot.handoff.models import LeftMessage
from chatbot.inbox import exports
from chatbot.inbox.models import ConversationLabel, Label
from chatbot.models import Attachment, Conversation, Message
from tests.handoff.conftest import make_agent

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def may_view_conversations(user) -> None:
    user.user_permissions.add(Permission.objects.get(codename="view_conversation"))


@pytest.fixture
def stored():
    ann = make_agent("ann")
    c = Conversation.objects.create(locale="zh-hans", status="closed", assigned_to=ann, rating=5)
    Message.objects.create(conversation=c, role="visitor", text="<script>alert(1)</script> 退款")
    Message.objects.create(conversation=c, role="bot", text="I can help.", source="faq")
    Message.objects.create(conversation=c, role="agent", author=ann, text='=HYPERLINK("x")')
    ConversationLabel.objects.create(conversation=c, label=Label.objects.create(name="vip"))
    old = Conversation.objects.create()
    Message.objects.create(conversation=old, role="visitor", text="old question")
    Conversation.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=20))
    return {"ann": ann, "conversation": c, "old": old}


def test_one_transcript_is_a_printable_escaped_page(stored):
    c = stored["conversation"]
    client = signed_in(stored["ann"])
    page = client.get(f"/console/conversations/{c.public_id}/transcript/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 退款" in html and "<script>" not in html
    assert "<b>ann</b>" in html  # the agent's message, by name
    assert "vip" in html and "5/5" in html
    assert "console/inbox.css" in html
    assert client.get("/console/conversations/nope/transcript/").status_code == 404
    Conversation.objects.filter(pk=c.pk).update(
        handoff_reason="visitor_request", close_reason="resolved", closed_at=timezone.now()
    )
    html = client.get(f"/console/conversations/{c.public_id}/transcript/").content.decode()
    assert "Visitor pressed “talk to a person”" in html and "— Resolved" in html, "not codes"

    photo = Attachment.objects.create(
        file="attachments/x.png", name="receipt.png", size=120_000, content_type="image/png"
    )
    Message.objects.create(conversation=c, role="visitor", text="receipt.png", attachment=photo)
    html = client.get(f"/console/conversations/{c.public_id}/transcript/").content.decode()
    assert "📎 File: [file].png (117.2\xa0KB), in the conversation, not in this transcript" in html
    assert "receipt" not in html, "a file's name is where people put who they are"
    outsider = make_agent("eve", in_group=False)
    assert (
        signed_in(outsider).get(f"/console/conversations/{c.public_id}/transcript/").status_code
        == 403
    )


def test_bulk_exports_need_the_permission_to_view_conversations(stored):
    """Every visitor's conversations leave the product: not for every agent."""
    today = timezone.localdate()
    query = {"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()}
    agent = signed_in(stored["ann"])
    for path in ("/console/export.csv", "/console/export.json"):
        refused = agent.get(path, query)
        assert refused.status_code == 403 and "permission" in refused.content.decode()
    page = agent.get("/console/reports/").content.decode()
    assert 'id="export-csv"' not in page and 'id="export-needs-permission"' in page
    assert agent.get(f"/console/conversations/{stored['conversation'].public_id}/transcript/")
    may_view_conversations(stored["ann"])
    lead = signed_in(stored["ann"])
    assert lead.get("/console/export.csv", query).status_code == 200
    assert 'id="export-csv"' in lead.get("/console/reports/").content.decode()


def test_bulk_csv_and_json_hold_every_message_of_the_range(stored):
    c = stored["conversation"]
    today = timezone.localdate()
    may_view_conversations(stored["ann"])
    client = signed_in(stored["ann"])
    query = {"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()}
    response = client.get("/console/export.csv", query)
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    body = b"".join(response.streaming_content)
    assert body.startswith("\ufeffconversation,".encode())  # Excel opens it as UTF-8
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    messages = list(Message.objects.filter(conversation=c).order_by("id"))
    assert [int(r["message_id"]) for r in rows] == [m.id for m in messages]
    # The old one is outside. An id may start with "-", which a spreadsheet would read as a
    # formula: such a cell is quoted like any other (1 id in 64).
    shown_id = "'" + c.public_id if c.public_id.startswith("-") else c.public_id
    assert {r["conversation"] for r in rows} == {shown_id}
    assert rows[2]["text"] == '\'=HYPERLINK("x")'  # no formula for a spreadsheet to run
    assert rows[2]["author"] == "ann" and rows[0]["labels"] == "vip"
    assert rows[0]["text"] == "<script>alert(1)</script> 退款"

    data = json.loads(b"".join(client.get("/console/export.json", query).streaming_content))
    assert [d["conversation"] for d in data] == [c.public_id]
    assert [m["text"] for m in data[0]["messages"]] == [m.text for m in messages]
    assert data[0]["agent"] == "ann" and data[0]["labels"] == ["vip"] and data[0]["rating"] == 5

    wide = {"from": (today - timedelta(days=30)).isoformat(), "to": today.isoformat()}
    data = json.loads(b"".join(client.get("/console/export.json", wide).streaming_content))
    assert [d["conversation"] for d in data] == [stored["old"].public_id, c.public_id]
    assert client.get("/console/export.csv", {"from": "x"}).status_code == 400


def test_bulk_export_pages_through_more_conversations_than_one_chunk(monkeypatch):
    monkeypatch.setattr(exports, "CHUNK", 3)
    made = [Conversation.objects.create() for _ in range(8)]
    for c in made:
        Message.objects.create(conversation=c, role="visitor", text=f"q{c.pk}")
    today = timezone.localdate()
    data = json.loads("".join(exports.export_json(start_day=today, end_day=today)))
    assert [d["conversation"] for d in data] == [c.public_id for c in made]


def test_the_analytics_demo_is_not_exported_nor_counted_as_spend(stored):
    """An analytics walk exported 44 conversations, 23 of them the demo's, with nothing to
    tell them apart, and the spend page listed only demo conversations as the costliest."""
    from chatbot.llm.costs import cost_report
    from chatbot.models import DEMO_VISITOR_PREFIX

    demo = Conversation.objects.create(visitor_token=DEMO_VISITOR_PREFIX + "1")
    Message.objects.create(conversation=demo, role="bot", text="made up", cost_usd=9.0)
    today = timezone.localdate()
    query = {"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()}
    may_view_conversations(stored["ann"])
    client = signed_in(stored["ann"])
    data = json.loads(b"".join(client.get("/console/export.json", query).streaming_content))
    assert demo.public_id not in [d["conversation"] for d in data]
    assert stored["conversation"].public_id in [d["conversation"] for d in data]
    report = cost_report()
    assert demo.public_id not in [row[0] for row in report.top_conversations]
    assert sum(row[1] for row in report.by_day) < 9.0


def test_bulk_exports_name_no_file():
    c = Conversation.objects.create()
    for name in ("王小明-身份证.JPG", "ann-lee-invoice.pdf", "no extension", ".env"):
        stored = Attachment.objects.create(
            file="attachments/x", name=name, size=10, content_type="image/jpeg"
        )
        Message.objects.create(conversation=c, role="visitor", text=name, attachment=stored)
    today = timezone.localdate()
    data = json.loads("".join(exports.export_json(start_day=today, end_day=today)))
    shown = [m["text"] for m in data[0]["messages"]]
    assert shown == ["[file].jpg", "[file].pdf", "[file]", "[file]"]


def test_the_printable_transcript_shows_messages_left_for_the_team_where_they_came_in(stored):
    """A conversation queued while nobody was online: its printout left out the one thing the
    visitor asked, the message they left for an email reply."""
    c, ann = stored["conversation"], stored["ann"]
    left = LeftMessage.objects.create(
        conversation=c, email="ada@example.com", text="Call me on 0612345678 about order 7"
    )
    later = Message.objects.create(conversation=c, role="visitor", text="Anyone there?")
    html = signed_in(ann).get(f"/console/conversations/{c.public_id}/transcript/").content.decode()
    assert "Visitor, a message left for the team" in html and "Not answered yet." in html
    assert "0612345678" not in html, "masked like every line of a printout"
    assert html.index("about order 7") < html.index(later.text)
    LeftMessage.objects.filter(pk=left.pk).update(answered_at=timezone.now(), answered_by=ann)
    html = signed_in(ann).get(f"/console/conversations/{c.public_id}/transcript/").content.decode()
    assert "Answered by email by ann on " in html and "Not answered yet." not in html


def test_the_printable_transcript_renders_bot_and_agent_markdown_and_escapes_the_rest(stored):
    """A console walk printed a table's pipes, "**今天**" and a link's brackets as written."""
    c, ann = stored["conversation"], stored["ann"]
    reply = "**今天**发货\n\n| 地区 | 时效 |\n|---|---|\n| 北京 | 2天 |\n\n[配送说明](https://s.example)"
    Message.objects.create(conversation=c, role="agent", author=ann, text=reply)
    Message.objects.create(conversation=c, role="bot", text="[x](javascript:alert(1)) <b>hi</b>")
    Message.objects.create(
        conversation=c, role="agent", author=ann, text="![p](https://e.example/p)"
    )
    Message.objects.create(conversation=c, role="visitor", text="**not markdown** from a visitor")
    html = signed_in(ann).get(f"/console/conversations/{c.public_id}/transcript/").content.decode()
    assert "<strong>今天</strong>" in html and "<td>北京</td>" in html
    assert '<a href="https://s.example">配送说明</a>' in html
    assert 'href="javascript' not in html and "&lt;b&gt;hi&lt;/b&gt;" in html, "no script, no HTML"
    assert "**not markdown** from a visitor" in html, "a visitor's words as written"
    assert "<img" not in html, "no address a message names is loaded"
