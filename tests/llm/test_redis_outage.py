"""Router state fails open: with its Redis stopped or hung mid-test, breakers, rate-limit buckets
(upstream keys and visitors), today's spend and the pending flag keep answering from this
process's memory under the same rules, with one warning per outage and a metric, and go back to
Redis once it answers. Each test runs a redis-server of its own (never the shared one)."""

import logging

import pytest
from prometheus_client import REGISTRY

from chatbot.llm import queued_flag, spend
from chatbot.llm.breaker import BreakerPolicy, Breakers
from chatbot.llm.limits import per_minute, take
from chatbot.llm.router import Router, RouterPolicy
from chatbot.llm.simulator import default_answer
from chatbot.llm.tiers import parse_tiers
from chatbot.security.ratelimit import visitor_message_allowed
from statestore import policy
from tests.llm.conftest import tier_config
from tests.llm.test_router import FAST_RETRIES, SIMPLE, ask

POLICY = BreakerPolicy(min_calls=10)
STORES = ("breaker", "bucket", "spend", "pending")


def fallbacks(store: str) -> float:
    value = REGISTRY.get_sample_value("chatbot_redis_fallbacks_total", {"store": store})
    return value or 0.0


def backend_warnings(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "statestore.policy" and r.levelno == logging.WARNING
    ]


async def exercise(breakers: Breakers, clock) -> dict[str, object]:
    """One call of each kind of router state, as the router and the consumer make them."""
    return {
        "breaker": [await breakers.record("tier:a", False) for _ in range(10)],
        "allowed": (await breakers.allow("tier:a")).allowed,
        "bucket": [(await take([per_minute("rpm:k", 2)], clock=clock)).allowed for _ in range(3)],
        "visitor": (await visitor_message_allowed("conv", clock=clock))[0],
        "spent": (await spend.add(0.25), await spend.spent())[1],
        "pending": (await queued_flag.mark(), await queued_flag.is_marked())[1],
    }


EXPECTED = {  # the same rules on either store, from a fresh state
    "breaker": [""] * 9 + ["opened"],
    "allowed": False,
    "bucket": [True, True, False],
    "visitor": True,
    "spent": 0.25,
    "pending": True,
}


async def test_state_falls_back_to_memory_while_redis_is_down_and_returns_after(
    own_redis, settings, clock, caplog
):
    settings.REDIS_RETRY_S = 0  # ask Redis on every call
    breakers = Breakers(POLICY, clock)
    assert await exercise(breakers, clock) == EXPECTED
    assert own_redis.client().hget("test-router:breaker:tier:a", "state") == "open"
    before = {store: fallbacks(store) for store in STORES}

    own_redis.stop()
    with caplog.at_level(logging.INFO, logger="statestore.policy"):
        assert await exercise(breakers, clock) == EXPECTED, "memory, same rules"
        assert await exercise(breakers, clock) != EXPECTED, "and it keeps its state"
        for store in STORES:
            assert fallbacks(store) > before[store], store
        assert len(backend_warnings(caplog)) == 1, "one warning per outage"

        own_redis.start()  # empty: it keeps nothing on disk
        assert await spend.spent() == 0.0, "Redis again, not this process's 0.5"
        assert (await breakers.allow("tier:a")).allowed, "not this process's open breaker"
        await breakers.record("tier:a", True)
        assert own_redis.client().exists("test-router:breaker:tier:a")
    assert any("answers again" in r.getMessage() for r in caplog.records)
    assert len(backend_warnings(caplog)) == 1


async def test_a_hung_redis_costs_one_short_timeout_per_retry_interval(own_redis, settings, clock):
    """After one call times out, calls go to memory without asking Redis until the interval
    has passed: a new attempt would time out and move `retry_at` on."""
    settings.REDIS_TIMEOUT_S = 0.2
    settings.REDIS_RETRY_S = 60
    breakers = Breakers(POLICY, clock)
    assert (await breakers.allow("tier:a")).allowed  # connected
    own_redis.hang()
    assert (await breakers.allow("tier:a")).allowed
    state = policy.outage(own_redis.url)
    first_retry_at = state.retry_at
    assert state.down and first_retry_at > 0
    for _ in range(20):
        assert (await breakers.allow("tier:a")).allowed
        await breakers.record("tier:a", True)
        await spend.spent()
    assert state.retry_at == first_retry_at, "Redis was not asked again"


async def test_the_router_answers_while_redis_is_down(own_redis, sims, settings):
    """Breakers, the key's rpm/tpm buckets and the daily budget all read Redis on the way."""
    own_redis.stop()
    policy = RouterPolicy(retry=FAST_RETRIES, daily_budget_usd=1.0)
    router = Router(parse_tiers(tier_config(sims, cheap={"rpm": 100, "tpm": 100_000})), policy)
    for _ in range(3):
        text, trace = await ask(router, SIMPLE)
        assert text == default_answer(SIMPLE)
    assert await spend.spent() == pytest.approx(3 * trace.steps[-1].cost)
