"""A shared "questions are waiting for a model" flag, so the hot path can check in one read
whether queued questions need answering (the questions themselves are found in the database).
While Redis does not answer, this process's memory holds it (chatbot.llm.backend)."""

import redis.asyncio as aioredis

from chatbot.llm import backend

_TTL_S = 2 * 86400


async def mark() -> None:
    async def on_redis(redis: aioredis.Redis) -> None:
        await redis.set(backend.key("queued-pending"), "1", ex=_TTL_S)

    await backend.shared("pending", on_redis, lambda: backend.memory("pending").update(set=True))


async def is_marked() -> bool:
    async def on_redis(redis: aioredis.Redis) -> bool:
        return bool(await redis.exists(backend.key("queued-pending")))

    return await backend.shared(
        "pending", on_redis, lambda: bool(backend.memory("pending").get("set"))
    )


async def clear() -> None:
    async def on_redis(redis: aioredis.Redis) -> None:
        await redis.delete(backend.key("queued-pending"))

    await backend.shared("pending", on_redis, lambda: backend.memory("pending").pop("set", None))
