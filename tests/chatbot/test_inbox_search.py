"""The inbox's filters and full-text search, on SQLite and (CHATBOT_TEST_POSTGRES=1) on
PostgreSQL's full-text index, English and Chinese; labels, saved views and canned replies
through the console's HTTP endpoints."""

import datetime as dt
import io
import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from chatbot.handoff.models import LeftMessage, Team
from chatbot.inbox import search
from chatbot.inbox.models import CannedReply, Label, MessageSearch, SavedView, SearchIndexState
from chatbot.inbox.search import Filters, conversations_find
from chatbot.models import Conversation, Message
from tests.handoff.conftest import make_agent

pytestmark = pytest.mark.django_db

POSTGRES = connection.vendor == "postgresql"


def signed_in(user: User, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def conversation(*texts: str, **fields) -> Conversation:
    created = fields.pop("created_at", None)
    c = Conversation.objects.create(**fields)
    for i, text in enumerate(texts):
        Message.objects.create(conversation=c, role="visitor" if i % 2 == 0 else "bot", text=text)
    if created is not None:
        Conversation.objects.filter(pk=c.pk).update(created_at=created)
    return c


def found(**filters) -> list[str]:
    return [i["conversation"] for i in conversations_find(filters=Filters(**filters))]


@pytest.fixture
def corpus():
    return {
        "refund": conversation(
            "Hello", "Hi! How can I help?", "I want a refund for order 1234, it arrived broken"
        ),
        "zh": conversation("你好", "您好！", "我想申请退款，订单号是 5555", locale="zh-hans"),
        "zh_shipping": conversation("运费是多少？", "满99元包邮。", locale="zh-hans"),
        "shipping": conversation("How long does shipping take?", "Three to five days."),
    }


def test_english_words_find_the_conversation_that_holds_them_all(corpus):
    assert found(query="refund") == [corpus["refund"].public_id]
    assert found(query="REFUND 1234") == [corpus["refund"].public_id]
    assert found(query="refund shipping") == []  # every word, in one message
    assert set(found(query="shipping")) == {corpus["shipping"].public_id}
    if POSTGRES:  # stemmed by the index: other forms of the word match
        assert found(query="refunds") == [corpus["refund"].public_id]
        assert found(query="arrives") == [corpus["refund"].public_id]


def test_chinese_is_found_without_spaces_between_words(corpus):
    zh = corpus["zh"].public_id
    assert found(query="退款") == [zh]
    assert found(query="申请退款") == [zh]
    assert found(query="订单号") == [zh]
    assert found(query="退") == [zh]  # one character: a substring
    assert found(query="包邮") == [corpus["zh_shipping"].public_id]
    assert found(query="退款 包邮") == []
    if POSTGRES:  # tokens are NFKC-normalised: full-width digits match
        assert found(query="５５５５") == [zh]


def test_matches_carry_the_message_that_matched_and_ids_and_emails_still_work(corpus):
    item = conversations_find(filters=Filters(query="refund"))[0]
    assert item["match"].startswith("I want a refund")
    assert found(query=corpus["shipping"].public_id) == [corpus["shipping"].public_id]
    LeftMessage.objects.create(conversation=corpus["zh"], email="wang@example.cn", text="在吗")
    assert found(query="wang@example") == [corpus["zh"].public_id]
    LeftMessage.objects.create(
        conversation=corpus["shipping"],
        email="maria@example.com",
        text="我的包裹损坏了. Please call me back, parcel 7781",
    )
    for words in ("包裹损坏", "call me back", "7781"):  # a left message's words too
        assert found(query=words) == [corpus["shipping"].public_id], words


def test_filters_by_status_agent_label_and_day(corpus):
    ann, bob = make_agent("ann"), make_agent("bob")
    Conversation.objects.filter(pk=corpus["refund"].pk).update(status="agent", assigned_to=ann)
    Conversation.objects.filter(pk=corpus["zh"].pk).update(status="closed", assigned_to=bob)
    old = timezone.now() - timedelta(days=10)
    Conversation.objects.filter(pk=corpus["shipping"].pk).update(created_at=old)
    vip = Label.objects.create(name="vip", color="#ff0000")
    signed_in(ann).post(
        f"/console/inbox/conversations/{corpus['zh'].public_id}/labels/",
        json.dumps({"label": vip.id}),
        content_type="application/json",
    )
    assert found(status="agent") == [corpus["refund"].public_id]
    assert found(agent=bob.id) == [corpus["zh"].public_id]
    assert found(label=vip.id) == [corpus["zh"].public_id]
    assert found(label=vip.id, query="refund") == []
    today = timezone.localdate()
    recent = set(found(date_from=today - dt.timedelta(days=1), date_to=today))
    assert corpus["shipping"].public_id not in recent and corpus["refund"].public_id in recent
    old_day = timezone.localtime(old).date()
    assert found(date_from=old_day, date_to=old_day) == [corpus["shipping"].public_id]
    item = conversations_find(filters=Filters(label=vip.id))[0]
    assert item["labels"] == [{"id": vip.id, "name": "vip", "color": "#ff0000"}]


def test_search_endpoint_reads_filters_and_refuses_bad_ones(corpus):
    ann = make_agent("ann")
    client = signed_in(ann)
    response = client.get("/console/inbox/search/", {"query": "退款", "status": "bot"})
    assert response.status_code == 200
    assert [i["conversation"] for i in response.json()["items"]] == [corpus["zh"].public_id]
    assert client.get("/console/inbox/search/", {"status": "lost"}).status_code == 400
    assert client.get("/console/inbox/search/", {"date_from": "yesterday"}).status_code == 400
    # Past the database's integers: 400, not a 500 from OverflowError (a security walk).
    huge = "99999999999999999999999"
    assert client.get("/console/inbox/search/", {"label": huge}).status_code == 400
    assert client.get("/console/inbox/search/", {"agent": huge}).status_code == 400
    zh = corpus["zh"].public_id
    assert client.delete(f"/console/inbox/conversations/{zh}/labels/{huge}/").status_code == 404
    for path in (f"/agents/{huge}/avatar", f"/help/{huge}/"):
        assert client.get(path).status_code == 404, path
    outsider = make_agent("eve", in_group=False)
    assert signed_in(outsider).get("/console/inbox/search/").status_code == 403


@pytest.mark.skipif(not POSTGRES, reason="the full-text index is PostgreSQL's")
def test_index_catches_up_off_the_hot_path_and_keeps_recent_messages_in_view(corpus):
    assert not MessageSearch.objects.exists()  # storing a message tokenizes nothing
    assert found(query="refund") == [corpus["refund"].public_id]
    total = Message.objects.count()
    last = Message.objects.latest("id").id
    assert MessageSearch.objects.count() == total
    # Everything is recent: the mark stays behind, and nothing is tokenized twice.
    assert SearchIndexState.objects.get(pk=1).indexed_through == 0
    assert search.search_index_catch_up() == (0, last)
    later = timezone.now() + timedelta(seconds=search.INDEX_SETTLE_S + 1)
    assert search.search_index_catch_up(now=later) == (0, last)
    assert SearchIndexState.objects.get(pk=1).indexed_through == last
    late = conversation("Where is my parcel? Tracking says delivered")
    assert found(query="parcel deliver") == [late.public_id]


@pytest.mark.skipif(not POSTGRES, reason="the full-text index is PostgreSQL's")
def test_a_backlog_beyond_one_searchs_share_is_still_found(corpus, monkeypatch):
    monkeypatch.setattr(search, "INDEX_MAX_PER_SEARCH", 2)
    backlog = [conversation(f"Question number {n} about 发票") for n in range(5)]
    # Each search indexes two more messages; the rest are matched as substrings meanwhile.
    assert set(found(query="发票")) == {c.public_id for c in backlog}
    assert MessageSearch.objects.count() == 2
    assert found(query="refund 1234") == [corpus["refund"].public_id]
    assert MessageSearch.objects.count() == 4
    call_command("index_transcripts", stdout=io.StringIO())
    assert MessageSearch.objects.count() == Message.objects.count()
    assert set(found(query="发票 question")) == {c.public_id for c in backlog}


def test_labels_are_put_on_and_taken_off_by_agents_only_with_csrf(corpus):
    ann = make_agent("ann")
    vip = Label.objects.create(name="vip")
    url = f"/console/inbox/conversations/{corpus['refund'].public_id}/labels/"
    body = json.dumps({"label": vip.id})
    assert (
        signed_in(ann, csrf=True).post(url, body, content_type="application/json").status_code
        == 403
    )
    outsider = make_agent("eve", in_group=False)
    assert signed_in(outsider).post(url, body, content_type="application/json").status_code == 403
    client = signed_in(ann)
    added = client.post(url, body, content_type="application/json")
    assert added.status_code == 200 and [x["name"] for x in added.json()["labels"]] == ["vip"]
    again = client.post(url, body, content_type="application/json")
    assert len(again.json()["labels"]) == 1
    missing = client.post(url, json.dumps({"label": 999}), content_type="application/json")
    assert missing.status_code == 400 and missing.json()["error"] == "no_such_label"
    both = client.get(
        "/console/inbox/labels/",
        {"conversation": [corpus["refund"].public_id, corpus["zh"].public_id, "nope"]},
    ).json()["labels"]
    assert both == {corpus["refund"].public_id: [{"id": vip.id, "name": "vip", "color": "#64748b"}]}
    removed = client.delete(f"{url}{vip.id}/")
    assert removed.status_code == 200 and removed.json()["labels"] == []
    assert (
        client.post(
            "/console/inbox/conversations/nope/labels/", body, content_type="application/json"
        ).status_code
        == 404
    )


def test_saved_views_belong_to_one_agent(corpus):
    ann, bob = make_agent("ann"), make_agent("bob")
    view = {"name": "Refunds", "filters": {"query": "refund", "status": "bot"}}
    saved = signed_in(ann).post(
        "/console/inbox/views/", json.dumps(view), content_type="application/json"
    )
    assert saved.status_code == 201
    assert saved.json()["filters"]["query"] == "refund"
    # The same name replaces it.
    view["filters"]["status"] = "closed"
    signed_in(ann).post("/console/inbox/views/", json.dumps(view), content_type="application/json")
    assert SavedView.objects.get(agent=ann).filters["status"] == "closed"
    assert signed_in(bob).get("/console/inbox/").json()["views"] == []
    assert [v["name"] for v in signed_in(ann).get("/console/inbox/").json()["views"]] == ["Refunds"]
    view_id = SavedView.objects.get(agent=ann).id
    assert signed_in(bob).delete(f"/console/inbox/views/{view_id}/").status_code == 404
    bad = {"name": "x", "filters": {"status": "lost"}}
    assert (
        signed_in(ann)
        .post("/console/inbox/views/", json.dumps(bad), content_type="application/json")
        .status_code
        == 400
    )
    assert signed_in(ann).delete(f"/console/inbox/views/{view_id}/").status_code == 200
    assert not SavedView.objects.exists()


def post(client: Client, url: str, data: dict):
    return client.post(url, json.dumps(data), content_type="application/json")


def test_canned_reply_library_refuses_unknown_variables_and_taken_shortcuts():
    ann, bob = make_agent("ann"), make_agent("bob")
    text = "Hi {{visitor.name|there}}, {{agent.name}} here: your refund is on its way."
    created = post(
        signed_in(ann),
        "/console/inbox/replies/",
        {"shortcut": "/refund", "title": "Refund sent", "text": text},
    )
    assert created.status_code == 201 and created.json()["shortcut"] == "refund"
    reply = CannedReply.objects.get()
    assert reply.created_by == ann
    typo = post(
        signed_in(ann),
        "/console/inbox/replies/",
        {"shortcut": "x", "title": "t", "text": "Hi {{visitor.nmae}} {{order.id}}"},
    )
    assert typo.status_code == 400
    assert typo.json() == {"error": "unknown_variables", "variables": ["order.id", "visitor.nmae"]}
    taken = post(
        signed_in(bob), "/console/inbox/replies/", {"shortcut": "refund", "title": "t", "text": "x"}
    )
    assert taken.status_code == 400 and taken.json()["error"] == "shortcut_taken"
    # One reply per shortcut and language: the Chinese one is another reply.
    zh = post(
        signed_in(bob),
        "/console/inbox/replies/",
        {"shortcut": "refund", "locale": "zh-hans", "title": "退款", "text": "退款已处理。"},
    )
    assert zh.status_code == 201 and zh.json()["locale"] == "zh-hans"
    again = post(
        signed_in(bob),
        "/console/inbox/replies/",
        {"shortcut": "refund", "locale": "zh-hans", "title": "t", "text": "x"},
    )
    assert again.status_code == 400 and again.json()["error"] == "shortcut_taken"
    klingon = post(
        signed_in(bob),
        "/console/inbox/replies/",
        {"shortcut": "qapla", "locale": "tlh", "title": "t", "text": "x"},
    )
    assert klingon.status_code == 400 and klingon.json()["fields"] == ["locale"]
    CannedReply.objects.filter(locale="zh-hans").delete()
    bad = post(
        signed_in(bob),
        "/console/inbox/replies/",
        {"shortcut": "re fund", "title": "t", "text": "x"},
    )
    assert bad.status_code == 400 and bad.json()["fields"] == ["shortcut"]
    edited = post(
        signed_in(bob),
        f"/console/inbox/replies/{reply.id}/",
        {"shortcut": "refund", "title": "Refund", "text": "Done."},
    )
    assert edited.status_code == 200
    reply.refresh_from_db()
    assert (reply.title, reply.text, reply.updated_by) == ("Refund", "Done.", bob)
    listed = signed_in(bob).get("/console/inbox/").json()["replies"]
    assert [r["shortcut"] for r in listed] == ["refund"]
    assert signed_in(bob).delete(f"/console/inbox/replies/{reply.id}/").status_code == 200
    assert signed_in(bob).delete(f"/console/inbox/replies/{reply.id}/").status_code == 404
    assert not CannedReply.objects.exists()


def test_the_inbox_speaks_the_agents_language():
    ann = make_agent("ann")
    client = signed_in(ann)
    english = client.get("/console/inbox/").json()["text"]
    chinese = client.get("/console/inbox/", HTTP_ACCEPT_LANGUAGE="zh-hans").json()["text"]
    assert english["noReplies"] == "No canned replies yet."
    assert chinese["noReplies"] == "还没有快捷回复。"
    assert set(chinese) == set(english)
    page = client.get("/console/reports/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "客服报表" in page.content.decode()


def test_a_teams_canned_replies_are_its_members_own():
    ann, bob = make_agent("ann"), make_agent("bob")
    billing = Team.objects.create(name="Billing")
    billing.members.add(ann)
    everyone = post(
        signed_in(bob), "/console/inbox/replies/", {"shortcut": "refund", "title": "t", "text": "x"}
    )
    assert everyone.status_code == 201 and everyone.json()["team"] is None
    # The same shortcut for a team is another reply: billing's refunds are not everyone's.
    team_reply = post(
        signed_in(ann),
        "/console/inbox/replies/",
        {"shortcut": "refund", "team": billing.id, "title": "Card refund", "text": "y"},
    )
    assert team_reply.status_code == 201
    assert (team_reply.json()["team"], team_reply.json()["team_name"]) == (billing.id, "Billing")
    taken = post(
        signed_in(ann),
        "/console/inbox/replies/",
        {"shortcut": "refund", "team": billing.id, "title": "t", "text": "z"},
    )
    assert taken.status_code == 400 and taken.json()["error"] == "shortcut_taken"
    # Bob is not in Billing: he neither sees its reply nor writes, edits or deletes one.
    setup = signed_in(bob).get("/console/inbox/").json()
    assert [(r["shortcut"], r["team"]) for r in setup["replies"]] == [("refund", None)]
    assert setup["teams"] == []
    refused = post(
        signed_in(bob),
        "/console/inbox/replies/",
        {"shortcut": "card", "team": billing.id, "title": "t", "text": "x"},
    )
    assert refused.status_code == 400 and refused.json()["fields"] == ["team"]
    reply_id = team_reply.json()["id"]
    edit = post(
        signed_in(bob),
        f"/console/inbox/replies/{reply_id}/",
        {"shortcut": "refund", "title": "mine now", "text": "x"},
    )
    assert edit.status_code == 404
    assert signed_in(bob).delete(f"/console/inbox/replies/{reply_id}/").status_code == 404
    assert CannedReply.objects.get(pk=reply_id).title == "Card refund"
    # Ann sees both, the team's first.
    mine = signed_in(ann).get("/console/inbox/").json()
    assert [(r["shortcut"], r["team"]) for r in mine["replies"]] == [
        ("refund", billing.id),
        ("refund", None),
    ]
    assert mine["teams"] == [{"id": billing.id, "name": "Billing"}]
    bad = post(
        signed_in(ann),
        "/console/inbox/replies/",
        {"shortcut": "x", "team": "billing", "title": "t", "text": "x"},
    )
    assert bad.status_code == 400


def test_a_console_can_fetch_the_replies_again():
    """A console refreshes its replies when a shortcut is typed: one a teammate saved after it
    opened was not offered, and "/hel" went to the visitor as written."""
    ann, bob = make_agent("ann"), make_agent("bob")
    post(
        signed_in(bob),
        "/console/inbox/replies/",
        {"shortcut": "hello", "title": "Hi", "text": "Hi!"},
    )
    listed = signed_in(ann).get("/console/inbox/replies/")
    assert listed.status_code == 200
    assert [r["shortcut"] for r in listed.json()["replies"]] == ["hello"]
    assert Client().get("/console/inbox/replies/").status_code in (302, 403)
