"""An answer given help-centre sources streams only as far as it is grounded: sentence by
sentence once a cited sentence checks out, and not at all when it would be replaced at the end
(so a visitor never sees an ungrounded claim and then watches it taken back). With the stop on
(LLM_STOP_UNGROUNDED), an answer that can no longer be grounded is given up as soon as that is
known: the visitor gets the replacement without waiting for the rest, and the model stops."""

from collections.abc import AsyncIterator

from chatbot.answer_trace import Trace, TraceStep
from chatbot.outcomes import Decision
from chatbot.pipeline.base import Answer, DoneEvent, TokenEvent, Turn
from chatbot.pipeline.orchestrator import run_pipeline
from knowledge.documents.types import Passage
from tests.llm.test_grounding import RETURNS, SHIPPING

REPLACEMENT = "These help-centre articles may help."


class Scripted:
    """A stage answering with fixed tokens, given the RETURNS passage (or `sources`) as its
    sources; `sent` counts the tokens the "model" has produced so far, `closed` whether its
    stream was ended early."""

    name = "llm"

    def __init__(
        self,
        tokens: list[str],
        *,
        hold: bool = True,
        stop: bool = False,
        sources: tuple[Passage, ...] = (RETURNS,),
    ) -> None:
        self.tokens, self.hold, self.stop, self.sources = tokens, hold, stop, sources
        self.sent, self.closed = 0, False

    async def attempt(self, turn: Turn, trace: Trace) -> Answer:
        trace.add(TraceStep("llm", Decision.ANSWERED, 0.0, model="scripted"))

        async def stream() -> AsyncIterator[str]:
            try:
                for token in self.tokens:
                    self.sent += 1
                    yield token
            except GeneratorExit:
                self.closed = True
                raise

        return Answer(
            "llm",
            stream(),
            sources=self.sources,
            replace_ungrounded=REPLACEMENT,
            hold_ungrounded=self.hold,
            stop_ungrounded=self.stop,
        )


async def run(stage: Scripted) -> tuple[list[tuple[int, str]], DoneEvent]:
    """Each token event with how many tokens the model had sent when it went out."""
    shown: list[tuple[int, str]] = []
    done = None
    async for event in run_pipeline(Turn("c", 1, "Can I return shoes?"), [stage], Trace()):
        if isinstance(event, TokenEvent):
            shown.append((stage.sent, event.text))
        elif isinstance(event, DoneEvent):
            done = event
    assert done is not None
    return shown, done


GROUNDED = [
    "You can return ",
    "unworn items within ",
    "30 days of delivery [1]. ",
    "Refunds take ",
    "5 days [1].",
]


async def test_a_grounded_answer_streams_sentence_by_sentence() -> None:
    shown, done = await run(Scripted(GROUNDED))
    assert "".join(text for _, text in shown) == done.text == "".join(GROUNDED)
    first_sent, first_text = shown[0]
    assert first_text == "You can return unworn items within 30 days of delivery [1]."
    assert first_sent == 4, "out as soon as the next sentence began, before the answer ended"
    assert done.citations


async def test_an_uncited_answer_is_never_shown_before_it_is_replaced() -> None:
    tokens = ["Refunds ", "now take ", "365 days. ", "Everything ", "is free."]
    shown, done = await run(Scripted(tokens))
    assert shown == []
    assert done.text == REPLACEMENT


async def test_an_unsupported_first_claim_is_held_back_too() -> None:
    tokens = ["Refunds take ", "365 days [1]. ", "Thanks ", "for asking."]
    shown, done = await run(Scripted(tokens))
    assert shown == [] and done.text == REPLACEMENT


async def test_without_the_hold_the_tokens_stream_as_they_come() -> None:
    tokens = ["Refunds ", "now take ", "365 days."]
    shown, done = await run(Scripted(tokens, hold=False))
    assert [text for _, text in shown] == tokens
    assert done.text == REPLACEMENT  # shown, then taken back: what the hold prevents


MISQUOTED = ["Refunds take ", "365 days [1]. ", "Thanks ", "for asking. ", "Bye ", "now."]


async def test_a_cited_sentence_its_source_does_not_bear_out_stops_the_answer_at_once() -> None:
    stage = Scripted(MISQUOTED, stop=True)
    shown, done = await run(stage)
    assert shown == [] and done.text == REPLACEMENT
    assert stage.sent == 3, "stopped as soon as the next sentence began"
    assert stage.closed
    step = done.trace.answering_step()
    assert step.detail["stopped"] == "unsupported" and step.detail["replaced"] is True


async def test_without_the_stop_the_model_writes_to_the_end_for_the_same_replacement() -> None:
    stage = Scripted(MISQUOTED, stop=False)
    shown, done = await run(stage)
    assert shown == [] and done.text == REPLACEMENT
    assert stage.sent == len(MISQUOTED) and not stage.closed
    assert "stopped" not in done.trace.answering_step().detail


async def test_a_grounded_sentence_already_shown_is_taken_back_when_a_later_one_fails() -> None:
    """As without the stop (the final check fails the whole answer), only sooner."""
    tokens = [*GROUNDED[:3], "Everything ", "is free [1]. ", "More ", "to come."]
    stage = Scripted(tokens, stop=True)
    shown, done = await run(stage)
    assert [text for _, text in shown] == [
        "You can return unworn items within 30 days of delivery [1]."
    ]
    assert done.text == REPLACEMENT and stage.sent == 6


async def test_a_second_citation_still_arriving_is_waited_for() -> None:
    """ "… [1]. [" may become "… [1]. [2]", whose source bears the sentence out."""
    tokens = ["You can return unworn items within 30 days of delivery [1]. ", "[", "2] "]
    tokens += ["Thanks ", "for asking."]
    stage = Scripted(tokens, stop=True, sources=(SHIPPING, RETURNS))
    _, done = await run(stage)
    assert done.text == "".join(tokens) and done.citations
    assert stage.sent == len(tokens) and not stage.closed


async def test_an_answer_citing_nothing_yet_is_not_given_up() -> None:
    """One citation at the end of a paragraph grounds the sentences before it."""
    tokens = ["Hi there. ", "Good news. ", "Returns are easy. ", *GROUNDED]
    stage = Scripted(tokens, stop=True)
    _, done = await run(stage)
    assert done.text == "".join(tokens) and done.citations and not stage.closed
