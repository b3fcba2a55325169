"""Today's model spend, shared across processes, for the daily budget.

Per-answer costs live in the trace (the source of truth the admin sums); this counter exists so
the router can check the budget with one read instead of a database query."""

import datetime as dt

from chatbot.llm import backend

_TTL_S = 3 * 86400


def _day(now: dt.datetime | None = None) -> str:
    return (now or dt.datetime.now(dt.UTC)).date().isoformat()


async def add(cost: float, *, now: dt.datetime | None = None) -> None:
    if cost <= 0:
        return
    day = _day(now)
    redis = backend.redis_client()
    if redis is None:
        totals = backend.memory("spend")
        totals[day] = totals.get(day, 0.0) + cost
        return
    key = backend.key("spend", day)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incrbyfloat(key, cost)
        pipe.expire(key, _TTL_S)
        await pipe.execute()


async def spent(*, now: dt.datetime | None = None) -> float:
    day = _day(now)
    redis = backend.redis_client()
    if redis is None:
        return float(backend.memory("spend").get(day, 0.0))
    return float(await redis.get(backend.key("spend", day)) or 0.0)


async def over_budget(budget_usd: float) -> bool:
    """A budget of 0 means none (and costs no read)."""
    return budget_usd > 0 and await spent() >= budget_usd
