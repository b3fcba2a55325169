"""The LLM stage: finds the help-centre passages that answer the question, routes it to a tier
with them as numbered sources, and streams from the first tier that produces a first token in
time (chatbot.llm.router does the work; this adapts it to the stage protocol).

With nothing relevant in the help centre the stage passes before any model is asked, and the
fallback stage says so and offers a person (LLM_ANSWER_WITHOUT_SOURCES decides otherwise)."""

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import replace

from chatbot import metrics, visitor_copy
from chatbot.answer_trace import Trace, TraceStep
from chatbot.llm.failure_kind import Kind
from chatbot.llm.prompt import build_messages, estimate_tokens
from chatbot.llm.router import Router
from chatbot.llm.tiers import Tier
from chatbot.outcomes import Decision, Source
from chatbot.pipeline.base import Answer, DoneEvent, Turn
from chatbot.pipeline.fallback_stage import stored_answer
from chatbot.pipeline.grounding import (
    UngroundedPolicy,
    WithoutSources,
    sources_prompt,
    suggested_articles,
)
from chatbot.pipeline.output_filter import OutputCheck
from chatbot.pipeline.ungrounded_tiers import UngroundedTiers
from chatbot.realtime import publish
from chatbot.security import ratelimit
from knowledge.documents.instructions import looks_like_instructions
from knowledge.documents.types import Passage, Retrieval

logger = logging.getLogger(__name__)

# A tier failing faster than this since the question is passed over without telling the visitor.
FAILOVER_NOTICE_AFTER_MS = 3000.0
# Tells the visitor what is happening while no token has arrived yet (e.g. "failover").
Notify = Callable[[Turn, str], Awaitable[None]]
# The help-centre passages for a turn; None when its locale has no documents at all.
Retrieve = Callable[[Turn], Awaitable[Retrieval | None]]
# What the answer to a turn may not say, given the text of the passages it is sent.
OutputPolicy = Callable[[Turn, str], Awaitable[OutputCheck]]


async def publish_status(turn: Turn, detail: str) -> None:
    """A `status` frame with a `detail` straight to the conversation's group: the stage runs
    before it has an answer to stream, so this is its only way to speak meanwhile."""
    try:
        await publish(
            turn.conversation_public_id,
            {
                "type": "status",
                "reply_to": turn.message_id,
                "stage": Source.LLM,
                "detail": detail,
                "text": visitor_copy.render(visitor_copy.STATUS_DETAILS[detail], turn.locale),
            },
        )
    except Exception:
        logger.warning("could not publish the %s status", detail, exc_info=True)


def _without_instructions(found: Retrieval) -> tuple[Retrieval, list[int]]:
    """The retrieval without passages written to an AI rather than to customers (an instruction
    planted in a help-centre page), and the chunk ids withheld."""
    withheld = [p.chunk_id for p in found.passages if looks_like_instructions(p.text)]
    if not withheld:
        return found, []
    kept = tuple(p for p in found.passages if p.chunk_id not in withheld)
    return replace(found, passages=kept, relevant=found.relevant and bool(kept)), withheld


class LLMStage:
    name = Source.LLM

    def __init__(
        self,
        router: Router,
        *,
        system_prompt: str,
        history_budget: int,
        notify: Notify | None = None,
        retrieve: Retrieve | None = None,
        without_sources: WithoutSources = WithoutSources.WHEN_EMPTY,
        sources_budget: int = 800,
        prompt_budget: int | None = None,
        ungrounded: UngroundedPolicy = UngroundedPolicy.SUGGEST,
        output_policy: OutputPolicy | None = None,
        withhold_instructions: bool = True,
        hold_ungrounded: bool = True,
        stop_ungrounded: bool = True,
        ungrounded_tiers: UngroundedTiers | None = None,
    ) -> None:
        self.router = router
        self.system_prompt = system_prompt
        self.history_budget = history_budget
        self.notify = notify
        self.retrieve = retrieve
        self.without_sources = without_sources
        self.sources_budget = sources_budget
        self.prompt_budget = prompt_budget
        self.ungrounded = ungrounded
        self.output_policy = output_policy
        self.withhold_instructions = withhold_instructions
        self.hold_ungrounded = hold_ungrounded
        self.stop_ungrounded = stop_ungrounded
        # None: every tier of the route is asked, whatever its record (tests, benches).
        self.ungrounded_tiers = ungrounded_tiers

    async def _sources(self, turn: Turn, trace: Trace) -> tuple[Passage, ...] | None:
        """The passages to answer from; None when the model must not answer without them."""
        if self.retrieve is None:
            return ()
        started = trace.elapsed_ms()
        found = await self.retrieve(turn)
        withheld: list[int] = []
        if found is not None and self.withhold_instructions:
            found, withheld = _without_instructions(found)
        if found is None:
            decision, allowed = Decision.NO_DOCUMENTS, self.without_sources != WithoutSources.NEVER
        elif found.relevant:
            decision, allowed = Decision.RETRIEVED, True
        else:
            decision, allowed = (
                Decision.NOTHING_RELEVANT,
                self.without_sources == WithoutSources.ALWAYS,
            )
        metrics.RETRIEVALS.labels(decision).inc()
        if decision == Decision.NO_DOCUMENTS and allowed:
            return ()  # no help centre in this locale: answered as before it existed
        detail: dict = {"answer_without_sources": allowed} if decision != Decision.RETRIEVED else {}
        if found is not None:
            detail |= {
                "passages": [
                    {
                        "chunk_id": p.chunk_id,
                        "document_id": p.document_id,
                        "score": round(p.score, 4),
                    }
                    for p in found.passages
                ],
                "vector_score": round(found.best_vector_score, 4),
                "lexical_score": round(found.best_lexical_score, 4),
                "retrieval_ms": round(found.elapsed_ms, 2),
            }
            if found.stale:
                detail["stale_copy"] = True
        if withheld:
            detail["withheld_passages"] = withheld
        trace.add(
            TraceStep(
                self.name,
                decision,
                round(trace.elapsed_ms() - started, 2),
                score=round(found.best_vector_score, 4) if found is not None else None,
                detail=detail,
            )
        )
        if not allowed:
            return None
        return found.passages if found is not None and found.relevant else ()

    async def attempt(self, turn: Turn, trace: Trace) -> Answer | None:
        check = None
        if self.output_policy is not None:
            check = await self.output_policy(turn, "")
            refused = check.refused_topic()
            if refused is not None:
                return self._refuse(turn, trace, refused)
        sources = await self._sources(turn, trace)
        if sources is None:
            return None
        started = trace.elapsed_ms()
        # The brake and per-client allowance (docs/security.md, "Abuse limits"): over either,
        # the rule templates answer.
        refused = await ratelimit.model_call_allowed(turn.client)
        if refused is not None:
            metrics.MODEL_CALLS_REFUSED.labels(refused).inc()
            trace.add(TraceStep(self.name, refused, round(trace.elapsed_ms() - started, 2)))
            return None
        route = await self.router.route(turn.text)
        trace.add(
            TraceStep(
                self.name,
                Decision.ROUTED,
                round(trace.elapsed_ms() - started, 2),
                detail=route.detail(),
            )
        )
        system_prompt, history_budget = self.system_prompt, self.history_budget
        # What the prompt may still take besides the system prompt and the question: a long
        # question (a pasted email) leaves less for the history, then for the sources, so the
        # request still fits the model's context (the local model refused such requests).
        room = (
            math.inf
            if self.prompt_budget is None
            else self.prompt_budget - estimate_tokens(system_prompt) - estimate_tokens(turn.text)
        )
        if sources:
            budget = min(self.sources_budget, room)
            grounding, count = sources_prompt(sources, budget_tokens=budget)
            sources = sources[:count]
            system_prompt = f"{system_prompt}\n\n{grounding}"
            history_budget = max(200, history_budget - self.sources_budget)
            room -= estimate_tokens(grounding)
        history_budget = max(0, min(history_budget, room))
        replacement, replacement_citations = None, ()
        if sources and self.ungrounded == UngroundedPolicy.REPLACE:
            replacement = visitor_copy.render(visitor_copy.NOT_FOUND_ANSWER, turn.locale)
        elif sources and self.ungrounded == UngroundedPolicy.SUGGEST:
            replacement = visitor_copy.render(visitor_copy.SUGGEST_ARTICLES, turn.locale)
            replacement_citations = suggested_articles(sources, turn.text)
        if replacement is not None and self.ungrounded_tiers is not None and not turn.retry:
            locale = visitor_copy.normalise_locale(turn.locale)
            kept = await self._tiers_that_may_ground(route.tiers, locale, trace)
            if not kept:
                return stored_answer(self.name, replacement, citations=replacement_citations)
            route = replace(route, tiers=kept)
        messages = build_messages(
            system_prompt=system_prompt,
            history=turn.history,
            question=turn.text,
            history_budget=history_budget,
        )
        retries = self.router.retries()

        async def failover() -> None:
            """ "Taking longer than usual" only when it is: a tier given up for its first token,
            or after a while. A tier refusing at once (connection refused, a 500) is passed
            over in milliseconds, and the line showed from the first second to the answer (a
            model-tiers walk)."""
            given_up = trace.steps[-1].detail.get("kind") if trace.steps else None
            slow = trace.elapsed_ms() >= FAILOVER_NOTICE_AFTER_MS
            if self.notify is not None and (given_up == Kind.FIRST_TOKEN_TIMEOUT or slow):
                await self.notify(turn, "failover")

        opened = await self.router.open(route.tiers, messages, trace, retries, on_failover=failover)
        if opened is None:
            return None
        if check is not None and sources:
            check = replace(check, sources_text="\n".join(p.text for p in sources))
        return Answer(
            self.name,
            self.router.relay(opened, route, trace, retries, turn.locale),
            sources=sources,
            replace_ungrounded=replacement,
            replacement_citations=replacement_citations,
            output_check=check,
            replace_blocked=visitor_copy.render(visitor_copy.BLOCKED_ANSWER, turn.locale),
            hold_ungrounded=self.hold_ungrounded and replacement is not None,
            stop_ungrounded=self.stop_ungrounded,
        )

    async def _tiers_that_may_ground(
        self, tiers: tuple[Tier, ...], locale: str, trace: Trace
    ) -> tuple[Tier, ...]:
        """The route without the tiers whose latest answers given sources were all ungrounded.
        When none is left, the step recording it is the answer's: the replacement, marked
        ungrounded and replaced as a thrown-away answer is (never cached, counted)."""
        assert self.ungrounded_tiers is not None
        left_out: list[Tier] = []
        kept: tuple[Tier, ...] = ()
        for tier in tiers:
            if await self.ungrounded_tiers.left_out(tier, locale, asking=not kept):
                left_out.append(tier)
            else:
                kept += (tier,)
        if not left_out:
            return tiers
        for tier in left_out:
            metrics.TIERS_NOT_GROUNDING.labels(tier.name).inc()
        detail: dict[str, object] = {
            "left_out": [tier.name for tier in left_out],
            "ungrounded_in_a_row": self.ungrounded_tiers.after,
        }
        if not kept:
            detail |= {"grounded": False, "replaced": True}
        trace.add(TraceStep(self.name, Decision.NOT_GROUNDING, 0.0, detail=detail))
        return kept

    async def after_answer(self, turn: Turn, done: DoneEvent | None) -> None:
        """Records how the answering tier's answer stood up to the citation check (answers
        given sources only: the check's verdict is in the step then)."""
        if self.ungrounded_tiers is None or done is None or done.source != self.name:
            return
        step = done.trace.answering_step()
        if (
            step is not None
            and step.decision in (Decision.ANSWERED, Decision.CONTINUED)
            and "grounded" in step.detail
            and step.model
        ):
            self.ungrounded_tiers.record(
                str(step.detail.get("tier")),
                step.model,
                visitor_copy.normalise_locale(turn.locale),
                bool(step.detail["grounded"]),
            )

    def _refuse(self, turn: Turn, trace: Trace, reason: str) -> Answer:
        """A topic the business refuses: answered with the refusal, no model asked, so a rule's
        answer (`fallback`: "automatic reply" in the widget, not a model's in analytics)."""
        trace.add(TraceStep(self.name, Decision.REFUSED, 0.0, detail={"blocked": reason}))
        metrics.OUTPUT_BLOCKED.labels("topic").inc()
        return stored_answer(
            Source.FALLBACK, visitor_copy.render(visitor_copy.BLOCKED_ANSWER, turn.locale)
        )
