"""Who is viewing a conversation in the console, in the shared state store (Redis when
REDIS_URL is set) so agents on every daphne process see each other.

In Redis: a sorted set of viewer -> expiry per conversation and a hash of the viewers' names
beside it. A heartbeat writes its own viewer and reads everyone in one MULTI, so viewers on
different processes never overwrite each other (a read-modify-write of one dict under one key
lost a viewer when two processes wrote at once). Entries expire unless the viewer's console
keeps sending heartbeats. While Redis does not answer, this process's memory stands in under
the same rules (fails open: an agent sees the viewers on its own process;
docs/operations.md, "When Redis does not answer")."""

import time
from collections.abc import Callable

import redis.asyncio as aioredis

from statestore.policy import key, memory, shared

VIEWER_TTL_S = 60.0

Clock = Callable[[], float]


def _keys(public_id: str) -> tuple[str, str]:
    return key("viewers", public_id), key("viewers", public_id, "names")


async def viewers_touch(
    *, public_id: str, user_id: int, name: str, clock: Clock = time.time
) -> list[str]:
    """Adds or refreshes a viewer; returns everyone viewing, by name."""
    now = clock()

    def write(pipe: aioredis.client.Pipeline) -> None:
        expiries, names = _keys(public_id)
        pipe.zadd(expiries, {str(user_id): now + VIEWER_TTL_S})
        pipe.hset(names, str(user_id), name)

    def in_memory() -> list[str]:
        _memory_viewers(public_id, now)[str(user_id)] = (name, now + VIEWER_TTL_S)
        return _memory_names(public_id, now)

    return await _shared(public_id, now, write, in_memory)


async def viewers_leave(*, public_id: str, user_id: int, clock: Clock = time.time) -> list[str]:
    """Removes a viewer; returns everyone still viewing, by name."""
    now = clock()

    def write(pipe: aioredis.client.Pipeline) -> None:
        expiries, names = _keys(public_id)
        pipe.zrem(expiries, str(user_id))
        pipe.hdel(names, str(user_id))

    def in_memory() -> list[str]:
        _memory_viewers(public_id, now).pop(str(user_id), None)
        return _memory_names(public_id, now)

    return await _shared(public_id, now, write, in_memory)


async def _shared(
    public_id: str,
    now: float,
    write: Callable[[aioredis.client.Pipeline], None],
    in_memory: Callable[[], list[str]],
) -> list[str]:
    async def on_redis(client: aioredis.Redis) -> list[str]:
        expiries, names = _keys(public_id)
        ttl_ms = int(VIEWER_TTL_S * 2000)
        async with client.pipeline(transaction=True) as pipe:
            write(pipe)
            pipe.zremrangebyscore(expiries, "-inf", now)
            pipe.pexpire(expiries, ttl_ms)
            pipe.pexpire(names, ttl_ms)
            pipe.zrange(expiries, 0, -1)
            pipe.hgetall(names)
            *_, live, by_id = await pipe.execute()
        return sorted({by_id[viewer] for viewer in live if viewer in by_id})

    return await shared("presence", on_redis, in_memory)


def _memory_viewers(public_id: str, now: float) -> dict[str, tuple[str, float]]:
    viewers = memory("presence").setdefault(public_id, {})
    for viewer in [v for v, (_, expires) in viewers.items() if expires <= now]:
        del viewers[viewer]
    return viewers


def _memory_names(public_id: str, now: float) -> list[str]:
    viewers = _memory_viewers(public_id, now)
    if not viewers:
        del memory("presence")[public_id]
    return sorted({name for name, _ in viewers.values()})
