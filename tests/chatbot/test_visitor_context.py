"""The visitor's context beside the chat: what the widget's socket brings (page, referrer, time
zone, browser from the User-Agent, the site's attributes, the browser's visitor id) stored with
the conversation, cleaned and limited, and read back by the console with past conversations."""

import datetime as dt
import json
from dataclasses import replace
from urllib.parse import urlencode

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from chatbot.inbox import visitor
from chatbot.inbox.models import VisitorContext
from chatbot.models import Conversation
from tests.conftest import ORIGIN, chat_socket
from tests.handoff.conftest import make_agent

CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
EDGE_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86"
)
FIREFOX_ANDROID_TABLET = "Mozilla/5.0 (Android 14; Tablet; rv:133.0) Gecko/133.0 Firefox/133.0"
SAMSUNG_PHONE = (
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36"
)
WECHAT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 MicroMessenger/8.0.49(0x18003137) NetType/WIFI Language/zh_CN"
)


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        (CHROME_MAC, visitor.Browser("Chrome 131", "macOS", "desktop")),
        (SAFARI_IPHONE, visitor.Browser("Safari 17", "iOS", "mobile")),
        (EDGE_WINDOWS, visitor.Browser("Edge 131", "Windows", "desktop")),
        (FIREFOX_ANDROID_TABLET, visitor.Browser("Firefox 133", "Android", "tablet")),
        (SAMSUNG_PHONE, visitor.Browser("Samsung Internet 26", "Android", "mobile")),
        (WECHAT, visitor.Browser("WeChat 8", "iOS", "mobile")),
        ("Googlebot/2.1 (+http://www.google.com/bot.html)", visitor.Browser("", "", "bot")),
        ("", visitor.Browser()),
        ("something odd", visitor.Browser()),
    ],
)
def test_user_agents_name_browser_system_and_device(user_agent, expected):
    assert visitor.user_agent_parse(user_agent) == expected


def test_attributes_are_limited_and_kept_as_text():
    raw = {"plan": "pro", "order_id": 12345, "vip": True, "nested": {"a": 1}, "bad key!": "x"}
    raw |= {f"k{i}": "v" for i in range(30)}
    raw["long"] = "x" * 500
    kept = visitor.attributes_clean(json.dumps(raw))
    assert kept["plan"] == "pro" and kept["order_id"] == "12345" and kept["vip"] == "true"
    assert "nested" not in kept and "bad key!" not in kept
    assert len(kept) == visitor.ATTRIBUTES_MAX_KEYS
    assert visitor.attributes_clean("not json") == {} and visitor.attributes_clean("[1]") == {}
    assert visitor.attributes_clean({"long": "x" * 500})["long"] == "x" * 200


def test_query_keeps_only_http_urls_real_zones_and_well_formed_ids():
    context = visitor.context_from_query(
        {
            "visitor": "short",
            "page": "javascript:alert(1)",
            "referrer": "https://search.example/?q=refund",
            "tz": "Mars/Olympus",
        },
        user_agent="",
    )
    assert context.visitor_id == "" and context.page_url == "" and context.time_zone == ""
    assert context.referrer == "https://search.example/?q=refund"
    assert not context.has_attributes


def _query(**extra: str) -> str:
    params = {
        "visitor": "3f1c9e0a-1b2c-4d5e-8f90-a1b2c3d4e5f6",
        "page": "https://shop.example/orders/77",
        "referrer": "https://www.google.com/",
        "tz": "Asia/Shanghai",
        "attributes": json.dumps({"plan": "pro", "order_id": "A-77"}),
    }
    return "?" + urlencode(params | extra)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("settle")
async def test_the_socket_stores_the_context_once_the_conversation_is(upstream):
    headers = [*ORIGIN, (b"user-agent", SAFARI_IPHONE.encode())]
    async with chat_socket(_query(), headers=headers) as client:
        assert not await database_sync_to_async(VisitorContext.objects.exists)()
        await client.say("Where is my parcel?", "c-1")
        public_id = client.hello["conversation"]
    row = await database_sync_to_async(VisitorContext.objects.get)(
        conversation__public_id=public_id
    )
    assert row.page_url == "https://shop.example/orders/77"
    assert row.referrer == "https://www.google.com/"
    assert (row.browser, row.os, row.device) == ("Safari 17", "iOS", "mobile")
    assert row.time_zone == "Asia/Shanghai"
    assert json.loads(row.attributes) == {"plan": "pro", "order_id": "A-77"}
    assert row.visitor_id == "3f1c9e0a-1b2c-4d5e-8f90-a1b2c3d4e5f6"

    # Back on another page, with new attributes sent after the socket opened.
    token = client.hello["token"]
    query = _query(page="https://shop.example/help", conversation=public_id, token=token)
    async with chat_socket(query, headers=headers) as again:
        await again.send({"type": "context", "attributes": {"plan": "enterprise"}})
        await again.send({"type": "context", "attributes": "nope"})  # invalid: an error frame
        error = await again.recv()
    assert error["type"] == "error" and error["code"] == "invalid_frame"
    await database_sync_to_async(row.refresh_from_db)()
    assert row.page_url == "https://shop.example/help"
    assert json.loads(row.attributes) == {"plan": "enterprise"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("settle")
async def test_attributes_sent_before_the_first_message_are_kept(upstream):
    async with chat_socket(_query(attributes="{}"), headers=ORIGIN) as client:
        await client.send({"type": "context", "attributes": {"order_id": 991}})
        await client.say("Hello?", "c-1")
        public_id = client.hello["conversation"]
    row = await database_sync_to_async(VisitorContext.objects.get)(
        conversation__public_id=public_id
    )
    assert json.loads(row.attributes) == {"order_id": "991"}


@pytest.mark.django_db
def test_the_console_reads_the_context_with_past_conversations_of_the_same_browser():
    ann = make_agent("ann")
    same = "3f1c9e0a-1b2c-4d5e-8f90-a1b2c3d4e5f6"
    older = Conversation.objects.create(status="closed", rating=4)
    other_visitor = Conversation.objects.create()
    now = Conversation.objects.create(status="queued")
    for conversation, visitor_id in ((older, same), (other_visitor, "x" * 20), (now, same)):
        visitor.visitor_context_save(
            conversation_id=conversation.pk,
            context=visitor.Context(
                visitor_id=visitor_id,
                page_url="https://shop.example/<b>cart</b>",
                time_zone="Asia/Shanghai",
                user_agent=CHROME_MAC,
                attributes={"plan": "<img src=x onerror=alert(1)>"},
                has_attributes=True,
            ),
        )
    at = dt.datetime(2026, 12, 4, 4, 30, tzinfo=dt.UTC)
    view = visitor.visitor_context_of(public_id=now.public_id, now=at)
    assert view["local_time"] == {"time": "12:30", "date": "2026-12-04", "utc_offset": "UTC+08:00"}
    assert [p["conversation"] for p in view["past"]] == [older.public_id]
    assert view["past"][0]["rating"] == 4 and view["past"][0]["status"] == "closed"
    assert view["attributes"] == {"plan": "<img src=x onerror=alert(1)>"}  # text; never HTML

    client = Client()
    client.force_login(ann)
    response = client.get(f"/console/inbox/conversations/{now.public_id}/visitor/")
    assert response.status_code == 200
    body = response.json()
    assert body["browser"] == "Chrome 131" and body["device"] == "desktop"
    assert body["page_url"] == "https://shop.example/<b>cart</b>"
    assert client.get("/console/inbox/conversations/nope/visitor/").status_code == 404
    plain = Conversation.objects.create()
    assert client.get(f"/console/inbox/conversations/{plain.public_id}/visitor/").json() == {
        "conversation": plain.public_id,
        "known": False,
        "past": [],
    }
    outsider = Client()
    outsider.force_login(make_agent("eve", in_group=False))
    assert outsider.get(f"/console/inbox/conversations/{now.public_id}/visitor/").status_code == 403


@pytest.mark.django_db
def test_a_reconnect_that_says_nothing_new_writes_nothing():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    conversation = Conversation.objects.create()
    context = visitor.Context(
        visitor_id="3f1c9e0a-1b2c-4d5e-8f90-a1b2c3d4e5f6",
        page_url="https://shop.example/cart",
        time_zone="Europe/Paris",
        user_agent=CHROME_MAC,
    )
    visitor.visitor_context_save(conversation_id=conversation.pk, context=context)

    def writes(context: visitor.Context) -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            visitor.visitor_context_save(conversation_id=conversation.pk, context=context)
        return [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("UPDATE")]

    assert writes(context) == []
    assert writes(replace(context, page_url="")) == [], "an unknown page keeps the stored one"
    assert len(writes(replace(context, page_url="https://shop.example/checkout"))) == 1
    row = VisitorContext.objects.get(conversation=conversation)
    assert row.page_url == "https://shop.example/checkout" and row.browser == "Chrome 131"
