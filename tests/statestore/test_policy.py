"""The one failure policy of shared state, reached from async code (`via_redis`) and from sync
code (`via_redis_sync`: admin, Celery, database lanes) at once: one outage record per Redis
URL, so an outage seen by both is one warning, one retry interval and one line when Redis
answers again. Each test runs a redis-server of its own (never the shared one)."""

import logging

import pytest
from asgiref.sync import sync_to_async
from prometheus_client import REGISTRY

from statestore import policy
from statestore.policy import RedisUnavailable, via_redis, via_redis_sync

pytestmark = pytest.mark.redis


def fallbacks(store: str) -> float:
    return REGISTRY.get_sample_value("chatbot_redis_fallbacks_total", {"store": store}) or 0.0


def warnings(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "statestore.policy" and r.levelno == logging.WARNING
    ]


async def ping_async(instead=None):
    return await via_redis("test", lambda client: client.ping(), instead)


def ping_sync(instead=None):
    return via_redis_sync("test", lambda client: client.ping(), instead)


async def test_sync_and_async_callers_share_one_outage(own_redis, settings, caplog):
    settings.REDIS_RETRY_S = 0  # ask Redis on every call
    assert await ping_async() is True
    assert await sync_to_async(ping_sync)() is True

    own_redis.stop()
    before = fallbacks("test")
    with caplog.at_level(logging.INFO, logger="statestore.policy"):
        assert await ping_async(lambda: "memory") == "memory", "fails open: the stand-in"
        assert await sync_to_async(ping_sync)(lambda: "memory") == "memory"
        with pytest.raises(RedisUnavailable):
            await sync_to_async(ping_sync)()  # fails closed: nothing stands in
        with pytest.raises(RedisUnavailable):
            await ping_async()
    assert fallbacks("test") - before == 4
    assert len(warnings(caplog)) == 1, "one outage, one warning, whichever client saw it"
    assert not [r for r in caplog.records if r.exc_info]

    own_redis.start()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="statestore.policy"):
        assert await sync_to_async(ping_sync)() is True
        assert await ping_async() is True
    assert [r.getMessage() for r in caplog.records] == [
        "Redis answers again: shared state is shared again"
    ]


def test_a_hung_redis_costs_sync_callers_one_timeout_per_retry_interval(own_redis, settings):
    settings.REDIS_TIMEOUT_S = 0.2
    settings.REDIS_RETRY_S = 60
    assert ping_sync() is True  # connected
    own_redis.hang()
    assert ping_sync(lambda: "memory") == "memory"
    outage = policy.outage(own_redis.url)
    first_retry_at = outage.retry_at
    assert outage.down and first_retry_at > 0
    for _ in range(20):
        assert ping_sync(lambda: "memory") == "memory"
    assert outage.retry_at == first_retry_at, "Redis was not asked again"
