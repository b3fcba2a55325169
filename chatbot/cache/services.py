"""Writes to the answer cache: store, record hits, evict, purge, promote to an FAQ (sync)."""

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from chatbot.cache.context import normalise
from chatbot.cache.index import bump_inserts, bump_removals, get_index
from chatbot.cache.models import CachedAnswer
from chatbot.cache.scope import Scope, config_fingerprint
from chatbot.cache.selectors import answer_voted_down
from chatbot.models import Message
from chatbot.outcomes import Source
from knowledge import services as knowledge_services
from knowledge.content_version import knowledge_version
from knowledge.embeddings import get_embedder
from knowledge.models import FAQ
from knowledge.operating_points import operating_point


def entry_store(
    *,
    question: str,
    answer: str,
    vector: np.ndarray,
    scope: Scope,
    model: str = "",
    tier: str = "",
    origin_message_id: int | None = None,
    citations: list[dict] | None = None,
) -> CachedAnswer | None:
    """Stores a model answer worth reusing; None when the scope already holds this exact
    question (two visitors racing past the single-flight wait), or when the answer got a
    thumbs-down already (a quick visitor can vote before the bookkeeping lane stores it).
    The answer is embedded too, by the scope's model: the hit rule counts agreeing answers."""
    normalised = normalise(question)[:500]
    answer_vector = get_embedder(scope.locale).embed([answer])[0]
    now = timezone.now()
    with transaction.atomic():
        if origin_message_id is not None:  # one at a time with feedback_record on this turn
            Message.objects.select_for_update().filter(pk=origin_message_id).exists()
        if answer_voted_down(answer=answer, origin_message_id=origin_message_id):
            return None
        if CachedAnswer.objects.filter(
            scope_key=scope.key, normalised=normalised, expires_at__gt=now
        ).exists():
            return None
        entry = CachedAnswer.objects.create(
            question=question,
            normalised=normalised,
            answer=answer,
            embedding=np.asarray(vector, dtype=np.float32).tobytes(),
            answer_embedding=np.asarray(answer_vector, dtype=np.float32).tobytes(),
            embedding_model=scope.embedding_model,
            locale=scope.locale,
            knowledge_version=scope.knowledge_version,
            config_fingerprint=scope.config,
            context_key=scope.context,
            scope_key=scope.key,
            model=model,
            tier=tier,
            origin_message_id=origin_message_id,
            citations=citations or [],
            expires_at=now + timedelta(seconds=settings.ANSWER_CACHE_TTL_S),
        )
    bump_inserts()
    entries_evict_over_capacity()
    return entry


def entry_record_hit(*, entry_id: int) -> None:
    CachedAnswer.objects.filter(pk=entry_id).update(
        hit_count=F("hit_count") + 1, last_hit_at=timezone.now()
    )


def entries_evict_over_capacity(*, max_entries: int | None = None) -> int:
    """Keeps at most ANSWER_CACHE_MAX_ENTRIES rows: expired entries go first, then entries of an
    old knowledge version, configuration or embedding model (they can never hit again), then the
    least hit, least recently used (LFU with LRU between equals). Returns how many were
    removed."""
    limit = settings.ANSWER_CACHE_MAX_ENTRIES if max_entries is None else max_entries
    excess = CachedAnswer.objects.count() - limit
    if excess <= 0:
        return 0
    removed, _ = CachedAnswer.objects.filter(expires_at__lte=timezone.now()).delete()
    if removed < excess:
        stale = CachedAnswer.objects.filter(
            ~Q(knowledge_version=knowledge_version())
            | ~Q(config_fingerprint=config_fingerprint())
            | _other_models()
        )
        removed += stale.delete()[0]
    if removed < excess:
        victims = list(
            CachedAnswer.objects.annotate(used=Coalesce("last_hit_at", "created_at"))
            .order_by("hit_count", "used", "id")
            .values_list("id", flat=True)[: excess - removed]
        )
        removed += CachedAnswer.objects.filter(pk__in=victims).delete()[0]
    if removed:
        bump_removals()
    return removed


def entries_purge(*, entry_ids: Iterable[int] | None = None) -> int:
    """Deletes the given entries (all when None)."""
    rows = CachedAnswer.objects.all()
    ids = None if entry_ids is None else list(entry_ids)
    if ids is not None:
        rows = rows.filter(pk__in=ids)
    removed = rows.delete()[0]
    index = get_index()
    for entry_id in ids or []:
        index.discard(entry_id)
    if removed:
        bump_removals()
    return removed


def entries_drop_other_models() -> int:
    """Deletes the entries whose question vector another embedding model made; returns how many.

    Dropped rather than re-embedded: they could never hit again anyway. Re-embedding the FAQ
    store moves the knowledge version, and an entry serves only its own knowledge version, so
    re-embedded entries would sit unreachable until evicted; an answer is one model call away."""
    removed = CachedAnswer.objects.filter(_other_models()).delete()[0]
    if removed:
        bump_removals()
    return removed


def _other_models() -> Q:
    """Entries whose question vector was not made by their locale's embedding model."""
    condition = Q(pk__in=[])
    for locale in CachedAnswer.objects.values_list("locale", flat=True).distinct():
        condition |= Q(locale=locale) & ~Q(embedding_model=get_embedder(locale).identity)
    return condition


def entry_ids_for_answer(
    *, source: str, trace: dict[str, Any], reply_to_id: int | None
) -> list[int]:
    """The entries behind a bot answer: the one a cache hit served (its trace names it), or the
    one made from a model answer."""
    if source == Source.CACHE:
        return [
            int(step["detail"]["entry_id"])
            for step in trace.get("steps", [])
            if step.get("stage") == Source.CACHE and (step.get("detail") or {}).get("entry_id")
        ]
    if source == Source.LLM and reply_to_id is not None:
        return list(
            CachedAnswer.objects.filter(origin_message_id=reply_to_id).values_list("id", flat=True)
        )
    return []


def entries_evict_for_feedback(
    *, source: str, trace: dict[str, Any], reply_to_id: int | None, text: str
) -> int:
    """A thumbs-down on an answer the cache served or would serve takes it out of the cache, for
    every question: the entry named by the answer (whichever rewordings it was serving), and
    any other entry holding the same answer text (another scope, another question)."""
    if source not in (Source.CACHE, Source.LLM):
        return 0
    ids = set(entry_ids_for_answer(source=source, trace=trace, reply_to_id=reply_to_id))
    ids.update(CachedAnswer.objects.filter(answer=text).values_list("id", flat=True))
    return entries_purge(entry_ids=ids) if ids else 0


@transaction.atomic
def entry_promote(*, entry: CachedAnswer, created_by: str = "") -> FAQ:
    """Makes an FAQ of a cached answer, with the other cached questions that match it and whose
    answers agree with its answer as paraphrases, and removes those entries (the FAQ now answers
    them, and the new knowledge version retires the rest of the cache anyway)."""
    faq = FAQ.objects.filter(locale=entry.locale, question=entry.question).first()
    faq = knowledge_services.faq_save(
        faq=faq,
        question=entry.question,
        answer=entry.answer,
        locale=entry.locale,
        created_by=created_by,
    )
    vector, answer = entry.vector(), entry.answer_vector()
    point = operating_point(entry.locale)
    siblings = [
        other
        for other in CachedAnswer.objects.filter(scope_key=entry.scope_key).exclude(pk=entry.pk)
        if float(other.vector() @ vector) >= point.cache_threshold
        and (
            other.answer == entry.answer
            or float(other.answer_vector() @ answer) >= point.cache_same_answer
        )
    ]
    knowledge_services.paraphrases_add(faq=faq, texts=[s.question[:500] for s in siblings])
    entries_purge(entry_ids=[entry.pk, *(s.pk for s in siblings)])
    return faq
