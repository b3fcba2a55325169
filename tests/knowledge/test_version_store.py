"""The knowledge version in the shared state store (knowledge/content_version.py): one counter every
process reads, with its written failure policy (docs/operations.md, "When Redis does not
answer"): a read fails closed (the cache's scope cannot guess it; the indexes keep their copy),
a bump fails open (the edit is saved; the bump goes with the next call that reaches Redis)."""

import pytest
import redis
from prometheus_client import REGISTRY

from knowledge import content_version
from statestore.policy import RedisUnavailable

pytestmark = pytest.mark.redis


def fallbacks() -> float:
    labels = {"store": "knowledge_version"}
    return REGISTRY.get_sample_value("chatbot_redis_fallbacks_total", labels) or 0.0


def shared_version(client: redis.Redis) -> int:
    """What every other process reads."""
    return int(client.get(f"test-router:state:{content_version.KNOWLEDGE_VERSION_KEY}"))


def test_the_version_is_one_counter_in_redis(own_redis, settings):
    settings.FAQ_INDEX_RECHECK_S = 0
    client = own_redis.client()
    first = content_version.knowledge_version()
    assert shared_version(client) == first
    content_version.knowledge_version_bump()
    content_version.knowledge_version_bump()
    assert shared_version(client) == first + 2
    client.incr(f"test-router:state:{content_version.KNOWLEDGE_VERSION_KEY}")  # another process
    assert content_version.knowledge_version() == first + 3


def test_while_redis_does_not_answer_reads_fail_closed_and_bumps_wait(own_redis, settings):
    settings.FAQ_INDEX_RECHECK_S = 0
    settings.REDIS_RETRY_S = 0  # ask Redis on every call
    client = own_redis.client()
    content_version.knowledge_version_bump()
    own_redis.stop()
    counted = fallbacks()

    with pytest.raises(RedisUnavailable):
        content_version.knowledge_version()
    assert content_version.knowledge_version_readable() is None, "the indexes keep their copy"
    content_version.knowledge_version_bump()  # an admin's edit, saved: no error
    content_version.knowledge_version_bump()
    assert fallbacks() - counted == 4

    own_redis.start()  # empty: it keeps nothing on disk
    after = content_version.knowledge_version()
    assert shared_version(client) == after, "the two bumps that waited are in Redis"
    content_version.knowledge_version_bump()
    assert shared_version(client) == after + 1, "sent once, not again"


def test_a_version_that_starts_again_never_counts_from_one(own_redis, settings):
    """Cached answers carry the version they were stored under: a Redis that restarts empty
    must not bring an old version (and its entries) back."""
    settings.FAQ_INDEX_RECHECK_S = 0
    settings.REDIS_RETRY_S = 0
    seen = set()
    for _ in range(3):
        seen.update(content_version.knowledge_version() + n for n in range(3))
        own_redis.stop()
        own_redis.start()
    assert content_version.knowledge_version() not in seen
