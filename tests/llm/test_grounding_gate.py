"""An answer given help-centre sources streams only as far as it is grounded: sentence by
sentence once a cited sentence checks out, and not at all when it would be replaced at the end
(so a visitor never sees an ungrounded claim and then watches it taken back)."""

from collections.abc import AsyncIterator

from chatbot.answer_trace import Trace
from chatbot.pipeline.base import Answer, DoneEvent, TokenEvent, Turn
from chatbot.pipeline.orchestrator import run_pipeline
from tests.llm.test_grounding import RETURNS

REPLACEMENT = "These help-centre articles may help."


class Scripted:
    """A stage answering with fixed tokens and the RETURNS passage as its source; `sent` counts
    the tokens the "model" has produced so far."""

    name = "llm"

    def __init__(self, tokens: list[str], *, hold: bool = True) -> None:
        self.tokens, self.hold, self.sent = tokens, hold, 0

    async def attempt(self, turn: Turn, trace: Trace) -> Answer:
        async def stream() -> AsyncIterator[str]:
            for token in self.tokens:
                self.sent += 1
                yield token

        return Answer(
            "llm",
            stream(),
            sources=(RETURNS,),
            replace_ungrounded=REPLACEMENT,
            hold_ungrounded=self.hold,
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
