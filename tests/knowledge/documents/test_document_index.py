"""The document index (pure): each page scored as a whole, by BM25 over all its chunks' tokens
and by the cosine to its mean chunk vector."""

import numpy as np
import pytest

from knowledge.documents.document_index import DocumentIndex
from knowledge.documents.lexical import search_tokens


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


# Page 7's two chunks hold "gift" and "wrapping" apart; page 9's one chunk holds "gift" alone.
CHUNKS = {
    1: (7, "Gift cards are sold in any amount.", unit(1, 0, 0)),
    2: (7, "Wrapping paper is recycled.", unit(0, 1, 0)),
    3: (9, "A gift card cannot pay for another gift card.", unit(0.6, 0, 0.8)),
}


@pytest.fixture
def index() -> DocumentIndex:
    return DocumentIndex(
        chunk_ids=list(CHUNKS),
        document_ids=[page for page, _, _ in CHUNKS.values()],
        tokens=[search_tokens(text) for _, text, _ in CHUNKS.values()],
        vectors=np.stack([vector for _, _, vector in CHUNKS.values()]),
    )


def test_a_page_holding_the_questions_words_across_its_chunks_is_first_by_words(index):
    found = index.search(vector=unit(0, 0, 1), tokens=search_tokens("gift wrapping").split(), n=5)
    assert [page for page, _ in found.lexical] == [7, 9]
    assert found.document_of(2) == 7 and found.document_of(3) == 9
    assert found.document_of(99) is None


def test_a_pages_vector_is_its_chunks_mean_made_unit_length(index):
    query = unit(1, 1, 0)
    found = index.search(vector=query, tokens=[], n=5)
    mean = unit(1, 1, 0)  # the mean of (1, 0, 0) and (0, 1, 0), normalised
    assert dict(found.vector) == pytest.approx({7: float(mean @ query), 9: 0.6 / np.sqrt(2)})
    assert [page for page, _ in found.vector] == [7, 9]
    assert np.linalg.norm(index.vectors, axis=1) == pytest.approx([1.0, 1.0])


def test_each_side_keeps_its_n_best_pages(index):
    found = index.search(vector=unit(0, 0, 1), tokens=["gift"], n=1)
    assert [page for page, _ in found.vector] == [9]
    assert len(found.lexical) == 1
    assert len(index) == 2


def test_one_page_id_token_string_and_vector_per_chunk():
    with pytest.raises(ValueError):
        DocumentIndex(chunk_ids=[1, 2], document_ids=[7], tokens=["a", "b"], vectors=np.eye(2))
