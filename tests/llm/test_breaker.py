"""Circuit breaker rules with a fake clock, against memory and the real Redis alike."""

import pytest

from chatbot.llm.breaker import BreakerPolicy, Breakers

POLICY = BreakerPolicy(failure_rate=0.15, min_calls=10, window_s=60, cooldown_s=30)


async def run(breakers: Breakers, name: str, *, ok: int, failed: int) -> list[str]:
    changes = []
    for _ in range(ok):
        changes.append(await breakers.record(name, True))
    for _ in range(failed):
        changes.append(await breakers.record(name, False))
    return [c for c in changes if c]


async def test_stays_closed_until_the_window_holds_the_minimum_calls(backend, clock):
    breakers = Breakers(POLICY, clock)
    assert await run(breakers, "tier:a", ok=0, failed=9) == []
    assert (await breakers.allow("tier:a")).allowed
    assert (await breakers.snapshot("tier:a")).failure_rate == 1.0


async def test_opens_when_the_failure_rate_passes_the_threshold(backend, clock):
    breakers = Breakers(POLICY, clock)
    assert await run(breakers, "tier:a", ok=17, failed=3) == [], "15% is not past 15%"
    assert await run(breakers, "tier:a", ok=0, failed=1) == ["opened"]
    permit = await breakers.allow("tier:a")
    assert not permit.allowed and permit.retry_at == clock.now + 30
    state = await breakers.snapshot("tier:a")
    assert (state.state, state.opens, state.next_probe_at) == ("open", 1, clock.now + 30)
    assert state.failure_rate == pytest.approx(4 / 21, abs=1e-3)


async def test_half_open_lets_limited_probes_through_and_closes_on_success(backend, clock):
    breakers = Breakers(POLICY, clock)
    await run(breakers, "tier:a", ok=0, failed=10)
    clock.advance(29.9)
    assert not (await breakers.allow("tier:a")).allowed
    clock.advance(0.1)
    assert (await breakers.snapshot("tier:a")).state == "half_open"
    probe = await breakers.allow("tier:a")
    assert probe.allowed and probe.probe
    assert not (await breakers.allow("tier:a")).allowed, "one probe at a time"
    assert await breakers.record("tier:a", True) == "closed"
    state = await breakers.snapshot("tier:a")
    assert (state.state, state.calls, state.closes) == ("closed", 0, 1)
    assert (await breakers.allow("tier:a")).allowed


async def test_a_failed_probe_reopens_for_another_cooldown(backend, clock):
    breakers = Breakers(POLICY, clock)
    await run(breakers, "tier:a", ok=0, failed=10)
    clock.advance(31)
    assert (await breakers.allow("tier:a")).probe
    assert await breakers.record("tier:a", False) == "reopened"
    clock.advance(29)
    assert not (await breakers.allow("tier:a")).allowed
    clock.advance(1)
    assert (await breakers.allow("tier:a")).allowed


async def test_a_probe_that_never_reports_frees_its_slot_after_a_cooldown(backend, clock):
    breakers = Breakers(POLICY, clock)
    await run(breakers, "tier:a", ok=0, failed=10)
    clock.advance(30)
    assert (await breakers.allow("tier:a")).probe
    clock.advance(29)
    assert not (await breakers.allow("tier:a")).allowed
    clock.advance(1)
    assert (await breakers.allow("tier:a")).probe, "the lost probe is replaced"


async def test_failures_older_than_the_window_no_longer_count(backend, clock):
    breakers = Breakers(POLICY, clock)
    await run(breakers, "tier:a", ok=5, failed=4)
    clock.advance(61)
    assert await run(breakers, "tier:a", ok=10, failed=1) == []
    state = await breakers.snapshot("tier:a")
    assert (state.calls, state.failure_rate) == (11, pytest.approx(1 / 11, abs=1e-3))


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
