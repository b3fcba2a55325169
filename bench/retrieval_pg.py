"""One help-centre retrieval on PostgreSQL 16 + pgvector at 10,000 chunks, for the retrieval
section (bench/retrieval.py runs it in a process of its own: Django is set up once per process).

Starts a throwaway PostgreSQL from the `pgserver` package (as bench/pg_lookup.py does), migrates
it, loads the chunks the parent wrote (search texts and their vectors, by binary COPY into the
app's tables: `search_tokens` by the app's tokenizer),
builds the app's HNSW index for the model, ANALYZEs, then per question: embeds it live (the
uncached model), runs `knowledge.selectors.passages_retrieve` (the app's path: pgvector top-50
over the HNSW index + BM25 top-50 in process + fusion + the floor + the cited chunks' rows),
and, as the baseline, the pgvector query alone for the top 5.

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
from bench.retrieval import latency_figures
from bench.run import django_setup, embedded_queries

CHUNKS_PER_DOCUMENT = 20


def load_chunks(conninfo: str, texts: list[str], vectors: np.ndarray, model: str) -> float:
    """Documents of CHUNKS_PER_DOCUMENT chunks each, then the chunks by binary COPY, the HNSW
    index and ANALYZE; returns the seconds it took."""
    import psycopg
    from pgvector.psycopg import register_vector

    from knowledge.documents.indexing import ensure_chunk_model_index
    from knowledge.documents.lexical import DEFAULT_TOKENIZER, search_tokens
    from knowledge.models import Document

    t0 = time.perf_counter()
    documents = Document.objects.bulk_create(
        Document(
            title=f"Document {n}",
            source_key=f"bench/{n}",
            locale="en",
            content_hash="",
            status=Document.Status.INDEXED,
        )
        for n in range(0, len(texts), CHUNKS_PER_DOCUMENT)
    )
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
            for row, (text, vector) in enumerate(zip(texts, vectors, strict=True)):
                document = documents[row // CHUNKS_PER_DOCUMENT]
                copy.write_row([
                    document.pk, row % CHUNKS_PER_DOCUMENT, "[]", text, search_tokens(text),
                    DEFAULT_TOKENIZER.version, len(text.split()), vector.tobytes(), model, vector,
                ])  # fmt: skip
    ensure_chunk_model_index(identity=model, dimension=vectors.shape[1])
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("ANALYZE")
    return time.perf_counter() - t0


def measure(questions: list[str], warmup: int) -> dict[str, Any]:
    """p50/p99 of the app's retrieval and of the vector query alone, embedding in and out."""
    from knowledge.documents.indexing import get_chunk_index
    from knowledge.embeddings import MiniLMEmbedder
    from knowledge.models import Visibility
    from knowledge.pgvector_index import vector_cursor
    from knowledge.selectors import passages_retrieve

    vector_sql = get_chunk_index()._vector_query("en")  # the app's own statement
    embed = MiniLMEmbedder().embed  # uncached: a visitor's new question
    seconds: dict[str, list[float]] = {"embed": [], "hybrid": [], "vector": []}
    relevant = 0
    for warm, q, vector, embedded in embedded_queries(questions, warmup, embed):
        t0 = time.perf_counter()
        found = passages_retrieve(text=questions[q], locale="en", k=5, vector=vector)
        t1 = time.perf_counter()
        with vector_cursor() as cursor:
            cursor.execute(vector_sql, [vector, "en", [Visibility.PUBLIC], 5])
            cursor.fetchall()
        t2 = time.perf_counter()
        if not warm:
            seconds["embed"].append(embedded)
            seconds["hybrid"].append(t1 - t0)
            seconds["vector"].append(t2 - t1)
            relevant += found.relevant
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
    loaded_s = load_chunks(server.get_uri(), texts, vectors, minilm_identity())
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
