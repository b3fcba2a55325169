"""Some stage always answers: a stage that raises (a locked database, Redis not answering, a bug)
is recorded in the trace as `stage_failed` with the kind of failure, and the next stage answers;
the fallback stage answers even without its database or the shared queued flag."""

import sqlite3

import pytest
from channels.db import database_sync_to_async
from django.db import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chatbot import visitor_copy
from chatbot.answer_trace import Trace, TraceStep
from chatbot.llm import queued_flag
from chatbot.llm.simulator import default_answer
from chatbot.models import Message
from chatbot.pipeline.base import Answer, DoneEvent, StatusEvent, TokenEvent, Turn
from chatbot.pipeline.fallback_stage import FallbackStage, stream_text
from chatbot.pipeline.orchestrator import run_pipeline
from statestore.policy import RedisUnavailable
from tests.conftest import chat_socket


class Raising:
    def __init__(self, name: str, exc: Exception) -> None:
        self.name = name
        self.exc = exc

    async def attempt(self, turn: Turn, trace: Trace) -> Answer | None:
        raise self.exc


class Answering:
    name = "next"

    async def attempt(self, turn: Turn, trace: Trace) -> Answer | None:
        trace.add(TraceStep(self.name, "answered", 0.0))
        return Answer(self.name, stream_text("Here you are.", delay_s=0))


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (OperationalError("database is locked"), "database"),
        (sqlite3.OperationalError("disk I/O error"), "database"),
        (RedisConnectionError("Connection refused"), "redis"),
        (RedisTimeoutError("Timeout reading from socket"), "redis"),
        (RedisUnavailable("knowledge_version"), "redis"),
        (TimeoutError(), "timeout"),
        (ConnectionRefusedError(111, "refused"), "connection"),
        (KeyError("bug"), "internal"),
    ],
)
async def test_a_stage_that_raises_is_recorded_and_the_next_one_answers(exc, kind):
    trace = Trace()
    events = [
        e async for e in run_pipeline(Turn("c", 1, "hi"), [Raising("faq", exc), Answering()], trace)
    ]
    assert [type(e) for e in events] == [StatusEvent, StatusEvent, TokenEvent, DoneEvent]
    assert [e.stage for e in events[:2]] == ["faq", "next"]
    assert (events[-1].source, events[-1].text) == ("next", "Here you are.")
    failed = trace.steps[0]
    assert (failed.stage, failed.decision) == ("faq", "stage_failed")
    assert failed.detail == {"error": type(exc).__name__, "kind": kind}
    assert trace.source == "next"


async def test_the_fallback_answers_without_its_templates_or_the_queued_flag(settings, monkeypatch):
    settings.CHAT_STORED_ANSWER_TOKEN_DELAY_S = 0

    async def templates(locale: str) -> list:
        raise OperationalError("database is locked")

    async def mark() -> None:
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(queued_flag, "mark", mark)
    trace = Trace()
    trace.add(TraceStep("llm", "tier_failed", 0.0))  # a model was tried: it would be queued
    stage = FallbackStage(templates, queue_unanswered=True)
    answer = await stage.attempt(Turn("c", 1, "Do you ship?"), trace)
    text = "".join([piece async for piece in answer.tokens])
    assert text == visitor_copy.render(visitor_copy.FALLBACK_ANSWER, "en")
    step = trace.steps[-1]
    assert step.decision == "canned_answer"
    assert step.detail["queued_for_answer"] is False, "no promise it cannot keep"


def _fail_faq(monkeypatch) -> None:
    async def embed(text: str, locale: str | None = None):
        raise OperationalError("database is locked")

    monkeypatch.setattr("chatbot.pipeline.faq_stage.embed_one_async", embed)


def _fail_cache(monkeypatch) -> None:
    def lookup(**kwargs):
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")

    monkeypatch.setattr("chatbot.pipeline.cache_stage.cache_lookup", lookup)


def _fail_llm(monkeypatch) -> None:
    async def over_budget(limit: float) -> bool:
        raise RedisTimeoutError("Timeout reading from socket")

    monkeypatch.setattr("chatbot.llm.spend.over_budget", over_budget)


@database_sync_to_async
def stored_trace(message_id: int) -> dict:
    return Message.objects.get(pk=message_id).trace


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("settle")
@pytest.mark.parametrize(
    ("breaks", "failed_kind", "answered_by"),
    [
        (_fail_faq, ("faq", "database"), "llm"),
        (_fail_cache, ("cache", "redis"), "llm"),
        (_fail_llm, ("llm", "redis"), "fallback"),
    ],
)
async def test_over_the_socket_a_broken_stage_is_passed_over(
    upstream, monkeypatch, breaks, failed_kind, answered_by
):
    breaks(monkeypatch)
    question = "Do you deliver to Iceland?"
    async with chat_socket() as client:
        frames = await client.say(question, "m1")
    assert not [f for f in frames if f["type"] == "error"], frames
    done = frames[-1]
    assert done["source"] == answered_by
    if answered_by == "llm":
        assert done["message"]["text"] == default_answer(question)
    trace = await stored_trace(done["message"]["id"])
    failed = [
        (s["stage"], s["detail"]["kind"]) for s in trace["steps"] if s["decision"] == "stage_failed"
    ]
    assert failed == [failed_kind]
