"""Chaos: 200 visitor messages through the whole websocket stack while the upstreams fail 40% of
calls (5xx, 429, streams cut or erroring mid-way, first tokens too slow). Router state in the
real Redis. Partial failure is not an outage: the models keep answering, no breaker opens, and
retries stay within 1.7 calls per message (tests/llm/test_partial_failure.py has the outages)."""

import asyncio
import json
import re
import time
from collections import Counter

import pytest
from channels.db import database_sync_to_async

from chatbot import visitor_copy
from chatbot.llm.breaker import breaker_states
from chatbot.llm.simulator import Faults, default_answer
from chatbot.models import Message
from tests.conftest import chat_socket
from tests.llm.conftest import tier_config

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CONVERSATIONS = 20
MESSAGES_EACH = 10
FAULTS = {
    "error_rate": 0.2,
    "error_statuses": [500, 502, 503, 429],
    "retry_after_s": 0.1,
    "cut_rate": 0.1,
    "stream_error_rate": 0.05,
    "slow_rate": 0.05,
    "slow_first_token_s": 3.0,
}
# Above a healthy first token on a loaded machine, below a slow one (3 s). A CI machine still
# timed healthy streams out (93-93.5% answered at 1.5 s and at 2 s alike, 99-100% here): such
# answers are told apart from the simulated faults' below.
FIRST_TOKEN_TIMEOUT_S = 2.0


@pytest.fixture
def chaos_settings(settings, sims, on_redis):
    settings.LLM_TIERS_JSON = json.dumps(
        tier_config(
            sims,
            cheap={"first_token_timeout_s": FIRST_TOKEN_TIMEOUT_S},
            local={"first_token_timeout_s": FIRST_TOKEN_TIMEOUT_S},
        )[1:]
    )
    settings.CHAT_PIPELINE_STAGES = ["llm", "fallback"]
    settings.CHAT_STORED_ANSWER_TOKEN_DELAY_S = 0
    settings.HANDOFF_WHEN_MODELS_DOWN = False
    settings.HANDOFF_FALLBACK_STREAK = 0
    settings.LLM_BREAKER_MIN_CALLS = 10
    settings.CHAT_VISITOR_MESSAGE_BURST = 100  # the visitor limit is not under test here
    settings.LLM_MODEL_CALLS_PER_MINUTE = 0  # nor the model-call brake
    settings.LLM_BREAKER_WINDOW_S = 5
    settings.LLM_BREAKER_COOLDOWN_S = 0.5
    settings.LLM_RETRY_BASE_S = 0.05
    settings.LLM_QUEUE_UNANSWERED = False
    for seed, sim in enumerate((sims["cheap"], sims["local"])):
        sim.reset(Faults(**FAULTS, seed=seed))
    return sims


async def converse(index: int, results: list[dict]) -> None:
    async with chat_socket() as client:
        for turn in range(MESSAGES_EACH):
            question = f"Question {turn} about order {index}"
            started = time.perf_counter()
            frames = await client.say(question, f"m{index}-{turn}")
            results.append(
                {"question": question, "frames": frames, "s": time.perf_counter() - started}
            )


def check_answer(result: dict) -> str:
    frames, question = result["frames"], result["question"]
    done = frames[-1]
    tokens = [f for f in frames if f["type"] == "token"]
    offset = 0
    for token in tokens:
        assert token["offset"] == offset, "tokens arrive once, in order, without gaps"
        offset += len(token["text"])
    shown = "".join(t["text"] for t in tokens)
    assert shown == done["message"]["text"], "stored as what the visitor saw"
    if done["source"] == "llm":
        expected = default_answer(question)
        note = visitor_copy.interrupted_note("x", "en").strip()
        if shown != expected:
            assert shown.endswith(note), shown
            assert expected.startswith(shown[: -len(note)].rstrip()), f"no repeats: {shown}"
    else:
        assert done["source"] == "fallback"
    return done["source"]


@database_sync_to_async
def fallback_traces() -> dict[str, dict]:
    """Each template answer's trace, by the question it answered."""
    answers = Message.objects.filter(role=Message.Role.BOT, source="fallback")
    return {a.reply_to.text: a.trace for a in answers.select_related("reply_to")}


def timeouts(trace: dict) -> int:
    return sum(
        s["decision"] == "tier_failed" and s["detail"]["kind"] == "first_token_timeout"
        for s in trace["steps"]
    )


TIER_OUTCOMES = ("tier_failed", "tier_skipped")


def throttled(trace: dict) -> bool:
    """A tier or all its keys refused by their own breaker's throttle, before any call."""
    return any(
        s["decision"] == "tier_skipped"
        or (s["decision"] == "tier_failed" and s["detail"]["kind"] == "keys_unavailable")
        for s in trace["steps"]
    )


def slowed(sims, question: str) -> int:
    """The simulators' slow streams for this question (word for word: "order 1" is not in
    "order 10")."""
    pattern = re.compile(rf"\b{re.escape(question)}\b")
    return sum(bool(pattern.search(q)) for sim in sims.values() for q in sim.stats.slowed)


async def test_models_keep_answering_in_time_without_repeats_or_call_storms(chaos_settings):
    sims = chaos_settings
    results: list[dict] = []
    seen_states: set[tuple[str, str]] = set()
    stop = asyncio.Event()

    async def watch() -> None:
        while not stop.is_set():
            seen_states.update((s.name, s.state) for s in await breaker_states())
            await asyncio.sleep(0.02)

    watcher = asyncio.create_task(watch())
    await asyncio.gather(*(converse(i, results) for i in range(CONVERSATIONS)))
    stop.set()
    await watcher

    assert len(results) == CONVERSATIONS * MESSAGES_EACH
    sources = [check_answer(r) for r in results]
    slowest = max(r["s"] for r in results)
    assert slowest < 10, f"every answer within 10 s (slowest {slowest:.2f} s)"

    calls = sims["cheap"].stats.requests + sims["local"].stats.requests
    failed = sum(
        s.stats.failed + s.stats.cut + s.stats.slow for s in (sims["cheap"], sims["local"])
    )
    assert 0.3 < failed / calls < 0.5, "the upstreams really failed about 40% of calls"
    assert calls / len(results) <= 1.7, f"{calls} upstream calls for {len(results)} messages"
    states = await breaker_states()
    assert all(s.opens == 0 for s in states), "no breaker opened"
    assert {state for _, state in seen_states} == {"closed"}, "not even for a moment"

    fallbacks = await fallback_traces()
    assert len(fallbacks) == sources.count("fallback")
    for question, trace in fallbacks.items():
        tried = {s["detail"]["tier"] for s in trace["steps"] if s["decision"] in TIER_OUTCOMES}
        assert tried == {"cheap", "local"}, f"{question}: a template only after both tiers"
    # Not a simulated fault: a healthy stream timed out (more first-token timeouts than the
    # simulators made slow streams for that question: this machine fell behind), or a closed
    # breaker's throttle shed the call at this failure rate, as designed (docs/llm.md). A CI
    # machine's run had both.
    excused = {
        q for q, trace in fallbacks.items() if timeouts(trace) > slowed(sims, q) or throttled(trace)
    }
    assert len(excused) <= 0.1 * len(results), f"{len(excused)} templates not the faults'"
    answered = sources.count("llm") / (len(results) - len(excused))
    kinds = Counter(
        f"{s['detail']['tier']}: {s['detail'].get('kind') or s['detail'].get('reason')}"
        for trace in fallbacks.values()
        for s in trace["steps"]
        if s["decision"] in TIER_OUTCOMES
    )
    assert answered >= 0.95, f"the models answered {answered:.1%}; templates after {kinds}"

    print(
        f"\nchaos: {sources.count('llm')} model answers, {sources.count('fallback')} templates "
        f"({len(excused)} after a timeout of a healthy stream or a throttled tier), "
        f"{calls / len(results):.2f} calls/message, slowest {slowest:.2f} s, "
        + ", ".join(f"{s.name} opened {s.opens}x closed {s.closes}x" for s in states)
    )
