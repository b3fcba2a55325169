"""Circuit breakers with adaptive client-side throttling, per tier and per upstream key, with
state shared across processes. The clock and the throttle's random draw are injected; the memory
store runs the same rules, also while Redis does not answer (chatbot.llm.router_state).
Rules, figures and why not pybreaker: docs/llm.md, "Breakers and throttling"."""

import math
import random
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings

from chatbot import lua
from chatbot.llm import router_state
from chatbot.llm.tiers import configured_tiers
from statestore import policy

Clock = Callable[[], float]


@dataclass(frozen=True)
class BreakerPolicy:
    failure_rate: float = 0.9  # opens above this share of failed calls: the tier is down
    min_calls: int = 20  # requests in the window before it throttles or opens
    window_s: float = 60.0
    slots: int = 10
    cooldown_s: float = 30.0
    half_open_probes: int = 5
    probe_success_share: float = 0.4  # of the probes, to close
    throttle_k: float = 2.0  # K: requests may run to K x successes before any is refused
    # A refused connection (nothing listens) opens the breaker at once, probing again after
    # this long instead of `cooldown_s`: a local server restarting is back in seconds.
    unreachable_cooldown_s: float = 2.0

    @property
    def probes_to_close(self) -> int:
        return max(1, math.ceil(self.probe_success_share * self.half_open_probes))


@dataclass(frozen=True)
class Permit:
    allowed: bool
    probe: bool = False
    retry_at: float = 0.0  # when a call refused by an open breaker may be tried again
    throttled: bool = False  # refused by the throttle (the breaker is closed)


@dataclass(frozen=True)
class BreakerState:
    name: str
    state: str  # closed | open | half_open
    failure_rate: float  # of the calls made in the window
    calls: int
    throttle: float  # the share of calls the throttle refuses now
    next_probe_at: float | None
    opens: int
    closes: int
    probes_ok: int = 0  # trial calls that answered since it went half-open


_ALLOW = lua.Script("breaker_window", "breaker_allow")
_RECORD = lua.Script("breaker_window", "breaker_record")
_TRIP = lua.Script("breaker_trip")


def trip_in_memory(fields: dict[str, Any], opened_at: float) -> str:
    """The rules of breaker_trip.lua on a dict standing for the Redis hash."""
    was = fields.get("state")
    fields.update(state="open", opened_at=opened_at, probes=0, probe_ok=0, probe_failed=0)
    if was == "open":
        return ""
    fields["opens"] = int(_num(fields, "opens")) + 1
    return "opened"


def _num(fields: MutableMapping[str, Any], name: str) -> float:
    value = fields.get(name)
    return float(value) if value not in (None, "") else 0.0


def _index(policy: BreakerPolicy, now: float) -> int:
    return int(now // (policy.window_s / policy.slots))


def _bump(fields: dict[str, Any], policy: BreakerPolicy, now: float, field: str) -> None:
    idx = _index(policy, now)
    slot = idx % policy.slots
    if fields.get(f"t{slot}") != idx:
        fields.update({f"t{slot}": idx, f"s{slot}": 0, f"f{slot}": 0, f"d{slot}": 0})
    fields[f"{field}{slot}"] += 1


def _totals(
    fields: MutableMapping[str, Any], policy: BreakerPolicy, now: float
) -> tuple[int, int, int]:
    """Successes, failures and throttled calls in the window."""
    idx = _index(policy, now)
    s = f = d = 0
    for i in range(policy.slots):
        stamp = fields.get(f"t{i}")
        if stamp not in (None, "") and int(stamp) > idx - policy.slots:
            s += int(fields[f"s{i}"])
            f += int(fields[f"f{i}"])
            d += int(_num(fields, f"d{i}"))
    return s, f, d


def _throttle(policy: BreakerPolicy, s: int, f: int, d: int) -> float:
    requests = s + f + d
    if requests < policy.min_calls:
        return 0.0
    return max(0.0, (requests - policy.throttle_k * s) / (requests + 1))


def allow_in_memory(
    fields: dict[str, Any], policy: BreakerPolicy, now: float, draw: float
) -> Permit:
    """The rules of breaker_allow.lua on a dict standing for the Redis hash."""
    if fields.get("state") == "open":
        opened_at = _num(fields, "opened_at")
        if now < opened_at + policy.cooldown_s:
            return Permit(False, retry_at=opened_at + policy.cooldown_s)
        probe_at, probes = _num(fields, "probe_at"), _num(fields, "probes")
        if probes >= policy.half_open_probes:
            if now < probe_at + policy.cooldown_s:
                return Permit(False, retry_at=probe_at + policy.cooldown_s)
            probes = 0
            fields.update(probe_ok=0, probe_failed=0)
        fields.update(probes=probes + 1, probe_at=now)
        return Permit(True, probe=True)
    if draw < _throttle(policy, *_totals(fields, policy, now)):
        _bump(fields, policy, now, "d")
        return Permit(False, throttled=True)
    return Permit(True)


def record_in_memory(fields: dict[str, Any], policy: BreakerPolicy, now: float, ok: bool) -> str:
    """The rules of breaker_record.lua on a dict standing for the Redis hash."""
    _bump(fields, policy, now, "s" if ok else "f")
    if fields.get("state") == "open":
        if now < _num(fields, "opened_at") + policy.cooldown_s:
            return ""
        outcome = "probe_ok" if ok else "probe_failed"
        fields[outcome] = n = int(_num(fields, outcome)) + 1
        needed = policy.probes_to_close
        if ok and n >= needed:
            for i in range(policy.slots):
                for prefix in "tsfd":
                    fields.pop(f"{prefix}{i}", None)
            fields.update(state="closed", probes=0, probe_ok=0, probe_failed=0)
            fields["closes"] = int(_num(fields, "closes")) + 1
            return "closed"
        if not ok and n > policy.half_open_probes - needed:
            fields.update(opened_at=now, probes=0, probe_ok=0, probe_failed=0)
            return "reopened"
        return ""
    s, f, d = _totals(fields, policy, now)
    if s + f + d >= policy.min_calls and f / (s + f) > policy.failure_rate:
        fields.update(state="open", opened_at=now, probes=0, probe_ok=0, probe_failed=0)
        fields["opens"] = int(_num(fields, "opens")) + 1
        return "opened"
    return ""


def describe(
    name: str, fields: MutableMapping[str, Any], policy: BreakerPolicy, now: float
) -> BreakerState:
    """A snapshot for the admin page and metrics."""
    s, f, d = _totals(fields, policy, now)
    state, next_probe, throttle = "closed", None, _throttle(policy, s, f, d)
    if fields.get("state") == "open":
        throttle = 0.0
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
        failure_rate=round(f / (s + f), 4) if s + f else 0.0,
        calls=s + f,
        throttle=round(throttle, 4),
        next_probe_at=next_probe,
        opens=int(_num(fields, "opens")),
        closes=int(_num(fields, "closes")),
        probes_ok=int(_num(fields, "probe_ok")) if state == "half_open" else 0,
    )


class Breakers:
    """Breakers by name (`tier:<name>`, `key:<provider>/<key variable>`)."""

    def __init__(
        self,
        policy: BreakerPolicy,
        clock: Clock = time.time,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.policy = policy
        self.clock = clock
        self.draw = draw

    def _window_args(self, now: float) -> list[float]:
        return [now, self.policy.window_s, self.policy.slots]

    async def allow(self, name: str) -> Permit:
        """Whether to call now: closed and not throttled, or a half-open probe."""
        now, draw, p = self.clock(), self.draw(), self.policy
        args = [
            *self._window_args(now),
            draw,
            p.min_calls,
            p.throttle_k,
            p.cooldown_s,
            p.half_open_probes,
        ]

        async def on_redis(redis: aioredis.Redis) -> Permit:
            allowed, probe, retry_at, throttled = await _ALLOW(
                redis, [router_state.key("breaker", name)], args
            )
            return Permit(bool(allowed), bool(probe), float(retry_at), bool(throttled))

        return await policy.shared(
            "breaker", on_redis, lambda: allow_in_memory(self._fields(name), p, now, draw)
        )

    async def record(self, name: str, ok: bool) -> str:
        """Counts one call's outcome; returns the state change it caused ('' if none)."""
        now, p = self.clock(), self.policy
        args = [
            *self._window_args(now),
            int(ok),
            p.failure_rate,
            p.min_calls,
            p.cooldown_s,
            p.half_open_probes,
            p.probes_to_close,
        ]

        async def on_redis(redis: aioredis.Redis) -> str:
            return await _RECORD(redis, [router_state.key("breaker", name)], args)

        return await policy.shared(
            "breaker", on_redis, lambda: record_in_memory(self._fields(name), p, now, ok)
        )

    async def trip(self, name: str) -> str:
        """Opens the breaker now because the upstream is not listening; its half-open probes
        start after `unreachable_cooldown_s` (opened_at is set so that the cooldown ends then).
        Returns 'opened', or '' when it was open already."""
        p = self.policy
        opened_at = self.clock() + p.unreachable_cooldown_s - p.cooldown_s

        async def on_redis(redis: aioredis.Redis) -> str:
            return await _TRIP(redis, [router_state.key("breaker", name)], [opened_at])

        return await policy.shared(
            "breaker", on_redis, lambda: trip_in_memory(self._fields(name), opened_at)
        )

    async def snapshot(self, name: str) -> BreakerState:
        async def on_redis(redis: aioredis.Redis) -> MutableMapping[str, Any]:
            return await redis.hgetall(router_state.key("breaker", name))

        fields = await policy.shared("breaker", on_redis, lambda: self._fields(name))
        return describe(name, fields, self.policy, self.clock())

    def _fields(self, name: str) -> dict[str, Any]:
        return router_state.memory("breakers").setdefault(name, {})


def tier_breaker(tier_name: str) -> str:
    return f"tier:{tier_name}"


def key_breaker(upstream_id: str) -> str:
    return f"key:{upstream_id}"


def breaker_policy() -> BreakerPolicy:
    s = settings
    return BreakerPolicy(
        failure_rate=s.LLM_BREAKER_FAILURE_RATE,
        min_calls=s.LLM_BREAKER_MIN_CALLS,
        window_s=s.LLM_BREAKER_WINDOW_S,
        cooldown_s=s.LLM_BREAKER_COOLDOWN_S,
        half_open_probes=s.LLM_BREAKER_HALF_OPEN_PROBES,
        probe_success_share=s.LLM_BREAKER_PROBE_SUCCESS_SHARE,
        throttle_k=s.LLM_THROTTLE_K,
        unreachable_cooldown_s=s.LLM_BREAKER_UNREACHABLE_COOLDOWN_S,
    )


async def breaker_states() -> list[BreakerState]:
    """Every configured tier's and key's breaker, for health, metrics and the admin page: here
    rather than in the router so that reading them does not load the model SDK."""
    breakers = Breakers(breaker_policy())
    names = []
    for tier in configured_tiers():
        names.append(tier_breaker(tier.name))
        names.extend(key_breaker(upstream.id) for upstream in tier.upstreams())
    return [await breakers.snapshot(name) for name in names]
