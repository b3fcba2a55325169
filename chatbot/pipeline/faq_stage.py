"""First stage: an approved answer from the FAQ store, only when the match is confident."""

from collections.abc import Awaitable, Callable

from channels.db import database_sync_to_async

from chatbot.pipeline.base import Answer, Turn
from chatbot.pipeline.fallback_stage import stream_text
from chatbot.pipeline.trace import Trace, TraceStep
from knowledge.selectors import FaqLookup, faq_lookup

Lookup = Callable[..., Awaitable[FaqLookup]]


class FAQStage:
    name = "faq"

    def __init__(self, lookup: Lookup | None = None) -> None:
        self.lookup = lookup or database_sync_to_async(faq_lookup)

    async def attempt(self, turn: Turn, trace: Trace) -> Answer | None:
        started = trace.elapsed_ms()
        found = await self.lookup(text=turn.text, locale=turn.locale)
        result = found.result
        trace.add(
            TraceStep(
                self.name,
                found.decision,
                round(trace.elapsed_ms() - started, 2),
                score=round(result.score, 4),
                detail={
                    "faq_id": result.best_faq_id,
                    "similarity": round(result.best_similarity, 4),
                    "runner_up_faq_id": result.runner_up_faq_id,
                    "margin": round(result.margin, 4),
                    "variant_id": found.variant_id,
                    **found.timings_ms,
                },
            )
        )
        if not found.answered:
            return None
        return Answer(self.name, stream_text(found.text))
