"""Where hybrid retrieval finds its candidates: the chunks nearest to a question's vector and the
chunks that share its words, each side best first, and the pages that match it as a whole (the
document index), for `knowledge.selectors.passages_retrieve` to fuse; in process
(`InMemoryChunkIndex`, SQLite), or with the chunk vectors in PostgreSQL and the words and pages
in this process (`PgChunkIndex`). Only chunks of the locale's current embedding model are
searched; docs/retrieval.md, "The path"."""

import hashlib
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np
from django.db import connection
from psycopg import sql

from knowledge.documents.document_index import DocumentIndex
from knowledge.documents.lexical import LexicalIndex
from knowledge.documents.ranking import DocumentEvidence
from knowledge.embeddings import get_embedder
from knowledge.models import Chunk, Document, Visibility
from knowledge.pgvector_index import remember_index, vector_cursor
from knowledge.process_copy import FETCH_ROWS, VersionedCopy, pausing, stored_vectors

T = TypeVar("T")
Row = TypeVar("Row", bound=tuple)


@dataclass(frozen=True)
class Candidates:
    vector: list[tuple[int, float]]  # (chunk id, cosine), best first
    lexical: list[tuple[int, float]]  # (chunk id, BM25 score), best first
    tokens_of: Callable[[int], Collection[str]]  # a candidate's search tokens
    documents: DocumentEvidence | None = None  # the pages, when asked for
    # Ranked by a copy older than the knowledge version (a newer one loads behind): read before
    # the search, so a copy swapped in just after it cannot hide that this search used the old.
    stale: bool = False


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
        documents: int = 0,
    ) -> Candidates:
        """`n` chunks per side, and with `documents` above 0 that many pages per side."""
        ...

    def refresh(self) -> None:
        """Builds this process's copies now unless they are current (the warm-up calls it)."""
        ...

    @property
    def stale(self) -> bool:
        """The copies rank by content older than the knowledge version (a newer one is loading
        in the background; knowledge.process_copy)."""
        ...


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


def stored_chunks(
    chunk_ids: Sequence[int], *, include_agents_only: bool = False
) -> dict[int, ChunkInfo]:
    """What citing these chunks needs, from the database (no per-process copy holds it): a
    chunk deleted or replaced since a copy loaded, or whose document was made agents-only, is
    left out rather than cited (a content walk saw a copy still loading quote an article to
    visitors for two seconds after it was made agents-only); so is a crawled page gone from its
    site (its link is dead)."""
    chunks = Chunk.objects.filter(pk__in=chunk_ids).exclude(document__status=Document.Status.GONE)
    if not include_agents_only:
        chunks = chunks.filter(document__visibility=Visibility.PUBLIC)
    return {row[0]: _info(row) for row in chunks.values_list(*_INFO_FIELDS)}


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


# What each in-process copy reads of a chunk: (id, visibility, document id, search tokens,
# embedding bytes).
_ROW_FIELDS = ("id", "document__visibility", "document_id", "search_tokens", "embedding")
_Row = tuple[int, str, int, str, bytes]


@dataclass
class _Corpus:
    ids: np.ndarray  # (n,) int64
    vectors: np.ndarray  # (n, d) float32, unit rows
    lexical: LexicalIndex
    documents: DocumentIndex


def _vectors(rows: list[_Row]) -> np.ndarray:
    return stored_vectors([r[4] for r in rows])


def _documents(rows: list[_Row], vectors: np.ndarray) -> DocumentIndex:
    return DocumentIndex(
        chunk_ids=[r[0] for r in rows],
        document_ids=[r[2] for r in rows],
        tokens=[r[3] for r in rows],
        vectors=vectors,
    )


def _corpus(rows: list[_Row]) -> _Corpus:
    ids = [r[0] for r in rows]
    vectors = _vectors(rows)
    return _Corpus(
        ids=np.array(ids, dtype=np.int64),
        vectors=vectors,
        lexical=LexicalIndex.from_search_tokens(ids, [r[3] for r in rows]),
        documents=_documents(rows, vectors),
    )


def _searchable(fields: Sequence[str]) -> Iterator[tuple[str, tuple]]:
    """(locale, the chunk's `fields`) for every chunk embedded by its locale's current model:
    rows another model embedded wait for `manage.py reembed`."""
    models: dict[str, str] = {}
    chunks = Chunk.objects.filter(embedding__isnull=False).values_list(
        *fields, "document__locale", "embedding_model"
    )
    for *values, locale, model in pausing(chunks.iterator(chunk_size=FETCH_ROWS)):
        if locale not in models:
            models[locale] = get_embedder(locale).identity
        if model == models[locale]:
            yield locale, tuple(values)


def _rows_by_locale() -> dict[str, list[_Row]]:
    rows: dict[str, list[_Row]] = {}
    for locale, (pk, visibility, document, tokens, embedding) in _searchable(_ROW_FIELDS):
        rows.setdefault(locale, []).append((pk, visibility, document, tokens, bytes(embedding)))
    return rows


def _by_audience(
    rows: dict[str, list[Row]], build: Callable[[list[Row]], T]
) -> dict[tuple[str, bool], T]:
    """One search structure per (locale, agents too) from each locale's rows, (chunk id,
    visibility, ...) each."""
    built: dict[tuple[str, bool], T] = {}
    for locale, items in rows.items():
        public = [r for r in items if r[1] == Visibility.PUBLIC]
        if public:
            built[(locale, False)] = build(public)
        # Most help centres have no agents-only documents: then agents search the same copy.
        if len(public) == len(items) and (locale, False) in built:
            built[(locale, True)] = built[(locale, False)]
        else:
            built[(locale, True)] = build(items)
    return built


class InMemoryChunkIndex(VersionedCopy):
    """The chunks' vectors and words in this process; their text and citations stay in the
    database and are read for the few chunks a question ranks (`stored_chunks`), so a copy is
    small to build, hold and free."""

    loads_behind = True

    def __init__(self) -> None:
        super().__init__()
        self._corpora: dict[tuple[str, bool], _Corpus] = {}

    def _load(self) -> None:
        self._corpora = _by_audience(_rows_by_locale(), _corpus)

    def candidates(
        self,
        *,
        vector: np.ndarray,
        tokens: Sequence[str],
        locale: str,
        include_agents_only: bool,
        n: int,
        documents: int = 0,
    ) -> Candidates:
        self.refresh()
        stale = self.stale
        corpus = self._corpora.get((locale, include_agents_only))
        if corpus is None:
            return Candidates(vector=[], lexical=[], tokens_of=lambda chunk_id: (), stale=stale)
        scores = corpus.vectors @ vector.astype(np.float32)
        top = min(n, len(scores))
        best = np.argpartition(-scores, top - 1)[:top]
        best = best[np.argsort(-scores[best])]
        return Candidates(
            vector=[(int(corpus.ids[i]), float(scores[i])) for i in best],
            lexical=corpus.lexical.search_tokens(tokens, n),
            tokens_of=corpus.lexical.tokens_of,
            documents=(
                corpus.documents.search(vector=vector, tokens=tokens, n=documents)
                if documents > 0
                else None
            ),
            stale=stale,
        )


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


@dataclass
class _Words:
    lexical: LexicalIndex
    documents: DocumentIndex


def _words(rows: list[_Row]) -> _Words:
    return _Words(
        lexical=LexicalIndex.from_search_tokens([r[0] for r in rows], [r[3] for r in rows]),
        documents=_documents(rows, _vectors(rows)),
    )


class _ChunkWords(VersionedCopy):
    """Every searchable chunk's words in a BM25 index of this process, per locale and audience,
    and its pages' document index, following the knowledge version, as the in-process index
    holds them: BM25 weighs a word by how rare it is, which PostgreSQL's ts_rank does not, and it
    scores only the postings of the question's words where ts_rank scored every chunk holding a
    common one (docs/retrieval.md, "PostgreSQL"). The pages' vectors are the means of their
    chunks' stored vectors, computed here when the copy is built (no column of their own)."""

    loads_behind = True

    def __init__(self) -> None:
        super().__init__()
        self.by_audience: dict[tuple[str, bool], _Words] = {}

    def _load(self) -> None:
        self.by_audience = _by_audience(_rows_by_locale(), _words)


class PgChunkIndex:
    def __init__(self) -> None:
        self._sql: dict[tuple[str, int], str] = {}
        self._words = _ChunkWords()

    def _vector_query(self, locale: str) -> str:
        embedder = get_embedder(locale)
        key = (embedder.identity, embedder.dimension)
        if key not in self._sql:
            params = {"dimension": sql.Literal(key[1]), "model": sql.Literal(key[0])}
            self._sql[key] = sql.SQL(_VECTOR_SQL).format(**params).as_string(None)
        return self._sql[key]

    def candidates(
        self,
        *,
        vector: np.ndarray,
        tokens: Sequence[str],
        locale: str,
        include_agents_only: bool,
        n: int,
        documents: int = 0,
    ) -> Candidates:
        self._words.refresh()
        stale = self._words.stale
        words = self._words.by_audience.get((locale, include_agents_only))
        by_words = words.lexical.search_tokens(tokens, n) if words is not None else []
        stored: dict[int, frozenset[str]] = {}
        by_vector: list[tuple[int, float]] = []
        with vector_cursor() as cursor:
            cursor.execute(
                self._vector_query(locale), [vector, locale, _audiences(include_agents_only), n]
            )
            for pk, chunk_tokens, distance in cursor.fetchall():
                if distance is not None:
                    by_vector.append((pk, -float(distance)))
                    stored[pk] = frozenset(chunk_tokens.split())

        def tokens_of(chunk_id: int) -> Collection[str]:
            if chunk_id in stored or words is None:
                return stored.get(chunk_id, ())
            return words.lexical.tokens_of(chunk_id)

        pages = None
        if documents > 0 and words is not None:
            pages = words.documents.search(vector=vector, tokens=tokens, n=documents)
        return Candidates(
            vector=by_vector, lexical=by_words, tokens_of=tokens_of, documents=pages, stale=stale
        )

    def refresh(self) -> None:
        self._words.refresh()

    @property
    def stale(self) -> bool:
        return self._words.stale


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
    remember_index(_INDEXED, identity)


def store_chunk_vectors(*, rows: Iterable[tuple[int, np.ndarray]]) -> None:
    """Copies (chunk id, vector) pairs into the pgvector column; the bytes column and the model
    were written with the rows, in the same transaction."""
    with vector_cursor() as cursor:
        cursor.executemany(
            "UPDATE knowledge_chunk SET embedding_vec = %b::vector WHERE id = %s",
            [(vector, pk) for pk, vector in rows],
        )
