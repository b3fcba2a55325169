"""Small pieces of state every worker must see: claims (set-if-absent with expiry) and
append-only text buffers; Redis (redis.asyncio) when REDIS_URL is set, memory otherwise.
`via_redis` is how all shared state reaches Redis: a caller passes what stands in for it (fails
open) or gets RedisUnavailable (fails closed); docs/operations.md, "When Redis does not answer"."""

import asyncio
import contextlib
import logging
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol, TypeVar

import redis.asyncio as aioredis
from django.conf import settings
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chatbot import lua, metrics

logger = logging.getLogger(__name__)

T = TypeVar("T")

# What "Redis does not answer" means; anything else (a script error) is a bug and raises.
UNANSWERED = (RedisConnectionError, RedisTimeoutError)


class RedisUnavailable(RedisError):
    """Redis did not answer (or failed less than REDIS_RETRY_S ago) and nothing stands in."""


@dataclass
class Outage:
    """Per Redis URL and process (not per event loop: one outage, one warning)."""

    down: bool = False  # an outage was logged and Redis has not answered since
    retry_at: float = 0.0  # monotonic time before which Redis is not asked


_outages: dict[str, Outage] = {}
# A connection belongs to the loop that made it; keyed weakly so a closed loop's clients go too.
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, aioredis.Redis]] = (
    weakref.WeakKeyDictionary()
)


def _client(url: str) -> aioredis.Redis:
    clients = _clients.setdefault(asyncio.get_running_loop(), {})
    client = clients.get(url)
    if client is None:
        timeout = settings.REDIS_TIMEOUT_S  # connections made by from_url do not retry
        client = clients[url] = aioredis.Redis.from_url(
            url, decode_responses=True, socket_timeout=timeout, socket_connect_timeout=timeout
        )
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
        state.retry_at = time.monotonic() + settings.REDIS_RETRY_S
        if not state.down:
            state.down = True
            logger.warning(
                "Redis did not answer (%r): until it does, breakers, rate limits and spend run "
                "on this process's memory, answer claims are this process's own, resume "
                "buffers are skipped and the queued-answer drain waits",
                exc,
            )
        return _without_redis(store, instead, exc)
    if state.down:
        state.down = False
        logger.info("Redis answers again: shared state is shared again")
    return result


def _without_redis(store: str, instead: Callable[[], T] | None, exc: Exception | None) -> T:
    metrics.REDIS_FALLBACKS.labels(store).inc()
    if instead is None:
        raise RedisUnavailable(store) from exc
    return instead()


class SharedState(Protocol):
    async def claim(
        self, key: str, ttl_s: float, *, fail_open: bool = False, holder: str = "1"
    ) -> bool: ...
    async def extend(self, key: str, holder: str, ttl_s: float) -> bool: ...
    async def release(
        self, key: str, holder: str | None = None, *, drop: Sequence[str] = ()
    ) -> None: ...
    async def append(self, key: str, text: str, ttl_s: float) -> None: ...
    async def read(self, key: str) -> str | None: ...
    async def delete(self, key: str) -> None: ...


class MemoryState:
    def __init__(self) -> None:
        self._values: dict[str, tuple[str, float]] = {}

    def _get(self, key: str) -> str | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        if entry[1] < time.monotonic():
            del self._values[key]
            return None
        return entry[0]

    def claim_now(self, key: str, ttl_s: float, holder: str = "1") -> bool:
        if self._get(key) is not None:
            return False
        self._values[key] = (holder, time.monotonic() + ttl_s)
        return True

    def extend_now(self, key: str, holder: str, ttl_s: float) -> bool:
        if self._get(key) != holder:
            return False
        self._values[key] = (holder, time.monotonic() + ttl_s)
        return True

    def release_now(self, key: str, holder: str | None = None, drop: Sequence[str] = ()) -> None:
        for dropped in drop:
            self._values.pop(dropped, None)
        if holder is None or self._get(key) == holder:
            self._values.pop(key, None)

    async def claim(
        self, key: str, ttl_s: float, *, fail_open: bool = False, holder: str = "1"
    ) -> bool:
        return self.claim_now(key, ttl_s, holder)

    async def extend(self, key: str, holder: str, ttl_s: float) -> bool:
        return self.extend_now(key, holder, ttl_s)

    async def release(
        self, key: str, holder: str | None = None, *, drop: Sequence[str] = ()
    ) -> None:
        self.release_now(key, holder, drop)

    async def append(self, key: str, text: str, ttl_s: float) -> None:
        self._values[key] = ((self._get(key) or "") + text, time.monotonic() + ttl_s)

    async def read(self, key: str) -> str | None:
        return self._get(key)

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)


class RedisState:
    """Without Redis: a claim raises RedisUnavailable unless its caller asks for `fail_open`
    (then the claim is this process's own; another process may claim the same key meanwhile);
    releases, buffer writes and reads carry on without it (a claim expires by itself, and a
    partial answer buffer only speeds up a resume: the stored answer is the record)."""

    def __init__(self, url: str, prefix: str) -> None:
        self._url = url
        self._prefix = prefix
        self._local = MemoryState()  # claims that fail open while Redis does not answer

    def _key(self, key: str) -> str:
        return f"{self._prefix}:{key}"

    async def claim(
        self, key: str, ttl_s: float, *, fail_open: bool = False, holder: str = "1"
    ) -> bool:
        async def on_redis(redis: aioredis.Redis) -> bool:
            return bool(await redis.set(self._key(key), holder, nx=True, px=int(ttl_s * 1000)))

        instead = (lambda: self._local.claim_now(key, ttl_s, holder)) if fail_open else None
        return await via_redis("claim", on_redis, instead, url=self._url)

    async def extend(self, key: str, holder: str, ttl_s: float) -> bool:
        """Without Redis the holder keeps going (its claim in Redis, if any, lapses by itself;
        one it holds here is renewed)."""

        def instead() -> bool:
            self._local.extend_now(key, holder, ttl_s)
            return True

        async def on_redis(redis: aioredis.Redis) -> bool:
            return bool(await redis.eval(_EXTEND, 1, self._key(key), holder, int(ttl_s * 1000)))

        return await via_redis("claim", on_redis, instead, url=self._url)

    async def release(
        self, key: str, holder: str | None = None, *, drop: Sequence[str] = ()
    ) -> None:
        """`drop`: keys deleted in the same round trip, whoever holds the claim (an answer's
        partial text, with its claim: one round trip less per answer on the event loop)."""
        self._local.release_now(key, holder, drop)

        async def on_redis(redis: aioredis.Redis) -> None:
            async with redis.pipeline(transaction=False) as pipe:
                for dropped in drop:
                    pipe.delete(self._key(dropped))
                if holder is None:
                    pipe.delete(self._key(key))
                else:
                    pipe.eval(_RELEASE, 1, self._key(key), holder)
                await pipe.execute()

        await via_redis("claim", on_redis, _nothing, url=self._url)

    async def append(self, key: str, text: str, ttl_s: float) -> None:
        async def on_redis(redis: aioredis.Redis) -> None:
            async with redis.pipeline(transaction=True) as pipe:
                pipe.append(self._key(key), text)
                pipe.pexpire(self._key(key), int(ttl_s * 1000))
                await pipe.execute()

        await via_redis("buffer", on_redis, _nothing, url=self._url)

    async def read(self, key: str) -> str | None:
        return await via_redis(
            "buffer", lambda redis: redis.get(self._key(key)), _nothing, url=self._url
        )

    async def delete(self, key: str) -> None:
        await via_redis(
            "buffer", lambda redis: redis.delete(self._key(key)), _nothing, url=self._url
        )


_EXTEND = lua.script("claim_extend")
_RELEASE = lua.script("claim_release")


def _nothing() -> None:
    return None


@asynccontextmanager
async def claim_held(
    key: str, ttl_s: float, *, fail_open: bool = False, drop: Sequence[str] = ()
) -> AsyncIterator[bool]:
    """Claims `key` for as long as the block runs: renewed every third of `ttl_s`, released
    (with the `drop` keys deleted in the same round trip) when the block ends. A holder that
    dies (kill -9) stops renewing, so its claim lapses within `ttl_s` and the work can be
    picked up elsewhere (docs/operations.md, "Crashes and restarts"). Yields False, without
    running anything, when another holder has it; raises RedisUnavailable when Redis does not
    answer, unless `fail_open`."""
    state = shared_state()
    holder = uuid.uuid4().hex
    if not await state.claim(key, ttl_s, fail_open=fail_open, holder=holder):
        yield False
        return
    renewing = asyncio.create_task(_renew(state, key, holder, ttl_s))
    try:
        yield True
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing
        await state.release(key, holder, drop=drop)


async def _renew(state: SharedState, key: str, holder: str, ttl_s: float) -> None:
    while True:
        await asyncio.sleep(ttl_s / 3)
        if not await state.extend(key, holder, ttl_s):
            logger.warning("claim %s lapsed before its holder renewed it", key)
            return


_state: SharedState | None = None


def shared_state() -> SharedState:
    global _state
    if _state is None:
        if settings.REDIS_URL:
            _state = RedisState(settings.REDIS_URL, settings.SHARED_STATE_PREFIX)
        else:
            _state = MemoryState()
    return _state


def reset_shared_state() -> None:
    """For tests that switch settings between backends."""
    global _state
    _state = None
    _outages.clear()
