"""bench.phrasing_sources on a tiny hand-made store: a handoff phrasing makes its FAQ answer a
question it missed, a mined negative stops a wrong answer, and the report renders with verdicts.
No model is loaded."""

import numpy as np

from bench.phrasing_sources import (
    Queries,
    Store,
    evaluate_sources,
    markdown,
    mined_negatives,
    verdicts,
)
from bench.verdicts import dump
from knowledge.matching import MatchPolicy
from knowledge.negatives import NegativeVectors

DIM = 8
POLICY = MatchPolicy(threshold=0.8, min_margin=0.05)


def unit(*weights: tuple[int, float]) -> np.ndarray:
    row = np.zeros(DIM, dtype=np.float32)
    for axis, weight in weights:
        row[axis] = weight
    return row / np.linalg.norm(row)


def tiny_store() -> Store:
    """FAQ 0 phrased along axis 0, FAQ 1 along axis 1 (two phrasings each)."""
    vectors = np.stack(
        [unit((0, 1)), unit((0, 1), (7, 0.05)), unit((1, 1)), unit((1, 1), (7, 0.05))]
    )
    return Store(vectors, np.array([0, 0, 1, 1]), NegativeVectors.empty(DIM))


# Asks FAQ 1 in words that look like FAQ 0's: the human phrasings answer it with FAQ 0.
MISLEADING = unit((0, 1), (2, 0.3))
# Asks FAQ 1 in words of its own, far from every human phrasing.
UNSEEN = unit((3, 1))


def test_handoffs_add_coverage_and_negatives_stop_wrong_answers():
    test = Queries(np.stack([MISLEADING, UNSEEN]), np.array([1, 1]))
    mining = Queries(np.stack([MISLEADING]), np.array([1]))
    # Two visitors asked FAQ 1 that way and an agent answered them with it.
    handoff_vectors = np.stack([unit((3, 1), (4, 0.1)), unit((3, 1), (5, 0.1))])
    entry = (tiny_store(), handoff_vectors, np.array([1, 1]), mining, test, None)

    result = evaluate_sources([entry], POLICY, min_similarity=0.9)

    assert (result["human"]["right"], result["human"]["wrong"]) == (0, 1)
    assert (result["handoff"]["right"], result["handoff"]["wrong"]) == (1, 1)
    assert result["negatives"]["negatives"] == 1
    assert (result["negatives"]["right"], result["negatives"]["wrong"]) == (1, 0)
    assert result["negatives"]["vetoed_wrong"] == 1 and result["negatives"]["vetoed_right"] == 0
    assert "generated" not in result, "(d) is reported only when measured"


def test_negatives_are_mined_only_from_wrong_answers():
    right = unit((1, 1), (6, 0.01))
    mining = Queries(np.stack([MISLEADING, right]), np.array([1, 1]))
    negatives = mined_negatives(tiny_store(), mining, POLICY, 0.9)
    assert negatives.faq_ids.tolist() == [0]
    np.testing.assert_allclose(negatives.vectors[0], MISLEADING)


def test_the_report_renders_with_a_verdict_per_source():
    test = Queries(np.stack([MISLEADING, UNSEEN]), np.array([1, 1]))
    entry = (tiny_store(), np.stack([UNSEEN]), np.array([1]), test, test, None)
    report = {"tiny": {"policy": "0.8 / 0.05", "sources": evaluate_sources([entry], POLICY, 0.9)}}
    report["verdicts"] = dump(verdicts(report))
    text = markdown(report)
    assert "(b) + handoff phrasings" in text and "(c) + negatives" in text
    assert len(report["verdicts"]) == 3
