"""Decide whether a query matches a stored FAQ confidently enough to answer it instantly, from
its top-K nearest paraphrases (FAQ id and cosine, best first); embeddings must be L2-normalised.
Why MatchPolicy rather than a fixed threshold: docs/faq-format.md, "The matching rule"."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_K = 20

ANSWER = "answer"
BELOW_THRESHOLD = "below_threshold"
AMBIGUOUS = "ambiguous"
NO_CANDIDATES = "no_candidates"


@dataclass(frozen=True)
class Neighbour:
    """A paraphrase near the query, as a vector index (knowledge.index, knowledge.pgvector_index)
    returns it: its FAQ, its cosine similarity, its text, and whether it is its FAQ's only
    phrasing (`lone`: no second phrasing to take support from)."""

    faq_id: int
    score: float
    text: str
    lone: bool = False


@dataclass(frozen=True)
class CandidateFeatures:
    """Per-query features of the top-K neighbours, one array entry per query.

    `support` is the mean similarity of the best FAQ's two nearest paraphrases; when only one of
    them is among the K neighbours, the K-th score stands in for the second (an upper bound of
    it), and likewise `runner_up` is the K-th score when every neighbour is of the best FAQ (0
    when the neighbours are the whole store: there is no other FAQ).
    `best_lone`: the best FAQ has a single phrasing, so it has no second one at all.
    """

    best_faq: np.ndarray
    best: np.ndarray
    runner_up_faq: np.ndarray
    runner_up: np.ndarray
    margin: np.ndarray
    support: np.ndarray
    has_runner_up: np.ndarray
    best_lone: np.ndarray


def candidate_features(
    faq_ids: np.ndarray,
    scores: np.ndarray,
    lone: np.ndarray | None = None,
    exhaustive: bool = False,
) -> CandidateFeatures:
    """Features of n queries' K neighbours: `faq_ids`, `scores` of shape (n, K), best first;
    `lone` (same shape, default all False) marks neighbours that are their FAQ's only phrasing;
    `exhaustive`: the neighbours are the whole store (it has fewer than K phrasings), so an FAQ
    missing from them does not exist and cannot be a runner-up (margin = best)."""
    faq_ids = np.atleast_2d(faq_ids)
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float32))
    if faq_ids.shape != scores.shape or faq_ids.shape[1] == 0:
        raise ValueError("faq_ids and scores must both have shape (n, K) with K >= 1")
    if lone is None:
        lone = np.zeros(faq_ids.shape, dtype=bool)
    lone = np.atleast_2d(np.asarray(lone, dtype=bool))
    if lone.shape != faq_ids.shape:
        raise ValueError("lone must have the shape of faq_ids")
    rows = np.arange(faq_ids.shape[0])
    last = scores[:, -1]
    best_faq = faq_ids[:, 0]
    best = scores[:, 0]
    same = faq_ids == best_faq[:, None]

    other = ~same
    has_runner_up = other.any(axis=1)
    first_other = np.argmax(other, axis=1)
    unseen = np.float32(0.0) if exhaustive else last
    runner_up = np.where(has_runner_up, scores[rows, first_other], unseen)
    runner_up_faq = np.where(has_runner_up, faq_ids[rows, first_other], best_faq)

    if scores.shape[1] > 1:
        tail = same[:, 1:]
        second = np.where(tail.any(axis=1), scores[:, 1:][rows, np.argmax(tail, axis=1)], last)
    else:
        second = best

    return CandidateFeatures(
        best_faq=best_faq,
        best=best,
        runner_up_faq=runner_up_faq,
        runner_up=runner_up,
        margin=best - runner_up,
        support=(best + second) / 2,
        has_runner_up=has_runner_up,
        best_lone=lone[:, 0],
    )


def related_faqs(faq_ids: np.ndarray, scores: np.ndarray, floor: float, limit: int) -> list[int]:
    """The distinct FAQs of one query's neighbours (best first) whose nearest phrasing's cosine
    reaches `floor`, at most `limit`: questions to offer a visitor the stage did not answer."""
    related: list[int] = []
    for faq_id, score in zip(faq_ids.tolist(), scores.tolist(), strict=True):
        if score < floor or len(related) == limit:
            break
        if faq_id not in related:
            related.append(faq_id)
    return related


def phrasing_counts(faq_ids: np.ndarray) -> np.ndarray:
    """For each row, how many phrasings its FAQ has among the rows."""
    _, inverse, counts = np.unique(faq_ids, return_inverse=True, return_counts=True)
    return counts[inverse]


def lone_phrasings(faq_ids: np.ndarray) -> np.ndarray:
    """Which rows are the only phrasing of their FAQ (MatchPolicy.lone_threshold applies)."""
    return phrasing_counts(faq_ids) == 1


def lone_neighbours(neighbour_faq_ids: np.ndarray, faq_ids: np.ndarray) -> np.ndarray:
    """`candidate_features`' `lone` for `batch_top_k`'s FAQ ids over a store of `faq_ids`."""
    return np.isin(neighbour_faq_ids, faq_ids[lone_phrasings(faq_ids)])


@dataclass(frozen=True)
class MatchResult:
    """The decision for one query and the numbers it was based on (for logs and traces)."""

    faq_id: int | None
    decision: str
    score: float
    best_faq_id: int | None
    best_similarity: float
    runner_up_faq_id: int | None
    runner_up_similarity: float
    margin: float
    support: float
    lone: bool = False  # the best FAQ has one phrasing: `score` is its best cosine, not support

    @property
    def answered(self) -> bool:
        return self.faq_id is not None


def _no_candidates() -> MatchResult:
    return MatchResult(None, NO_CANDIDATES, 0.0, None, 0.0, None, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class MatchPolicy:
    """Answer when the best FAQ's `support >= threshold` and its `margin >= min_margin`; an FAQ
    with a single phrasing has no support to take, so its best cosine must reach
    `lone_threshold` instead (above 1: such FAQs answer only exact repeats).

    The values are specific to the embedding model: the app takes them from
    knowledge.operating_points (measured per model, bench/faq_matching.py)."""

    threshold: float
    min_margin: float
    lone_threshold: float = 1.01

    def accept(self, features: CandidateFeatures) -> np.ndarray:
        """Boolean answer mask for a batch of queries."""
        return (self._score(features) >= self._threshold(features)) & (
            features.margin >= self.min_margin
        )

    def decide(
        self,
        faq_ids: np.ndarray,
        scores: np.ndarray,
        lone: np.ndarray | None = None,
        exhaustive: bool = False,
    ) -> MatchResult:
        """Decision for one query from its top-K neighbours (FAQ ids and cosines, best first,
        whether each is its FAQ's only phrasing, and whether they are the whole store)."""
        if len(faq_ids) == 0:
            return _no_candidates()
        features = candidate_features(
            np.asarray(faq_ids)[None, :],
            np.asarray(scores)[None, :],
            None if lone is None else np.asarray(lone)[None, :],
            exhaustive,
        )
        score = float(self._score(features)[0])
        if score < float(self._threshold(features)[0]):
            decision = BELOW_THRESHOLD
        elif features.margin[0] < self.min_margin:
            decision = AMBIGUOUS
        else:
            decision = ANSWER
        return _result(features, score, decision)

    def _score(self, features: CandidateFeatures) -> np.ndarray:
        return np.where(features.best_lone, features.best, features.support)

    def _threshold(self, features: CandidateFeatures) -> np.ndarray:
        return np.where(features.best_lone, self.lone_threshold, self.threshold)


@dataclass(frozen=True)
class FixedThresholdPolicy:
    """Baseline (GPTCache / RedisVL style): answer the nearest paraphrase's FAQ if cosine >= t."""

    threshold: float = 0.84

    def accept(self, features: CandidateFeatures) -> np.ndarray:
        return features.best >= self.threshold

    def decide(self, faq_ids: np.ndarray, scores: np.ndarray) -> MatchResult:
        if len(faq_ids) == 0:
            return _no_candidates()
        features = candidate_features(np.asarray(faq_ids)[None, :], np.asarray(scores)[None, :])
        score = float(features.best[0])
        return _result(features, score, ANSWER if score >= self.threshold else BELOW_THRESHOLD)


def _result(features: CandidateFeatures, score: float, decision: str) -> MatchResult:
    best_faq = int(features.best_faq[0])
    return MatchResult(
        faq_id=best_faq if decision == ANSWER else None,
        decision=decision,
        score=score,
        best_faq_id=best_faq,
        best_similarity=float(features.best[0]),
        runner_up_faq_id=int(features.runner_up_faq[0]) if features.has_runner_up[0] else None,
        runner_up_similarity=float(features.runner_up[0]),
        margin=float(features.margin[0]),
        support=float(features.support[0]),
        lone=bool(features.best_lone[0]),
    )


def batch_top_k(
    embeddings: np.ndarray, faq_ids: np.ndarray, queries: np.ndarray, k: int = DEFAULT_K
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k paraphrases for each query row: (FAQ ids, cosines), both (n, k), best first."""
    sims = np.atleast_2d(queries).astype(np.float32, copy=False) @ embeddings.T
    k = min(k, sims.shape[1])
    if k == 0:
        empty = np.zeros((sims.shape[0], 0))
        return empty.astype(np.asarray(faq_ids).dtype), empty.astype(np.float32)
    part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(sims, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    rows = np.take_along_axis(part, order, axis=1)
    return np.asarray(faq_ids)[rows], np.take_along_axis(part_scores, order, axis=1)


def top_k(
    embeddings: np.ndarray, faq_ids: np.ndarray, query: np.ndarray, k: int = DEFAULT_K
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k paraphrases of one query vector: (FAQ ids, cosines), best first."""
    ids, scores = batch_top_k(embeddings, faq_ids, query[None, :], k)
    return ids[0], scores[0]
