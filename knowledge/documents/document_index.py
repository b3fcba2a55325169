"""The document index: every page (document) scored as a whole beside its chunks, BM25 over all
its chunks' search tokens together and the cosine to its mean chunk vector. Built in process from
one locale's chunk rows (its chunks' vectors come from one model), by the in-process chunk index
and by PostgreSQL's word copy alike; no database, so the bench builds the same one. Why, with the
figures: docs/retrieval.md, "Document index"."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from knowledge.documents.lexical import LexicalIndex
from knowledge.documents.ranking import DocumentEvidence


class DocumentIndex:
    """Pages of the chunks given: `chunk_ids[i]` is a chunk of page `document_ids[i]`, with the
    stored `search_tokens` (space-joined) `tokens[i]` and the unit vector `vectors[i]`."""

    def __init__(
        self,
        *,
        chunk_ids: Sequence[int],
        document_ids: Sequence[int],
        tokens: Sequence[str],
        vectors: np.ndarray,
    ) -> None:
        if not len(chunk_ids) == len(document_ids) == len(tokens) == len(vectors):
            raise ValueError("one document id, token string and vector per chunk")
        self._document_of = {int(c): int(d) for c, d in zip(chunk_ids, document_ids, strict=True)}
        documents = list(dict.fromkeys(self._document_of.values()))
        row = {document: n for n, document in enumerate(documents)}
        rows = np.array([row[int(d)] for d in document_ids], dtype=np.int64)
        words: list[list[str]] = [[] for _ in documents]
        for r, text in zip(rows, tokens, strict=True):
            words[r].append(text)
        self.ids = np.array(documents, dtype=np.int64)
        dimension = vectors.shape[1] if vectors.ndim == 2 else 0
        sums = np.zeros((len(documents), dimension), dtype=np.float32)
        np.add.at(sums, rows, vectors)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)  # the mean's direction is the sum's
        self.vectors = sums / np.maximum(norms, np.finfo(np.float32).tiny)
        self.lexical = LexicalIndex.from_search_tokens(documents, [" ".join(w) for w in words])

    def __len__(self) -> int:
        return len(self.ids)

    def document_of(self, chunk_id: int) -> int | None:
        return self._document_of.get(chunk_id)

    def search(self, *, vector: np.ndarray, tokens: Sequence[str], n: int) -> DocumentEvidence:
        """The `n` best pages by cosine and by BM25 for a question (its vector by the model
        that embedded these chunks, its search tokens)."""
        by_vector: list[tuple[int, float]] = []
        if len(self.ids) and n > 0:
            scores = self.vectors @ vector.astype(np.float32, copy=False)
            top = min(n, len(scores))
            best = np.argpartition(-scores, top - 1)[:top]
            best = best[np.argsort(-scores[best], kind="stable")]
            by_vector = [(int(self.ids[i]), float(scores[i])) for i in best]
        return DocumentEvidence(
            vector=by_vector,
            lexical=self.lexical.search_tokens(tokens, n),
            document_of=self.document_of,
        )
