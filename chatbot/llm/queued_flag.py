"""A shared "questions are waiting for a model" flag, so the hot path can check in one read
whether queued questions need answering. The questions themselves are rows in the database
(chatbot.models.QueuedQuestion); the flag only saves a query per answer. While Redis does not
answer (or without REDIS_URL), this process's memory holds it (chatbot.llm.router_state).

The flag says "waiting" or "none waiting"; no flag at all means nobody knows (a fresh process,
a Redis that restarted, an expired key), and then the database is asked once (`load`), so a
restart loses no promised answer."""

import datetime as dt
from typing import Any

import redis.asyncio as aioredis
from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from chatbot.llm import router_state
from chatbot.models import QueuedQuestion
from statestore import policy

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


async def _set(waiting: bool) -> None:
    async def on_redis(redis: aioredis.Redis) -> None:
        await redis.set(router_state.key("queued-pending"), "1" if waiting else "0", ex=_TTL_S)

    await policy.shared(
        "pending", on_redis, lambda: router_state.memory("pending").update(set=waiting)
    )


async def mark() -> None:
    await _set(True)


async def clear() -> None:
    await _set(False)


async def marked() -> bool | None:
    """True when questions wait, False when none do, None when nobody knows."""

    async def on_redis(redis: aioredis.Redis) -> bool | None:
        value = await redis.get(router_state.key("queued-pending"))
        return None if value is None else value == "1"  # the client decodes responses

    return await policy.shared(
        "pending", on_redis, lambda: router_state.memory("pending").get("set")
    )


async def is_marked() -> bool:
    return bool(await marked())


def first_socket() -> bool:
    """True once per process (per shared state): its first visitor socket kicks a drain."""
    memory = router_state.memory("pending")
    first = not memory.get("started")
    memory["started"] = True
    return first


async def load() -> bool:
    """Sets the flag from the database (when `marked` is None); True when questions wait."""
    waiting = await database_sync_to_async(questions_kept)()
    await _set(waiting)
    return waiting
