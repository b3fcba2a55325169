"""pgvector search for PostgreSQL: per-model partial HNSW indexes over
`knowledge_paraphrase.embedding_vec` answer the top-K query inside the database. A model's index
must exist before its first vectors are written (`ensure_model_index`). Why partial indexes and
a binary cursor: docs/faq-format.md, "Embedding model"."""

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import psycopg
from django.conf import settings
from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper
from pgvector.psycopg.vector import VectorBinaryDumper
from psycopg import sql

from knowledge.embeddings import get_embedder
from knowledge.matching import Neighbour

# `%b::vector(d)`: the binary vector travels without a type of its own (no per-connection type
# lookup); the cast tells the server what it is. `<#>` is the negative inner product, on the
# column cast exactly as the model's partial index casts it (else the index does not apply).
# A row of the model without a vector (its model and vector are written in one statement now;
# before migration 0004 they were two, and a crash between them left such rows) is dropped in
# Python, not by `embedding_vec IS NOT NULL`: the HNSW index never returns it and a scan sorts it
# last, while that condition would make the planner trust the null fraction it saw at the last
# ANALYZE (it then expects a handful of rows and scans the table instead of walking the graph).
# Whether each of the K is its FAQ's only phrasing: an FAQ twice among the K is not; for the
# others one probe of the FAQ id index, which stops at the first other phrasing (a count of every
# phrasing of each FAQ cost +6 ms at 100,000 paraphrases of 150 FAQs, bench/pg_lookup.py).
_SEARCH_SQL = """
    SELECT near.faq_id, near.text, near.distance, CASE
        WHEN count(*) OVER (PARTITION BY near.faq_id) > 1 THEN false
        ELSE NOT EXISTS (
            SELECT 1 FROM knowledge_paraphrase q
            WHERE q.faq_id = near.faq_id AND q.id <> near.id AND q.approved
                AND q.embedding_model = {model} AND q.embedding_vec IS NOT NULL
        )
    END AS lone
    FROM (
        SELECT p.id, p.faq_id, p.text,
            (p.embedding_vec::vector({dimension})) <#> %b::vector({dimension}) AS distance
        FROM knowledge_paraphrase p JOIN knowledge_faq f ON f.id = p.faq_id
        WHERE p.approved AND f.active AND f.locale = %s AND p.embedding_model = {model}
        ORDER BY distance
        LIMIT %s
    ) near
    ORDER BY near.distance
"""
_TABLES = ("knowledge_faq", "knowledge_paraphrase")
_INDEXED: set[str] = set()  # models whose index this process has made sure of


def model_index_name(identity: str) -> str:
    return "knowledge_paraphrase_hnsw_" + hashlib.sha256(identity.encode()).hexdigest()[:12]


def model_index_sql(*, identity: str, dimension: int) -> str:
    """CREATE INDEX for one model's vectors: HNSW over the column cast to its dimension, for
    its rows only."""
    return (
        sql.SQL(
            "CREATE INDEX IF NOT EXISTS {name} ON knowledge_paraphrase USING hnsw "
            "((embedding_vec::vector({dimension})) vector_ip_ops) WHERE embedding_model = {model}"
        )
        .format(
            name=sql.Identifier(model_index_name(identity)),
            dimension=sql.Literal(int(dimension)),
            model=sql.Literal(identity),
        )
        .as_string(None)
    )


def ensure_model_index(*, identity: str, dimension: int) -> None:
    """Creates the model's HNSW index unless it exists. Call before the first vectors of a
    model are written (building it over no rows is instant; CREATE INDEX blocks writes to the
    table while it runs) and outside a transaction that wrote to the table (PostgreSQL refuses
    to index a table with deferred checks pending)."""
    if identity in _INDEXED:
        return
    name = model_index_name(identity)
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        (exists,) = cursor.fetchone()
        if not exists:
            cursor.execute(model_index_sql(identity=identity, dimension=dimension))
    remember_index(_INDEXED, identity)


def remember_index(made: set[str], identity: str) -> None:
    """Records the model's index as made, unless a transaction around this could still roll
    its CREATE INDEX back: then the next call looks again. A rolled-back test transaction once
    left a process sure of an index its database did not have, and a later import's vectors
    went unindexed (a CI run)."""
    if not connection.in_atomic_block:
        made.add(identity)


@contextmanager
def vector_cursor() -> Iterator[CursorWrapper]:
    """A cursor on Django's connection that binds parameters on the server, numpy arrays going
    as binary vectors; Django still wraps it (query log, execute wrappers, error mapping)."""
    connection.ensure_connection()
    cursor = psycopg.Cursor(connection.connection)
    cursor.adapters.register_dumper(np.ndarray, VectorBinaryDumper)
    # What `connection.cursor()` does to the cursor it creates (there is no public hook).
    with connection._prepare_cursor(cursor) as wrapped:
        yield wrapped


class PgVectorIndex:
    """Searches a locale's paraphrases embedded by that locale's model, and only those."""

    def __init__(self) -> None:
        self._sql: dict[tuple[str, int], str] = {}

    def _search_sql(self, locale: str) -> str:
        embedder = get_embedder(locale)
        key = (embedder.identity, embedder.dimension)
        if key not in self._sql:
            self._sql[key] = (
                sql.SQL(_SEARCH_SQL)
                .format(dimension=sql.Literal(key[1]), model=sql.Literal(key[0]))
                .as_string(None)
            )
        return self._sql[key]

    def search(self, vector: np.ndarray, *, locale: str, k: int) -> list[Neighbour]:
        rows = self._fetch(self._search_sql(locale), [vector, locale, k])
        return [
            Neighbour(int(faq_id), -float(distance), text, bool(lone))
            for faq_id, text, distance, lone in rows
            if distance is not None
        ]

    def plan(self, vector: np.ndarray, *, locale: str, k: int) -> list[str]:
        """EXPLAIN of the search's query: whether PostgreSQL walks the HNSW graph or scans."""
        rows = self._fetch("EXPLAIN " + self._search_sql(locale), [vector, locale, k])
        return [line for (line,) in rows]

    def _fetch(self, query: str, params: Sequence[Any]) -> list[tuple]:
        with vector_cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall()


def store_vectors(*, rows: list[tuple[int, np.ndarray]], identity: str) -> None:
    """Writes (paraphrase id, vector) pairs: the bytes column, the pgvector column (bit for bit
    the same float32 vector) and the model, in one statement per row. Written apart, a row would
    for a moment carry one model's name with another model's vector, which that model's index
    cannot cast to its dimension (the UPDATE fails)."""
    with vector_cursor() as cursor:
        cursor.executemany(
            "UPDATE knowledge_paraphrase SET embedding = %b, embedding_vec = %b::vector, "
            "embedding_model = %s WHERE id = %s",
            [(vector.astype(np.float32).tobytes(), vector, identity, pk) for pk, vector in rows],
        )


def ensure_statistics(*, identity: str) -> None:
    """ANALYZEs the FAQ and paraphrase tables when either has no statistics yet (a fresh
    database, or one just truncated), or when they do not know the embedding model `identity`
    yet (its first vectors were just written). Without them the planner takes the locale for a
    rare one, or the model's rows for a handful, and searches by scanning the paraphrases
    instead of the model's HNSW index, until autovacuum gets to the tables. Once gathered, the
    planner scales them to the table's current size and autovacuum refreshes them. ANALYZE
    costs ~1 ms at 1k paraphrases, ~0.2 s at 100k; the check is one catalog lookup."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT bool_or(reltuples <= 0) OR NOT EXISTS ("
            "  SELECT FROM pg_stats WHERE tablename = 'knowledge_paraphrase'"
            "  AND attname = 'embedding_model' AND %s = ANY(most_common_vals::text::text[]))"
            " FROM pg_class WHERE oid = ANY(%s::regclass[])",
            [identity, list(_TABLES)],
        )
        (missing,) = cursor.fetchone()
        if missing:
            statistics_refresh()


def statistics_refresh() -> None:
    """ANALYZE of the FAQ and paraphrase tables: after a re-embedding moved every row to
    another model, the statistics still describe the old one until autovacuum comes by."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE " + ", ".join(_TABLES))


def configure_connection(
    sender: type[BaseDatabaseWrapper], connection: BaseDatabaseWrapper, **kwargs: Any
) -> None:
    """`connection_created` receiver: sets `hnsw.ef_search` for the connection's lifetime, so a
    search needs no SET of its own. It runs in autocommit right after connecting, so no later
    rollback undoes it; before pgvector is loaded in the session the value waits as a
    placeholder that pgvector picks up when it loads."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('hnsw.ef_search', %s, false)",
                [str(settings.PGVECTOR_EF_SEARCH)],
            )
