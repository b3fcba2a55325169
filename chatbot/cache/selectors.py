"""Reads for the cache stage: is there a confident entry for this question in its scope? The
rule's parameters are the model's operating point (knowledge.operating_points); the rule and how
it was chosen: docs/cache.md, "Decision rule: agreeing support"."""

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from django.db.models import Q
from django.utils import timezone

from chatbot.cache.context import CacheContext, cache_context, normalise
from chatbot.cache.index import get_index
from chatbot.cache.models import CachedAnswer
from chatbot.cache.pii import personal_kinds
from chatbot.cache.scope import Scope, current_scope
from chatbot.history import HistoryItem
from chatbot.models import Feedback
from knowledge.embeddings import get_embedder
from knowledge.greetings import strip_greetings
from knowledge.operating_points import OperatingPoint, operating_point
from knowledge.selectors import documents_versions

HIT = "hit"
MISS = "miss"
BELOW_THRESHOLD = "below_threshold"
UNSUPPORTED = "unsupported"
CITED_CHANGED = "cited_changed"  # a help-centre document the answer cites changed since
BYPASS_PERSONAL = "bypass_personal"
BYPASS_CONTEXT = "bypass_context"
MAX_STALE_RETRIES = 3
SUPPORT_NEIGHBOURS = 16  # entries looked at for agreeing answers


@dataclass
class CacheLookup:
    decision: str
    question: str
    context: CacheContext | None = None
    scope: Scope | None = None
    vector: np.ndarray | None = None
    entry_id: int | None = None
    answer: str = ""
    model: str = ""
    citations: list[dict] = field(default_factory=list)
    score: float = 0.0
    timings_ms: dict[str, float] = field(default_factory=dict)
    detail: dict[str, object] = field(default_factory=dict)

    @property
    def hit(self) -> bool:
        return self.entry_id is not None

    @property
    def flight_key(self) -> str:
        """Same question (ignoring case and punctuation) in the same scope."""
        assert self.scope is not None
        digest = hashlib.sha256(normalise(self.question).encode()).hexdigest()[:32]
        return f"cacheflight:{self.scope.key}:{digest}"


def cache_find(found: CacheLookup) -> CacheLookup:
    """Searches `found`'s scope with its vector and fills in the decision (sync)."""
    assert found.scope is not None and found.vector is not None
    started = time.perf_counter()
    index = get_index()
    point = operating_point(found.scope.locale)
    threshold = point.cache_threshold
    k = SUPPORT_NEIGHBOURS if point.cache_support > 1 else 2
    found.entry_id, found.answer, found.model, found.score = None, "", "", 0.0
    found.decision = MISS
    for _ in range(MAX_STALE_RETRIES):
        neighbours = index.search(found.vector, scope_key=found.scope.key, k=k)
        if not neighbours:
            break
        entry_id, score = neighbours[0]
        found.score = round(score, 4)
        found.detail["runner_up_score"] = (
            round(neighbours[1][1], 4) if len(neighbours) > 1 else None
        )
        if score < threshold:
            found.decision = BELOW_THRESHOLD
            break
        entry = (
            CachedAnswer.objects.filter(
                pk=entry_id, scope_key=found.scope.key, expires_at__gt=timezone.now()
            )
            .only("id", "answer", "model", "embedding", "answer_embedding", "citations")
            .first()
        )
        if entry is None:  # evicted or expired since the index last synced
            index.discard(entry_id)
            continue
        score = float(entry.vector() @ found.vector)  # the row's own vector decides
        found.score = round(score, 4)
        if score < threshold:
            index.discard(entry_id)
            continue
        if point.cache_support > 1 and score < point.cache_alone:
            support = agreeing_entries(entry, neighbours[1:], threshold=threshold, point=point)
            found.detail["support"] = support
            if support < point.cache_support:
                found.decision = UNSUPPORTED
                break
        if entry.citations and not citations_current(entry.citations):
            found.decision = CITED_CHANGED
            break
        found.decision, found.entry_id = HIT, entry.pk
        found.answer, found.model, found.citations = entry.answer, entry.model, entry.citations
        break
    found.timings_ms["search_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return found


def citations_current(citations: Sequence[dict]) -> bool:
    """Every document the answer cites is still there at the version it cited."""
    cited = {int(c["document_id"]): int(c["document_version"]) for c in citations}
    return documents_versions(cited) == cited


def agreeing_entries(
    entry: CachedAnswer,
    others: Sequence[tuple[int, float]],
    *,
    threshold: float,
    point: OperatingPoint,
) -> int:
    """How many entries support `entry`: itself, and those of `others` (id, cosine to the
    question) within the slack below the threshold whose answer agrees with its answer."""
    near = [
        entry_id for entry_id, score in others if score >= threshold - point.cache_support_slack
    ]
    answer = entry.answer_vector()
    if not near or not answer.any():
        return 1
    vectors = get_index().answer_vectors(near)
    if vectors.shape[1] != len(answer):
        return 1
    return 1 + int(np.count_nonzero(vectors @ answer >= point.cache_same_answer))


def cache_lookup(*, text: str, locale: str, history: Sequence[HistoryItem]) -> CacheLookup:
    """The decision for one visitor turn, with what storing its answer later needs (sync)."""
    kinds = personal_kinds(text)
    if kinds:
        return CacheLookup(BYPASS_PERSONAL, text, detail={"personal": kinds})
    context = cache_context(text, history)
    if context.lookup is None:
        return CacheLookup(BYPASS_CONTEXT, text, context, detail={"context": context.reason})
    started = time.perf_counter()
    vector = get_embedder(locale).embed([strip_greetings(text)])[0]  # as the FAQ stage does
    embed_ms = round((time.perf_counter() - started) * 1000, 2)
    found = CacheLookup(
        MISS,
        text,
        context,
        current_scope(locale=locale, context=context.lookup),
        vector,
        detail={"context": context.reason},
    )
    found.timings_ms["embed_ms"] = embed_ms
    return cache_find(found)


def answer_voted_down(*, answer: str, origin_message_id: int | None) -> bool:
    """A thumbs-down was given to this answer text, or to the answer of this visitor message."""
    down = Feedback.objects.filter(value=Feedback.Value.DOWN)
    voted = Q(message__text=answer)
    if origin_message_id is not None:
        voted |= Q(message__reply_to_id=origin_message_id)
    return down.filter(voted).exists()
