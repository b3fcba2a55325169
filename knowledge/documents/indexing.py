"""Where hybrid retrieval finds its candidates: the chunks nearest to a question's vector and the
chunks that share its words, each side best first, for `knowledge.selectors.passages_retrieve`
to fuse; in process (`InMemoryChunkIndex`, SQLite) or in PostgreSQL (`PgChunkIndex`). Only
chunks of the locale's current embedding model are searched; docs/retrieval.md, "The path"."""

import hashlib
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Protocol

import numpy as np
from django.db import connection
from psycopg import sql

from knowledge.documents.lexical import LexicalIndex, spelled
from knowledge.embeddings import get_embedder
from knowledge.models import Chunk, Visibility
from knowledge.pgvector_index import vector_cursor
from knowledge.process_copy import VersionedCopy


@dataclass(frozen=True)
class Candidates:
    vector: list[tuple[int, float]]  # (chunk id, cosine), best first
    lexical: list[tuple[int, float]]  # (chunk id, BM25 or ts_rank), best first
    tokens_of: Callable[[int], Collection[str]]  # a candidate's search tokens


@dataclass(frozen=True)
class ChunkInfo:
    """What a citation needs of a chunk and its document."""

    chunk_id: int
    document_id: int
    document_version: int
    title: str
    source_url: str  # blank for a file's document: `document_url` gives its help page
    heading_path: tuple[str, ...]
    text: str


class ChunkIndex(Protocol):
    def candidates(
        self,
        *,
        vector: np.ndarray,
        tokens: Sequence[str],
        locale: str,
        include_agents_only: bool,
        n: int,
    ) -> Candidates: ...

    def chunks(self, chunk_ids: Sequence[int]) -> dict[int, ChunkInfo]: ...


def _audiences(include_agents_only: bool) -> list[str]:
    if include_agents_only:
        return [Visibility.PUBLIC, Visibility.AGENTS]
    return [Visibility.PUBLIC]


_INFO_FIELDS = (
    "id",
    "document_id",
    "document__version",
    "document__title",
    "document__source_url",
    "heading_path",
    "text",
)


def _info(row: tuple) -> ChunkInfo:
    chunk_id, document_id, version, title, source_url, heading_path, text = row
    return ChunkInfo(
        chunk_id=chunk_id,
        document_id=document_id,
        document_version=version,
        title=title,
        source_url=source_url,
        heading_path=tuple(heading_path),
        text=text,
    )


@dataclass
class _Corpus:
    ids: np.ndarray  # (n,) int64
    vectors: np.ndarray  # (n, d) float32, unit rows
    lexical: LexicalIndex


def _corpus(rows: list[tuple[int, str, str, bytes]]) -> _Corpus:
    """From (chunk id, visibility, search tokens, embedding bytes) rows."""
    ids = [r[0] for r in rows]
    return _Corpus(
        ids=np.array(ids, dtype=np.int64),
        vectors=np.stack([np.frombuffer(r[3], dtype=np.float32) for r in rows]),
        lexical=LexicalIndex.from_search_tokens(ids, [r[2] for r in rows]),
    )


class InMemoryChunkIndex(VersionedCopy):
    def __init__(self) -> None:
        super().__init__()
        self._corpora: dict[tuple[str, bool], _Corpus] = {}
        self._info: dict[int, ChunkInfo] = {}

    def _load(self) -> None:
        models: dict[str, str] = {}
        rows: dict[str, list[tuple[int, str, str, bytes]]] = {}
        info: dict[int, ChunkInfo] = {}
        chunks = Chunk.objects.filter(embedding__isnull=False).values_list(
            *_INFO_FIELDS,
            "document__locale",
            "document__visibility",
            "search_tokens",
            "embedding",
            "embedding_model",
        )
        for *fields, locale, visibility, tokens, embedding, model in chunks.iterator():
            if locale not in models:
                models[locale] = get_embedder(locale).identity
            if model != models[locale]:
                continue
            info[fields[0]] = _info(tuple(fields))
            rows.setdefault(locale, []).append((fields[0], visibility, tokens, bytes(embedding)))
        corpora = {}
        for locale, items in rows.items():
            public = [r for r in items if r[1] == Visibility.PUBLIC]
            if public:
                corpora[(locale, False)] = _corpus(public)
            # Most help centres have no agents-only documents: then agents search the same copy.
            everyone = len(public) == len(items) and corpora.get((locale, False))
            corpora[(locale, True)] = everyone or _corpus(items)
        # Swapped together, so a search never finds a chunk whose citation data is missing.
        self._corpora, self._info = corpora, info

    def candidates(
        self,
        *,
        vector: np.ndarray,
        tokens: Sequence[str],
        locale: str,
        include_agents_only: bool,
        n: int,
    ) -> Candidates:
        self.refresh()
        corpus = self._corpora.get((locale, include_agents_only))
        if corpus is None:
            return Candidates(vector=[], lexical=[], tokens_of=lambda chunk_id: ())
        scores = corpus.vectors @ vector.astype(np.float32)
        top = min(n, len(scores))
        best = np.argpartition(-scores, top - 1)[:top]
        best = best[np.argsort(-scores[best])]
        return Candidates(
            vector=[(int(corpus.ids[i]), float(scores[i])) for i in best],
            lexical=corpus.lexical.search_tokens(tokens, n),
            tokens_of=corpus.lexical.tokens_of,
        )

    def chunks(self, chunk_ids: Sequence[int]) -> dict[int, ChunkInfo]:
        return {i: self._info[i] for i in chunk_ids if i in self._info}


# Vectors as in knowledge.pgvector_index: the model named in the SQL text (so the planner can use
# its partial index), the column cast exactly as that index casts it, `<#>` the negative inner
# product. Locale and visibility filter the graph walk's candidates (hnsw.ef_search of them).
_VECTOR_SQL = """
    SELECT c.id, c.search_tokens,
        (c.embedding_vec::vector({dimension})) <#> %b::vector({dimension}) AS distance
    FROM knowledge_chunk c JOIN knowledge_document d ON d.id = c.document_id
    WHERE c.embedding_model = {model} AND d.locale = %s AND d.visibility = ANY(%s)
    ORDER BY distance
    LIMIT %s
"""
# Words: any of the question's search tokens (websearch syntax, `or` between them), ranked by
# ts_rank; plainto_tsquery would demand every word of the question in one chunk.
_LEXICAL_SQL = """
    SELECT c.id, c.search_tokens, ts_rank(c.search_vector, q.query) AS rank
    FROM knowledge_chunk c JOIN knowledge_document d ON d.id = c.document_id,
        websearch_to_tsquery('simple', %s) AS q(query)
    WHERE c.search_vector @@ q.query
        AND c.embedding_model = {model} AND d.locale = %s AND d.visibility = ANY(%s)
    ORDER BY rank DESC
    LIMIT %s
"""


def _words(tokens: Sequence[str]) -> list[str]:
    """Distinct tokens, quoted for websearch_to_tsquery, so a token is never an operator."""
    return [f'"{word}"' for word in dict.fromkeys(t.replace('"', "") for t in tokens) if word]


def _or_query(tokens: Sequence[str]) -> str:
    """websearch_to_tsquery input matching any token."""
    return " or ".join(_words(tokens))


def _pairs_query(tokens: Sequence[str]) -> str:
    """websearch_to_tsquery input matching any two of the tokens ("a" "b" is a AND b): the
    chunks ts_rank has to score before the best are kept, far fewer than those sharing one
    common word (docs/retrieval.md, "Latency"); empty for fewer than two tokens."""
    return " or ".join(f"{a} {b}" for a, b in combinations(_words(tokens), 2))


class _Vocabulary(VersionedCopy):
    """Every word of the full-text column and how many chunks hold it (PostgreSQL's `ts_stat`),
    copied per process and following the knowledge version: what `spelled` corrects a
    misspelt question word against, as the in-process index does with its own counts."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks_holding: dict[str, int] = {}

    def _load(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT word, ndoc FROM ts_stat("
                "'SELECT search_vector FROM knowledge_chunk WHERE embedding IS NOT NULL')"
            )
            self.chunks_holding = dict(cursor.fetchall())


class PgChunkIndex:
    def __init__(self) -> None:
        self._sql: dict[tuple[str, int], tuple[str, str]] = {}
        self._vocabulary = _Vocabulary()

    def _queries(self, locale: str) -> tuple[str, str]:
        embedder = get_embedder(locale)
        key = (embedder.identity, embedder.dimension)
        if key not in self._sql:
            params = {"dimension": sql.Literal(key[1]), "model": sql.Literal(key[0])}
            self._sql[key] = (
                sql.SQL(_VECTOR_SQL).format(**params).as_string(None),
                sql.SQL(_LEXICAL_SQL).format(**params).as_string(None),
            )
        return self._sql[key]

    def candidates(
        self,
        *,
        vector: np.ndarray,
        tokens: Sequence[str],
        locale: str,
        include_agents_only: bool,
        n: int,
    ) -> Candidates:
        vector_sql, lexical_sql = self._queries(locale)
        audiences = _audiences(include_agents_only)
        self._vocabulary.refresh()
        words = [spelled(token, self._vocabulary.chunks_holding) for token in tokens]
        stored: dict[int, frozenset[str]] = {}
        by_vector: list[tuple[int, float]] = []
        by_words: list[tuple[int, float]] = []
        with vector_cursor() as cursor:
            cursor.execute(vector_sql, [vector, locale, audiences, n])
            for pk, chunk_tokens, distance in cursor.fetchall():
                if distance is not None:
                    by_vector.append((pk, -float(distance)))
                    stored[pk] = frozenset(chunk_tokens.split())
            # A chunk sharing only one word with the question is a candidate only when fewer
            # than n share two: ts_rank orders those below, and scoring every chunk holding a
            # common word was most of the search's time.
            rows: list[tuple[int, str, float]] = []
            for query in (_pairs_query(words), _or_query(words)):
                if query and len(rows) < n:
                    cursor.execute(lexical_sql, [query, locale, audiences, n])
                    rows = cursor.fetchall()
            for pk, chunk_tokens, rank in rows:
                by_words.append((pk, float(rank)))
                stored[pk] = frozenset(chunk_tokens.split())
        return Candidates(
            vector=by_vector,
            lexical=by_words,
            tokens_of=lambda chunk_id: stored.get(chunk_id, frozenset()),
        )

    def chunks(self, chunk_ids: Sequence[int]) -> dict[int, ChunkInfo]:
        rows = Chunk.objects.filter(pk__in=chunk_ids).values_list(*_INFO_FIELDS)
        return {row[0]: _info(row) for row in rows}


_index: ChunkIndex | None = None


def get_chunk_index() -> ChunkIndex:
    """PostgreSQL's own indexes there, the in-process copy elsewhere."""
    global _index
    if _index is None:
        _index = PgChunkIndex() if connection.vendor == "postgresql" else InMemoryChunkIndex()
    return _index


def reset_chunk_index() -> None:
    """Forget this process's copy; tests call it when the database is flushed under it."""
    global _index
    _index = None


# --- Storing vectors on PostgreSQL ----------------------------------------------------------

_INDEXED: set[str] = set()  # models whose chunk index this process has made sure of


def chunk_model_index_name(identity: str) -> str:
    return "knowledge_chunk_hnsw_" + hashlib.sha256(identity.encode()).hexdigest()[:12]


def ensure_chunk_model_index(*, identity: str, dimension: int) -> None:
    """Creates the model's partial HNSW index over chunk vectors unless it exists; call outside
    a transaction that wrote to the table (`knowledge.pgvector_index.ensure_model_index` says
    why)."""
    if identity in _INDEXED:
        return
    name = chunk_model_index_name(identity)
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        (exists,) = cursor.fetchone()
        if not exists:
            cursor.execute(
                sql.SQL(
                    "CREATE INDEX IF NOT EXISTS {name} ON knowledge_chunk USING hnsw "
                    "((embedding_vec::vector({dimension})) vector_ip_ops) "
                    "WHERE embedding_model = {model}"
                )
                .format(
                    name=sql.Identifier(name),
                    dimension=sql.Literal(int(dimension)),
                    model=sql.Literal(identity),
                )
                .as_string(None)
            )
    _INDEXED.add(identity)


def store_chunk_vectors(*, rows: Iterable[tuple[int, np.ndarray]]) -> None:
    """Copies (chunk id, vector) pairs into the pgvector column; the bytes column and the model
    were written with the rows, in the same transaction."""
    with vector_cursor() as cursor:
        cursor.executemany(
            "UPDATE knowledge_chunk SET embedding_vec = %b::vector WHERE id = %s",
            [(vector, pk) for pk, vector in rows],
        )
