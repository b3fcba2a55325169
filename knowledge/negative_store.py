"""Negative examples in the FAQ store: recorded from thumbs-down, confirmed or dismissed in the
admin, embedded when confirmed, and kept per process for the FAQ stage's veto
(knowledge/negatives.py has the rule)."""

from collections.abc import Iterator, Sequence

import numpy as np
from django.conf import settings
from django.db import transaction

from knowledge.content_version import knowledge_version_bump
from knowledge.embeddings import get_embedder
from knowledge.models import FAQ, NegativeExample
from knowledge.negatives import NegativeHit, NegativeVectors, declines
from knowledge.process_copy import VersionedCopy
from knowledge.services import ReembedProgress


def negative_record(
    *, faq_id: int, text: str, locale: str, score: float, message_id: int
) -> NegativeExample | None:
    """A pending negative for a thumbed-down FAQ answer; None when the FAQ is gone. One per
    message: a second thumbs-down on the same answer changes nothing."""
    if not FAQ.objects.filter(pk=faq_id).exists():
        return None
    negative, _ = NegativeExample.objects.get_or_create(
        message_id=message_id,
        defaults={"faq_id": faq_id, "text": text[:500], "locale": locale, "score": score},
    )
    return negative


def negatives_confirm(*, negative_ids: Sequence[int]) -> int:
    """Confirms the negatives and embeds them with their FAQ's model; from then on the FAQ stage
    declines their FAQ for questions like them. Returns how many were confirmed."""
    updated = NegativeExample.objects.filter(pk__in=negative_ids).update(
        status=NegativeExample.Status.CONFIRMED
    )
    negatives_embed(negative_ids=negative_ids)
    return updated


def negatives_dismiss(*, negative_ids: Sequence[int]) -> int:
    """Dismissed negatives stop vetoing; their vectors are dropped."""
    updated = NegativeExample.objects.filter(pk__in=negative_ids).update(
        status=NegativeExample.Status.DISMISSED, embedding=None, embedding_model=""
    )
    transaction.on_commit(knowledge_version_bump)
    return updated


def negatives_embed(*, negative_ids: Sequence[int]) -> int:
    """Embeds the confirmed ones among `negative_ids` with the model of their FAQ's locale,
    the model running before the write (SQLite's write lock). Returns how many."""
    by_locale: dict[str, list[NegativeExample]] = {}
    rows = NegativeExample.objects.filter(
        pk__in=negative_ids, status=NegativeExample.Status.CONFIRMED
    ).select_related("faq")
    for negative in rows:
        by_locale.setdefault(negative.faq.locale, []).append(negative)
    for locale, negatives in by_locale.items():
        embedder = get_embedder(locale)
        vectors = embedder.embed([n.text for n in negatives])
        for negative, vector in zip(negatives, vectors, strict=True):
            negative.embedding = vector.astype(np.float32).tobytes()
            negative.embedding_model = embedder.identity
        NegativeExample.objects.bulk_update(negatives, ["embedding", "embedding_model"])
    transaction.on_commit(knowledge_version_bump)
    return sum(len(group) for group in by_locale.values())


def negatives_reembed(*, batch_size: int) -> Iterator[ReembedProgress]:
    """`manage.py reembed` for confirmed negatives: those their locale's model did not embed."""
    identities: dict[str, str] = {}
    pending = []
    rows = (
        NegativeExample.objects.filter(status=NegativeExample.Status.CONFIRMED)
        .order_by("pk")
        .values_list("pk", "faq__locale", "embedding_model")
    )
    for pk, locale, model in rows.iterator():
        if locale not in identities:
            identities[locale] = get_embedder(locale).identity
        if model != identities[locale]:
            pending.append(pk)
    done = 0
    for start in range(0, len(pending), batch_size):
        done += negatives_embed(negative_ids=pending[start : start + batch_size])
        yield ReembedProgress(done=done, total=len(pending))


class NegativeStore(VersionedCopy):
    """This process's copy of the confirmed negatives of active FAQs, per locale, reloaded when
    the knowledge version or an embedding model changes (as the in-memory FAQ index is). Only
    vectors of the locale's current model are kept. Small (one row per confirmed thumbs-down),
    so it serves PostgreSQL deployments as well."""

    def __init__(self) -> None:
        super().__init__()
        self._by_locale: dict[str, NegativeVectors] = {}

    def _load(self) -> None:
        rows: dict[str, list[tuple[int, int, bytes]]] = {}
        identities: dict[str, str] = {}
        confirmed = NegativeExample.objects.filter(
            status=NegativeExample.Status.CONFIRMED, faq__active=True, embedding__isnull=False
        ).values_list("pk", "faq_id", "faq__locale", "embedding", "embedding_model")
        for pk, faq_id, locale, embedding, model in confirmed.iterator():
            if locale not in identities:
                identities[locale] = get_embedder(locale).identity
            if model == identities[locale]:
                rows.setdefault(locale, []).append((pk, faq_id, bytes(embedding)))
        self._by_locale = {
            locale: NegativeVectors(
                vectors=np.stack([np.frombuffer(e, dtype=np.float32) for _, _, e in items]),
                faq_ids=np.array([f for _, f, _ in items], dtype=np.int64),
                ids=np.array([pk for pk, _, _ in items], dtype=np.int64),
            )
            for locale, items in rows.items()
        }

    def veto(
        self, *, faq_id: int, locale: str, vector: np.ndarray, best_similarity: float
    ) -> NegativeHit | None:
        """The confirmed negative that keeps `faq_id` from answering this query, if any."""
        negatives = self._by_locale.get(locale)
        if negatives is None:
            return None
        hit = negatives.nearest(faq_id, vector)
        if hit is None or not declines(
            best_similarity, hit.similarity, settings.FAQ_NEGATIVE_MIN_SIMILARITY
        ):
            return None
        return hit


_store: NegativeStore | None = None


def negative_store() -> NegativeStore:
    global _store
    if _store is None:
        _store = NegativeStore()
    return _store


def reset_negative_store() -> None:
    """Forget this process's copy; tests call it when the database is flushed under it."""
    global _store
    _store = None
