"""The queue under a flood (issue 16, finding 3): 300 handoffs from one client hid the real
visitor queued after them (the console listed the oldest 200 and counted no further), every
handoff sent a frame to every queued visitor, and junk stayed queued after its sockets closed.
Real sockets through the full ASGI stack; the sweeper is the one the server runs."""

import asyncio
from contextlib import AsyncExitStack
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from chatbot.handoff import background
from chatbot.handoff.models import LeftMessage
from chatbot.models import Conversation
from tests.conftest import chat_socket
from tests.handoff.conftest import agent_socket
from tests.handoff.test_handoff import nothing_more, queued_by_button, until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("settle", "settle_handoffs"),
]


@database_sync_to_async
def queue_junk(count: int, *, seen_ago_s: float | None = None) -> list[str]:
    """`count` queued conversations, handed off before anyone now (oldest first)."""
    now = timezone.now()
    seen = {} if seen_ago_s is None else {"visitor_seen_at": now - timedelta(seconds=seen_ago_s)}
    rows = [
        Conversation(
            status=Conversation.Status.QUEUED,
            handoff_reason="visitor_request",
            queued_at=now - timedelta(seconds=3600 - n),
            **seen,
        )
        for n in range(count)
    ]
    return [c.public_id for c in Conversation.objects.bulk_create(rows)]


@database_sync_to_async
def status_of(public_id: str) -> tuple[str, str]:
    c = Conversation.objects.get(public_id=public_id)
    return c.status, c.close_reason


async def test_the_console_counts_and_pages_the_whole_queue(upstream, agents, settings):
    settings.HANDOFF_QUEUE_PAGE_SIZE = 50
    await queue_junk(300)
    async with chat_socket() as real:
        place = await queued_by_button(real)
        assert place["position"] == 301
        public_id = real.hello["conversation"]
        async with agent_socket(agents["ann"]) as ann:
            hello = ann.hello
            assert hello["counts"] == {"queued": 301, "agent": 0}, "the true total, not 200"
            first = [i for i in hello["conversations"] if i["status"] == "queued"]
            assert len(first) == 50 and public_id not in {i["conversation"] for i in first}
            listed = [i["conversation"] for i in first]
            offset = len(first)
            while offset < hello["counts"]["queued"]:
                await ann.send({"type": "queue_page", "offset": offset})
                page = await ann.recv_until("queue_page")
                assert page["offset"] == offset and page["counts"]["queued"] == 301
                listed += [i["conversation"] for i in page["items"]]
                offset += len(page["items"])
    assert len(listed) == len(set(listed)) == 301
    assert listed[-1] == public_id, "the real visitor is on the last page, oldest first"


async def test_queue_places_are_coalesced_not_sent_per_handoff(upstream, agents, settings):
    settings.HANDOFF_QUEUE_BROADCAST_INTERVAL_S = 5.0
    async with AsyncExitStack() as stack:
        ann = await stack.enter_async_context(agent_socket(agents["ann"]))
        first = await stack.enter_async_context(chat_socket())
        await queued_by_button(first)
        others = [await stack.enter_async_context(chat_socket()) for _ in range(20)]
        last_places = []
        for visitor in others:
            last_places.append((await queued_by_button(visitor))["position"])
        await background.wait_for_pending()  # the wave after the flood
        # One frame per handoff to every queued visitor made 20 more to the first (O(n^2) in
        # all); the wave itself repeated each visitor's own place once more.
        assert [f for f in await nothing_more(first, 0.3) if f["type"] == "handoff"] == []
        assert [f for f in await nothing_more(others[-1], 0.3) if f["type"] == "handoff"] == []
        lists = [f for f in await nothing_more(ann, 0.3) if f["type"] == "conversations"]
        # The first leaves: every other place changes, and each visitor hears it once.
        await first.send({"type": "handoff_cancel"})
        await until(first, "conversation")
        await background.wait_for_pending()
        moved = [
            [f for f in await nothing_more(visitor, 0.3) if f["type"] == "handoff"]
            for visitor in (others[0], others[-1])
        ]
    assert last_places == list(range(2, 22)), "each visitor learns their own place at once"
    assert [[(f["position"], f["agents_online"]) for f in frames] for frames in moved] == [
        [(1, 1)],
        [(20, 1)],
    ]
    assert 1 <= len(lists) <= 3 and lists[-1]["counts"]["queued"] == 21


async def test_abandoned_queued_conversations_leave_the_queue(upstream, agents, settings):
    settings.HANDOFF_ABANDONED_AFTER_S = 60
    settings.HANDOFF_SWEEP_INTERVAL_S = 0.1
    (gone,) = await queue_junk(1, seen_ago_s=120)
    (never_seen,) = await queue_junk(1)  # queued an hour ago, no socket since
    (recent,) = await queue_junk(1, seen_ago_s=10)
    (left_a_message,) = await queue_junk(1, seen_ago_s=120)
    await database_sync_to_async(LeftMessage.objects.create)(
        conversation=await database_sync_to_async(Conversation.objects.get)(
            public_id=left_a_message
        ),
        email="ada@example.com",
        text="Please call me back",
    )
    async with chat_socket() as here, agent_socket(agents["ann"]) as ann:
        await queued_by_button(here)
        present = here.hello["conversation"]
        # Still here, but last seen long ago as far as the row says: the sweep sees them first.
        await database_sync_to_async(Conversation.objects.filter(public_id=present).update)(
            visitor_seen_at=timezone.now() - timedelta(seconds=600)
        )
        listed = await ann.recv_until(
            lambda f: f["type"] == "conversations" and f["counts"]["queued"] == 3, timeout=10
        )
        await asyncio.sleep(0.3)  # a few more sweeps: nothing else leaves
        assert await status_of(present) == ("queued", "")
        await until(here, lambda f: f["type"] == "handoff" and f["position"] == 3, timeout=5)
    assert await status_of(gone) == ("closed", "abandoned")
    assert await status_of(never_seen) == ("closed", "abandoned")
    assert await status_of(recent) == ("queued", "")
    assert await status_of(left_a_message) == ("queued", ""), "an agent answers it by email"
    queued = {i["conversation"] for i in listed["items"] if i["status"] == "queued"}
    assert queued == {recent, left_a_message, present}
