"""pgvector search for PostgreSQL: the HNSW index over `knowledge_paraphrase.embedding_vec`
(added by migration 0002) answers the top-K query inside the database."""

import numpy as np
from django.db import connection

from knowledge.index import Neighbour

# HNSW filters after the graph walk; a wider search keeps K results after the locale filter.
EF_SEARCH = 100

_SEARCH_SQL = """
    SELECT p.faq_id, p.text, -(p.embedding_vec <#> %s::vector) AS score
    FROM knowledge_paraphrase p JOIN knowledge_faq f ON f.id = p.faq_id
    WHERE p.approved AND f.active AND f.locale = %s AND p.embedding_vec IS NOT NULL
    ORDER BY p.embedding_vec <#> %s::vector
    LIMIT %s
"""


def vector_literal(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in vector.astype(np.float32)) + "]"


class PgVectorIndex:
    def search(self, vector: np.ndarray, *, locale: str, k: int) -> list[Neighbour]:
        literal = vector_literal(vector)
        with connection.cursor() as cursor:
            cursor.execute(f"SET hnsw.ef_search = {EF_SEARCH}")
            cursor.execute(_SEARCH_SQL, [literal, locale, literal, k])
            return [
                Neighbour(int(faq_id), float(score), text)
                for faq_id, text, score in cursor.fetchall()
            ]


def store_vectors(rows: list[tuple[int, np.ndarray]]) -> None:
    """Writes (paraphrase id, vector) pairs to the pgvector column."""
    with connection.cursor() as cursor:
        cursor.executemany(
            "UPDATE knowledge_paraphrase SET embedding_vec = %s::vector WHERE id = %s",
            [(vector_literal(vector), pk) for pk, vector in rows],
        )
