"""The negative-example rule: a question the FAQ stage answered with FAQ X, that a visitor
thumbed down and a person confirmed as "not X", keeps X from answering questions like it.

A confirmed negative vetoes X only for queries at least as close to the negative as to X's best
phrasing (and very close to the negative: FAQ_NEGATIVE_MIN_SIMILARITY), so X's own phrasings
still answer while rewordings of the wrongly answered question are declined. Framework-free: the
FAQ stage (knowledge/negative_store.py) and the benchmarks (bench/phrasing_sources.py) share it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NEGATIVE_EXAMPLE = "negative_example"
DEFAULT_MIN_SIMILARITY = 0.9


@dataclass(frozen=True)
class NegativeHit:
    """The confirmed negative of the matched FAQ nearest to the query."""

    negative_id: int
    similarity: float


@dataclass(frozen=True)
class NegativeVectors:
    """Confirmed negatives of some FAQs: unit vectors with their FAQ and row id."""

    vectors: np.ndarray  # (n, d) float32, unit rows
    faq_ids: np.ndarray  # (n,) FAQ of each negative
    ids: np.ndarray  # (n,) id of each negative

    @classmethod
    def empty(cls, dimension: int = 0) -> NegativeVectors:
        return cls(
            np.zeros((0, dimension), dtype=np.float32),
            np.zeros(0, dtype=np.int64),
            np.zeros(0, dtype=np.int64),
        )

    def nearest(self, faq_id: int, vector: np.ndarray) -> NegativeHit | None:
        """The negative of `faq_id` nearest to `vector`, or None when it has none."""
        rows = np.flatnonzero(self.faq_ids == faq_id)
        if len(rows) == 0:
            return None
        scores = self.vectors[rows] @ vector.astype(np.float32)
        best = int(np.argmax(scores))
        return NegativeHit(int(self.ids[rows[best]]), float(scores[best]))

    def nearest_batch(self, faq_ids: np.ndarray, queries: np.ndarray) -> np.ndarray:
        """For each query row, its similarity to the nearest negative of its FAQ in `faq_ids`
        (-inf when that FAQ has none)."""
        out = np.full(len(faq_ids), -np.inf, dtype=np.float32)
        if len(self.ids) == 0:
            return out
        scores = np.atleast_2d(queries).astype(np.float32) @ self.vectors.T
        same_faq = np.asarray(faq_ids)[:, None] == self.faq_ids[None, :]
        masked = np.where(same_faq, scores, -np.inf)
        return masked.max(axis=1)


def declines(
    best_similarity: np.ndarray | float,
    negative_similarity: np.ndarray | float,
    min_similarity: float = DEFAULT_MIN_SIMILARITY,
) -> np.ndarray:
    """Whether a match to the FAQ is declined: the query is at least as close to one of the
    FAQ's confirmed negatives (and at least `min_similarity` close) as to its best phrasing."""
    negative = np.asarray(negative_similarity)
    return (negative >= min_similarity) & (negative >= np.asarray(best_similarity))
