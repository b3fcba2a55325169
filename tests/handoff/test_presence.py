"""Who is viewing a conversation (chatbot/handoff/presence.py), the same rules in memory and in
Redis: viewers expire unless renewed, leave at once, and concurrent viewers on different
processes are all kept (each writes its own entry; a read-modify-write of one dict lost one).
While Redis does not answer, this process's memory stands in (fails open)."""

import asyncio
import multiprocessing

import pytest
from prometheus_client import REGISTRY

from chatbot.handoff import presence
from statestore import policy
from tests.llm.conftest import FakeClock


async def test_viewers_come_renew_expire_and_leave(backend):
    clock = FakeClock()

    async def touch(user_id: int, name: str) -> list[str]:
        return await presence.viewers_touch(public_id="c1", user_id=user_id, name=name, clock=clock)

    assert await touch(1, "ann") == ["ann"]
    assert await touch(2, "bob") == ["ann", "bob"]
    assert await presence.viewers_touch(public_id="c2", user_id=3, name="cy", clock=clock) == [
        "cy"
    ], "per conversation"
    clock.advance(presence.VIEWER_TTL_S - 1)
    assert await touch(2, "bob") == ["ann", "bob"], "ann's entry has a second left"
    clock.advance(1)
    assert await touch(2, "bob") == ["bob"], "ann stopped renewing"
    assert await presence.viewers_leave(public_id="c1", user_id=2, clock=clock) == []
    assert await touch(1, "ann") == ["ann"], "back"


def _open(url: str, prefix: str, user_id: int, start) -> None:
    """One console process: its agent opens the busy conversation when `start` is set."""
    from django.conf import settings

    settings.REDIS_URL = url
    settings.SHARED_STATE_PREFIX = prefix
    policy.reset()
    start.wait()
    asyncio.run(presence.viewers_touch(public_id="busy", user_id=user_id, name=f"agent{user_id}"))


@pytest.mark.redis
def test_viewers_opening_at_once_on_different_processes_are_all_kept(on_redis, settings):
    """Eight processes, each with an agent opening the same conversation at the same moment:
    none drops another. Under the old shape (GET the dict, add oneself, SET it back) the same
    drill kept 4 or 5 of the 8 in five runs, and those dropped stayed unseen until their next
    heartbeat (15 s)."""
    context = multiprocessing.get_context("fork")
    start = context.Event()
    workers = [
        context.Process(
            target=_open, args=(settings.REDIS_URL, settings.SHARED_STATE_PREFIX, user_id, start)
        )
        for user_id in range(8)
    ]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    names = asyncio.run(presence.viewers_leave(public_id="busy", user_id=99))
    assert names == [f"agent{i}" for i in range(8)]


@pytest.mark.redis
async def test_while_redis_is_down_each_process_sees_its_own_viewers(own_redis, settings):
    settings.REDIS_RETRY_S = 0  # ask Redis on every call
    assert await presence.viewers_touch(public_id="c1", user_id=1, name="ann") == ["ann"]
    before = REGISTRY.get_sample_value("chatbot_redis_fallbacks_total", {"store": "presence"})

    own_redis.stop()
    assert await presence.viewers_touch(public_id="c1", user_id=2, name="bob") == ["bob"], (
        "ann's entry is in Redis; bob's in this process's memory"
    )
    assert await presence.viewers_leave(public_id="c1", user_id=2) == []
    after = REGISTRY.get_sample_value("chatbot_redis_fallbacks_total", {"store": "presence"})
    assert after - (before or 0) == 2

    own_redis.start()  # empty: it keeps nothing on disk
    assert await presence.viewers_touch(public_id="c1", user_id=1, name="ann") == ["ann"]
    assert own_redis.client().zcard("test-router:state:viewers:c1") == 1, "in Redis again"
