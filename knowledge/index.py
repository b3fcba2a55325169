"""Vector search over approved paraphrases, behind one interface.

`InMemoryIndex` does an exact search over the stored embeddings (on every database unless
FAQ_INDEX=pgvector); it is a per-process copy rebuilt from the database whenever the knowledge
version changes, so every worker sees the same content. It keeps the approved answer variants
with it, so a confident match can be answered from memory (`search_fresh`, `variant_pick`). Both
indexes hold only vectors of the process's embedding model: rows another model embedded are not
searched until `manage.py reembed` moved them to this one. A locale's rows are those of the
model that embeds that locale (EMBEDDING_BACKENDS: Chinese on a multilingual model)."""

import random
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from knowledge.documents.types import DocumentLink, document_url
from knowledge.embeddings import embedding_cache_seed, get_embedder
from knowledge.matching import Neighbour, lone_phrasings
from knowledge.models import FAQ, AnswerVariant, Paraphrase, Visibility
from knowledge.pgvector_index import PgVectorIndex
from knowledge.process_copy import FETCH_ROWS, VersionedCopy, pausing, stored_vectors


def faq_sources(faq_ids: Iterable[int] | None = None) -> dict[int, DocumentLink]:
    """The linked document of each active FAQ (of `faq_ids`, or all) that has a public one: an
    agents-only document is no link to give a visitor."""
    faqs = FAQ.objects.filter(
        active=True,
        source_document__isnull=False,
        source_document__visibility=Visibility.PUBLIC,
    )
    if faq_ids is not None:
        faqs = faqs.filter(pk__in=list(faq_ids))
    rows = faqs.values_list(
        "id",
        "source_document_id",
        "source_document__version",
        "source_document__title",
        "source_document__source_url",
    )
    return {
        faq_id: DocumentLink(
            document_id=document_id,
            document_version=version,
            title=title,
            url=document_url(document_id=document_id, source_url=source_url),
        )
        for faq_id, document_id, version, title, source_url in rows
    }


class VectorIndex(Protocol):
    def search(self, vector: np.ndarray, *, locale: str, k: int) -> list[Neighbour]: ...


@dataclass
class _LocaleMatrix:
    vectors: np.ndarray  # (n, d) float32, unit rows
    faq_ids: np.ndarray  # (n,) int64
    texts: list[str]
    lone: np.ndarray  # (n,) bool: the row is its FAQ's only phrasing


@dataclass
class _Variant:
    id: int
    text: str
    served: int  # stored count when loaded, plus this process's serves since
    order: float = field(default_factory=random.random)  # breaks ties, differently per process


class InMemoryIndex(VersionedCopy):
    """A store of tens of thousands of paraphrases takes a tenth of a second or more to load:
    then it loads behind (knowledge.process_copy), the previous copy answering meanwhile, as it
    does for the FAQ_INDEX_RECHECK_S before a change is seen at all."""

    loads_behind = True

    def __init__(self) -> None:
        super().__init__()
        self._by_locale: dict[str, _LocaleMatrix] = {}
        self._variants: dict[int, list[_Variant]] = {}
        self._sources: dict[int, DocumentLink] = {}
        # Serve counts only: a reload (database queries) never holds up a pick on the event loop.
        self._serve_lock = threading.Lock()

    def _load(self) -> None:
        rows: dict[str, list[tuple[int, str, bytes]]] = {}
        paraphrases = Paraphrase.objects.filter(
            approved=True, faq__active=True, embedding__isnull=False
        ).values_list("faq_id", "faq__locale", "text", "embedding", "embedding_model")
        models: dict[str, str] = {}
        for faq_id, locale, text, embedding, model in pausing(paraphrases.iterator(FETCH_ROWS)):
            if locale not in models:
                models[locale] = get_embedder(locale).identity
            if model == models[locale]:
                rows.setdefault(locale, []).append((faq_id, text, bytes(embedding)))
        by_locale = {}
        for locale, items in rows.items():
            faq_ids = np.array([f for f, _, _ in items], dtype=np.int64)
            by_locale[locale] = _LocaleMatrix(
                vectors=stored_vectors([e for _, _, e in items]),
                faq_ids=faq_ids,
                texts=[t for _, t, _ in items],
                lone=lone_phrasings(faq_ids),
            )
        variants: dict[int, list[_Variant]] = {}
        approved = AnswerVariant.objects.filter(
            status=AnswerVariant.Status.APPROVED, faq__active=True
        ).values_list("id", "faq_id", "text", "served_count")
        for variant_id, faq_id, text, served in pausing(approved.iterator(FETCH_ROWS)):
            variants.setdefault(faq_id, []).append(_Variant(variant_id, text, served))
        # Swapped together, so a search never sees the new paraphrases with the old variants.
        # A document edit moves the knowledge version too, so a link's version stays current.
        self._by_locale, self._variants, self._sources = by_locale, variants, faq_sources()
        for locale, matrix in by_locale.items():
            embedding_cache_seed(matrix.texts, matrix.vectors, locale=locale)

    def search(self, vector: np.ndarray, *, locale: str, k: int) -> list[Neighbour]:
        self.refresh()
        return self._search(vector, locale=locale, k=k)

    def search_fresh(
        self, vector: np.ndarray, *, locale: str, k: int, max_age_s: float, max_rows: int
    ) -> list[Neighbour] | None:
        """The search without looking at the knowledge version (a cache read, over the network
        with Redis) when it was looked at less than `max_age_s` ago, and the locale's matrix is
        small enough to search on an event loop; None otherwise: call `search` off the loop."""
        if not self.is_fresh(max_age_s):
            return None
        matrix = self._by_locale.get(locale)
        if matrix is not None and len(matrix.faq_ids) > max_rows:
            return None
        return self._search(vector, locale=locale, k=k)

    def variant_pick(self, faq_id: int) -> tuple[int, str] | None:
        """The approved variant this process served least (from the stored counts at load), so
        repeat visitors see different wordings; (id, text) or None."""
        with self._serve_lock:
            options = self._variants.get(faq_id)
            if not options:
                return None
            chosen = min(options, key=lambda v: (v.served, v.order))
            chosen.served += 1
            return chosen.id, chosen.text

    def faq_source(self, faq_id: int) -> DocumentLink | None:
        return self._sources.get(faq_id)

    def _search(self, vector: np.ndarray, *, locale: str, k: int) -> list[Neighbour]:
        matrix = self._by_locale.get(locale)
        if matrix is None or len(matrix.faq_ids) == 0:
            return []
        scores = matrix.vectors @ vector.astype(np.float32)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [
            Neighbour(
                int(matrix.faq_ids[i]), float(scores[i]), matrix.texts[i], bool(matrix.lone[i])
            )
            for i in top
        ]


_index: VectorIndex | None = None


def get_index() -> VectorIndex:
    """The in-process exact search; pgvector when FAQ_INDEX says so on PostgreSQL (stores too
    big to copy into every process)."""
    global _index
    if _index is None:
        from django.db import connection

        if settings.FAQ_INDEX not in ("memory", "pgvector"):
            raise ImproperlyConfigured(f"FAQ_INDEX is memory or pgvector, not {settings.FAQ_INDEX}")
        if settings.FAQ_INDEX == "pgvector" and connection.vendor == "postgresql":
            _index = PgVectorIndex()
        else:
            _index = InMemoryIndex()
    return _index


def reset_index() -> None:
    """Forget this process's copy; tests call it when the database is flushed under it."""
    global _index
    _index = None
