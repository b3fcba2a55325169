"""The router against real HTTP upstreams (one simulator per tier) with injected faults."""

import asyncio
import logging
import time

import pytest

from chatbot.answer_trace import Trace
from chatbot.llm import spend
from chatbot.llm.breaker import BreakerPolicy, tier_breaker
from chatbot.llm.client import stream_chat
from chatbot.llm.retry import RetryPolicy
from chatbot.llm.router import Router, RouterPolicy
from chatbot.llm.simulator import Faults, default_answer
from chatbot.llm.tiers import parse_tiers
from chatbot.pipeline.base import DoneEvent, Turn
from chatbot.pipeline.cache_stage import cut_off
from chatbot.pipeline.llm_stage import LLMStage
from tests.llm.conftest import tier_config

SIMPLE = "Where is my parcel?"
HARD = "What is the difference between the Pro and the Air plans?"
FAST_RETRIES = RetryPolicy(base_s=0.01, max_wait_s=0.5, budget_min=100)
NO_TRIPS = BreakerPolicy(min_calls=10_000)


def make_router(sims, *, policy: RouterPolicy | None = None, **overrides) -> Router:
    policy = policy or RouterPolicy(retry=FAST_RETRIES, breaker=NO_TRIPS)
    return Router(parse_tiers(tier_config(sims, **overrides)), policy)


async def ask(router: Router, text: str, notes: list[str] | None = None):
    async def notify(turn: Turn, detail: str) -> None:
        if notes is not None:
            notes.append(detail)

    stage = LLMStage(router, system_prompt="Be brief.", history_budget=500, notify=notify)
    trace = Trace()
    answer = await stage.attempt(Turn("conv", 1, text), trace)
    if answer is None:
        return None, trace
    return "".join([piece async for piece in answer.tokens]), trace


def decisions(trace: Trace) -> list[str]:
    return [step.decision for step in trace.steps]


def requests(sims) -> dict[str, int]:
    return {name: sim.stats.requests for name, sim in sims.items()}


async def test_simple_questions_go_cheap_and_hard_ones_strong_with_cost_in_the_trace(sims):
    router = make_router(sims)
    text, trace = await ask(router, SIMPLE)
    assert text == default_answer(SIMPLE)
    assert requests(sims) == {"strong": 0, "cheap": 1, "local": 0}
    routed, answered = trace.steps
    assert routed.decision == "routed" and routed.detail["complexity"] == "simple"
    assert routed.detail["plan"] == ["cheap", "local"]
    assert answered.decision == "answered" and answered.model == "cheap-model"
    assert not answered.detail["usage_estimated"]
    assert answered.cost == pytest.approx(
        answered.prompt_tokens / 1000 * 0.00015 + answered.completion_tokens / 1000 * 0.0006
    )

    text, trace = await ask(router, HARD)
    assert text == default_answer(HARD)
    assert requests(sims)["strong"] == 1
    assert trace.steps[0].detail["reasons"] == ["comparative"]
    assert trace.steps[-1].model == "strong-model" and trace.steps[-1].cost > answered.cost
    assert await spend.spent() == pytest.approx(answered.cost + trace.steps[-1].cost)


async def test_a_5xx_is_retried_on_the_same_tier(sims):
    sims["cheap"].faults = Faults(fail_first=1, error_status=503)
    text, trace = await ask(make_router(sims), SIMPLE)
    assert text == default_answer(SIMPLE)
    assert requests(sims) == {"strong": 0, "cheap": 2, "local": 0}
    assert trace.steps[-1].detail["attempts"] == 2


async def test_a_429_with_a_short_retry_after_waits_for_it(sims):
    sims["cheap"].faults = Faults(fail_first=1, error_status=429, retry_after_s=0.3)
    started = time.perf_counter()
    text, _ = await ask(make_router(sims), SIMPLE)
    assert text == default_answer(SIMPLE)
    assert time.perf_counter() - started >= 0.3, "Retry-After honoured"
    assert requests(sims)["cheap"] == 2 and requests(sims)["local"] == 0


async def test_a_429_with_a_long_retry_after_fails_over_at_once(sims):
    sims["cheap"].faults = Faults(error_rate=1.0, error_status=429, retry_after_s=30)
    started = time.perf_counter()
    text, trace = await ask(make_router(sims), SIMPLE)
    assert time.perf_counter() - started < 1.0
    assert text == default_answer(SIMPLE)
    assert requests(sims) == {"strong": 0, "cheap": 1, "local": 1}
    failed = trace.steps[1]
    assert failed.decision == "tier_failed"
    assert failed.detail["kind"] == "rate_limited" and failed.detail["retry_after_s"] == 30


@pytest.mark.parametrize("status", [400, 401, 403, 404])
async def test_client_errors_are_not_retried_fail_over_and_are_logged_loudly(sims, status, caplog):
    sims["cheap"].faults = Faults(error_rate=1.0, error_status=status)
    with caplog.at_level(logging.ERROR, logger="chatbot.llm.router"):
        text, trace = await ask(make_router(sims), SIMPLE)
    assert text == default_answer(SIMPLE)
    assert requests(sims) == {"strong": 0, "cheap": 1, "local": 1}
    assert trace.steps[1].detail["status"] == status
    assert any(str(status) in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)


async def test_no_first_token_in_time_fails_over_and_tells_the_visitor(sims):
    sims["cheap"].faults = Faults(first_token_delay_s=3)
    notes: list[str] = []
    router = make_router(sims, cheap={"first_token_timeout_s": 0.3})
    started = time.perf_counter()
    text, trace = await ask(router, SIMPLE, notes)
    assert time.perf_counter() - started < 1.5
    assert text == default_answer(SIMPLE)
    assert notes == ["failover"]
    given_up, answered = trace.steps[1:]
    assert given_up.detail["kind"] == "first_token_timeout"
    assert given_up.detail["attempts"] == 1, "a slow tier is not retried"
    # The slow tier had the prompt and may bill it: counted, estimated (it was $0).
    assert given_up.detail["usage_estimated"] and given_up.prompt_tokens > 0
    assert given_up.cost == pytest.approx(given_up.prompt_tokens / 1000 * 0.00015)
    assert await spend.spent() == pytest.approx(given_up.cost + answered.cost)


async def test_retries_do_not_start_afresh_on_each_tier(sims):
    for sim in sims.values():
        sim.faults = Faults(error_rate=1.0, error_status=503)
    policy = RouterPolicy(retry=RetryPolicy(max_per_message=2, base_s=0.01, budget_min=100))
    text, trace = await ask(make_router(sims, policy=policy), HARD)
    assert text is None
    assert sum(requests(sims).values()) == 3 + 2, "three tiers, two retries in all"
    assert decisions(trace) == ["routed", "tier_failed", "tier_failed", "tier_failed"]


async def test_a_stream_cut_midway_is_continued_by_the_next_tier_without_repeats(sims):
    sims["cheap"].faults = Faults(cut_after_tokens=3)
    text, trace = await ask(make_router(sims), SIMPLE)
    assert text == default_answer(SIMPLE), "the visitor sees one whole answer, once"
    assert sims["local"].stats.continuations == 1
    assert decisions(trace) == ["routed", "interrupted", "continued"]
    interrupted = trace.steps[1]
    assert interrupted.detail["usage_estimated"] and interrupted.completion_tokens > 0


async def test_a_continuation_that_starts_over_is_trimmed(sims):
    sims["cheap"].faults = Faults(cut_after_tokens=4)
    sims["local"].faults = Faults(continue_restarts=True)
    text, _ = await ask(make_router(sims), SIMPLE)
    assert text == default_answer(SIMPLE)
    assert text.count("Thanks for asking") == 1


@pytest.mark.parametrize("status", [429, 503])
async def test_an_error_event_inside_the_stream_fails_over_like_any_other(sims, status):
    sims["cheap"].faults = Faults(stream_error_rate=1.0, stream_error_status=status, seed=3)
    text, trace = await ask(make_router(sims), SIMPLE)
    assert text == default_answer(SIMPLE)
    assert decisions(trace) == ["routed", "interrupted", "continued"]


async def test_a_cut_with_no_tier_left_ends_with_a_note_and_keeps_what_was_shown(sims):
    sims["local"].faults = Faults(cut_after_tokens=3)
    sims["cheap"].faults = Faults(error_rate=1.0, error_status=401)
    text, trace = await ask(make_router(sims), SIMPLE)
    assert text.startswith("Thanks for asking. (Sorry, my answer was cut off.")
    assert decisions(trace) == ["routed", "tier_failed", "interrupted"]


async def test_our_own_rate_limit_fails_over_without_calling(sims):
    router = make_router(sims, cheap={"rpm": 1})
    await ask(router, SIMPLE)
    text, trace = await ask(router, SIMPLE)
    assert text == default_answer(SIMPLE)
    assert requests(sims) == {"strong": 0, "cheap": 1, "local": 1}
    assert trace.steps[1].detail["kind"] == "own_rate_limit"


async def test_an_open_tier_breaker_skips_the_tier_without_calling_it(sims, backend):
    policy = RouterPolicy(retry=FAST_RETRIES, breaker=BreakerPolicy(min_calls=3, cooldown_s=60))
    router = make_router(sims, policy=policy)
    sims["cheap"].faults = Faults(error_rate=1.0, error_status=500)
    for _ in range(3):
        assert (await ask(router, SIMPLE))[0] == default_answer(SIMPLE)
    assert (await router.breakers.snapshot(tier_breaker("cheap"))).state == "open"
    calls = sims["cheap"].stats.requests
    text, trace = await ask(router, SIMPLE)
    assert text == default_answer(SIMPLE)
    assert sims["cheap"].stats.requests == calls
    assert trace.steps[1].decision == "tier_skipped"


async def test_a_throttled_tier_is_skipped_without_calling_it(sims, backend):
    never_opens = BreakerPolicy(min_calls=4, failure_rate=1.0)
    policy = RouterPolicy(retry=RetryPolicy(max_per_message=0), breaker=never_opens)
    router = make_router(sims, policy=policy)
    sims["cheap"].faults = Faults(error_rate=1.0, error_status=500)
    for _ in range(4):
        assert (await ask(router, SIMPLE))[0] == default_answer(SIMPLE)
    router.breakers.draw = lambda: 0.79  # under (4 - 2 x 0) / (4 + 1) = 0.8
    text, trace = await ask(router, SIMPLE)
    assert text == default_answer(SIMPLE)
    assert requests(sims) == {"strong": 0, "cheap": 4, "local": 5}
    assert trace.steps[1].decision == "tier_skipped"
    assert trace.steps[1].detail["reason"] == "throttled"
    router.breakers.draw = lambda: 5 / 6 + 0.001  # the refusal counted: (5 - 0) / (5 + 1)
    await ask(router, SIMPLE)
    assert requests(sims)["cheap"] == 5


async def test_a_bad_key_in_a_pool_is_broken_and_the_others_carry_on(sims, monkeypatch):
    monkeypatch.setenv("SIM_KEY_GOOD", "good-key")
    monkeypatch.setenv("SIM_KEY_BAD", "bad-key")
    sims["cheap"].faults = Faults(bad_keys=["bad-key"])
    policy = RouterPolicy(retry=FAST_RETRIES, breaker=BreakerPolicy(min_calls=2, cooldown_s=60))
    router = make_router(
        sims, policy=policy, cheap={"api_key_env": ["SIM_KEY_GOOD", "SIM_KEY_BAD"]}
    )
    for _ in range(12):
        assert (await ask(router, SIMPLE))[0] == default_answer(SIMPLE)
    keys = sims["cheap"].stats.keys
    assert keys.count("bad-key") == 2, "the key's breaker opened after two failures"
    assert keys[-1] == "good-key" and keys.count("good-key") >= 10 - 2
    tier = await router.breakers.snapshot(tier_breaker("cheap"))
    assert tier.state == "closed", "a key's auth failure does not break the tier"


async def test_over_the_daily_budget_hard_questions_go_to_the_cheaper_tier(sims):
    policy = RouterPolicy(retry=FAST_RETRIES, breaker=NO_TRIPS, daily_budget_usd=0.01)
    await spend.add(0.01)
    text, trace = await ask(make_router(sims, policy=policy), HARD)
    assert text == default_answer(HARD)
    assert requests(sims)["strong"] == 0
    assert trace.steps[0].detail["over_budget"] is True


async def test_a_consumer_that_stops_early_closes_the_upstream_stream(sims):
    """The pipeline stops reading an answer the output filter blocks or that can no longer be
    grounded: the model stops writing it, and what it wrote so far is still in the trace and
    the spend (it was paid for)."""
    sims["cheap"].faults = Faults(token_delay_s=0.05)
    stage = LLMStage(make_router(sims), system_prompt="", history_budget=0, notify=None)
    trace = Trace()
    spent_before = await spend.spent()
    answer = await stage.attempt(Turn("c", 1, SIMPLE), trace)
    first = await anext(answer.tokens)
    await answer.tokens.aclose()
    await asyncio.sleep(0.3)
    assert first == "Thanks "
    assert sims["cheap"].stats.completed == 0
    answered = trace.steps[-1]
    assert answered.decision == "answered" and answered.model == "cheap-model"
    assert answered.completion_tokens >= 1 and answered.cost > 0
    assert await spend.spent() == pytest.approx(spent_before + answered.cost)


async def test_a_tier_that_refuses_connections_is_not_retried_and_its_breakers_open(sims, caplog):
    """Nothing listens (a local model server that died): fail over at once without retries,
    open the key's and the tier's breakers, and probe again after the short cooldown."""
    now = [1_000_000.0]
    policy = RouterPolicy(retry=FAST_RETRIES, breaker=BreakerPolicy(unreachable_cooldown_s=2))
    config = tier_config(sims, cheap={"base_url": "http://127.0.0.1:9/v1"})
    router = Router(parse_tiers(config), policy, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="chatbot.llm.router"):
        text, trace = await ask(router, SIMPLE)
    assert text == default_answer(SIMPLE), "the next tier answered"
    failed = next(s for s in trace.steps if s.decision == "tier_failed")
    assert (failed.detail["tier"], failed.detail["kind"], failed.detail["attempts"]) == (
        "cheap",
        "unreachable",
        1,
    )
    for name in ("tier:cheap", "key:cheap/none"):
        assert (await router.breakers.snapshot(name)).state == "open", name
    assert any(
        "circuit breaker tier:cheap opened: the upstream is not listening" in r.getMessage()
        for r in caplog.records
    )

    _, trace = await ask(router, SIMPLE)
    skipped = next(s for s in trace.steps if s.decision == "tier_skipped")
    assert (skipped.detail["tier"], skipped.detail["reason"]) == ("cheap", "breaker_open")
    now[0] += 2
    _, trace = await ask(router, SIMPLE)
    assert any(s.decision == "tier_failed" and s.detail["tier"] == "cheap" for s in trace.steps), (
        "probed again after the short cooldown"
    )


async def test_a_cancel_arriving_with_the_first_token_stops_the_answer(sims):
    """The shutdown's hand-over cancels answers wherever they are. One landing as the first
    token arrives must stop the answer: Python 3.11's `wait_for` returned the token instead
    and the answer was written to its end."""
    asker: list[asyncio.Task] = []

    async def cancelled_at_the_first_chunk(upstream, messages):
        async for chunk in stream_chat(upstream, messages):
            if chunk.text and not asker[0].cancelling():
                asker[0].cancel()
            yield chunk

    router = Router(
        parse_tiers(tier_config(sims)),
        RouterPolicy(retry=FAST_RETRIES, breaker=NO_TRIPS),
        stream_factory=cancelled_at_the_first_chunk,
    )
    asker.append(asyncio.create_task(ask(router, SIMPLE)))
    with pytest.raises(asyncio.CancelledError):
        await asker[0]


@pytest.mark.parametrize("report_usage", [True, False])
async def test_an_answer_stopped_at_max_tokens_is_known_as_cut_off_with_or_without_usage(
    sims, report_usage
):
    sims["cheap"].faults = Faults(report_usage=report_usage)
    router = make_router(sims, cheap={"max_tokens": 3})
    text, trace = await ask(router, SIMPLE)
    answered = trace.steps[-1]
    cut, note = text.split(" (", 1)
    assert default_answer(SIMPLE).startswith(cut) and len(cut) < len(default_answer(SIMPLE))
    assert "(" + note == "(Sorry, my answer was cut off. Please ask again if you need more.)", (
        "said, as a broken stream is, rather than left to look whole"
    )
    assert answered.detail["finish_reason"] == "length"
    assert answered.detail["usage_estimated"] is not report_usage
    trace.finish("llm")
    assert cut_off(DoneEvent("llm", text, trace))

    router = make_router(sims)
    text, trace = await ask(router, SIMPLE)
    assert text == default_answer(SIMPLE)
    assert trace.steps[-1].detail["finish_reason"] == "stop"
    trace.finish("llm")
    assert not cut_off(DoneEvent("llm", text, trace))
