"""First stage: an approved answer from the FAQ store, only when the match is confident."""

from collections.abc import Awaitable, Callable

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async

from chatbot.pipeline.base import Answer, Turn
from chatbot.pipeline.fallback_stage import stream_text
from chatbot.pipeline.trace import Trace, TraceStep
from knowledge.embeddings import embed_one
from knowledge.selectors import FaqLookup, faq_lookup

Lookup = Callable[..., Awaitable[FaqLookup]]


class FAQStage:
    name = "faq"

    def __init__(self, lookup: Lookup | None = None) -> None:
        self.lookup = lookup or database_sync_to_async(faq_lookup)

    async def attempt(self, turn: Turn, trace: Trace) -> Answer | None:
        started = trace.elapsed_ms()
        # Embedding is CPU work that needs no database: it runs in a pool thread, so it never
        # holds up the one thread every database call of this process goes through.
        embedded = trace.elapsed_ms()
        vector = await sync_to_async(embed_one, thread_sensitive=False)(turn.text)
        embed_ms = round(trace.elapsed_ms() - embedded, 2)
        found = await self.lookup(text=turn.text, locale=turn.locale, vector=vector)
        found.timings_ms["embed_ms"] = embed_ms
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
