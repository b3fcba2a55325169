"""Hybrid ranking: the vector and the lexical rankings fused into one, and the relevance floor
that decides "nothing relevant", and the document index's bonus (a chunk gains a share of its
page's own score). Pure functions over ids and scores, shared by the in-process (SQLite) and the
PostgreSQL retrieval. Why this fusion and these signals, with the figures: docs/retrieval.md,
"Fusion", "Relevance floor" and "Document index"."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from knowledge.documents.lexical import STOPWORD_TOKENS

RRF_K = 60  # Cormack et al. (2009)'s constant; it damps the weight of the very first ranks
CANDIDATES = 50  # depth of each ranking before fusion
VECTOR_WEIGHT = 0.5  # the convex combination's weight of the vector side (lexical: the rest)
DOCUMENT_CANDIDATES = 20  # pages each side of the document index ranks before their fusion
# The page's fused score's weight in its chunks' scores: the default of the app's
# KNOWLEDGE_DOCUMENT_WEIGHT, which should stay equal (the bench measures this one); 0 is off.
DOCUMENT_WEIGHT = 0.5


class Fusion(StrEnum):
    CONVEX = "convex"  # the chosen one
    RRF = "rrf"  # reciprocal rank fusion, k = RRF_K: what shipped before (the bench compares)


def reciprocal_rank_fusion(
    rankings: Iterable[Sequence[int]], *, k: int = RRF_K
) -> list[tuple[int, float]]:
    """Ids of every ranking (best first) scored by the sum of 1 / (k + rank) over the rankings
    that hold them (rank from 1), best first; ties keep the order in which ids first appeared."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda pair: -pair[1])


def min_max(scored: Sequence[tuple[int, float]]) -> dict[int, float]:
    """Scores mapped onto [0, 1] over the candidates: the best 1, the worst 0 (all 1 if equal)."""
    if not scored:
        return {}
    low, high = min(s for _, s in scored), max(s for _, s in scored)
    span = high - low
    return {i: (s - low) / span if span > 0 else 1.0 for i, s in scored}


def convex_fusion(
    vector: Sequence[tuple[int, float]],
    lexical: Sequence[tuple[int, float]],
    *,
    weight: float = VECTOR_WEIGHT,
) -> list[tuple[int, float]]:
    """Ids of both rankings ((id, score) best first) scored by weight * the normalised cosine +
    (1 - weight) * the normalised lexical score (0 on a side that did not rank the id), best
    first; ties keep the order in which ids first appeared."""
    by_vector, by_words = min_max(vector), min_max(lexical)
    ids = dict.fromkeys([*by_vector, *by_words])
    fused = {i: weight * by_vector.get(i, 0.0) + (1 - weight) * by_words.get(i, 0.0) for i in ids}
    return sorted(fused.items(), key=lambda pair: -pair[1])


@dataclass(frozen=True)
class DocumentEvidence:
    """The document index's answer to one question: whole pages (documents) ranked by each side,
    best first, and the page each chunk belongs to (None for a chunk the index does not hold)."""

    vector: Sequence[tuple[int, float]]  # (document id, cosine to its mean chunk vector)
    lexical: Sequence[tuple[int, float]]  # (document id, BM25 over all its chunks' tokens)
    document_of: Callable[[int], int | None]


def document_scores(documents: DocumentEvidence) -> dict[int, float]:
    """Each page's own fused score, fused as chunks are (`convex_fusion`); a page neither side
    ranked is absent (scores 0)."""
    return dict(convex_fusion(documents.vector, documents.lexical))


def with_document_scores(
    fused: Sequence[tuple[int, float]],
    *,
    document_of: Callable[[int], int | None],
    scores: Mapping[int, float],
    weight: float,
) -> list[tuple[int, float]]:
    """The fused chunks ((id, score) best first) re-scored by their score + `weight` * their
    page's (`scores`, 0 for a page not there), best first; ties keep the fused order."""
    rescored = ((i, s + weight * _page_score(i, document_of, scores)) for i, s in fused)
    return sorted(rescored, key=lambda pair: -pair[1])


def _page_score(
    chunk_id: int, document_of: Callable[[int], int | None], scores: Mapping[int, float]
) -> float:
    document = document_of(chunk_id)
    return scores.get(document, 0.0) if document is not None else 0.0


@dataclass(frozen=True)
class Ranked:
    chunk_id: int
    score: float  # fused, plus the page's share when the document index ranked
    vector_score: float  # cosine; 0 when the vector side did not rank it
    lexical_score: float  # BM25; 0 when the lexical side did not rank it
    document_score: float = 0.0  # its page's own fused score; 0 when no page side ranked it


def fuse(
    vector: Sequence[tuple[int, float]],
    lexical: Sequence[tuple[int, float]],
    *,
    limit: int,
    fusion: Fusion = Fusion.CONVEX,
    documents: DocumentEvidence | None = None,
    document_weight: float = DOCUMENT_WEIGHT,
) -> list[Ranked]:
    """The top `limit` of the two rankings ((id, score) best first) fused; with `documents`
    and a `document_weight` above 0, every fused candidate re-ranked by its page's score first
    (`with_document_scores`), then cut."""
    fused = _fused(vector, lexical, fusion)
    return _ranked(
        fused, vector, lexical, limit=limit, documents=documents, document_weight=document_weight
    )


def _fused(
    vector: Sequence[tuple[int, float]], lexical: Sequence[tuple[int, float]], fusion: Fusion
) -> list[tuple[int, float]]:
    if fusion is Fusion.RRF:
        return reciprocal_rank_fusion([[i for i, _ in vector], [i for i, _ in lexical]])
    return convex_fusion(vector, lexical)


def _ranked(
    fused: Sequence[tuple[int, float]],
    vector: Sequence[tuple[int, float]],
    lexical: Sequence[tuple[int, float]],
    *,
    limit: int,
    documents: DocumentEvidence | None,
    document_weight: float,
) -> list[Ranked]:
    """The fused chunks' top `limit`, re-ranked by their pages first when `documents` count."""
    cosine, bm25 = dict(vector), dict(lexical)
    if documents is None or document_weight <= 0:
        return [Ranked(i, s, cosine.get(i, 0.0), bm25.get(i, 0.0)) for i, s in fused[:limit]]
    pages, document_of = document_scores(documents), documents.document_of
    fused = with_document_scores(
        fused, document_of=document_of, scores=pages, weight=document_weight
    )
    return [
        Ranked(i, s, cosine.get(i, 0.0), bm25.get(i, 0.0), _page_score(i, document_of, pages))
        for i, s in fused[:limit]
    ]


def token_coverage(query_tokens: Collection[str], passage_tokens: Collection[str]) -> float:
    """Share of the question's distinct tokens found in a passage (0 for a question without
    tokens), English stop words aside (retrieval's tokens keep them): unlike a BM25 score, its
    meaning does not change with the corpus."""
    distinct = set(query_tokens) - STOPWORD_TOKENS
    if not distinct:
        return 0.0
    return len(distinct.intersection(passage_tokens)) / len(distinct)


@dataclass(frozen=True)
class RelevanceFloor:
    """When retrieval found something worth answering from: the best passage is close enough
    in meaning (cosine >= `min_cosine`), or one passage holds most of the question's words
    (`token_coverage` >= `min_coverage`) while still at least `coverage_min_cosine` close.
    Floors belong to the embedding model (knowledge/documents/retrieval_points.py)."""

    min_cosine: float
    min_coverage: float = math.inf  # off unless set: no floor measured so far needed it
    coverage_min_cosine: float = 0.0

    def relevant(self, *, best_cosine: float, coverage: float) -> bool:
        return best_cosine >= self.min_cosine or (
            coverage >= self.min_coverage and best_cosine >= self.coverage_min_cosine
        )


@dataclass(frozen=True)
class Hybrid:
    ranked: tuple[Ranked, ...]
    relevant: bool
    best_cosine: float  # of the vector ranking's first chunk, shown or not
    best_lexical: float
    coverage: float  # the best token coverage among the chunks' own fused top `limit`


def hybrid(
    vector: Sequence[tuple[int, float]],
    lexical: Sequence[tuple[int, float]],
    *,
    query_tokens: Collection[str],
    tokens_of: Callable[[int], Collection[str]],
    floor: RelevanceFloor,
    limit: int,
    documents: DocumentEvidence | None = None,
    document_weight: float = DOCUMENT_WEIGHT,
) -> Hybrid:
    """Fused top `limit` (re-ranked by their pages' scores when `documents` are given) and the
    floor's decision. `vector` holds cosine scores, `lexical` BM25 scores, each best first;
    `tokens_of(chunk_id)` a ranked chunk's search tokens. The floor reads the chunks' own
    signals, as without the document index: a page's score never decides "nothing relevant"."""
    fused = _fused(vector, lexical, Fusion.CONVEX)  # once: the floor reads the chunks' own top
    ranked = _ranked(
        fused, vector, lexical, limit=limit, documents=documents, document_weight=document_weight
    )
    best_cosine = max((score for _, score in vector), default=0.0)
    coverage = max(
        (token_coverage(query_tokens, tokens_of(i)) for i, _ in fused[:limit]), default=0.0
    )
    return Hybrid(
        ranked=tuple(ranked),
        relevant=bool(ranked) and floor.relevant(best_cosine=best_cosine, coverage=coverage),
        best_cosine=best_cosine,
        best_lexical=max((score for _, score in lexical), default=0.0),
        coverage=coverage,
    )
