"""Token buckets shared by every process: a Redis Lua script takes from several buckets at once,
all or nothing (a request must fit both the requests- and the tokens-per-minute bucket, and a
refusal by one must not spend the other). Memory buckets with the same rules otherwise, and
while Redis does not answer (chatbot.llm.router_state: limits fail open).

`now` is passed in (wall-clock seconds) so the rules are testable with a fake clock against
real Redis too."""

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from chatbot import lua
from chatbot.llm import router_state
from statestore import policy

Clock = Callable[[], float]


@dataclass(frozen=True)
class Bucket:
    name: str
    capacity: float  # the burst
    refill_per_s: float
    cost: float = 1.0


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_s: float = 0.0


_TAKE = lua.Script("bucket_take")


def take_in_memory(
    state: dict[str, tuple[float, float]], buckets: Sequence[Bucket], now: float
) -> Verdict:
    """The same rules as bucket_take.lua, on a dict of name -> (tokens, timestamp)."""
    levels = []
    wait = 0.0
    for bucket in buckets:
        cost = min(bucket.cost, bucket.capacity)
        tokens, ts = state.get(bucket.name, (bucket.capacity, now))
        if now > ts:
            tokens = min(bucket.capacity, tokens + (now - ts) * bucket.refill_per_s)
        levels.append(tokens)
        if tokens < cost:
            wait = max(wait, (cost - tokens) / bucket.refill_per_s)
    if wait > 0:
        return Verdict(False, wait)
    for bucket, tokens in zip(buckets, levels, strict=True):
        state[bucket.name] = (tokens - min(bucket.cost, bucket.capacity), now)
    return Verdict(True)


async def take(buckets: Sequence[Bucket], *, clock: Clock = time.time) -> Verdict:
    """Takes each bucket's cost if every bucket has it; otherwise takes nothing and says how
    long until they would."""
    if not buckets:
        return Verdict(True)
    now = clock()
    keys = [router_state.key("bucket", b.name) for b in buckets]
    args: list[float] = [now]
    for b in buckets:
        args += [b.capacity, b.refill_per_s, b.cost]

    async def on_redis(redis: aioredis.Redis) -> Verdict:
        allowed, wait = await _TAKE(redis, keys, args)
        return Verdict(bool(allowed), 0.0 if allowed else math.ceil(float(wait) * 1000) / 1000)

    return await policy.shared(
        "bucket", on_redis, lambda: take_in_memory(router_state.memory("buckets"), buckets, now)
    )


def per_minute(name: str, limit: float, cost: float = 1.0) -> Bucket:
    """A bucket holding a minute's allowance, refilled evenly."""
    return Bucket(name, capacity=limit, refill_per_s=limit / 60.0, cost=cost)
