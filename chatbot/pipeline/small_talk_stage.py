"""First stage: a message that asks nothing ("hi", "thanks!", "好的，再见") gets a set, friendly
reply in the visitor's language at once. Without it such a message went down the whole pipeline
to "I couldn't find that in our help centre", and two greetings in a row counted as the bot
falling back twice, which hands the conversation to a person."""

from chatbot import visitor_copy
from chatbot.answer_trace import Trace, TraceStep
from chatbot.outcomes import Decision, Source
from chatbot.pipeline.base import Answer, Turn
from chatbot.pipeline.fallback_stage import stored_answer
from knowledge.greetings import small_talk


class SmallTalkStage:
    name = Source.SMALL_TALK

    async def attempt(self, turn: Turn, trace: Trace) -> Answer | None:
        """Answers only a message that is small talk through and through; anything else passes
        without a trace step (nearly every message)."""
        started = trace.elapsed_ms()
        kind = small_talk(turn.text)
        if kind is None:
            return None
        reply = visitor_copy.render(visitor_copy.SMALL_TALK_REPLIES[kind.value], turn.locale)
        trace.add(
            TraceStep(
                self.name,
                Decision.SMALL_TALK,
                round(trace.elapsed_ms() - started, 2),
                detail={"kind": kind.value},
            )
        )
        return stored_answer(self.name, reply)
