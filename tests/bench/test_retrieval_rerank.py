"""bench.retrieval_rerank's pieces: the units a chunk is cut into, the best unit cosine per
chunk, the sentence re-ranking of the first candidates and the fielded BM25."""

import numpy as np
import pytest

from bench.retrieval_rerank import FieldedWords, SentenceVectors, sentence_units, with_sentences
from knowledge.documents.lexical import search_tokens, tokenize


def test_units_are_sentences_list_items_and_table_rows_without_the_separator():
    text = (
        "Refunds take five days. Exchanges are free!\n\n"
        "- Socks cannot be returned.\n- Gift cards neither.\n\n"
        "| zone | price |\n|---|---|\n| domestic | $5 |\n\n"
        "退货需要七天。换货免费。\n\n---"
    )
    assert sentence_units(text) == [
        "Refunds take five days.",
        "Exchanges are free!",
        "- Socks cannot be returned.",
        "- Gift cards neither.",
        "| zone | price |",
        "| domestic | $5 |",
        "退货需要七天。",
        "换货免费。",
    ]


def test_the_best_unit_cosine_per_chunk_and_zero_for_a_chunk_without_units():
    vectors = np.array([[1, 0], [0, 1], [0.6, 0.8]], dtype=np.float32)
    sentences = SentenceVectors([2, 0, 1], vectors)  # chunk 0: rows 0-1, chunk 1: none, 2: row 2
    best = sentences.max_cosine(np.array([0.0, 1.0]), [2, 1, 0])
    assert best == pytest.approx({0: 1.0, 1: 0.0, 2: 0.8})
    with pytest.raises(ValueError):
        SentenceVectors([1], vectors)


def test_sentences_reorder_only_the_first_candidates():
    ranked = [(1, 1.0), (2, 0.9), (3, 0.5), (4, 0.4)]
    best = {1: 0.2, 2: 0.7, 3: 0.9}
    # 2 overtakes 1 (0.9 + 0.5 * 1 > 1.0 + 0); 3 and 4 stay below the first two
    assert with_sentences(ranked, best, weight=0.5, depth=2) == [
        (2, 1.4),
        (1, 1.0),
        (3, 0.5),
        (4, 0.4),
    ]
    # over three, 3's best is the highest: 1.0 + 0 < 0.5 + 1 * 1
    assert [i for i, _ in with_sentences(ranked, best, weight=1.0, depth=3)] == [2, 3, 1, 4]


def test_fielded_bm25_adds_the_title_score_by_its_weight_and_drops_chunks_scored_zero():
    texts = [search_tokens("copy loads a file"), search_tokens("vacuum reclaims storage")]
    titles = [search_tokens("COPY"), search_tokens("VACUUM and copy")]
    words = FieldedWords(texts, titles)
    tokens = tokenize("copy")
    assert [i for i, _ in words.search(tokens, 5, weight=0.0)] == [0]
    with_titles = dict(words.search(tokens, 5, weight=1.0))
    assert set(with_titles) == {0, 1} and with_titles[0] > with_titles[1]


def test_a_study_corpus_splits_each_chunk_into_its_fields_text_and_units():
    from bench.retrieval import Source
    from bench.retrieval_rerank import study_corpus
    from tests.bench.test_retrieval_bench import ARTICLES, QUESTIONS, BagOfWords

    source = Source("tiny", "en", [(n, t.encode()) for n, t in ARTICLES.items()], QUESTIONS)
    study = study_corpus(source, BagOfWords().embed, None)
    assert study.fields[0] == "Passwords > Reset"
    assert study.texts[0].startswith("Open the sign-in page")
    assert study.corpus.search_texts[0] == f"{study.fields[0]}\n\n{study.texts[0]}"
    assert study.index_cost["chunks"] == 3 and study.index_cost["units"] == 2 + 2 + 3
    unit = BagOfWords().embed(["A reset link arrives by email within five minutes."])[0]
    best = study.sentences.max_cosine(unit, [0, 1])
    assert best[0] == pytest.approx(1.0) and best[1] < 1.0, "the unit itself, not the chunk"
    assert study.in_context.max_cosine(unit, [0])[0] < 1.0, "below its title and headings"
