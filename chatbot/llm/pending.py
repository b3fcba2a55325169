"""A shared "questions are waiting for a model" flag, so the hot path can check in one read
whether queued questions need answering (the questions themselves are found in the database)."""

from chatbot.llm import backend

_TTL_S = 2 * 86400


async def mark() -> None:
    redis = backend.redis_client()
    if redis is None:
        backend.memory("pending")["set"] = True
    else:
        await redis.set(backend.key("queued-pending"), "1", ex=_TTL_S)


async def is_marked() -> bool:
    redis = backend.redis_client()
    if redis is None:
        return bool(backend.memory("pending").get("set"))
    return bool(await redis.exists(backend.key("queued-pending")))


async def clear() -> None:
    redis = backend.redis_client()
    if redis is None:
        backend.memory("pending").pop("set", None)
    else:
        await redis.delete(backend.key("queued-pending"))
