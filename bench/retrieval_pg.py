"""One help-centre retrieval on PostgreSQL 16 + pgvector at 10,000 chunks, for the retrieval
section (bench/retrieval.py runs it in a process of its own: Django is set up once per process).

Starts a throwaway PostgreSQL from the `pgserver` package (as bench/pg_lookup.py does), migrates
it, loads the chunks the parent wrote (search texts, their vectors and pages, by binary COPY into
the app's tables: `search_tokens` by the app's tokenizer, a document per page),
builds the app's HNSW index for the model, ANALYZEs, then per question: embeds it live (the
uncached model), runs `knowledge.selectors.passages_retrieve` (the app's path: pgvector top-50
over the HNSW index + BM25 top-50 and the document index's pages in process + fusion + the floor
+ the cited chunks' rows), the same with `KNOWLEDGE_DOCUMENT_WEIGHT=0` (the chunks alone), and, as
the baseline, the pgvector query alone for the top 5.

    python -m bench.retrieval_pg --chunks FILE.npz --questions FILE.json --out FILE.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.pg_lookup import log, start_postgres
from bench.retrieval import LATENCY_PARTS, in_turn, latency_figures, timed
from bench.run import django_setup, embedded_queries


def load_chunks(
    conninfo: str, texts: list[str], vectors: np.ndarray, pages: list[str], model: str
) -> float:
    """A document per distinct page, then the chunks (each of its page) by binary COPY, the
    HNSW index and ANALYZE; returns the seconds it took."""
    import psycopg
    from pgvector.psycopg import register_vector

    from knowledge.documents.indexing import ensure_chunk_model_index
    from knowledge.documents.lexical import DEFAULT_TOKENIZER, search_tokens
    from knowledge.models import Document

    t0 = time.perf_counter()
    names = list(dict.fromkeys(pages))
    created = Document.objects.bulk_create(
        Document(
            title=name,
            source_key=f"bench/{n}",
            locale="en",
            content_hash="",
            status=Document.Status.INDEXED,
        )
        for n, name in enumerate(names)
    )
    documents = dict(zip(names, created, strict=True))
    positions: dict[str, int] = {}
    columns = (
        "document_id, position, heading_path, text, search_tokens, tokenizer_version, "
        "token_count, embedding, embedding_model, embedding_vec"
    )
    with psycopg.connect(conninfo, autocommit=True) as conn:
        register_vector(conn)
        copy_sql = f"COPY knowledge_chunk ({columns}) FROM STDIN (FORMAT BINARY)"
        with conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
            copy.set_types(
                ["int8", "int4", "jsonb", "text", "text", "text", "int4", "bytea", "text", "vector"]
            )
            for text, vector, page in zip(texts, vectors, pages, strict=True):
                position = positions[page] = positions.get(page, -1) + 1
                copy.write_row([
                    documents[page].pk, position, "[]", text, search_tokens(text),
                    DEFAULT_TOKENIZER.version, len(text.split()), vector.tobytes(), model, vector,
                ])  # fmt: skip
    ensure_chunk_model_index(identity=model, dimension=vectors.shape[1])
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("ANALYZE")
    return time.perf_counter() - t0


def measure(questions: list[str], warmup: int) -> dict[str, Any]:
    """p50/p99 of the app's retrieval, of the same without the document index and of the vector
    query alone, embedding in and out."""
    from django.conf import settings

    from knowledge.documents.indexing import get_chunk_index
    from knowledge.embeddings import MiniLMEmbedder
    from knowledge.models import Visibility
    from knowledge.pgvector_index import vector_cursor
    from knowledge.selectors import passages_retrieve

    vector_sql = get_chunk_index()._vector_query("en")  # the app's own statement
    embed = MiniLMEmbedder().embed  # uncached: a visitor's new question
    seconds: dict[str, list[float]] = {"embed": [], "hybrid": [], "hybrid_chunks": [], "vector": []}
    relevant = 0
    found: list[bool] = []

    def app(q: int, vector: np.ndarray) -> None:
        found.append(passages_retrieve(text=questions[q], locale="en", k=5, vector=vector).relevant)

    def chunks_alone(q: int, vector: np.ndarray) -> None:
        # Set directly, not by override_settings, whose signal would be timed with the search.
        weight, settings.KNOWLEDGE_DOCUMENT_WEIGHT = settings.KNOWLEDGE_DOCUMENT_WEIGHT, 0.0
        try:
            passages_retrieve(text=questions[q], locale="en", k=5, vector=vector)
        finally:
            settings.KNOWLEDGE_DOCUMENT_WEIGHT = weight

    def vector_only(q: int, vector: np.ndarray) -> None:
        with vector_cursor() as cursor:
            cursor.execute(vector_sql, [vector, "en", [Visibility.PUBLIC], 5])
            cursor.fetchall()

    searches = {"hybrid": app, "hybrid_chunks": chunks_alone, "vector": vector_only}
    for number, (warm, q, vector, embedded) in enumerate(
        embedded_queries(questions, warmup, embed)
    ):
        took = {part: timed(searches[part], q, vector) for part in in_turn(LATENCY_PARTS, number)}
        if not warm:
            seconds["embed"].append(embedded)
            for part, elapsed in took.items():
                seconds[part].append(elapsed)
            relevant += found[-1]
    return {"queries": len(seconds["hybrid"]), "relevant": relevant} | latency_figures(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=Path, required=True, help=".npz of texts and vectors")
    parser.add_argument("--questions", type=Path, required=True, help="JSON list of questions")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()

    server, url = start_postgres()  # stays referenced until the process ends
    django_setup(url)
    from django.core.management import call_command
    from django.db import connection

    from knowledge.embeddings import minilm_identity

    logging.getLogger("celery").setLevel(logging.WARNING)
    call_command("migrate", verbosity=0, interactive=False)
    data = np.load(args.chunks)
    texts, vectors = [str(t) for t in data["texts"]], data["vectors"].astype(np.float32)
    pages = [str(p) for p in data["documents"]]
    loaded_s = load_chunks(server.get_uri(), texts, vectors, pages, minilm_identity())
    log(f"PostgreSQL: {len(texts)} chunks loaded and indexed in {loaded_s:.0f}s")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('server_version'), "
            "(SELECT extversion FROM pg_extension WHERE extname = 'vector')"
        )
        postgres, pgvector = cursor.fetchone()
    questions = json.loads(args.questions.read_text())
    report = measure(questions, args.warmup) | {
        "chunks": len(texts),
        "postgres": postgres,
        "pgvector": pgvector,
        "load_s": round(loaded_s, 1),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="minutes"),
    }
    args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
