"""Which model answers the cache keeps: complete ones, not cut off at the token limit, not
marked ungrounded, not ranked by an outdated copy of the knowledge, without personal details
(chatbot.pipeline.cache_stage.reusable)."""

import pytest

from chatbot.answer_trace import Trace, TraceStep
from chatbot.pipeline.base import DoneEvent
from chatbot.pipeline.cache_stage import cut_off, reusable

ANSWER = "Standard delivery takes 3-5 working days."


def done(*steps: TraceStep, text: str = ANSWER) -> DoneEvent:
    trace = Trace()
    for step in steps:
        trace.add(step)
    trace.finish("llm")
    return DoneEvent("llm", text, trace)


def answered(completion_tokens: int = 12, **detail) -> TraceStep:
    detail = {"tier": "local", "provider": "local", "usage_estimated": False, **detail}
    return TraceStep("llm", "answered", 5.0, completion_tokens=completion_tokens, detail=detail)


@pytest.fixture(autouse=True)
def _limit(settings) -> None:
    settings.LLM_MAX_TOKENS = 100
    settings.OPENAI_API_KEY = ""  # the local tier alone, whose provider is "local"


def test_a_complete_answer_is_reusable():
    assert reusable(done(answered()))


def test_an_answer_marked_ungrounded_is_not():
    retrieval = TraceStep("knowledge", "no_passages", 1.0, detail={"grounded": False})
    assert not reusable(done(retrieval, answered()))
    assert not reusable(done(answered(grounded=False)))
    assert reusable(done(answered(grounded=True)))


def test_an_answer_at_its_token_limit_is_cut_off():
    assert cut_off(done(answered(completion_tokens=100)))
    assert not reusable(done(answered(completion_tokens=100)))
    assert not cut_off(done(answered(completion_tokens=99)))
    estimated = answered(completion_tokens=100, usage_estimated=True)
    assert not cut_off(done(estimated)), "an estimate says nothing about where it stopped"
    elsewhere = answered(completion_tokens=100, tier="strong", provider="openai-strong")
    assert not cut_off(done(elsewhere)), "a provider no longer configured: its limit is unknown"


def test_the_upstreams_finish_reason_decides_when_it_gave_one():
    assert cut_off(
        done(answered(completion_tokens=7, usage_estimated=True, finish_reason="length"))
    )
    assert cut_off(done(answered(completion_tokens=7, finish_reason="content_filter")))
    assert not cut_off(done(answered(completion_tokens=100, finish_reason="stop"))), (
        "an answer that ends exactly at the limit is whole when the upstream says it stopped"
    )


def test_interrupted_or_personal_answers_are_not():
    interrupted = TraceStep("llm", "interrupted", 3.0, detail={"tier": "local"})
    assert not reusable(done(interrupted, answered()))
    assert not reusable(done(answered(), text="Mail us at help@example.com."))


def test_an_answer_from_passages_of_an_outdated_copy_is_not():
    outdated = TraceStep("knowledge", "retrieved", 2.0, detail={"stale_copy": True})
    current = TraceStep("knowledge", "retrieved", 2.0, detail={"passages": []})
    assert not reusable(done(outdated, answered()))
    assert reusable(done(current, answered()))
