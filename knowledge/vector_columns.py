"""The PostgreSQL vector columns filled from the stored vectors, where they are empty.

Search on PostgreSQL reads `embedding_vec` (pgvector); every row also keeps its vector as bytes
in `embedding`, which is what Django's `dumpdata` writes and `loaddata` reads back: a store
moved from the embedded default (SQLite) to PostgreSQL that way had every vector in its bytes
and none in its pgvector columns, and its help centre found nothing (a move walk). Copying the
bytes needs no model: they are the same float32 vector."""

from dataclasses import dataclass

import numpy as np
from django.db import connection
from psycopg import sql

from knowledge.documents.indexing import ensure_chunk_model_index
from knowledge.pgvector_index import ensure_model_index, vector_cursor

FILL_BATCH = 1000


@dataclass(frozen=True)
class Filled:
    paraphrases: int
    chunks: int


def vectors_fill_missing(*, batch_size: int = FILL_BATCH) -> Filled:
    """Copies each row's vector bytes into its empty pgvector column, batch by batch, after
    creating each model's HNSW index (before the first vectors, as the writers do). Nothing to
    do on SQLite, or when every column is filled."""
    if connection.vendor != "postgresql":
        return Filled(paraphrases=0, chunks=0)
    counts = {}
    for table, ensure in (
        ("knowledge_paraphrase", ensure_model_index),
        ("knowledge_chunk", ensure_chunk_model_index),
    ):
        for identity, dimension in _models_missing(table):
            ensure(identity=identity, dimension=dimension)
        counts[table] = _fill(table, batch_size)
    return Filled(paraphrases=counts["knowledge_paraphrase"], chunks=counts["knowledge_chunk"])


_MISSING = sql.SQL("embedding_vec IS NULL AND length(embedding) > 0")


def _models_missing(table: str) -> list[tuple[str, int]]:
    """(model, dimension) of the rows whose column is empty: bytes / 4 floats."""
    query = sql.SQL(
        "SELECT DISTINCT embedding_model, length(embedding) / 4 FROM {table} WHERE {missing}"
    ).format(table=sql.Identifier(table), missing=_MISSING)
    with connection.cursor() as cursor:
        cursor.execute(query.as_string(None))
        return [(model, int(dimension)) for model, dimension in cursor.fetchall() if model]


def _fill(table: str, batch_size: int) -> int:
    select = sql.SQL(
        "SELECT id, embedding FROM {table} WHERE {missing} ORDER BY id LIMIT %s"
    ).format(table=sql.Identifier(table), missing=_MISSING)
    update = sql.SQL("UPDATE {table} SET embedding_vec = %b::vector WHERE id = %s").format(
        table=sql.Identifier(table)
    )
    filled = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(select.as_string(None), [batch_size])
            rows = cursor.fetchall()
        if not rows:
            return filled
        with vector_cursor() as cursor:
            cursor.executemany(
                update.as_string(None),
                [(np.frombuffer(bytes(raw), dtype=np.float32), pk) for pk, raw in rows],
            )
        filled += len(rows)
