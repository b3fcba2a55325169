"""Rank fusion, the document index's bonus and the relevance floor (pure functions)."""

import pytest

from knowledge.documents.lexical import LexicalIndex, tokenize
from knowledge.documents.ranking import (
    DocumentEvidence,
    Fusion,
    RelevanceFloor,
    convex_fusion,
    document_scores,
    fuse,
    hybrid,
    min_max,
    reciprocal_rank_fusion,
    token_coverage,
    with_document_scores,
)


def test_rrf_sums_one_over_k_plus_rank_across_rankings() -> None:
    fused = dict(reciprocal_rank_fusion([[1, 2, 3], [3, 1]], k=60))
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[2] == pytest.approx(1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)


def test_rrf_orders_best_first_and_an_id_in_both_lists_beats_a_single_first_place() -> None:
    assert [i for i, _ in reciprocal_rank_fusion([[1, 2], [3, 2]], k=60)] == [2, 1, 3]


def test_rrf_ties_keep_first_appearance_and_empty_input_gives_nothing() -> None:
    assert [i for i, _ in reciprocal_rank_fusion([[5], [9]])] == [5, 9]
    assert reciprocal_rank_fusion([]) == reciprocal_rank_fusion([[], []]) == []


def test_fuse_keeps_each_sides_score_and_zero_for_the_side_that_missed() -> None:
    ranked = fuse([(1, 0.9), (2, 0.5)], [(2, 7.0), (3, 4.0)], limit=2, fusion=Fusion.RRF)
    assert [r.chunk_id for r in ranked] == [2, 1]
    assert (ranked[0].vector_score, ranked[0].lexical_score) == (0.5, 7.0)
    assert (ranked[1].vector_score, ranked[1].lexical_score) == (0.9, 0.0)


def test_min_max_puts_the_best_at_one_and_the_worst_at_zero() -> None:
    assert min_max([(1, 12.0), (2, 9.0), (3, 6.0)]) == {1: 1.0, 2: 0.5, 3: 0.0}
    assert min_max([(4, 0.3)]) == {4: 1.0} and min_max([]) == {}


def test_convex_fusion_weighs_each_sides_normalised_score() -> None:
    vector = [(1, 0.80), (2, 0.60), (3, 0.40)]
    lexical = [(3, 20.0), (4, 11.0), (2, 2.0)]
    fused = dict(convex_fusion(vector, lexical, weight=0.5))
    assert fused == pytest.approx({1: 0.5, 2: 0.25, 3: 0.5, 4: 0.25})
    assert [i for i, _ in convex_fusion(vector, lexical, weight=0.8)][:2] == [1, 2]


def test_a_clear_lexical_first_place_beats_middling_ranks_on_both_sides() -> None:
    """What RRF gets wrong: chunk 9 holds the question's rare words (BM25 far ahead of the
    rest) but is 30th by cosine; chunk 5 is 10th on both sides."""
    vector = [(i, 0.9 - 0.01 * i) for i in range(1, 51) if i != 9]
    vector.insert(29, (9, 0.9 - 0.01 * 30))
    lexical = [(9, 30.0), *((i, 6.0 - 0.1 * i) for i in range(10, 59))]
    lexical.insert(9, (5, 5.0))
    top = [r.chunk_id for r in fuse(vector, lexical, limit=5)]
    assert 9 in top
    assert 9 not in [r.chunk_id for r in fuse(vector, lexical, limit=5, fusion=Fusion.RRF)]


def test_token_coverage_is_the_share_of_distinct_query_tokens_in_the_passage() -> None:
    assert token_coverage(["reset", "password", "reset"], {"password", "page"}) == 0.5
    assert token_coverage([], {"password"}) == 0.0
    asked = tokenize("How do I reset my password?")
    assert token_coverage(asked, {"reset", "password"}) == 1.0, "stop words are not counted"
    assert token_coverage(tokenize("what is it"), {"what"}) == 0.0


FLOOR = RelevanceFloor(min_cosine=0.5, min_coverage=0.99, coverage_min_cosine=0.3)


@pytest.mark.parametrize(
    ("best_cosine", "coverage", "relevant"),
    [(0.55, 0.0, True), (0.35, 1.0, True), (0.35, 0.5, False), (0.2, 1.0, False)],
)
def test_floor_accepts_a_close_passage_or_a_covering_one_that_is_not_far(
    best_cosine: float, coverage: float, relevant: bool
) -> None:
    assert FLOOR.relevant(best_cosine=best_cosine, coverage=coverage) is relevant


PASSAGES = {
    1: "Reset your password from the sign-in page.",
    2: "Refunds are paid back to the original card within 5 business days.",
    3: "如果忘记密码，可以在登录页面重置密码。",
}


def _hybrid(question: str, vector: list[tuple[int, float]]):
    index = LexicalIndex(list(PASSAGES), list(PASSAGES.values()))
    query = tokenize(question)
    lexical = index.search_tokens(query, k=10)
    return hybrid(
        vector, lexical, query_tokens=query, tokens_of=index.tokens_of, floor=FLOOR, limit=3
    )


def test_hybrid_answers_a_covered_question_and_reports_its_signals() -> None:
    result = _hybrid("How do I reset my password?", [(3, 0.42), (1, 0.40), (2, 0.10)])
    assert result.relevant
    assert result.ranked[0].chunk_id == 1  # a close second by vector, first by BM25
    assert (result.best_cosine, result.coverage) == (0.42, 1.0)
    assert result.best_lexical > 0


def test_hybrid_declines_an_unrelated_question_in_a_tiny_corpus() -> None:
    result = _hybrid("What is the weather in Paris tomorrow?", [(2, 0.12), (1, 0.08)])
    assert not result.relevant
    assert result.coverage == 0.0
    assert [r.chunk_id for r in result.ranked] == [2, 1]  # still ranked, for the trace


def test_hybrid_with_nothing_ranked_is_not_relevant() -> None:
    assert not _hybrid("？", []).relevant


def test_a_floor_without_a_coverage_rule_looks_at_the_cosine_alone() -> None:
    floor = RelevanceFloor(min_cosine=0.42)
    assert not floor.relevant(best_cosine=0.41, coverage=1.0)
    assert floor.relevant(best_cosine=0.42, coverage=0.0)


# --- the document index's bonus (docs/retrieval.md, "Document index") ------------------------

# Chunks 1-2 are on page 10, which matches the question as a whole (its words are spread over
# both); chunk 3, on page 30, matches only on its own and is ahead of both by the chunks alone.
PAGES = {1: 10, 2: 10, 3: 30}
CHUNK_VECTOR = [(3, 0.70), (1, 0.66), (2, 0.50)]
CHUNK_LEXICAL = [(3, 9.0), (1, 7.5), (2, 3.0)]
PAGE_EVIDENCE = DocumentEvidence(
    vector=[(10, 0.80), (30, 0.55), (40, 0.20)],
    lexical=[(10, 14.0), (30, 6.0)],
    document_of=PAGES.get,
)


def test_a_chunk_on_a_page_that_matches_as_a_whole_overtakes_one_that_matches_alone() -> None:
    alone = fuse(CHUNK_VECTOR, CHUNK_LEXICAL, limit=3)
    with_pages = fuse(CHUNK_VECTOR, CHUNK_LEXICAL, limit=3, documents=PAGE_EVIDENCE)
    assert [r.chunk_id for r in alone] == [3, 1, 2]
    assert [r.chunk_id for r in with_pages] == [1, 3, 2]
    first = with_pages[0]
    assert first.document_score == pytest.approx(1.0)  # page 10 is first by both sides
    assert first.score == pytest.approx(dict(convex_fusion(CHUNK_VECTOR, CHUNK_LEXICAL))[1] + 0.5)
    assert (first.vector_score, first.lexical_score) == (0.66, 7.5), "the chunk's own scores"


def test_a_weight_of_zero_gives_the_ranking_by_the_chunks_alone() -> None:
    alone = fuse(CHUNK_VECTOR, CHUNK_LEXICAL, limit=3)
    off = fuse(CHUNK_VECTOR, CHUNK_LEXICAL, limit=3, documents=PAGE_EVIDENCE, document_weight=0)
    assert off == alone
    assert [r.document_score for r in off] == [0.0, 0.0, 0.0]


def test_pages_are_fused_as_chunks_are_and_a_page_neither_side_ranked_scores_nothing() -> None:
    scores = document_scores(PAGE_EVIDENCE)
    assert scores == pytest.approx({10: 1.0, 30: 0.5 * (0.35 / 0.6), 40: 0.0})
    rescored = with_document_scores(
        [(5, 0.9), (3, 0.8), (1, 0.2)],
        document_of={3: 30, 1: 10}.get,  # chunk 5: a chunk the index does not hold
        scores=scores,
        weight=0.5,
    )
    assert [i for i, _ in rescored] == [3, 5, 1]
    assert dict(rescored) == pytest.approx({5: 0.9, 3: 0.8 + 0.5 * scores[30], 1: 0.7})


def test_equal_scores_after_the_bonus_keep_the_fused_order() -> None:
    rescored = with_document_scores(
        [(1, 0.5), (2, 0.5), (3, 0.25)], document_of={3: 7}.get, scores={7: 0.5}, weight=0.5
    )
    assert [i for i, _ in rescored] == [1, 2, 3]


def test_the_page_bonus_never_changes_the_floors_decision() -> None:
    """The floor reads the chunks' own fused top: here the page brings a chunk holding every
    word of the question into the top 1, which a coverage rule would have accepted."""
    floor = RelevanceFloor(min_cosine=0.9, min_coverage=0.99, coverage_min_cosine=0.0)
    tokens = {1: {"gift", "wrap"}, 3: {"gift"}}
    common = dict(
        query_tokens=["gift", "wrap"],
        tokens_of=lambda chunk_id: tokens.get(chunk_id, set()),
        floor=floor,
        limit=1,
    )
    alone = hybrid(CHUNK_VECTOR, CHUNK_LEXICAL, **common)
    with_pages = hybrid(CHUNK_VECTOR, CHUNK_LEXICAL, documents=PAGE_EVIDENCE, **common)
    assert [r.chunk_id for r in alone.ranked] == [3]
    assert [r.chunk_id for r in with_pages.ranked] == [1]
    assert (alone.relevant, alone.coverage) == (False, 0.5)
    assert (with_pages.relevant, with_pages.coverage) == (False, 0.5)
