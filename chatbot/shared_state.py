"""Small pieces of state every worker must see: claims (set-if-absent with expiry) and
append-only text buffers. Redis when REDIS_URL is set, this process's memory otherwise.

Django's cache API would do, but its async methods hop to a thread per call; these run on every
streamed token, so they talk to Redis natively through redis.asyncio.

When Redis does not answer (docs/operations.md, "When Redis does not answer"): a claim raises,
unless its caller asks for `fail_open`, which falls back to a claim in this process's memory;
releases, buffer writes and reads carry on without it (a claim expires by itself, and a partial
answer buffer only speeds up a resume: the stored answer is the record). One warning per outage,
one line when Redis answers again."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

import redis.asyncio as aioredis
from django.conf import settings
from redis.exceptions import RedisError

from chatbot import metrics

logger = logging.getLogger(__name__)


class SharedState(Protocol):
    async def claim(self, key: str, ttl_s: float, *, fail_open: bool = False) -> bool: ...
    async def release(self, key: str) -> None: ...
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

    async def claim(self, key: str, ttl_s: float, *, fail_open: bool = False) -> bool:
        if self._get(key) is not None:
            return False
        self._values[key] = ("1", time.monotonic() + ttl_s)
        return True

    async def release(self, key: str) -> None:
        self._values.pop(key, None)

    async def append(self, key: str, text: str, ttl_s: float) -> None:
        self._values[key] = ((self._get(key) or "") + text, time.monotonic() + ttl_s)

    async def read(self, key: str) -> str | None:
        return self._get(key)

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)


class RedisState:
    def __init__(self, url: str, prefix: str) -> None:
        self._url = url
        self._prefix = prefix
        self._clients: dict[int, aioredis.Redis] = {}
        self._local = MemoryState()  # claims that fail open while Redis does not answer
        self._down = False

    def _redis(self) -> aioredis.Redis:
        # One client per event loop: a redis.asyncio connection belongs to the loop that made it.
        loop_id = id(asyncio.get_running_loop())
        client = self._clients.get(loop_id)
        if client is None:
            timeout = settings.REDIS_TIMEOUT_S
            client = aioredis.Redis.from_url(
                self._url,
                decode_responses=True,
                socket_connect_timeout=timeout,
                socket_timeout=timeout,
            )
            self._clients[loop_id] = client
        return client

    def _key(self, key: str) -> str:
        return f"{self._prefix}:{key}"

    @asynccontextmanager
    async def _noting_outages(self, operation: str, instead: str) -> AsyncIterator[None]:
        try:
            yield
        except RedisError as exc:
            metrics.REDIS_UNAVAILABLE.labels("shared_state", instead).inc()
            if not self._down:
                self._down = True
                logger.warning(
                    "shared state: Redis did not answer a %s (%r); %s until it does",
                    operation,
                    exc,
                    instead,
                )
            raise
        if self._down:
            self._down = False
            logger.info("shared state: Redis answers again")

    async def claim(self, key: str, ttl_s: float, *, fail_open: bool = False) -> bool:
        """Raises RedisError when Redis does not answer, unless `fail_open`: then the claim is
        this process's own (another process may claim the same key meanwhile)."""
        try:
            async with self._noting_outages("claim", "claims in process memory"):
                return bool(
                    await self._redis().set(self._key(key), "1", nx=True, px=int(ttl_s * 1000))
                )
        except RedisError:
            if not fail_open:
                raise
            return await self._local.claim(key, ttl_s)

    async def release(self, key: str) -> None:
        await self._local.release(key)
        try:
            async with self._noting_outages("release", "claims expire by themselves"):
                await self._redis().delete(self._key(key))
        except RedisError:
            pass

    async def append(self, key: str, text: str, ttl_s: float) -> None:
        try:
            async with (
                self._noting_outages("buffer write", "answers stream without resume buffers"),
                self._redis().pipeline(transaction=True) as pipe,
            ):
                pipe.append(self._key(key), text)
                pipe.pexpire(self._key(key), int(ttl_s * 1000))
                await pipe.execute()
        except RedisError:
            pass

    async def read(self, key: str) -> str | None:
        try:
            async with self._noting_outages("buffer read", "resumes without partial answers"):
                return await self._redis().get(self._key(key))
        except RedisError:
            return None

    async def delete(self, key: str) -> None:
        try:
            async with self._noting_outages("buffer delete", "buffers expire by themselves"):
                await self._redis().delete(self._key(key))
        except RedisError:
            pass


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
