"""Vector search over cached entries, behind one small interface (a pgvector implementation can
replace it). `InMemoryCacheIndex` is a per-process copy of the live embeddings, one matrix per
scope, kept in step with the database through two marks in the shared state store (a fresh
random value per insert or removal): new entries are loaded incrementally; removals only trigger
an occasional full reload, because a removed entry that is still in the matrix is caught when
its row is fetched (see selectors)."""

import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

import numpy as np
from django.conf import settings
from django.utils import timezone

from chatbot.cache.models import CachedAnswer
from statestore.policy import key, memory, via_redis_sync

INSERTS_KEY = "answer_cache:inserts"  # under SHARED_STATE_PREFIX
REMOVALS_KEY = "answer_cache:removals"
SYNC_SLACK = timedelta(seconds=30)  # rows committed late or with a skewed clock are not missed
PREFILTER_DIMENSIONS = 64
PREFILTER_CANDIDATES = 256


class CacheIndex(Protocol):
    def search(self, vector: np.ndarray, *, scope_key: str, k: int) -> list[tuple[int, float]]: ...
    def discard(self, entry_id: int) -> None: ...
    def answer_vectors(self, entry_ids: list[int]) -> np.ndarray: ...


def _bump(name: str) -> None:
    """A new random mark, not a count: a Redis that restarted empty would count from 1 again and
    match a value an index has seen. Fails open: while Redis does not answer the bump is
    skipped. Harmless: the next insert bump makes every index load all rows since its last
    look, and a removed row still in an index is caught when it is fetched
    (docs/operations.md, "When Redis does not answer")."""
    mark = uuid.uuid4().hex
    if not settings.REDIS_URL:
        memory("answer_cache")[name] = mark
        return
    via_redis_sync("cache_index", lambda client: client.set(key(name), mark), _skipped)


def _skipped() -> None:
    return None


def _marks() -> tuple[object, object] | None:
    """(inserts, removals) as last bumped (None when never), or None when Redis does not answer
    (fails open: the index keeps the copy it has)."""
    if not settings.REDIS_URL:
        marks = memory("answer_cache")
        return marks.get(INSERTS_KEY), marks.get(REMOVALS_KEY)
    return via_redis_sync(
        "cache_index",
        lambda client: tuple(client.mget([key(INSERTS_KEY), key(REMOVALS_KEY)])),
        _skipped,
    )


def bump_inserts() -> None:
    _bump(INSERTS_KEY)


def bump_removals() -> None:
    _bump(REMOVALS_KEY)


@dataclass
class _ScopeMatrix:
    """Rows of one scope with spare capacity, so appending a row is amortised O(d). Large scopes
    get a PCA-reduced copy to shortlist candidates before the exact rescoring. The answers'
    embeddings sit beside the questions' (zeros when an entry has none): the hit rule asks
    whether the entries near a question agree."""

    dim: int
    vectors: np.ndarray = field(init=False)
    answers: np.ndarray = field(init=False)
    ids: np.ndarray = field(init=False)
    n: int = 0
    basis: np.ndarray | None = None
    reduced: np.ndarray | None = None
    basis_rows: int = 0

    def __post_init__(self) -> None:
        self.vectors = np.zeros((16, self.dim), dtype=np.float32)
        self.answers = np.zeros((16, self.dim), dtype=np.float32)
        self.ids = np.zeros(16, dtype=np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray, answers: np.ndarray) -> range:
        need = self.n + len(ids)
        if need > len(self.ids):
            capacity = max(need, 2 * len(self.ids))
            self.vectors = np.resize(self.vectors, (capacity, self.dim))
            self.answers = np.resize(self.answers, (capacity, self.dim))
            self.ids = np.resize(self.ids, capacity)
            if self.reduced is not None:
                self.reduced = np.resize(self.reduced, (capacity, PREFILTER_DIMENSIONS))
        rows = range(self.n, need)
        self.vectors[rows.start : rows.stop] = vectors
        self.answers[rows.start : rows.stop] = answers
        self.ids[rows.start : rows.stop] = ids
        if self.basis is not None and self.reduced is not None:
            self.reduced[rows.start : rows.stop] = vectors @ self.basis
        self.n = need
        return rows

    def clear_row(self, row: int) -> None:
        self.vectors[row] = 0.0
        self.answers[row] = 0.0
        if self.reduced is not None:
            self.reduced[row] = 0.0

    def _prefilter(self) -> bool:
        if self.n < settings.ANSWER_CACHE_PREFILTER_MIN_ROWS:
            return False
        if self.basis is None or self.n > 2 * self.basis_rows:
            sample = self.vectors[: self.n][:: max(1, self.n // 8192)]
            centred = sample - sample.mean(axis=0)
            _, _, vt = np.linalg.svd(centred, full_matrices=False)
            self.basis = np.ascontiguousarray(vt[:PREFILTER_DIMENSIONS].T)
            self.reduced = np.zeros((len(self.ids), PREFILTER_DIMENSIONS), dtype=np.float32)
            self.reduced[: self.n] = self.vectors[: self.n] @ self.basis
            self.basis_rows = self.n
        return True

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        if self.n == 0:
            return []
        if self._prefilter():
            assert self.basis is not None and self.reduced is not None
            rough = self.reduced[: self.n] @ (vector @ self.basis)
            shortlist = np.argpartition(rough, -PREFILTER_CANDIDATES)[-PREFILTER_CANDIDATES:]
            scores = self.vectors[shortlist] @ vector
        else:
            shortlist = np.arange(self.n)
            scores = self.vectors[: self.n] @ vector
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(int(self.ids[shortlist[i]]), float(scores[i])) for i in top]


class InMemoryCacheIndex:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scopes: dict[str, _ScopeMatrix] = {}
        self._rows: dict[int, tuple[str, int]] = {}
        self._synced_until = None
        self._inserts: object = object()
        self._removals: object = None
        self._reloaded_at = 0.0

    def _load(self, since=None) -> None:
        """All live rows, or (with `since`) the rows of the last look's window this copy lacks.
        The window's ids come first and only the missing rows' vectors after them: a busy
        cache adds rows every second, and the window (SYNC_SLACK wide) would otherwise send
        each look every row of the last half minute again, vectors included."""
        started = timezone.now()
        rows = CachedAnswer.objects.filter(expires_at__gt=started)
        if since is not None:
            window = rows.filter(created_at__gte=since - SYNC_SLACK).values_list("id", flat=True)
            missing = [entry_id for entry_id in window if entry_id not in self._rows]
            if not missing:
                self._synced_until = started
                return
            rows = rows.filter(id__in=missing)
        grouped: dict[str, list[tuple[int, bytes, bytes]]] = {}
        for entry_id, scope_key, embedding, answer in rows.values_list(
            "id", "scope_key", "embedding", "answer_embedding"
        ).iterator(chunk_size=2000):
            if entry_id not in self._rows:
                grouped.setdefault(scope_key, []).append(
                    (entry_id, bytes(embedding), bytes(answer))
                )
        for scope_key, items in grouped.items():
            vectors = np.stack([np.frombuffer(e, dtype=np.float32) for _, e, _ in items])
            answers = np.zeros_like(vectors)
            for row, (_, _, answer) in enumerate(items):
                if len(answer) == vectors.shape[1] * 4:
                    answers[row] = np.frombuffer(answer, dtype=np.float32)
            matrix = self._scopes.get(scope_key)
            if matrix is None:
                matrix = self._scopes[scope_key] = _ScopeMatrix(vectors.shape[1])
            ids = np.array([i for i, _, _ in items], dtype=np.int64)
            for entry_id, row in zip(ids, matrix.add(ids, vectors, answers), strict=True):
                self._rows[int(entry_id)] = (scope_key, row)
        self._synced_until = started

    def refresh(self) -> None:
        """Loads entries added since the last look; reloads everything after removals, at most
        every ANSWER_CACHE_INDEX_RELOAD_S (stale rows are harmless meanwhile). While Redis does
        not answer it keeps the copy it has (an index without one loads one)."""
        marks = _marks()
        if marks is None:
            if self._synced_until is not None:
                return
            marks = (object(), None)  # unknown: the next look that reaches Redis catches up
        inserts, removals = marks
        if inserts == self._inserts and removals == self._removals:
            return
        with self._lock:
            overdue = time.monotonic() - self._reloaded_at > settings.ANSWER_CACHE_INDEX_RELOAD_S
            if self._synced_until is None or (removals != self._removals and overdue):
                self._scopes, self._rows = {}, {}
                self._load()
                self._reloaded_at = time.monotonic()
                self._removals = removals
            elif inserts != self._inserts:
                self._load(self._synced_until)
            self._inserts = inserts

    def search(self, vector: np.ndarray, *, scope_key: str, k: int) -> list[tuple[int, float]]:
        self.refresh()
        matrix = self._scopes.get(scope_key)
        return matrix.search(vector.astype(np.float32, copy=False), k) if matrix else []

    def answer_vectors(self, entry_ids: list[int]) -> np.ndarray:
        """The answers' embeddings of these entries, one row each (zeros for an entry this
        index does not hold: it agrees with nothing)."""
        located = [self._rows.get(entry_id) for entry_id in entry_ids]
        dims = {self._scopes[where[0]].dim for where in located if where is not None}
        out = np.zeros((len(entry_ids), dims.pop() if dims else 0), dtype=np.float32)
        for i, where in enumerate(located):
            if where is not None:
                out[i] = self._scopes[where[0]].answers[where[1]]
        return out

    def discard(self, entry_id: int) -> None:
        with self._lock:
            located = self._rows.pop(entry_id, None)
            if located is not None:
                self._scopes[located[0]].clear_row(located[1])


_index: CacheIndex | None = None


def get_index() -> CacheIndex:
    global _index
    if _index is None:
        _index = InMemoryCacheIndex()
    return _index


def reset_index() -> None:
    """For tests whose database goes away between them."""
    global _index
    _index = None
