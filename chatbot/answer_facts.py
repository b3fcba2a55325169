"""The facts the product reads about a bot answer, taken from its trace once, when the answer is
stored: columns of the message that analytics and reports aggregate in SQL (docs/analytics.md)."""

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from chatbot.llm.failure_kind import Kind
from chatbot.llm.queued_flag import promised
from chatbot.outcomes import Decision, Source
from chatbot.security.ratelimit import LIMITED_DECISIONS

# Steps that show a model was reachable, or that a limit rather than the models kept the stage
# from asking.
_MODELS_UP = frozenset({Decision.ANSWERED, Decision.INTERRUPTED, *LIMITED_DECISIONS})
_TIER_EVENTS = (Decision.TIER_SKIPPED, Decision.TIER_FAILED)
# The model stage's steps that ask no model: its retrieval, and what stops it before the router.
_NO_MODEL_ASKED = frozenset(
    {
        Decision.RETRIEVED,
        Decision.NOTHING_RELEVANT,
        Decision.NO_DOCUMENTS,
        Decision.REFUSED,
        Decision.NOT_GROUNDING,
        *LIMITED_DECISIONS,
    }
)


class Grounding(StrEnum):
    """How a model answer given help-centre sources stood up to the citation check."""

    NONE = ""  # no sources given (or not a model answer)
    GROUNDED = "grounded"
    UNGROUNDED = "ungrounded"  # sent to the visitor all the same
    # Replaced by suggested articles or the not-found answer (LLM_UNGROUNDED), or stopped by the
    # output filter for a made-up link or price and replaced so.
    REPLACED = "replaced"
    # No model asked: every tier's latest answers given sources were ungrounded, so the
    # replacement went out at once (chatbot.pipeline.ungrounded_tiers).
    NOT_ASKED = "not_asked"


@dataclass(frozen=True)
class AnswerFacts:
    first_token_ms: float | None = None
    cost_usd: float = 0.0  # every model step's cost, cut-off attempts included
    llm_model: str = ""  # the model of the answering step
    llm_tier: str = ""
    llm_called: bool = False  # some model tier was asked (or skipped), whoever answered
    faq_id: int | None = None  # the FAQ stage's best candidate, answered or not
    faq_score: float | None = None
    faq_decision: str = ""
    grounding: str = Grounding.NONE
    nothing_relevant: bool = False
    models_down: bool = False
    answer_promised: bool = False  # the answer promises a model's answer later (question queued)
    tiers_skipped: int = 0
    tiers_failed: int = 0
    tier_events: tuple[tuple[str, str], ...] = ()  # (tier, decision), in order
    offers: int = 0  # "Did you mean" questions shown under the reply

    def columns(self) -> dict[str, Any]:
        values = asdict(self)
        values["tier_events"] = [list(event) for event in self.tier_events]
        return values


NO_FACTS = AnswerFacts()
COLUMNS = tuple(NO_FACTS.columns())


def _steps(trace: dict[str, Any], stage: str) -> list[dict[str, Any]]:
    return [step for step in trace.get("steps", ()) if step.get("stage") == stage]


def models_were_down(trace: dict[str, Any]) -> bool:
    """A fallback answer given because every model tier failed (not because one declined: a
    tier that answered nothing was up; nor because no model was asked: "nothing relevant in
    the help centre" once counted as every model down and queued the visitor for a person)."""
    llm_steps = _steps(trace, Source.LLM)
    return (
        trace.get("source") == Source.FALLBACK
        and any(s.get("decision") in _TIER_EVENTS for s in llm_steps)
        and not any(
            s.get("decision") in _MODELS_UP or (s.get("detail") or {}).get("kind") == Kind.EMPTY
            for s in llm_steps
        )
    )


def _answering_step(trace: dict[str, Any]) -> dict[str, Any]:
    source = trace.get("source")
    return next((s for s in reversed(trace.get("steps", ())) if s.get("stage") == source), {})


def _grounding(answering: dict[str, Any]) -> Grounding:
    detail = answering.get("detail") or {}
    if answering.get("decision") == Decision.NOT_GROUNDING:
        return Grounding.NOT_ASKED
    grounded = detail.get("grounded")
    if grounded:
        return Grounding.GROUNDED
    # Replaced after the citation check, or before it: the output filter stopped a made-up link
    # or price and the stage's replacement went out (chatbot.pipeline.orchestrator._block).
    if detail.get("replaced"):
        return Grounding.REPLACED
    return Grounding.NONE if grounded is None else Grounding.UNGROUNDED


def model_words_replaced(trace: dict[str, Any]) -> bool:
    """A model-stage answer whose text is the product's own copy, not the model's words: the
    refusal (a refused topic, an answer the output filter stopped) or what replaced an
    ungrounded answer (suggested articles, the not-found answer). Clients label it an automatic
    reply, not an AI-generated one."""
    answering = _answering_step(trace)
    if answering.get("stage") != Source.LLM:
        return False
    detail = answering.get("detail") or {}
    return bool(
        answering.get("decision") == Decision.REFUSED
        or detail.get("replaced")
        or detail.get("blocked")
    )


def offer_faq_ids(trace: dict[str, Any]) -> list[int]:
    """The FAQs the FAQ stage found near a question it declined, to offer as "Did you mean"
    questions when the reply answers nothing: the rule template, or a model-stage reply that is
    the suggested articles or the not-found answer (in place of an ungrounded answer, of one the
    output filter stopped for a made-up link or price, or of the model not asked). None under an
    answer (an FAQ, a cached or a model answer, which the offer would contradict), nor under a
    refusal."""
    answering = _answering_step(trace)
    no_answer = trace.get("source") == Source.FALLBACK or (
        answering.get("stage") == Source.LLM
        and bool((answering.get("detail") or {}).get("replaced"))
    )
    if not no_answer:
        return []
    faq = next(iter(_steps(trace, Source.FAQ)), {})
    return [int(faq_id) for faq_id in (faq.get("detail") or {}).get("related") or ()]


def related_questions(trace: dict[str, Any]) -> list[dict[str, Any]]:
    """The "Did you mean" questions stored with a reply (`offers`: faq_id and question)."""
    return list(trace.get("offers") or ())


def answer_facts(trace: dict[str, Any]) -> AnswerFacts:
    """The stored trace (`Trace.to_dict()`) of a bot answer, reduced to its facts."""
    steps = trace.get("steps", ())
    llm_steps = _steps(trace, Source.LLM)
    faq = next(iter(_steps(trace, Source.FAQ)), {})
    answering = _answering_step(trace)
    detail = answering.get("detail") or {}
    events = tuple(
        (str((s.get("detail") or {}).get("tier", "?")), str(s["decision"]))
        for s in llm_steps
        if s.get("decision") in _TIER_EVENTS
    )
    ttft = trace.get("ttft_ms")
    faq_id = (faq.get("detail") or {}).get("faq_id")
    return AnswerFacts(
        first_token_ms=float(ttft) if isinstance(ttft, int | float) else None,
        cost_usd=sum(step.get("cost") or 0.0 for step in steps),
        llm_model=str(answering.get("model") or ""),
        llm_tier=str(detail.get("tier") or "") if answering.get("stage") == Source.LLM else "",
        llm_called=any(s.get("decision") not in _NO_MODEL_ASKED for s in llm_steps),
        faq_id=faq_id if isinstance(faq_id, int) else None,
        faq_score=faq.get("score"),
        faq_decision=str(faq.get("decision") or ""),
        grounding=_grounding(answering) if answering.get("stage") == Source.LLM else Grounding.NONE,
        nothing_relevant=any(s.get("decision") == Decision.NOTHING_RELEVANT for s in llm_steps),
        models_down=models_were_down(trace),
        answer_promised=promised(trace),
        tiers_skipped=sum(decision == Decision.TIER_SKIPPED for _, decision in events),
        tiers_failed=sum(decision == Decision.TIER_FAILED for _, decision in events),
        tier_events=events,
        offers=len(related_questions(trace)),
    )


def message_facts(role: str, trace: dict[str, Any] | None) -> AnswerFacts:
    """A stored message's facts: a bot answer's from its trace, none for any other message."""
    return answer_facts(trace) if trace and role == "bot" else NO_FACTS
