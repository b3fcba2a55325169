"""Small pieces of state every worker must see: claims (set-if-absent with expiry) and
append-only text buffers. Redis when REDIS_URL is set, this process's memory otherwise.

Django's cache API would do, but its async methods hop to a thread per call; these run on every
streamed token, so they talk to Redis natively through redis.asyncio."""

import asyncio
import time
from typing import Protocol

import redis.asyncio as aioredis
from django.conf import settings


class SharedState(Protocol):
    async def claim(self, key: str, ttl_s: float) -> bool: ...
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

    async def claim(self, key: str, ttl_s: float) -> bool:
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

    def _redis(self) -> aioredis.Redis:
        # One client per event loop: a redis.asyncio connection belongs to the loop that made it.
        loop_id = id(asyncio.get_running_loop())
        client = self._clients.get(loop_id)
        if client is None:
            client = aioredis.Redis.from_url(self._url, decode_responses=True)
            self._clients[loop_id] = client
        return client

    def _key(self, key: str) -> str:
        return f"{self._prefix}:{key}"

    async def claim(self, key: str, ttl_s: float) -> bool:
        return bool(await self._redis().set(self._key(key), "1", nx=True, px=int(ttl_s * 1000)))

    async def release(self, key: str) -> None:
        await self._redis().delete(self._key(key))

    async def append(self, key: str, text: str, ttl_s: float) -> None:
        async with self._redis().pipeline(transaction=True) as pipe:
            pipe.append(self._key(key), text)
            pipe.pexpire(self._key(key), int(ttl_s * 1000))
            await pipe.execute()

    async def read(self, key: str) -> str | None:
        return await self._redis().get(self._key(key))

    async def delete(self, key: str) -> None:
        await self._redis().delete(self._key(key))


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
