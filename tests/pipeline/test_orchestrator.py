"""`run_pipeline` itself: stages tried in order until one answers, a status per stage tried,
the answer's tokens then one `done`, failures before the first token passed over, a break
after it kept, and every stage told how the turn ended."""

from collections.abc import AsyncIterator

import pytest

from chatbot.answer_trace import Trace
from chatbot.pipeline.base import Answer, DoneEvent, StatusEvent, TokenEvent, Turn
from chatbot.pipeline.orchestrator import NoStageAnswered, run_pipeline

TURN = Turn(conversation_public_id="c1", message_id=7, text="Where is my parcel?")


async def _tokens(*parts: str, fail_after: int | None = None) -> AsyncIterator[str]:
    for index, part in enumerate(parts):
        if fail_after is not None and index == fail_after:
            raise ConnectionError("upstream closed")
        yield part


class Stage:
    """A stage that answers with `parts`, passes (`parts` None) or raises before answering."""

    def __init__(
        self,
        name: str,
        parts: tuple[str, ...] | None = None,
        *,
        raises: Exception | None = None,
        fail_after: int | None = None,
    ) -> None:
        self.name = name
        self.parts = parts
        self.raises = raises
        self.fail_after = fail_after
        self.asked = 0
        self.told: list[DoneEvent | None] = []

    async def attempt(self, turn: Turn, trace: Trace) -> Answer | None:
        self.asked += 1
        if self.raises is not None:
            raise self.raises
        if self.parts is None:
            return None
        return Answer(self.name, _tokens(*self.parts, fail_after=self.fail_after))

    async def after_answer(self, turn: Turn, done: DoneEvent | None) -> None:
        self.told.append(done)


async def run(*stages: Stage) -> tuple[list, Trace]:
    trace = Trace()
    return [event async for event in run_pipeline(TURN, stages, trace)], trace


async def test_the_first_stage_that_answers_wins_and_later_ones_are_not_asked():
    faq, cache, llm = Stage("faq"), Stage("cache", ("Tuesday.",)), Stage("llm", ("never",))
    events, trace = await run(faq, cache, llm)
    assert events[:2] == [StatusEvent("faq"), StatusEvent("cache")]
    assert events[2] == TokenEvent("Tuesday.")
    done = events[-1]
    assert isinstance(done, DoneEvent) and (done.source, done.text) == ("cache", "Tuesday.")
    assert llm.asked == 0
    assert trace.source == "cache" and trace.ttft_ms is not None


async def test_every_stage_is_told_how_the_turn_ended():
    faq, llm = Stage("faq"), Stage("llm", ("Hello", " there"))
    events, _ = await run(faq, llm)
    assert faq.told == llm.told == [events[-1]]
    assert [e.text for e in events if isinstance(e, TokenEvent)] == ["Hello", " there"]


async def test_a_stage_that_raises_before_answering_is_passed_over_and_recorded():
    broken = Stage("faq", raises=RuntimeError("database is locked"))
    events, trace = await run(broken, Stage("fallback", ("Sorry.",)))
    assert events[-1].source == "fallback"
    step = trace.steps[0]
    assert (step.stage, step.decision, step.detail["error"]) == (
        "faq",
        "stage_failed",
        "RuntimeError",
    )


async def test_a_stream_that_breaks_before_its_first_token_lets_the_next_stage_answer():
    llm = Stage("llm", ("never shown",), fail_after=0)
    events, trace = await run(llm, Stage("fallback", ("Sorry.",)))
    assert [e.text for e in events if isinstance(e, TokenEvent)] == ["Sorry."]
    assert events[-1].source == "fallback"
    assert any(s.decision == "stream_failed" for s in trace.steps)


async def test_a_stream_that_breaks_midway_keeps_what_was_shown_and_ends_with_a_note():
    llm = Stage("llm", ("Your parcel ", "left ", "never"), fail_after=2)
    events, _ = await run(llm, Stage("fallback", ("Sorry.",)))
    shown = "".join(e.text for e in events if isinstance(e, TokenEvent))
    done = events[-1]
    assert done.source == "llm" and shown == done.text
    assert done.text.startswith("Your parcel left ") and "cut off" in done.text


async def test_no_stage_answering_is_a_configuration_error_and_stages_still_hear_of_it():
    faq = Stage("faq")
    with pytest.raises(NoStageAnswered):
        await run(faq)
    assert faq.told == [None]
