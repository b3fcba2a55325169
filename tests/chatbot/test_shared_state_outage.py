"""Shared state against a Redis of the test's own that is stopped mid-test: claims raise unless
their caller asks to fail open (then they are this process's own), buffers carry on without
Redis, one warning per outage and one line when Redis answers again."""

import logging

import pytest

from chatbot import metrics
from chatbot.shared_state import RedisState
from statestore.policy import RedisUnavailable

pytestmark = pytest.mark.redis


def fallbacks(store: str) -> float:
    return metrics.REDIS_FALLBACKS.labels(store)._value.get()


async def test_claims_and_buffers_while_redis_is_stopped(own_redis, settings, caplog):
    settings.REDIS_RETRY_S = 0  # ask Redis on every call
    state = RedisState(own_redis.url, "test")
    assert await state.claim("answering:1", 30)
    assert not await state.claim("answering:1", 30), "held in Redis"
    await state.append("partial:1", "Hello", 30)
    assert await state.read("partial:1") == "Hello"

    own_redis.stop()
    before = {store: fallbacks(store) for store in ("claim", "buffer")}
    with caplog.at_level(logging.INFO, logger="statestore.policy"):
        with pytest.raises(RedisUnavailable):
            await state.claim("queued-answers:drain", 30)
        assert await state.claim("answering:2", 30, fail_open=True), "this process's own"
        assert not await state.claim("answering:2", 30, fail_open=True)
        await state.release("answering:2")
        assert await state.claim("answering:2", 30, fail_open=True), "released locally"
        await state.append("partial:2", "Hi", 30)
        assert await state.read("partial:1") is None
        await state.delete("partial:1")
    assert fallbacks("claim") - before["claim"] == 5
    assert fallbacks("buffer") - before["buffer"] == 3
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
    assert "answer claims are this process's own" in warnings[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info]

    own_redis.start()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="statestore.policy"):
        assert await state.claim("answering:3", 30)
    assert [r.getMessage() for r in caplog.records] == [
        "Redis answers again: shared state is shared again"
    ]
