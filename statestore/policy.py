"""How all shared state reaches Redis, from async code (`via_redis`, redis.asyncio) and from
sync code (`via_redis_sync`, admin, Celery, database threads): a caller passes what stands in for
Redis (fails open) or gets RedisUnavailable (fails closed). One Outage record per URL and
process, whichever client saw it: one outage, one warning; docs/operations.md, "When Redis does
not answer"."""

import asyncio
import logging
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
import redis.asyncio as aioredis
from django.conf import settings
from prometheus_client import Counter
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

T = TypeVar("T")

# What "Redis does not answer" means; anything else (a script error) is a bug and raises.
UNANSWERED = (RedisConnectionError, RedisTimeoutError)

REDIS_FALLBACKS = Counter(
    "chatbot_redis_fallbacks",
    "Shared-state operations done without Redis because it did not answer (or failed less "
    "than REDIS_RETRY_S ago), by store (breaker, bucket, spend, pending, claim, buffer, "
    "knowledge_version, cache_index, presence).",
    ["store"],
)


class RedisUnavailable(RedisError):
    """Redis did not answer (or failed less than REDIS_RETRY_S ago) and nothing stands in."""


@dataclass
class Outage:
    """Per Redis URL and process (not per event loop or thread: one outage, one warning)."""

    down: bool = False  # an outage was logged and Redis has not answered since
    retry_at: float = 0.0  # monotonic time before which Redis is not asked


_outages: dict[str, Outage] = {}
# A connection belongs to the loop that made it; keyed weakly so a closed loop's clients go too.
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, aioredis.Redis]] = (
    weakref.WeakKeyDictionary()
)
# Sync clients are thread-safe (a connection pool each, which starts afresh after a fork).
_sync_clients: dict[str, redis.Redis] = {}
_sync_lock = threading.Lock()


def _options() -> dict[str, Any]:
    timeout = settings.REDIS_TIMEOUT_S  # connections made by from_url do not retry
    return {"decode_responses": True, "socket_timeout": timeout, "socket_connect_timeout": timeout}


def _client(url: str) -> aioredis.Redis:
    clients = _clients.setdefault(asyncio.get_running_loop(), {})
    client = clients.get(url)
    if client is None:
        client = clients[url] = aioredis.Redis.from_url(url, **_options())
    return client


def _sync_client(url: str) -> redis.Redis:
    client = _sync_clients.get(url)
    if client is None:
        with _sync_lock:
            client = _sync_clients.get(url)
            if client is None:
                client = _sync_clients[url] = redis.Redis.from_url(url, **_options())
    return client


def outage(url: str) -> Outage:
    return _outages.setdefault(url, Outage())


async def via_redis(
    store: str,
    on_redis: Callable[[aioredis.Redis], Awaitable[T]],
    instead: Callable[[], T] | None = None,
    *,
    url: str | None = None,
) -> T:
    """`on_redis(client)` when Redis answers; otherwise `instead()` (the caller's rules on this
    process's memory) or, without one, RedisUnavailable. Every time Redis is not used counts
    in chatbot_redis_fallbacks_total{store}."""
    url = url or settings.REDIS_URL
    state = outage(url)
    if time.monotonic() < state.retry_at:
        return _without_redis(store, instead, None)
    try:
        result = await on_redis(_client(url))
    except UNANSWERED as exc:
        return _unanswered(state, store, instead, exc)
    _answered(state)
    return result


async def shared(
    store: str,
    on_redis: Callable[[aioredis.Redis], Awaitable[T]],
    in_memory: Callable[[], T],
) -> T:
    """`on_redis` when REDIS_URL is set and Redis answers, else `in_memory`: the same rules on
    this process's memory, both without Redis and while it does not answer (fails open)."""
    if not settings.REDIS_URL:
        return in_memory()
    return await via_redis(store, on_redis, in_memory)


def via_redis_sync(
    store: str,
    on_redis: Callable[[redis.Redis], T],
    instead: Callable[[], T] | None = None,
    *,
    url: str | None = None,
) -> T:
    """`via_redis` for sync callers (a blocking client: call it from a thread, never from an
    event loop), under the same outage record."""
    url = url or settings.REDIS_URL
    state = outage(url)
    if time.monotonic() < state.retry_at:
        return _without_redis(store, instead, None)
    try:
        result = on_redis(_sync_client(url))
    except UNANSWERED as exc:
        return _unanswered(state, store, instead, exc)
    _answered(state)
    return result


def _unanswered(state: Outage, store: str, instead: Callable[[], T] | None, exc: Exception) -> T:
    state.retry_at = time.monotonic() + settings.REDIS_RETRY_S
    if not state.down:
        state.down = True
        logger.warning(
            "Redis did not answer (%r): until it does, breakers, rate limits and spend run on "
            "this process's memory, answer claims are this process's own, resume buffers are "
            "skipped, the queued-answer drain waits, the FAQ indexes serve their copy, the "
            "answer cache is skipped and console presence is this process's own "
            "(docs/operations.md, 'When Redis does not answer')",
            exc,
        )
    return _without_redis(store, instead, exc)


def _answered(state: Outage) -> None:
    if state.down:
        state.down = False
        logger.info("Redis answers again: shared state is shared again")


def _without_redis(store: str, instead: Callable[[], T] | None, exc: Exception | None) -> T:
    REDIS_FALLBACKS.labels(store).inc()
    if instead is None:
        raise RedisUnavailable(store) from exc
    return instead()


def key(*parts: str) -> str:
    """A Redis key under SHARED_STATE_PREFIX."""
    return ":".join((settings.SHARED_STATE_PREFIX, *parts))


_memory: dict[str, dict[str, Any]] = {}


def memory(namespace: str) -> dict[str, Any]:
    """This process's dict for `namespace`: the store without REDIS_URL, and what stands in for
    Redis while it does not answer. Emptied by `reset`."""
    return _memory.setdefault(namespace, {})


def reset() -> None:
    """For tests that switch settings between backends: no outage, no memory, new clients."""
    _outages.clear()
    _memory.clear()
    with _sync_lock:
        for client in _sync_clients.values():
            client.close()
        _sync_clients.clear()
