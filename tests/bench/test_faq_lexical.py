"""The lexical-checker study's features and rules (bench/faq_lexical.py) on a three-FAQ store."""

import numpy as np
import pytest

from bench import faq_lexical as fl
from knowledge.documents.lexical import content_tokens

STORE = [
    ("how do I cancel my order", 0),
    ("cancel an order", 0),
    ("where is my parcel", 1),
    ("track my parcel", 1),
    ("change my password", 2),
    ("reset the password", 2),
]


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def queries() -> fl.Queries:
    eye = np.eye(4, dtype=np.float32)
    faq = np.array([f for _, f in STORE])
    store = _unit(eye[faq] + 0.05 * np.arange(len(STORE))[:, None] * eye[3])
    # Every query's vector points at FAQ 0; only the words differ.
    asked = ["cancel order", "track parcel", "zebra crossing"]
    vectors = _unit(np.repeat(eye[:1] + 0.2 * eye[1:2], len(asked), axis=0))
    return fl.store_queries(
        store,
        faq,
        [t for t, _ in STORE],
        vectors,
        [content_tokens(a) for a in asked],
        truth=np.array([0, 1, -1]),
        group=np.array([0, 0, 2]),
        store=0,
    )


def test_lead_and_coverage_say_whether_the_words_back_the_cosine_choice(queries):
    assert list(queries.best_faq) == [0, 0, 0]
    assert queries.lead["max"][0] == pytest.approx(1.0)  # only FAQ 0 shares a word
    assert queries.lead["max"][1] == pytest.approx(-1.0)  # the words point at FAQ 1
    assert queries.lead["max"][2] == 0.0  # no shared word at all
    assert queries.coverage[0] == pytest.approx(1.0)
    assert queries.coverage[1] == 0.0


def test_lexagree_rescues_only_where_the_words_agree(queries):
    strict = (0.99, 0.5)  # nothing passes the strict point
    loose = (0.5, 0.0, 0.0, 0.0)
    answered, faq = fl.accept("lexagree-max", loose, queries, strict)
    assert list(answered) == [True, False, False]
    result = fl.score(answered, faq, queries)
    assert (result["right"], result["wrong"]) == (1, 0)


def test_lexveto_declines_where_the_words_prefer_another_faq(queries):
    strict = fl.STRICT["minilm"]
    no_veto, _ = fl.accept("lexveto-max", (0.5, 0.0, 1.0), queries, strict)
    veto, _ = fl.accept("lexveto-max", (0.5, 0.0, 0.0), queries, strict)
    assert list(no_veto) == [True, True, True]
    assert list(veto) == [True, False, True]


def test_fused_ranking_follows_the_words_when_they_weigh_enough(queries):
    assert queries.fused_faq[0.9][1] == 0  # cosine dominates
    assert queries.fused_faq[0.5][1] == 1  # "track parcel": BM25 moves it to FAQ 1


def test_min_max_keeps_only_each_rows_top_candidates():
    scores = np.array([[0.2, 0.0, 0.5, 0.4]], dtype=np.float32)
    out = fl._min_max_top(scores, 2, positive_only=True)
    assert out.tolist() == [[0.0, 0.0, 1.0, 0.0]]
    assert fl._min_max_top(np.zeros((1, 3)), 2, positive_only=True).tolist() == [[0, 0, 0]]
