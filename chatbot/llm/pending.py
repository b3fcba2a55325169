"""A shared "questions are waiting for a model" flag, so the hot path can check in one read
whether queued questions need answering. The questions themselves are rows in the database
(chatbot.models.QueuedQuestion); the flag only saves a query per answer. While Redis does not
answer (or without REDIS_URL), this process's memory holds it (chatbot.llm.backend).

A flag in memory (or in a Redis that restarted) knows nothing of questions queued before:
`load_once` asks the database on a process's first kick, so a restart loses no promised answer."""

import datetime as dt
from typing import Any

import redis.asyncio as aioredis
from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from chatbot.llm import backend
from chatbot.models import QueuedQuestion

# Set in the fallback step's detail when the question is queued for a model's answer.
QUEUED_FLAG = "queued_for_answer"
_TTL_S = 2 * 86400


def promised(trace: dict[str, Any]) -> bool:
    """Whether a stored answer's trace promises the visitor a model's answer later."""
    return any((step.get("detail") or {}).get(QUEUED_FLAG) for step in trace.get("steps", ()))


def questions_kept() -> bool:
    """Whether the database keeps questions young enough to be answered still."""
    since = timezone.now() - dt.timedelta(hours=settings.LLM_QUEUED_ANSWER_MAX_AGE_H)
    return QueuedQuestion.objects.filter(created_at__gte=since).exists()


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


def loaded() -> bool:
    """Whether this process has asked the database (`load_once`)."""
    return bool(backend.memory("pending").get("loaded"))


async def load_once() -> bool:
    """Sets the flag when the database keeps questions; asks only on this process's first call
    (a fresh process knows nothing of what was queued before it started). True when it asked."""
    if loaded():
        return False
    backend.memory("pending")["loaded"] = True
    if await database_sync_to_async(questions_kept)():
        await mark()
    return True


async def clear() -> None:
    async def on_redis(redis: aioredis.Redis) -> None:
        await redis.delete(backend.key("queued-pending"))

    await backend.shared("pending", on_redis, lambda: backend.memory("pending").pop("set", None))
