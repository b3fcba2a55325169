"""Small pieces of state every worker must see: claims (set-if-absent with expiry) and
append-only text buffers; Redis (redis.asyncio) when REDIS_URL is set, memory otherwise. They
reach Redis through `statestore.policy.via_redis`, the one failure policy of shared state:
docs/operations.md, "When Redis does not answer"."""

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

import redis.asyncio as aioredis
from django.conf import settings

from chatbot import lua
from chatbot.cancelling import cancel_and_wait
from statestore import policy
from statestore.policy import via_redis

logger = logging.getLogger(__name__)


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
            return bool(await _EXTEND(redis, [self._key(key)], [holder, int(ttl_s * 1000)]))

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


_EXTEND = lua.Script("claim_extend")
# Plain EVAL inside the release pipeline: a registered script there makes redis-py send SCRIPT
# EXISTS before every execute, one more round trip per answer.
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
    try:
        claimed = await state.claim(key, ttl_s, fail_open=fail_open, holder=holder)
    except asyncio.CancelledError:
        # Cancelled (a shutdown's hand-over) while the claim was on its way: Redis may have
        # taken it, and nothing would release it before it lapses. Only this holder's goes.
        await state.release(key, holder)
        raise
    if not claimed:
        yield False
        return
    renewing = asyncio.create_task(_renew(state, key, holder, ttl_s))
    try:
        yield True
    finally:
        try:
            await cancel_and_wait([renewing])
        finally:
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
    policy.reset()
