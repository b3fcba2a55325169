"""pgvector search for PostgreSQL: the HNSW index over `knowledge_paraphrase.embedding_vec`
(added by migration 0002) answers the top-K query inside the database.

A search is one round trip with the query vector sent once, in pgvector's binary format: Django's
cursors bind parameters client-side, which spells the 384 floats out as SQL text (~0.2 ms of
Python per query), so vectors go through a server-side-binding cursor of their own. The graph
walk's width, `hnsw.ef_search`, is set once per connection when Django opens it."""

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

from knowledge.index import Neighbour

# `%b::vector`: the binary vector travels without a type of its own (no per-connection type
# lookup); the cast tells the server what it is. `<#>` is the negative inner product. Rows not
# embedded yet are dropped in Python, not by `embedding_vec IS NOT NULL`: the HNSW index never
# returns them and a scan sorts them last, while that condition would make the planner trust the
# null fraction it saw at the last ANALYZE, often taken before the vectors were written (it then
# expects a handful of rows and scans the table instead of walking the graph).
_SEARCH_SQL = """
    SELECT p.faq_id, p.text, p.embedding_vec <#> %b::vector AS distance
    FROM knowledge_paraphrase p JOIN knowledge_faq f ON f.id = p.faq_id
    WHERE p.approved AND f.active AND f.locale = %s
    ORDER BY distance
    LIMIT %s
"""
_TABLES = ("knowledge_faq", "knowledge_paraphrase")


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
    def search(self, vector: np.ndarray, *, locale: str, k: int) -> list[Neighbour]:
        rows = self._fetch(_SEARCH_SQL, [vector, locale, k])
        return [
            Neighbour(int(faq_id), -float(distance), text)
            for faq_id, text, distance in rows
            if distance is not None
        ]

    def plan(self, vector: np.ndarray, *, locale: str, k: int) -> list[str]:
        """EXPLAIN of the search's query: whether PostgreSQL walks the HNSW graph or scans."""
        return [line for (line,) in self._fetch("EXPLAIN " + _SEARCH_SQL, [vector, locale, k])]

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        with vector_cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()


def store_vectors(rows: list[tuple[int, np.ndarray]]) -> None:
    """Writes (paraphrase id, vector) pairs to the pgvector column, bit for bit the float32
    vectors of the bytes column."""
    with vector_cursor() as cursor:
        cursor.executemany(
            "UPDATE knowledge_paraphrase SET embedding_vec = %b::vector WHERE id = %s",
            [(vector, pk) for pk, vector in rows],
        )


def ensure_statistics() -> None:
    """ANALYZEs the FAQ and paraphrase tables when either has no statistics yet (a fresh
    database, or one just truncated). Without them the planner takes
    the locale for a rare one, expects a single FAQ and searches by scanning its paraphrases
    instead of the HNSW index, until autovacuum gets to the tables. Once gathered, the planner
    scales them to the table's current size and autovacuum refreshes them. ANALYZE costs ~1 ms
    at 1k paraphrases, ~0.2 s at 100k; the check is one catalog lookup."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT bool_or(reltuples <= 0) FROM pg_class WHERE oid = ANY(%s::regclass[])",
            [list(_TABLES)],
        )
        (missing,) = cursor.fetchone()
        if missing:
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
