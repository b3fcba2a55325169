"""Circuit breaker and throttling rules with a fake clock, against memory and the real Redis
alike."""

import hashlib
import random

import pytest
import redis

from chatbot import shared_state as shared_state_module
from chatbot.llm import breaker
from chatbot.llm.breaker import BreakerPolicy, Breakers
from chatbot.shared_state import shared_state

POLICY = BreakerPolicy(min_calls=10, window_s=60, cooldown_s=30, half_open_probes=5)


class Draws:
    """The throttle's random draw, set by the test."""

    def __init__(self, value: float = 0.999) -> None:
        self.value = value

    def __call__(self) -> float:
        return self.value


async def run(breakers: Breakers, name: str, *, ok: int, failed: int) -> list[str]:
    changes = []
    for _ in range(ok):
        changes.append(await breakers.record(name, True))
    for _ in range(failed):
        changes.append(await breakers.record(name, False))
    return [c for c in changes if c]


async def test_stays_closed_until_the_window_holds_the_minimum_calls(backend, clock):
    breakers = Breakers(POLICY, clock, Draws(0.0))
    assert await run(breakers, "tier:a", ok=0, failed=9) == []
    assert (await breakers.allow("tier:a")).allowed, "neither open nor throttling yet"
    assert (await breakers.snapshot("tier:a")).failure_rate == 1.0


async def test_opens_only_when_nearly_every_call_fails(backend, clock):
    breakers = Breakers(POLICY, clock, Draws())
    assert await run(breakers, "tier:a", ok=2, failed=18) == [], "90% is not past 90%"
    assert await run(breakers, "tier:a", ok=0, failed=1) == ["opened"]
    permit = await breakers.allow("tier:a")
    assert not permit.allowed and not permit.throttled and permit.retry_at == clock.now + 30
    state = await breakers.snapshot("tier:a")
    assert (state.state, state.opens, state.next_probe_at) == ("open", 1, clock.now + 30)
    assert state.failure_rate == pytest.approx(19 / 21, abs=1e-3)


async def test_partial_failure_does_not_open_and_is_seldom_throttled(backend, clock):
    """40% of calls failing (the old breaker opened at 15%): the breaker stays closed, and the
    throttle refuses only while chance puts a window's failures well past half."""
    calls = refused = 0
    for seed in range(10):
        rng = random.Random(seed)
        breakers = Breakers(BreakerPolicy(), clock, rng.random)
        for _ in range(500):
            calls += 1
            if (await breakers.allow(f"tier:{seed}")).allowed:
                assert await breakers.record(f"tier:{seed}", rng.random() >= 0.4) == ""
            else:
                refused += 1
            clock.advance(0.2)
        state = await breakers.snapshot(f"tier:{seed}")
        assert (state.state, state.opens) == ("closed", 0)
        assert 0.3 < state.failure_rate < 0.5
    assert refused / calls < 0.01, f"{refused} of {calls} refused"


async def test_the_throttle_refuses_with_the_sre_probability(backend, clock):
    """max(0, (requests - K x accepts) / (requests + 1)), refusals counted as requests."""
    draws = Draws()
    breakers = Breakers(POLICY, clock, draws)
    await run(breakers, "tier:a", ok=10, failed=10)
    draws.value = 0.0
    assert (await breakers.allow("tier:a")).allowed, "requests = K x accepts: no refusal"
    await run(breakers, "tier:a", ok=0, failed=6)  # 26 requests, 10 accepts, 62% failed
    assert (await breakers.snapshot("tier:a")).throttle == pytest.approx(6 / 27, abs=1e-4)
    draws.value = 6 / 27 - 0.001
    refused = await breakers.allow("tier:a")
    assert (refused.allowed, refused.throttled, refused.retry_at) == (False, True, 0.0)
    state = await breakers.snapshot("tier:a")
    assert state.throttle == pytest.approx(7 / 28, abs=1e-4), "the refusal was a request"
    assert (state.state, state.calls) == ("closed", 26)
    assert state.failure_rate == pytest.approx(16 / 26, abs=1e-4)
    draws.value = 7 / 28 + 0.001
    assert (await breakers.allow("tier:a")).allowed


async def test_a_dead_tier_is_throttled_then_opened(backend, clock):
    draws = Draws(0.5)
    breakers = Breakers(POLICY, clock, draws)
    await run(breakers, "tier:a", ok=0, failed=2)
    assert [(await breakers.allow("tier:a")).throttled for _ in range(3)] == [False] * 3
    await run(breakers, "tier:a", ok=0, failed=7)  # 9 requests: below min_calls
    assert await run(breakers, "tier:a", ok=0, failed=1) == ["opened"]


async def test_throttled_calls_fill_the_window_but_are_not_failures(backend, clock):
    breakers = Breakers(POLICY, clock, Draws(0.0))
    await run(breakers, "tier:a", ok=1, failed=9)  # 10 requests: the throttle starts
    for _ in range(5):
        assert (await breakers.allow("tier:a")).throttled
    assert await run(breakers, "tier:a", ok=1, failed=0) == []
    state = await breakers.snapshot("tier:a")
    assert (state.state, state.calls) == ("closed", 11)
    assert state.failure_rate == pytest.approx(9 / 11, abs=1e-4)


async def test_half_open_lets_several_probes_through_and_closes_on_a_share_of_successes(
    backend, clock
):
    breakers = Breakers(POLICY, clock, Draws(0.0))
    await run(breakers, "tier:a", ok=0, failed=10)
    clock.advance(29.9)
    assert not (await breakers.allow("tier:a")).allowed
    clock.advance(0.1)
    assert (await breakers.snapshot("tier:a")).state == "half_open"
    permits = [await breakers.allow("tier:a") for _ in range(6)]
    assert [p.probe for p in permits] == [True] * 5 + [False], "five probes at a time"
    assert permits[-1].retry_at == clock.now + 30
    assert await breakers.record("tier:a", False) == ""
    assert await breakers.record("tier:a", True) == ""
    assert await breakers.record("tier:a", True) == "closed", "two of five (40%) close it"
    state = await breakers.snapshot("tier:a")
    assert (state.state, state.calls, state.throttle, state.closes) == ("closed", 0, 0.0, 1)
    assert (await breakers.allow("tier:a")).allowed, "a fresh window: no throttling"


async def test_probes_reopen_once_the_share_cannot_be_reached(backend, clock):
    breakers = Breakers(POLICY, clock)
    await run(breakers, "tier:a", ok=0, failed=10)
    clock.advance(31)
    assert all([(await breakers.allow("tier:a")).probe for _ in range(5)])
    assert await run(breakers, "tier:a", ok=1, failed=3) == [], "two successes still possible"
    assert await run(breakers, "tier:a", ok=0, failed=1) == ["reopened"]
    clock.advance(29)
    assert not (await breakers.allow("tier:a")).allowed
    clock.advance(1)
    assert (await breakers.allow("tier:a")).probe
    assert await run(breakers, "tier:a", ok=1, failed=0) == [], "a new round counts afresh"


async def test_probes_that_never_report_are_replaced_after_a_cooldown(backend, clock):
    breakers = Breakers(POLICY, clock)
    await run(breakers, "tier:a", ok=0, failed=10)
    clock.advance(30)
    assert all([(await breakers.allow("tier:a")).probe for _ in range(5)])
    clock.advance(29)
    assert not (await breakers.allow("tier:a")).allowed
    clock.advance(1)
    assert (await breakers.allow("tier:a")).probe, "the lost probes are replaced"


async def test_failures_older_than_the_window_no_longer_count(backend, clock):
    breakers = Breakers(POLICY, clock)
    await run(breakers, "tier:a", ok=1, failed=8)
    clock.advance(61)
    assert await run(breakers, "tier:a", ok=1, failed=9) == []
    state = await breakers.snapshot("tier:a")
    assert (state.calls, state.failure_rate) == (10, pytest.approx(0.9, abs=1e-3))


async def test_breakers_are_independent_by_name(backend, clock):
    breakers = Breakers(POLICY, clock)
    await run(breakers, "key:p/A", ok=0, failed=10)
    assert not (await breakers.allow("key:p/A")).allowed
    assert (await breakers.allow("key:p/B")).allowed


async def test_state_is_shared_through_redis(on_redis, clock):
    """Another process (here: another client and Breakers object) sees the open breaker."""
    await run(Breakers(POLICY, clock), "tier:shared", ok=0, failed=10)
    keys = list(on_redis.scan_iter("*breaker:tier:shared"))
    assert len(keys) == 1 and on_redis.hget(keys[0], "state") == "open"
    assert not (await Breakers(POLICY, clock).allow("tier:shared")).allowed


async def test_a_trip_opens_at_once_with_the_short_unreachable_cooldown(backend, clock):
    """A refused connection: open now, probes after `unreachable_cooldown_s`, not `cooldown_s`."""
    policy = BreakerPolicy(cooldown_s=30, unreachable_cooldown_s=2, half_open_probes=5)
    breakers = Breakers(policy, clock, Draws())
    assert await breakers.trip("tier:a") == "opened"
    permit = await breakers.allow("tier:a")
    assert not permit.allowed and permit.retry_at == clock.now + 2
    state = await breakers.snapshot("tier:a")
    assert (state.state, state.opens, state.next_probe_at) == ("open", 1, clock.now + 2)
    clock.advance(1)
    assert await breakers.trip("tier:a") == "", "open already: not counted again"
    assert (await breakers.snapshot("tier:a")).next_probe_at == clock.now + 2, "moved on"
    clock.advance(2)
    assert (await breakers.allow("tier:a")).probe
    assert await breakers.record("tier:a", True) == ""
    assert (await breakers.allow("tier:a")).probe
    assert await breakers.record("tier:a", True) == "closed", "two of five probes succeed"
    assert (await breakers.snapshot("tier:a")).opens == 1


async def test_scripts_are_loaded_again_on_a_server_that_lost_them(own_redis, clock):
    """A Redis that restarted empty or flushed its scripts answers NOSCRIPT: the script is
    loaded again and the call counts, for the router's breakers and the answers' claims alike."""
    breakers = Breakers(POLICY, clock, Draws())
    await run(breakers, "tier:a", ok=0, failed=5)
    assert (await breakers.allow("tier:a")).allowed
    claims = shared_state()
    assert await claims.claim("answer:1", 5, holder="me")
    assert await claims.extend("answer:1", "me", 5)
    server = redis.Redis.from_url(own_redis.url)
    sources = [breaker._RECORD.source, breaker._ALLOW.source, shared_state_module._EXTEND.source]
    shas = [hashlib.sha1(s.encode()).hexdigest() for s in sources]
    assert server.script_exists(*shas) == [True, True, True]
    server.script_flush()
    assert server.script_exists(*shas) == [False, False, False]

    assert await run(breakers, "tier:a", ok=0, failed=5) == ["opened"], "all ten failures count"
    assert not (await breakers.allow("tier:a")).allowed
    assert await claims.extend("answer:1", "me", 5)
    assert not await claims.extend("answer:1", "someone else", 5)
    assert server.script_exists(*shas) == [True, True, True]
