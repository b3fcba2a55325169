"""Typed facts an answer leaves behind: where it came from (`Source`) and what its stages
decided (`Decision`). Values are stored in messages, traces and metrics: never change one.

A leaf module, so analytics, handoff, the cache and the stages can share these without an
import loop (docs/architecture.md, "Import map")."""

from enum import StrEnum


class Source(StrEnum):
    """A stage's name, and a bot message's `source` (the stage that answered)."""

    SMALL_TALK = "small_talk"  # a greeting, thanks or goodbye, answered by a set phrase
    FAQ = "faq"
    CACHE = "cache"
    LLM = "llm"
    FALLBACK = "fallback"
    AGENT = "agent"  # in analytics: an agent's reply


class Decision(StrEnum):
    """A trace step's decision, for the steps other parts read."""

    # The orchestrator.
    STAGE_FAILED = "stage_failed"  # the stage raised before it answered; the next one answers
    STREAM_FAILED = "stream_failed"  # the stage's answer broke off while streaming
    # The LLM stage and its router.
    RETRIEVED = "retrieved"
    NOTHING_RELEVANT = "nothing_relevant"
    NO_DOCUMENTS = "no_documents"
    REFUSED = "refused"  # a topic the business refuses
    MODEL_BRAKE = "model_brake"  # a limit, not the models, kept the stage from asking
    CLIENT_LIMITED = "client_limited"
    ROUTED = "routed"
    TIER_SKIPPED = "tier_skipped"  # its breaker was open: not tried
    TIER_FAILED = "tier_failed"  # failed before its first token (the kind is in the detail)
    # Left out of a question with sources: its latest such answers were all ungrounded.
    NOT_GROUNDING = "not_grounding"
    ANSWERED = "answered"
    INTERRUPTED = "interrupted"  # broke off mid-answer
    CONTINUED = "continued"  # another tier finished an answer that broke off
    # The small-talk stage.
    SMALL_TALK = "small_talk"
    # The fallback stage.
    RULE_TEMPLATE = "rule_template"
    NOT_FOUND = "not_found"
    SUGGESTED_ARTICLES = "suggested_articles"  # no model answered: the articles it was given
    CANNED_ANSWER = "canned_answer"
