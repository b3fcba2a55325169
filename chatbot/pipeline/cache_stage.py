"""Second stage: an answer the model already gave, to the same question in other words, in the
same scope. Misses take part in single flight, and `after_answer` stores the model answers worth
reusing (`reusable`) and releases the waiters."""

from dataclasses import dataclass

from django.conf import settings

from chatbot import metrics
from chatbot.answer_trace import Trace, TraceStep
from chatbot.cache import services
from chatbot.cache.echo import private_echoes
from chatbot.cache.pii import answer_is_personal
from chatbot.cache.selectors import CacheLookup, cache_find, cache_lookup
from chatbot.cache.singleflight import SingleFlight
from chatbot.database_lanes import on_bookkeeping_lane, on_lookup_lane
from chatbot.llm.tiers import configured_tiers
from chatbot.outcomes import Decision, Source
from chatbot.pipeline.base import Answer, Citation, DoneEvent, Turn
from chatbot.pipeline.fallback_stage import stored_answer

BROKEN_DECISIONS = {Decision.INTERRUPTED, Decision.CONTINUED, Decision.STREAM_FAILED}


@dataclass
class _Pending:
    found: CacheLookup
    leading: bool


def complete_model_answer(done: DoneEvent) -> bool:
    """A model answer that streamed to its end from one model: not interrupted (nor continued by
    another tier after a break), not a template, an agent's message or an error."""
    if done.source != Source.LLM:
        return False
    step = done.trace.answering_step()
    broken = any(s.decision in BROKEN_DECISIONS for s in done.trace.steps)
    return step is not None and step.decision == Decision.ANSWERED and not broken


def cut_off(done: DoneEvent) -> bool:
    """The model stopped before its answer's end: the upstream said so (`finish_reason`
    "length", its `max_tokens`, or "content_filter"), or, from one that does not say, the
    completion tokens it reported are at the tier's `max_tokens` (an estimated count says
    nothing either way)."""
    step = done.trace.answering_step()
    if step is None:
        return False
    finish_reason = step.detail.get("finish_reason")
    if finish_reason is not None:
        return finish_reason in ("length", "content_filter")
    if step.completion_tokens is None or step.detail.get("usage_estimated"):
        return False
    limits = [
        provider.max_tokens
        for tier in configured_tiers()
        if tier.name == step.detail.get("tier")
        for provider in tier.providers
        if provider.name == step.detail.get("provider")
    ]
    return bool(limits) and step.completion_tokens >= limits[0]


def ungrounded(done: DoneEvent) -> bool:
    """A step marked the answer `grounded: false` (not supported by the knowledge base)."""
    return any(step.detail.get("grounded") is False for step in done.trace.steps)


def blocked(done: DoneEvent) -> bool:
    """The output filter stopped the answer, or the question is on a refused topic."""
    return any("blocked" in step.detail for step in done.trace.steps)


def from_stale_copy(done: DoneEvent) -> bool:
    """Its passages were ranked by a copy of the knowledge older than the version the cache
    entry would be stored under (knowledge.process_copy loads the newer one meanwhile)."""
    return any(step.detail.get("stale_copy") for step in done.trace.steps)


def reusable(done: DoneEvent) -> bool:
    """Worth serving to the next visitor who asks: a complete model answer, not cut off at its
    token limit, not marked ungrounded or blocked, not answered from content older than the
    knowledge version, with no personal details in it."""
    return (
        complete_model_answer(done)
        and not cut_off(done)
        and not ungrounded(done)
        and not blocked(done)
        and not from_stale_copy(done)
        and not answer_is_personal(done.text)
    )


class CacheStage:
    name = Source.CACHE

    def __init__(self, flight: SingleFlight | None = None) -> None:
        self.flight = flight or SingleFlight(ttl_s=settings.ANSWER_CACHE_FLIGHT_TTL_S)
        self._pending: dict[int, _Pending] = {}
        self._hits: dict[int, int] = {}

    async def attempt(self, turn: Turn, trace: Trace) -> Answer | None:
        started = trace.elapsed_ms()
        found = await on_lookup_lane(cache_lookup)(
            text=turn.text, locale=turn.locale, history=turn.history
        )
        # No scope (a bypass) or a scope that is not stored into: single flight has nothing
        # to wait for.
        context = found.context
        if found.hit or found.scope is None or context is None or context.store != context.lookup:
            return self._decide(turn, trace, found, started)
        key = found.flight_key
        if await self.flight.lead(key):
            # Another leader may have stored it between our look and our claim.
            found = await on_lookup_lane(cache_find)(found)
            if found.hit:
                await self.flight.finish(key)
            else:
                self._pending[turn.message_id] = _Pending(found, leading=True)
            return self._decide(turn, trace, found, started)
        released = await self.flight.wait(key, settings.ANSWER_CACHE_WAIT_S)
        found = await on_lookup_lane(cache_find)(found)
        found.detail["waited"] = "released" if released else "timeout"
        if found.hit:
            found.decision = "hit_after_wait"
        else:  # the leader failed or is too slow: ask the model ourselves
            self._pending[turn.message_id] = _Pending(found, leading=False)
        return self._decide(turn, trace, found, started)

    def _decide(
        self, turn: Turn, trace: Trace, found: CacheLookup, started: float
    ) -> Answer | None:
        trace.add(
            TraceStep(
                self.name,
                found.decision,
                round(trace.elapsed_ms() - started, 2),
                score=found.score if found.scope is not None else None,
                model=found.model or None,
                prompt_tokens=0 if found.hit else None,
                completion_tokens=0 if found.hit else None,
                cost=0.0 if found.hit else None,
                detail={"entry_id": found.entry_id, **found.detail, **found.timings_ms},
            )
        )
        metrics.cache_lookup(hit=found.hit, decision=found.decision)
        if not found.hit:
            return None
        assert found.entry_id is not None
        self._hits[turn.message_id] = found.entry_id
        citations = tuple(Citation.from_dict(c) for c in found.citations)
        return stored_answer(self.name, found.answer, citations=citations)

    async def after_answer(self, turn: Turn, done: DoneEvent | None) -> None:
        """Records a served hit; stores a complete model answer; always releases the claim."""
        entry_id = self._hits.pop(turn.message_id, None)
        pending = self._pending.pop(turn.message_id, None)
        try:
            if entry_id is not None and done is not None and done.source == self.name:
                await on_bookkeeping_lane(services.entry_record_hit)(entry_id=entry_id)
            if pending is not None and done is not None and reusable(done):
                await on_bookkeeping_lane(self._store)(turn, pending.found, done)
        finally:
            if pending is not None and pending.leading:
                await self.flight.finish(pending.found.flight_key)

    @staticmethod
    def _store(turn: Turn, found: CacheLookup, done: DoneEvent) -> None:
        """Stores the answer unless it repeats words of the question the knowledge base does
        not hold (chatbot.cache.echo)."""
        assert found.scope is not None and found.vector is not None
        if private_echoes(turn.text, done.text):
            return
        step = done.trace.answering_step()
        services.entry_store(
            question=turn.text,
            answer=done.text,
            vector=found.vector,
            scope=found.scope,
            model=(step.model if step else "") or "",
            tier=str(step.detail.get("tier", "")) if step else "",
            origin_message_id=turn.message_id,
            citations=[citation.to_dict() for citation in done.citations],
        )
