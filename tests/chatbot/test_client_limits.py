"""Per-client limits and rows only for visitors who write (issue 16, finding 4): fresh sockets
were fresh budgets (40 sockets made 205 model calls in 18 s) and every socket a row (2,000
sockets, 2,001 rows). Real sockets through the full ASGI stack, each with a peer address."""

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from chatbot.asgi import application
from chatbot.models import Conversation
from chatbot.security.ratelimit import client_ip
from tests.conftest import ORIGIN, Client

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("settle")]

OFF = (0.0, 0.0)


@pytest.fixture
def limits(settings) -> dict[str, tuple[float, float]]:
    """No per-client limit but those a test sets (per minute, burst)."""
    settings.CHAT_CLIENT_LIMITS = {
        "connect": OFF,
        "conversation": OFF,
        "message": OFF,
        "handoff": OFF,
        "model": OFF,
    }
    return settings.CHAT_CLIENT_LIMITS


def communicator(ip: str, query: str = "", headers=None) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(application, f"/ws/chat/{query}", headers=headers or ORIGIN)
    socket.scope["client"] = [ip, 50000]
    return socket


@asynccontextmanager
async def visitor(ip: str, query: str = "", headers=None) -> AsyncIterator[Client]:
    socket = communicator(ip, query, headers)
    connected, _ = await socket.connect()
    assert connected
    client = Client(socket)
    try:
        client.hello = await client.recv()
        yield client
    finally:
        await socket.disconnect()


@database_sync_to_async
def conversations() -> int:
    return Conversation.objects.count()


async def test_sockets_that_send_nothing_store_no_conversation(upstream, limits):
    for _ in range(20):
        async with visitor("203.0.113.1") as client:
            # What the widget sends by itself on every connect, and typing: nothing to store.
            await client.send({"type": "resume", "after": 0})
            assert (await client.recv())["type"] == "resumed"
            await client.send({"type": "typing", "active": True})
            assert client.hello["conversation"] and client.hello["token"]
            pending = client.hello
    assert await conversations() == 0
    # A reload before the first message comes back to the same conversation, still no row.
    query = f"?conversation={pending['conversation']}&token={pending['token']}"
    async with visitor("203.0.113.1", query) as reloaded:
        assert reloaded.hello["conversation"] == pending["conversation"]
        assert reloaded.hello["last_id"] == 0
    assert await conversations() == 0
    forged = communicator("203.0.113.1", f"?conversation={pending['conversation']}&token=x")
    await forged.connect()
    assert json.loads(await forged.receive_from())["code"] == "forbidden"
    await forged.disconnect()

    async with visitor("203.0.113.1") as client:
        frames = await client.say("Where is my parcel?", "m1")
        hello = client.hello
    assert frames[0]["type"] == "ack" and frames[-1]["type"] == "done"
    assert await conversations() == 1
    # The id and token the first hello gave are the stored conversation's: it resumes.
    query = f"?conversation={hello['conversation']}&token={hello['token']}"
    async with visitor("203.0.113.1", query) as again:
        assert again.hello["conversation"] == hello["conversation"]
        assert again.hello["last_id"] == frames[-1]["message"]["id"]


async def test_many_fresh_sockets_from_one_client_are_refused_with_a_clear_error(upstream, limits):
    limits["connect"] = (6.0, 5.0)
    for _ in range(5):
        async with visitor("198.51.100.7") as client:
            assert client.hello["type"] == "hello"
    refused = communicator("198.51.100.7")
    connected, _ = await refused.connect()
    assert connected  # accepted, so that the refusal can say why
    error = json.loads(await refused.receive_from())
    assert error["type"] == "error" and error["code"] == "too_many_requests"
    assert error["text"] and 0 < error["retry_after"] <= 10
    closed = await refused.receive_output()
    assert closed == {"type": "websocket.close", "code": 4429}
    await refused.disconnect()
    # Another client is not affected.
    async with visitor("198.51.100.8") as other:
        assert other.hello["type"] == "hello"


async def test_the_refusal_is_in_chinese_for_chinese_visitors(upstream, limits):
    limits["connect"] = (1.0, 1.0)
    async with visitor("198.51.100.9"):
        pass
    refused = communicator("198.51.100.9", "?locale=zh-hans")
    await refused.connect()
    error = json.loads(await refused.receive_from())
    assert error["code"] == "too_many_requests" and "网络" in error["text"]
    await refused.disconnect()


async def test_new_conversations_per_client_are_limited(upstream, limits):
    limits["conversation"] = (1.0, 3.0)
    outcomes = []
    for n in range(5):
        async with visitor("192.0.2.10") as client:
            await client.send({"type": "message", "client_id": f"c{n}", "text": "Hello there"})
            first = await client.recv()
            outcomes.append(first)
            if first["type"] == "ack":
                await client.recv_until("done")
    assert [f["type"] for f in outcomes] == ["ack"] * 3 + ["error"] * 2
    assert outcomes[3]["code"] == "rate_limited" and outcomes[3]["client_id"] == "c3"
    assert outcomes[3]["retry_after"] > 0
    assert await conversations() == 3


async def test_messages_per_client_are_limited_across_its_conversations(upstream, limits):
    limits["message"] = (1.0, 4.0)
    acked = errors = 0
    for n in range(3):
        async with visitor("192.0.2.20") as client:
            for m in range(2):
                await client.send({"type": "message", "client_id": f"{n}-{m}", "text": "Hi"})
                frame = await client.recv()
                if frame["type"] == "ack":
                    acked += 1
                    await client.recv_until("done")
                else:
                    assert frame["code"] == "rate_limited"
                    errors += 1
    # Each conversation alone is within its own limit (5 at once); the client is not.
    assert (acked, errors) == (4, 2)


async def test_handoffs_per_client_are_limited(upstream, limits):
    limits["handoff"] = (1.0, 2.0)
    frames = []
    for _ in range(4):
        async with visitor("192.0.2.30") as client:
            await client.send({"type": "handoff"})
            frames.append(await client.recv())
    assert [f["type"] for f in frames] == ["handoff", "handoff", "error", "error"]
    # Its own words: "too many chats from your network" (the socket limit's) misled.
    assert frames[2]["code"] == "handoff_limited" and frames[2]["retry_after"] > 0
    assert frames[2]["text"].startswith("You've asked for a person several times")
    queued = await database_sync_to_async(
        Conversation.objects.filter(status=Conversation.Status.QUEUED).count
    )()
    assert queued == 2 and await conversations() == 2, "a refused handoff stores nothing"


async def test_the_address_comes_from_a_proxy_header_only_when_trusted(settings):
    spoofed = [(b"x-forwarded-for", b"6.6.6.6, 203.0.113.50")]
    scope = {"client": ["10.0.0.2", 4000], "headers": spoofed}
    settings.CHAT_TRUSTED_PROXY_COUNT = 0
    assert client_ip(scope) == "10.0.0.2", "a header anyone can write is not trusted"
    settings.CHAT_TRUSTED_PROXY_COUNT = 1
    # The entry our proxy appended, not the one the client wrote before it.
    assert client_ip(scope) == "203.0.113.50"
    assert client_ip({"client": ["10.0.0.2", 4000], "headers": []}) == "10.0.0.2"
    settings.CHAT_TRUSTED_PROXY_COUNT = 2
    two_proxies = [(b"x-forwarded-for", b"6.6.6.6, 203.0.113.50, 10.0.0.9")]
    assert client_ip({"client": ["10.0.0.2", 4000], "headers": two_proxies}) == "203.0.113.50"


async def test_sockets_behind_a_trusted_proxy_are_limited_per_forwarded_address(
    upstream, limits, settings
):
    settings.CHAT_TRUSTED_PROXY_COUNT = 1
    limits["connect"] = (1.0, 1.0)

    def through_proxy(ip: bytes) -> list[tuple[bytes, bytes]]:
        return [*ORIGIN, (b"x-forwarded-for", ip)]

    # Every socket's peer is the proxy; the visitors behind it are told apart.
    async with visitor("10.0.0.2", headers=through_proxy(b"203.0.113.61")):
        pass
    async with visitor("10.0.0.2", headers=through_proxy(b"203.0.113.62")) as other:
        assert other.hello["type"] == "hello"
    refused = communicator("10.0.0.2", headers=through_proxy(b"203.0.113.61"))
    await refused.connect()
    assert json.loads(await refused.receive_from())["code"] == "too_many_requests"
    await refused.disconnect()


async def test_the_reported_flood_with_the_default_limits(upstream, settings):
    """The finding: 40 fresh sockets from one client, each asking the model until refused."""
    settings.CHAT_PIPELINE_STAGES = ["llm", "fallback"]
    settings.HANDOFF_FALLBACK_STREAK = 0
    started = time.monotonic()
    refused_sockets = 0
    for n in range(40):
        socket = communicator("203.0.113.99")
        await socket.connect()
        client = Client(socket)
        hello = await client.recv()
        if hello["type"] == "error":
            refused_sockets += 1
            await socket.disconnect()
            continue
        for m in range(5):
            await client.send({"type": "message", "client_id": f"{n}-{m}", "text": f"Order {m}?"})
            if (await client.recv())["type"] == "ack":
                await client.recv_until("done")
        await socket.disconnect()
    elapsed = time.monotonic() - started
    rows, calls = await conversations(), upstream.stats.requests
    print(f"\n40 sockets in {elapsed:.1f} s: {refused_sockets} refused, {rows} rows, {calls} calls")
    connect, conversation, _, _, model = (
        settings.CHAT_CLIENT_LIMITS[a]
        for a in ("connect", "conversation", "message", "handoff", "model")
    )
    assert refused_sockets >= 40 - connect[1] - connect[0] / 60 * elapsed - 1
    assert rows <= conversation[1] + conversation[0] / 60 * elapsed + 1
    assert calls <= model[1] + model[0] / 60 * elapsed + 1, "was 205 calls in 18 s"
