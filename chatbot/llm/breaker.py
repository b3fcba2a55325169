"""Circuit breakers per tier and per upstream key, with state shared across processes.

A breaker opens when the failure rate over a sliding window passes a threshold (once the window
holds a minimum number of calls), lets a limited number of probes through after a cooldown
(half-open), and closes on a probe's success. Why not pybreaker/aiobreaker/purgatory: they
open on N *consecutive* failures (no failure rate, no minimum volume) and share state through a
read-modify-write or a blocking Redis client; here every decision is one atomic Lua script on
redis.asyncio. The memory store runs the same rules in Python, also while Redis does not answer
(chatbot.llm.backend); the tests run both with a fake clock (`now` is passed in)."""

import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from chatbot.llm import backend

Clock = Callable[[], float]


@dataclass(frozen=True)
class BreakerPolicy:
    failure_rate: float = 0.15
    min_calls: int = 20
    window_s: float = 60.0
    slots: int = 10
    cooldown_s: float = 30.0
    half_open_probes: int = 1


@dataclass(frozen=True)
class Permit:
    allowed: bool
    probe: bool = False
    retry_at: float = 0.0  # when a refused call may be tried again


@dataclass(frozen=True)
class BreakerState:
    name: str
    state: str  # closed | open | half_open
    failure_rate: float
    calls: int
    next_probe_at: float | None
    opens: int
    closes: int


# KEYS[1]. ARGV: now, cooldown, max probes. Returns {allowed, probe, retry_at}.
_ALLOW = """
local now = tonumber(ARGV[1])
local cooldown = tonumber(ARGV[2])
local v = redis.call('HMGET', KEYS[1], 'state', 'opened_at', 'probe_at', 'probes')
if v[1] ~= 'open' then return {1, 0, '0'} end
local opened_at = tonumber(v[2]) or 0
if now < opened_at + cooldown then return {0, 0, tostring(opened_at + cooldown)} end
local probe_at = tonumber(v[3]) or 0
local probes = tonumber(v[4]) or 0
if now >= probe_at + cooldown then probes = 0 end
if probes >= tonumber(ARGV[3]) then return {0, 0, tostring(probe_at + cooldown)} end
redis.call('HSET', KEYS[1], 'probes', probes + 1, 'probe_at', tostring(now))
return {1, 1, '0'}
"""

# KEYS[1]. ARGV: now, ok, window_s, slots, failure_rate, min_calls, cooldown.
# Returns the transition: '', 'opened', 'reopened' or 'closed'.
_RECORD = """
local now = tonumber(ARGV[1])
local ok = ARGV[2] == '1'
local slots = tonumber(ARGV[4])
local idx = math.floor(now / (tonumber(ARGV[3]) / slots))
local slot = idx % slots
if tonumber(redis.call('HGET', KEYS[1], 't' .. slot)) ~= idx then
  redis.call('HSET', KEYS[1], 't' .. slot, idx, 's' .. slot, 0, 'f' .. slot, 0)
end
redis.call('HINCRBY', KEYS[1], (ok and 's' or 'f') .. slot, 1)
redis.call('EXPIRE', KEYS[1], 86400)
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'open' then
  local opened_at = tonumber(redis.call('HGET', KEYS[1], 'opened_at')) or 0
  if now < opened_at + tonumber(ARGV[7]) then return '' end
  if ok then
    for i = 0, slots - 1 do redis.call('HDEL', KEYS[1], 't' .. i, 's' .. i, 'f' .. i) end
    redis.call('HSET', KEYS[1], 'state', 'closed', 'probes', 0)
    redis.call('HINCRBY', KEYS[1], 'closes', 1)
    return 'closed'
  end
  redis.call('HSET', KEYS[1], 'opened_at', tostring(now), 'probes', 0)
  return 'reopened'
end
local calls, fails = 0, 0
for i = 0, slots - 1 do
  local v = redis.call('HMGET', KEYS[1], 't' .. i, 's' .. i, 'f' .. i)
  if tonumber(v[1]) and tonumber(v[1]) > idx - slots then
    calls = calls + tonumber(v[2]) + tonumber(v[3])
    fails = fails + tonumber(v[3])
  end
end
if calls >= tonumber(ARGV[6]) and fails / calls > tonumber(ARGV[5]) then
  redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', tostring(now), 'probes', 0)
  redis.call('HINCRBY', KEYS[1], 'opens', 1)
  return 'opened'
end
return ''
"""


def _num(fields: MutableMapping[str, Any], name: str) -> float:
    value = fields.get(name)
    return float(value) if value not in (None, "") else 0.0


def allow_in_memory(fields: dict[str, Any], policy: BreakerPolicy, now: float) -> Permit:
    """The rules of `_ALLOW` on a dict standing for the Redis hash."""
    if fields.get("state") != "open":
        return Permit(True)
    opened_at = _num(fields, "opened_at")
    if now < opened_at + policy.cooldown_s:
        return Permit(False, retry_at=opened_at + policy.cooldown_s)
    probe_at, probes = _num(fields, "probe_at"), _num(fields, "probes")
    if now >= probe_at + policy.cooldown_s:
        probes = 0
    if probes >= policy.half_open_probes:
        return Permit(False, retry_at=probe_at + policy.cooldown_s)
    fields.update(probes=probes + 1, probe_at=now)
    return Permit(True, probe=True)


def _window(fields: MutableMapping[str, Any], policy: BreakerPolicy, now: float) -> tuple[int, int]:
    idx = int(now // (policy.window_s / policy.slots))
    calls = fails = 0
    for i in range(policy.slots):
        stamp = fields.get(f"t{i}")
        if stamp not in (None, "") and int(stamp) > idx - policy.slots:
            calls += int(fields[f"s{i}"]) + int(fields[f"f{i}"])
            fails += int(fields[f"f{i}"])
    return calls, fails


def record_in_memory(fields: dict[str, Any], policy: BreakerPolicy, now: float, ok: bool) -> str:
    """The rules of `_RECORD` on a dict standing for the Redis hash."""
    idx = int(now // (policy.window_s / policy.slots))
    slot = idx % policy.slots
    if fields.get(f"t{slot}") != idx:
        fields.update({f"t{slot}": idx, f"s{slot}": 0, f"f{slot}": 0})
    fields[f"{'s' if ok else 'f'}{slot}"] += 1
    if fields.get("state") == "open":
        if now < _num(fields, "opened_at") + policy.cooldown_s:
            return ""
        if ok:
            for i in range(policy.slots):
                for prefix in "tsf":
                    fields.pop(f"{prefix}{i}", None)
            fields.update(state="closed", probes=0, closes=int(_num(fields, "closes")) + 1)
            return "closed"
        fields.update(opened_at=now, probes=0)
        return "reopened"
    calls, fails = _window(fields, policy, now)
    if calls >= policy.min_calls and fails / calls > policy.failure_rate:
        fields.update(state="open", opened_at=now, probes=0, opens=int(_num(fields, "opens")) + 1)
        return "opened"
    return ""


def describe(
    name: str, fields: MutableMapping[str, Any], policy: BreakerPolicy, now: float
) -> BreakerState:
    """A snapshot for the admin page and metrics."""
    calls, fails = _window(fields, policy, now)
    state, next_probe = "closed", None
    if fields.get("state") == "open":
        next_probe = _num(fields, "opened_at") + policy.cooldown_s
        if now >= next_probe:
            state = "half_open"
            if _num(fields, "probes") >= policy.half_open_probes:
                next_probe = _num(fields, "probe_at") + policy.cooldown_s
        else:
            state = "open"
    return BreakerState(
        name=name,
        state=state,
        failure_rate=round(fails / calls, 4) if calls else 0.0,
        calls=calls,
        next_probe_at=next_probe,
        opens=int(_num(fields, "opens")),
        closes=int(_num(fields, "closes")),
    )


class Breakers:
    """Breakers by name (`tier:<name>`, `key:<provider>/<key variable>`)."""

    def __init__(self, policy: BreakerPolicy, clock: Clock = time.time) -> None:
        self.policy = policy
        self.clock = clock

    async def allow(self, name: str) -> Permit:
        now, p = self.clock(), self.policy
        args = [now, p.cooldown_s, p.half_open_probes]

        async def on_redis(redis: aioredis.Redis) -> Permit:
            allowed, probe, retry_at = await backend.run_script(
                redis, _ALLOW, [backend.key("breaker", name)], args
            )
            return Permit(bool(allowed), bool(probe), float(retry_at))

        return await backend.shared(
            "breaker", on_redis, lambda: allow_in_memory(self._fields(name), p, now)
        )

    async def record(self, name: str, ok: bool) -> str:
        """Counts one call's outcome; returns the state change it caused ('' if none)."""
        now, p = self.clock(), self.policy
        args = [now, int(ok), p.window_s, p.slots, p.failure_rate, p.min_calls, p.cooldown_s]

        async def on_redis(redis: aioredis.Redis) -> str:
            return await backend.run_script(redis, _RECORD, [backend.key("breaker", name)], args)

        return await backend.shared(
            "breaker", on_redis, lambda: record_in_memory(self._fields(name), p, now, ok)
        )

    async def snapshot(self, name: str) -> BreakerState:
        async def on_redis(redis: aioredis.Redis) -> MutableMapping[str, Any]:
            return await redis.hgetall(backend.key("breaker", name))

        fields = await backend.shared("breaker", on_redis, lambda: self._fields(name))
        return describe(name, fields, self.policy, self.clock())

    def _fields(self, name: str) -> dict[str, Any]:
        return backend.memory("breakers").setdefault(name, {})


def tier_breaker(tier_name: str) -> str:
    return f"tier:{tier_name}"


def key_breaker(upstream_id: str) -> str:
    return f"key:{upstream_id}"
