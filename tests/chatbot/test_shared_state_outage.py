"""Shared state against a Redis of the test's own that is stopped mid-test: claims raise unless
their caller asks to fail open (then they are this process's own), buffers carry on without
Redis, one warning per outage and one line when Redis answers again."""

import logging

import pytest
from redis.exceptions import RedisError

from chatbot import metrics
from chatbot.shared_state import RedisState

pytestmark = pytest.mark.redis


def unavailable(instead: str) -> float:
    return metrics.REDIS_UNAVAILABLE.labels("shared_state", instead)._value.get()


async def test_claims_and_buffers_while_redis_is_stopped(own_redis, settings, caplog):
    state = RedisState(own_redis.url, "test")
    assert await state.claim("answering:1", 30)
    assert not await state.claim("answering:1", 30), "held in Redis"
    await state.append("partial:1", "Hello", 30)
    assert await state.read("partial:1") == "Hello"

    own_redis.stop()
    before = unavailable("claims in process memory")
    with caplog.at_level(logging.INFO, logger="chatbot.shared_state"):
        with pytest.raises(RedisError):
            await state.claim("queued-answers:drain", 30)
        assert await state.claim("answering:2", 30, fail_open=True), "this process's own"
        assert not await state.claim("answering:2", 30, fail_open=True)
        await state.release("answering:2")
        assert await state.claim("answering:2", 30, fail_open=True), "released locally"
        await state.append("partial:2", "Hi", 30)
        assert await state.read("partial:1") is None
        await state.delete("partial:1")
    assert unavailable("claims in process memory") - before == 4
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
    assert "Redis did not answer a claim" in warnings[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info]

    own_redis.start()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="chatbot.shared_state"):
        assert await state.claim("answering:3", 30)
    assert [r.getMessage() for r in caplog.records] == ["shared state: Redis answers again"]
