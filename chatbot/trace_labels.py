"""The words a person reads for a trace's codes. The console's and the admin's trace lines name
the answer's source and the FAQ rule that matched in the reader's language; the stored trace
keeps the codes (`chatbot.outcomes`), which scripts and exports read."""

from django.utils.translation import gettext_lazy as _

from chatbot.outcomes import Source
from knowledge.matching import ANSWER
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


def source_name(code: str) -> str:
    return str(SOURCE_NAMES.get(code, code))


def faq_decision_name(code: str) -> str:
    return str(FAQ_DECISION_NAMES.get(code, code))
