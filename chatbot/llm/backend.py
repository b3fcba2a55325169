"""Where router state lives: Redis (shared by every process) when REDIS_URL is set, this
process's memory otherwise.

Router state fails open (docs/llm.md, "When Redis does not answer"): breakers, buckets, spend and
the pending flag keep the product answering, so when Redis refuses or times out they run on this
process's memory with the same rules, and go back to Redis once it answers. Memory state is tied
to the process's `shared_state()` object, so resetting that (tests that switch backends) starts
router state afresh too."""

import asyncio
import hashlib
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.asyncio as aioredis
from django.conf import settings
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chatbot import metrics
from chatbot.observability.logs import describe_error
from chatbot.shared_state import shared_state

logger = logging.getLogger(__name__)

T = TypeVar("T")

# What "Redis does not answer" means; anything else (a script error) is a bug and raises.
UNANSWERED = (RedisConnectionError, RedisTimeoutError)


@dataclass
class _Store:
    client: aioredis.Redis
    down: bool = False  # an outage was logged and Redis has not answered since
    retry_at: float = 0.0  # monotonic time before which memory stands in without asking Redis


# A connection belongs to the loop that made it; keyed weakly so a closed loop's clients go too.
_stores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Store]] = (
    weakref.WeakKeyDictionary()
)
_memory: weakref.WeakKeyDictionary[object, dict[str, Any]] = weakref.WeakKeyDictionary()
_sha: dict[str, str] = {}


def _store() -> _Store | None:
    if not settings.REDIS_URL:
        return None
    stores = _stores.setdefault(asyncio.get_running_loop(), {})
    store = stores.get(settings.REDIS_URL)
    if store is None:
        # Short timeouts so a hung Redis costs a question at most one of them (connections
        # made by from_url do not retry).
        timeout = settings.ROUTER_STATE_REDIS_TIMEOUT_S
        store = stores[settings.REDIS_URL] = _Store(
            aioredis.Redis.from_url(
                settings.REDIS_URL,
                decode_responses=True,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
            )
        )
    return store


async def shared(
    store_name: str,
    on_redis: Callable[[aioredis.Redis], Awaitable[T]],
    in_memory: Callable[[], T],
) -> T:
    """`on_redis` when REDIS_URL is set and Redis answers, else `in_memory` (the same rules on
    this process's memory). After a failure Redis is asked again once ROUTER_STATE_REDIS_RETRY_S
    has passed; one warning per outage, each fallback counted by `store_name`."""
    store = _store()
    if store is None:
        return in_memory()
    if time.monotonic() < store.retry_at:
        metrics.ROUTER_STATE_FALLBACKS.labels(store_name).inc()
        return in_memory()
    try:
        result = await on_redis(store.client)
    except UNANSWERED as exc:
        store.retry_at = time.monotonic() + settings.ROUTER_STATE_REDIS_RETRY_S
        metrics.ROUTER_STATE_FALLBACKS.labels(store_name).inc()
        if not store.down:
            store.down = True
            logger.warning(
                "router state: Redis did not answer (%s); breakers, rate limits and spend run "
                "on this process's memory until it does",
                describe_error(exc),
            )
        return in_memory()
    if store.down:
        store.down = False
        logger.info("router state: Redis answers again; router state is shared again")
    return result


def memory(namespace: str) -> dict[str, Any]:
    """A dict for `namespace` that lives as long as this process's shared state."""
    spaces = _memory.setdefault(shared_state(), {})
    return spaces.setdefault(namespace, {})


def key(*parts: str) -> str:
    return ":".join((settings.ROUTER_STATE_PREFIX, *parts))


async def run_script(client: aioredis.Redis, source: str, keys: list[str], args: list[Any]) -> Any:
    """EVALSHA, loading the script on first use on that server."""
    sha = _sha.get(source)
    if sha is None:
        sha = _sha[source] = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
    try:
        return await client.evalsha(sha, len(keys), *keys, *args)
    except NoScriptError:
        await client.script_load(source)
        return await client.evalsha(sha, len(keys), *keys, *args)
