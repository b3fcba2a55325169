"""Today's model spend, shared across processes, for the daily budget.

Per-answer costs live in the trace (the source of truth the admin sums); this counter exists so
the router can check the budget with one read instead of a database query. While Redis does not
answer, and on the embedded default without Redis, this process's memory counts
(chatbot.llm.router_state: spend fails open), starting from the day's stored costs: a
model-tiers walk found a restart gave the day's budget back in full."""

import datetime as dt
import logging

import redis.asyncio as aioredis
from channels.db import database_sync_to_async

from chatbot.llm import router_state
from chatbot.llm.costs import day_spent
from statestore import policy

logger = logging.getLogger(__name__)

_TTL_S = 3 * 86400


def _day(now: dt.datetime | None = None) -> str:
    return (now or dt.datetime.now(dt.UTC)).date().isoformat()


async def _memory_started(day: str) -> None:
    """This process's count for `day` starts from what is stored (once per day and process)."""
    totals = router_state.memory("spend")
    if day in totals:
        return
    try:
        stored = await database_sync_to_async(day_spent)(dt.date.fromisoformat(day))
    except Exception as exc:  # fails open, as the counter does without Redis
        logger.warning("today's stored model spend could not be read: %s", exc)
        stored = 0.0
    totals.setdefault(day, stored)


async def add(cost: float, *, now: dt.datetime | None = None) -> None:
    if cost <= 0:
        return
    day = _day(now)
    await _memory_started(day)

    async def on_redis(redis: aioredis.Redis) -> None:
        key = router_state.key("spend", day)
        async with redis.pipeline(transaction=True) as pipe:
            pipe.incrbyfloat(key, cost)
            pipe.expire(key, _TTL_S)
            await pipe.execute()

    def in_memory() -> None:
        totals = router_state.memory("spend")
        totals[day] = totals.get(day, 0.0) + cost

    await policy.shared("spend", on_redis, in_memory)


async def spent(*, now: dt.datetime | None = None) -> float:
    day = _day(now)
    await _memory_started(day)

    async def on_redis(redis: aioredis.Redis) -> float:
        return float(await redis.get(router_state.key("spend", day)) or 0.0)

    return await policy.shared(
        "spend", on_redis, lambda: float(router_state.memory("spend").get(day, 0.0))
    )


async def over_budget(budget_usd: float) -> bool:
    """A budget of 0 means none (and costs no read)."""
    return budget_usd > 0 and await spent() >= budget_usd
