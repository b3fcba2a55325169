"""Behaviour of the FAQ decision rules on hand-made embeddings, plus one real-model check."""

import numpy as np
import pytest

from knowledge.matching import (
    AMBIGUOUS,
    ANSWER,
    BELOW_THRESHOLD,
    NO_CANDIDATES,
    FixedThresholdPolicy,
    MatchPolicy,
    batch_top_k,
    candidate_features,
    lone_phrasings,
    top_k,
)

DIM = 16


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def near(axis: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector at cosine ~1/sqrt(1+noise^2*DIM) from basis vector `axis`."""
    v = np.zeros(DIM)
    v[axis] = 1.0
    return unit(v + noise * rng.standard_normal(DIM))


def mix(a: np.ndarray, b: np.ndarray, wa: float) -> np.ndarray:
    return unit(wa * a + (1 - wa) * b)


@pytest.fixture
def store():
    """Two FAQs (ids 10 and 20) of four tight paraphrases each, around basis vectors 0 and 1."""
    rng = np.random.default_rng(0)
    rows = [near(0, 0.05, rng) for _ in range(4)] + [near(1, 0.05, rng) for _ in range(4)]
    return np.vstack(rows), np.array([10] * 4 + [20] * 4)


def basis(i: int) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[i] = 1.0
    return v


def decide(policy, store, query):
    return policy.decide(*top_k(*store, query, k=20))


def test_clear_paraphrase_is_answered(store):
    result = decide(MatchPolicy(0.81, 0.08), store, near(0, 0.05, np.random.default_rng(1)))
    assert result.decision == ANSWER
    assert result.faq_id == 10
    assert result.runner_up_faq_id == 20
    assert result.margin > 0.5


def test_near_tie_between_two_faqs_is_declined_as_ambiguous(store):
    query = mix(basis(0), basis(1), 0.505)
    result = decide(MatchPolicy(threshold=0.5, min_margin=0.08), store, query)
    assert result.best_similarity > 0.65  # close enough to both to pass a plain threshold
    assert result.decision == AMBIGUOUS
    assert result.faq_id is None
    assert decide(FixedThresholdPolicy(threshold=0.5), store, query).answered


def test_far_query_is_declined(store):
    result = decide(MatchPolicy(0.81, 0.08), store, basis(5))
    assert result.decision == BELOW_THRESHOLD
    assert result.faq_id is None
    assert not result.answered


def test_a_single_agreeing_paraphrase_is_not_enough():
    """One stray paraphrase close to the query must not carry an FAQ whose others disagree."""
    rng = np.random.default_rng(2)
    stray = near(3, 0.01, rng)
    faq_10 = [stray] + [near(0, 0.05, rng) for _ in range(4)]
    faq_20 = [near(1, 0.05, rng) for _ in range(5)]
    embeddings = np.vstack(faq_10 + faq_20)
    ids = np.array([10] * 5 + [20] * 5)
    query = near(3, 0.02, rng)

    result = decide(MatchPolicy(threshold=0.8, min_margin=0.0), (embeddings, ids), query)
    assert result.best_faq_id == 10
    assert result.best_similarity > 0.95
    assert result.support < 0.6
    assert result.decision == BELOW_THRESHOLD
    assert decide(FixedThresholdPolicy(threshold=0.8), (embeddings, ids), query).faq_id == 10


def test_support_averages_the_two_nearest_paraphrases_of_the_best_faq():
    ids = np.array([[7, 9, 7, 9]])
    scores = np.array([[0.9, 0.8, 0.7, 0.1]], dtype=np.float32)
    f = candidate_features(ids, scores)
    assert f.best_faq[0] == 7 and f.runner_up_faq[0] == 9
    assert f.support[0] == pytest.approx(0.8)
    assert f.margin[0] == pytest.approx(0.1)


def test_missing_second_paraphrase_and_runner_up_fall_back_to_the_kth_score():
    f = candidate_features(np.array([[7, 9, 9]]), np.array([[0.9, 0.5, 0.4]]))
    assert f.support[0] == pytest.approx(0.65)
    g = candidate_features(np.array([[7, 7, 7]]), np.array([[0.9, 0.8, 0.6]]))
    assert not g.has_runner_up[0]
    assert g.margin[0] == pytest.approx(0.3)
    result = MatchPolicy(threshold=0.8, min_margin=0.1).decide(np.array([7, 7, 7]), [0.9, 0.8, 0.6])
    assert result.decision == ANSWER and result.runner_up_faq_id is None


def test_fixed_threshold_baseline_is_a_cut_on_the_nearest_paraphrase():
    ids, scores = np.array([3, 4]), np.array([0.85, 0.84])
    assert FixedThresholdPolicy(threshold=0.84).decide(ids, scores).faq_id == 3
    below = FixedThresholdPolicy(threshold=0.86).decide(ids, scores)
    assert below.faq_id is None and below.decision == BELOW_THRESHOLD


def test_empty_candidate_list_declines():
    assert (
        MatchPolicy(0.81, 0.08).decide(np.array([], dtype=int), np.array([])).decision
        == NO_CANDIDATES
    )


def test_batch_accept_agrees_with_single_decisions(store):
    rng = np.random.default_rng(3)
    queries = np.vstack([near(i % 3, 0.3, rng) for i in range(30)])
    ids, scores = batch_top_k(*store, queries, k=5)
    policy = MatchPolicy(threshold=0.7, min_margin=0.05)
    mask = policy.accept(candidate_features(ids, scores))
    single = [policy.decide(ids[i], scores[i]).answered for i in range(len(queries))]
    assert mask.tolist() == single
    assert 0 < mask.sum() < len(queries)


def test_exact_top_k_is_sorted_and_matches_brute_force():
    rng = np.random.default_rng(4)
    embeddings = np.vstack([unit(rng.standard_normal(DIM)) for _ in range(50)])
    faq_ids = np.arange(50) // 5
    query = unit(rng.standard_normal(DIM))
    ids, scores = top_k(embeddings, faq_ids, query, k=7)
    expected = np.argsort(-(embeddings @ query))[:7]
    assert ids.tolist() == faq_ids[expected].tolist()
    assert np.all(np.diff(scores) <= 0)
    assert top_k(embeddings, faq_ids, query, k=500)[0].shape == (50,)


@pytest.mark.slow
def test_real_minilm_matches_a_paraphrase_and_rejects_an_unrelated_question():
    from knowledge.embeddings import MiniLMEmbedder

    faqs = {
        1: [
            "how do i reset my password",
            "i forgot my password, how can i change it",
            "what are the steps to reset my account password",
        ],
        2: [
            "how long does shipping take",
            "when will my order be delivered",
            "what is the delivery time for orders",
        ],
    }
    embedder = MiniLMEmbedder()
    texts = [t for phrasings in faqs.values() for t in phrasings]
    embeddings = embedder.embed(texts)
    faq_ids = np.array([f for f, phrasings in faqs.items() for _ in phrasings])
    assert embeddings.shape == (6, embedder.dimension) and embeddings.dtype == np.float32
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)

    policy = MatchPolicy(0.81, 0.08)
    paraphrase, unrelated = embedder.embed(
        ["how can i reset my password", "what's the weather like in paris tomorrow"]
    )
    assert decide(policy, (embeddings, faq_ids), paraphrase).faq_id == 1
    rejected = decide(policy, (embeddings, faq_ids), unrelated)
    assert rejected.faq_id is None and rejected.decision == BELOW_THRESHOLD


class CountingEmbedder:
    """A deterministic stand-in backend that counts how many texts reach it."""

    dimension = 4
    identity = "counting/4"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        rows = [[len(t), t.count("a"), t.count("e"), 1.0] for t in texts]
        return np.asarray(rows, dtype=np.float32)


def test_caching_embedder_embeds_each_text_once_and_evicts_the_oldest():
    from knowledge.embeddings import CachingEmbedder

    inner = CountingEmbedder()
    cached = CachingEmbedder(inner, size=2)
    first = cached.embed(["banana", "apple"])
    again = cached.embed(["apple", "banana", "apple"])
    assert np.array_equal(again, first[[1, 0, 1]])
    assert inner.calls == [["banana", "apple"]], "repeats never reach the model"
    cached.embed(["banana"])  # now "apple" is the least recently used
    cached.embed(["cherry"])  # evicts "apple"
    cached.embed(["banana", "apple"])
    assert inner.calls == [["banana", "apple"], ["cherry"], ["apple"]]
    assert cached.embed([]).shape == (0, 4)


def test_seeded_vectors_fill_free_room_only_and_go_first_when_room_runs_out():
    from knowledge.embeddings import CachingEmbedder

    inner = CountingEmbedder()
    cached = CachingEmbedder(inner, size=3)
    asked = cached.embed(["asked"])
    known = np.asarray([[9, 9, 9, 9], [8, 8, 8, 8], [7, 7, 7, 7]], dtype=np.float32)
    assert cached.seed(["asked", "faq one", "faq two"], known) == 2
    assert np.array_equal(cached.embed(["asked"]), asked), "a visitor's vector is not replaced"
    assert np.array_equal(cached.embed(["faq one"])[0], known[1])
    assert inner.calls == [["asked"]], "seeded texts never reach the model"
    assert cached.seed(["faq three"], known[:1]) == 0, "no room: nothing pushed out"
    cached.embed(["new question"])  # evicts the least recently used: the unused seed
    cached.embed(["faq two"])
    assert inner.calls == [["asked"], ["new question"], ["faq two"]]


@pytest.mark.django_db
def test_an_faq_question_asked_word_for_word_skips_the_model(monkeypatch, swap_embedder):
    from knowledge import embeddings
    from knowledge.embeddings import CachingEmbedder
    from knowledge.index import InMemoryIndex
    from knowledge.models import FAQ, Paraphrase

    faq = FAQ.objects.create(question="How do I reset my password?", answer="Use the link.")
    paraphrase = Paraphrase.objects.create(faq=faq, text="I forgot my password", approved=True)
    stored = np.asarray([0.6, 0.8, 0.0, 0.0], dtype=np.float32)
    Paraphrase.objects.filter(pk=paraphrase.pk).update(
        embedding=stored.tobytes(), embedding_model=CountingEmbedder.identity
    )
    inner = CountingEmbedder()
    swap_embedder(CachingEmbedder(inner, size=16))
    index = InMemoryIndex()
    index.refresh()
    vector = embeddings.embed_one("I forgot my password")
    assert np.array_equal(vector, stored) and inner.calls == []
    assert index.search(vector, locale="en", k=1)[0].faq_id == faq.pk


def test_an_faq_with_one_phrasing_answers_on_its_best_cosine_against_the_lone_threshold():
    ids = np.array([7, 9, 9])
    scores = np.array([0.9, 0.5, 0.4], dtype=np.float32)
    lone = np.array([True, False, False])
    policy = MatchPolicy(threshold=0.8, min_margin=0.1, lone_threshold=0.88)
    assert policy.decide(ids, scores).decision == BELOW_THRESHOLD, (
        "unflagged, the K-th score stands in for the missing second phrasing: support 0.65"
    )
    result = policy.decide(ids, scores, lone)
    assert result.decision == ANSWER and result.faq_id == 7
    assert result.lone and result.score == pytest.approx(0.9)
    assert result.support == pytest.approx(0.65), "support is still reported as computed"
    stricter = MatchPolicy(threshold=0.8, min_margin=0.1, lone_threshold=0.91)
    assert stricter.decide(ids, scores, lone).decision == BELOW_THRESHOLD
    close_second = np.array([0.9, 0.85, 0.4], dtype=np.float32)
    assert policy.decide(ids, close_second, lone).decision == AMBIGUOUS, "the margin still applies"


def test_the_lone_threshold_applies_only_when_the_best_faq_is_the_lone_one():
    ids = np.array([[7, 7, 9], [9, 7, 7]])
    scores = np.array([[0.9, 0.86, 0.5], [0.95, 0.7, 0.68]], dtype=np.float32)
    lone = np.array([[False, False, True], [True, False, False]])
    f = candidate_features(ids, scores, lone)
    assert f.best_lone.tolist() == [False, True]
    policy = MatchPolicy(threshold=0.85, min_margin=0.1, lone_threshold=0.97)
    assert policy.accept(f).tolist() == [True, False]
    assert MatchPolicy(0.85, 0.1, lone_threshold=0.94).accept(f).tolist() == [True, True]
    assert MatchPolicy(0.85, 0.1).accept(f).tolist() == [True, False], (
        "by default a lone FAQ never reaches its threshold"
    )


def test_lone_phrasings_marks_the_rows_whose_faq_has_no_other():
    assert lone_phrasings(np.array([3, 5, 3, 8, 3])).tolist() == [False, True, False, True, False]
    with pytest.raises(ValueError):
        candidate_features(np.array([[1, 2]]), np.array([[0.9, 0.8]]), np.array([[True]]))


def test_when_the_neighbours_are_the_whole_store_a_missing_runner_up_does_not_exist():
    ids, scores = np.array([7, 7, 7]), np.array([0.9, 0.88, 0.86], dtype=np.float32)
    policy = MatchPolicy(threshold=0.8, min_margin=0.08)
    assert policy.decide(ids, scores).decision == AMBIGUOUS, (
        "K neighbours of a larger store: another FAQ may sit just below the K-th"
    )
    whole = policy.decide(ids, scores, exhaustive=True)
    assert whole.decision == ANSWER and whole.runner_up_faq_id is None
    assert whole.margin == pytest.approx(0.9)
    assert policy.decide(np.array([7, 9]), np.array([0.9, 0.85]), exhaustive=True).decision == (
        AMBIGUOUS
    ), "a runner-up that is there still counts"
