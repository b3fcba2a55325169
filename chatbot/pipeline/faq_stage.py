"""First stage: an approved answer from the FAQ store, only when the match is confident."""

from collections.abc import Awaitable, Callable

from chatbot.answer_trace import Trace, TraceStep
from chatbot.database_lanes import on_bookkeeping_lane, on_lookup_lane
from chatbot.pipeline.base import Answer, DoneEvent, Turn
from chatbot.pipeline.fallback_stage import stored_answer
from chatbot.pipeline.grounding import document_citation
from chatbot.pipeline.offers import offer_taken
from knowledge.embeddings import embed_one_async
from knowledge.greetings import strip_greetings
from knowledge.selectors import FaqLookup, faq_find, faq_find_in_memory
from knowledge.services import faq_record_hit

Lookup = Callable[..., Awaitable[FaqLookup]]
# The cosine of a question to a stored wording it repeats (the same text embeds the same).
EXACT_WORDING = 0.999


class FAQStage:
    name = "faq"

    def __init__(self, lookup: Lookup | None = None) -> None:
        self.lookup = lookup or on_lookup_lane(faq_find)
        # (FAQ, variant, asked in one of its wordings exactly) per answered message.
        self._served: dict[int, tuple[int, int, bool]] = {}

    async def attempt(self, turn: Turn, trace: Trace) -> Answer | None:
        started = trace.elapsed_ms()
        # Embedding is CPU work that needs no database: it runs on the embedding thread, so it
        # never holds up the one thread every database call of this process goes through.
        embedded = trace.elapsed_ms()
        vector = await embed_one_async(strip_greetings(turn.text), turn.locale)
        embed_ms = round(trace.elapsed_ms() - embedded, 2)
        # A fresh in-memory index answers here, without waiting for a database thread.
        found = faq_find_in_memory(text=turn.text, locale=turn.locale, vector=vector)
        lookup = "memory" if found is not None else "database"
        if found is None:
            found = await self.lookup(text=turn.text, locale=turn.locale, vector=vector)
        found.timings_ms["embed_ms"] = embed_ms
        result = found.result
        detail = {
            "faq_id": result.best_faq_id,
            "similarity": round(result.best_similarity, 4),
            "runner_up_faq_id": result.runner_up_faq_id,
            "margin": round(result.margin, 4),
            "variant_id": found.variant_id,
            "lookup": lookup,
            **found.timings_ms,
        }
        if result.lone:  # one phrasing: `score` is its cosine against the lone threshold
            detail["lone"] = True
        if found.source is not None:
            detail["source_document_id"] = found.source.document_id
        if not found.answered and found.related:
            # Offered under the reply only if the bot has no answer either (answer_facts).
            detail["related"] = list(found.related)
        if found.foreign_words:  # words of other FAQs' subjects declined the match
            detail["foreign_words"] = list(found.foreign_words)
        if found.negative is not None:  # a confirmed negative example declined the match
            detail["negative_id"] = found.negative.negative_id
            detail["negative_similarity"] = round(found.negative.similarity, 4)
        trace.add(
            TraceStep(
                self.name,
                found.decision,
                round(trace.elapsed_ms() - started, 2),
                score=round(result.score, 4),
                detail=detail,
            )
        )
        if not found.answered:
            return None
        assert result.faq_id is not None and found.variant_id is not None
        self._served[turn.message_id] = (
            result.faq_id,
            found.variant_id,
            result.best_similarity >= EXACT_WORDING,
        )
        citations = (document_citation(found.source),) if found.source is not None else ()
        return stored_answer(self.name, found.text, citations=citations)

    async def after_answer(self, turn: Turn, done: DoneEvent | None) -> None:
        """Counts the hit once the answer went out, off the path to its first word, and keeps
        the question before it as a draft phrasing when this one took its "Did you mean"
        offer."""
        served = self._served.pop(turn.message_id, None)
        if served is None or done is None or done.source != self.name:
            return
        faq_id, variant_id, exact_wording = served
        await on_bookkeeping_lane(faq_record_hit)(faq_id=faq_id, variant_id=variant_id)
        if exact_wording:  # an offer sends the FAQ's question word for word: only then look
            await on_bookkeeping_lane(offer_taken)(
                message_id=turn.message_id, faq_id=faq_id, text=turn.text
            )
