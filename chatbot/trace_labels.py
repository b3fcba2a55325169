"""The words a person reads for a trace's codes. The console's and the admin's trace lines name
the answer's source and the FAQ rule that matched in the reader's language; the stored trace
keeps the codes (`chatbot.outcomes`), which scripts and exports read."""

from django.utils.translation import gettext_lazy as _

from chatbot.cache import selectors as cache
from chatbot.outcomes import Decision, Source
from knowledge.matching import AMBIGUOUS, ANSWER, BELOW_THRESHOLD, NO_CANDIDATES
from knowledge.selectors import EXACT, SAME_WORDING

SOURCE_NAMES = {
    Source.SMALL_TALK: _("Small talk"),
    Source.FAQ: _("FAQ"),
    Source.CACHE: _("Cache"),
    Source.LLM: _("Model"),
    Source.FALLBACK: _("Fallback"),
    Source.AGENT: _("Agent"),
}

# How the FAQ stage chose its answer (the trace's `decision` on an FAQ answer).
FAQ_DECISION_NAMES = {
    ANSWER: _("matched a phrasing"),
    EXACT: _("the same question"),
    SAME_WORDING: _("the same words reordered"),
}


# Every step's decision, for the admin's trace table (a Chinese lead read `faq below_threshold`,
# `llm tier_failed`).
DECISION_NAMES = {
    **FAQ_DECISION_NAMES,
    BELOW_THRESHOLD: _("below the threshold"),
    AMBIGUOUS: _("ambiguous"),
    NO_CANDIDATES: _("no candidates"),
    cache.HIT: _("hit"),
    cache.MISS: _("miss"),
    cache.UNSUPPORTED: _("too little support"),
    cache.CITED_CHANGED: _("a cited document changed"),
    cache.BYPASS_PERSONAL: _("skipped: personal details"),
    cache.BYPASS_CONTEXT: _("skipped: depends on the conversation"),
    Decision.STAGE_FAILED: _("stage failed"),
    Decision.STREAM_FAILED: _("answer broke off"),
    Decision.RETRIEVED: _("passages retrieved"),
    Decision.NOTHING_RELEVANT: _("nothing relevant"),
    Decision.NO_DOCUMENTS: _("no help-centre documents"),
    Decision.REFUSED: _("refused topic"),
    Decision.MODEL_BRAKE: _("model-call brake"),
    Decision.CLIENT_LIMITED: _("visitor limit"),
    Decision.ROUTED: _("routed"),
    Decision.TIER_SKIPPED: _("tier skipped"),
    Decision.TIER_FAILED: _("tier failed"),
    Decision.NOT_GROUNDING: _("left out: not grounding"),
    Decision.ANSWERED: _("answered"),
    Decision.INTERRUPTED: _("interrupted"),
    Decision.CONTINUED: _("continued"),
    Decision.SMALL_TALK: _("small talk"),
    Decision.RULE_TEMPLATE: _("rule template"),
    Decision.NOT_FOUND: _("not found"),
    Decision.SUGGESTED_ARTICLES: _("suggested articles"),
    Decision.CANNED_ANSWER: _("generic answer"),
}


def source_name(code: str) -> str:
    return str(SOURCE_NAMES.get(code, code))


def faq_decision_name(code: str) -> str:
    return str(FAQ_DECISION_NAMES.get(code, code))


def decision_name(code: str) -> str:
    return str(DECISION_NAMES.get(code, code))
