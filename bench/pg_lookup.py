"""FAQ stage on PostgreSQL 16 + pgvector for `make bench`: p50/p99 of the HNSW search path at 1k
and 100k paraphrases beside exact search on the same rows, and the HNSW index's recall.

Runs in its own process (Django is set up once per process): starts a throwaway PostgreSQL from
the `pgserver` package, migrates it, and per size loads CLINC150 `train` utterances as the
paraphrases of one FAQ per intent (tiled with noisy copies beyond their count, as
`bench.run.store_of_size` does) by binary COPY, then builds the app's own HNSW index for MiniLM's
vectors (building after the load is much faster than inserting into the index). Each
`test` query is embedded live once and then goes through `faq_match` / `faq_lookup` with that
vector on three indexes in rotating order: pgvector HNSW (the production path), pgvector with
index scans off (exact sequential scan) and the in-process exact `InMemoryIndex` (the SQLite
path) over the same rows. Then every query once more on HNSW per `hnsw.ef_search` value, for the
latency / recall trade-off behind the PGVECTOR_EF_SEARCH default. Prints markdown; `--out` gets
the figures as JSON.

    python -m bench.pg_lookup [--out var/bench/pg_lookup.json] [--cache var/bench/clinc_train.npz]
                              [--sizes 1000 100000] [--queries 300] [--pool N]
                              [--ef-search 40 64 100 150 200 400]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from unittest import mock
from urllib.parse import quote

import numpy as np

from bench.run import (
    CACHE_DIR,
    TILE_NOISE,
    clinc,
    django_setup,
    embedded_queries,
    percentiles_ms,
    stage_latency_verdict,
    store_of_size,
)
from bench.run import table as md_table
from bench.verdicts import Verdict, dump, load
from bench.verdicts import markdown as verdict_lines
from knowledge.embeddings import MINILM_DIMENSION, minilm_identity

if TYPE_CHECKING:
    from pgserver import PostgresServer

    from knowledge.index import VectorIndex
    from knowledge.matching import Neighbour
    from knowledge.pgvector_index import PgVectorIndex

SIZES = (1_000, 100_000)
LOCALE = "en"
REPEATS = 500  # stored paraphrases asked again verbatim, for the recall check
EXACT_QUERIES = 50  # queries timed on the sequential scan (~0.3 s each at 100k paraphrases)
# HNSW at the app's ef_search against exact search: questions answered otherwise, stored
# questions asked verbatim not answered with their FAQ (each under 1%: PGVECTOR_EF_SEARCH).
MAX_MISSES = 0.01
EF_SWEEP = (40, 64, 100, 150, 200, 400)  # hnsw.ef_search values compared (pgvector's default is 40)
MODEL = minilm_identity()  # the rows' embedding_model, so that the app's search reads them
VARIANTS = {
    "hnsw": "pgvector HNSW index (production path)",
    "pg_exact": "pgvector exact: sequential scan (baseline)",
    "memory": "in-process exact `InMemoryIndex`, the SQLite path (baseline)",
}
PARTS = ("embed", "match", "full", "lookup")
PART_NAMES = ("embed", "match", "full stage", "faq_lookup")
LOOKUP_VARIANTS = ["hnsw", "memory"]  # `faq_lookup` adds the same writes to every variant
PLANNED = ("hnsw", "pg_exact")  # the variants whose search PostgreSQL plans


def log(message: str) -> None:
    """Progress goes to stderr: stdout is the markdown that `bench.run` embeds."""
    print(f"  {message}", file=sys.stderr, flush=True)


@dataclass
class Store:
    """The paraphrases of one size: texts, intents and unit vectors, row by row."""

    texts: list[str]
    intents: list[str]
    vectors: np.ndarray
    originals: np.ndarray  # rows that are real CLINC utterances (not tiled copies)


def start_postgres() -> tuple[PostgresServer, str]:
    """A PostgreSQL 16 with pgvector in a temporary folder (deleted at exit): the server handle,
    which must stay referenced, and its DATABASE_URL."""
    import pgserver

    logging.getLogger("pgserver").setLevel(logging.WARNING)
    server = pgserver.get_server(tempfile.mkdtemp(prefix="bench-pg-"), cleanup_mode="delete")
    socket_dir = server.get_uri().split("host=", 1)[1]
    return server, f"postgres://postgres@{quote(socket_dir, safe='')}/postgres"


def make_store(
    texts: list[str], intents: list[str], vectors: np.ndarray, size: int, rng: np.random.Generator
) -> Store:
    """`size` rows from the pool: a subset, or all of it plus noisy copies whose texts get a
    suffix (a paraphrase's text is unique per FAQ)."""
    stored, source = store_of_size(vectors, np.arange(len(texts)), size, rng)
    tiled = size > len(texts)
    rows = [
        texts[s] if not tiled or row < len(texts) else f"{texts[s]} [{row}]"
        for row, s in enumerate(source)
    ]
    originals = np.arange(len(texts) if tiled else size)
    return Store(rows, [intents[s] for s in source], stored, originals)


def hnsw_index() -> tuple[str, str]:
    """The name of the app's HNSW index for MiniLM's vectors and the statement that builds it
    (knowledge.pgvector_index; Django must be set up to import it)."""
    from knowledge.pgvector_index import model_index_name, model_index_sql

    return model_index_name(MODEL), model_index_sql(identity=MODEL, dimension=MINILM_DIMENSION)


def create_faqs(intents: list[str]) -> dict[str, int]:
    """One active FAQ per intent with one approved answer variant; returns intent -> FAQ id."""
    from knowledge.models import FAQ, AnswerVariant

    faqs = FAQ.objects.bulk_create(
        FAQ(question=f"CLINC150 intent {i}", answer=f"Answer about {i}.", locale=LOCALE)
        for i in intents
    )
    AnswerVariant.objects.bulk_create(
        AnswerVariant(faq=f, text=f.answer, status=AnswerVariant.Status.APPROVED) for f in faqs
    )
    return {i: f.pk for i, f in zip(intents, faqs, strict=True)}


def load_paraphrases(conninfo: str, store: Store, faq_ids: dict[str, int]) -> dict[str, float]:
    """Replaces every paraphrase with `store`'s rows (binary COPY of both embedding columns on a
    connection of its own), then builds the HNSW index and ANALYZEs; returns the seconds each
    step took."""
    import psycopg
    from pgvector.psycopg import register_vector

    now = dt.datetime.now(dt.UTC)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        register_vector(conn)
        name, create = hnsw_index()
        conn.execute(f"DROP INDEX IF EXISTS {name}")
        conn.execute("TRUNCATE knowledge_paraphrase")
        t0 = time.perf_counter()
        columns = "faq_id, text, origin, approved, embedding, embedding_model, created_at"
        copy_sql = (
            f"COPY knowledge_paraphrase ({columns}, embedding_vec) FROM STDIN (FORMAT BINARY)"
        )
        with conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
            copy.set_types(
                ["int8", "text", "text", "bool", "bytea", "text", "timestamptz", "vector"]
            )
            for text, intent, vector in zip(store.texts, store.intents, store.vectors, strict=True):
                copy.write_row(
                    [faq_ids[intent], text, "human", True, vector.tobytes(), MODEL, now, vector]
                )
        t1 = time.perf_counter()
        # The graph of 100k 384-d vectors outgrows the default 64MB and the build slows down.
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute(f"SET max_parallel_maintenance_workers = {len(os.sched_getaffinity(0)) - 1}")
        conn.execute(create)
        t2 = time.perf_counter()
        # Without statistics the planner expects one FAQ row and skips the HNSW index.
        conn.execute("ANALYZE")
    return {"copy_s": t1 - t0, "index_s": t2 - t1}


class SeqScanIndex:
    """pgvector without its index: `PgVectorIndex`'s own query with index scans off for its
    transaction, so PostgreSQL scores every row (the exact baseline inside the database)."""

    def __init__(self) -> None:
        from knowledge.pgvector_index import PgVectorIndex

        self.inner = PgVectorIndex()

    @contextmanager
    def _without_index_scans(self) -> Iterator[None]:
        from django.db import connection, transaction

        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL enable_indexscan = off")
            yield

    def search(self, vector: np.ndarray, *, locale: str, k: int) -> list[Neighbour]:
        with self._without_index_scans():
            return self.inner.search(vector, locale=locale, k=k)

    def plan(self, vector: np.ndarray, *, locale: str, k: int) -> list[str]:
        with self._without_index_scans():
            return self.inner.plan(vector, locale=locale, k=k)


@contextmanager
def serving(index: VectorIndex) -> Iterator[None]:
    """Makes `get_index()`, and so `faq_match` / `faq_lookup`, use `index`."""
    import knowledge.index

    with mock.patch.object(knowledge.index, "_index", index):
        yield


def search_plan(index: PgVectorIndex | SeqScanIndex, vector: np.ndarray, k: int) -> str:
    """How PostgreSQL runs the SQL that `index.search` sends (its EXPLAIN): whether it walks
    the HNSW graph or scans the table."""
    plan = index.plan(vector, locale=LOCALE, k=k)
    for line in plan:
        if f"Index Scan using {hnsw_index()[0]}" in line:
            return "HNSW index scan"
    return (
        "sequential scan" if any("Seq Scan on knowledge_paraphrase" in p for p in plan) else plan[0]
    )


@dataclass
class Timed:
    """Per variant: seconds per part, and (best FAQ, answered FAQ) per query; the query vectors."""

    seconds: dict[str, dict[str, list[float]]]
    decisions: dict[str, list[tuple[int | None, int | None]]]
    answered: dict[str, int]
    vectors: list[np.ndarray]


def time_queries(
    indexes: dict[str, VectorIndex], queries: list[str], warmup: int, exact_queries: int
) -> Timed:
    """Embeds each query once, then times `faq_match` on every index and `faq_lookup` on the
    HNSW and in-process ones, each in rotating order (so no call always follows the embedding or
    its own index's last call). The sequential scan takes only the first `exact_queries`
    queries: at 100k paraphrases it costs a few hundred ms a query."""
    from knowledge import selectors
    from knowledge.embeddings import MiniLMEmbedder

    embed = MiniLMEmbedder().embed  # uncached: every query pays for its embedding
    names = list(VARIANTS)
    timed = Timed(
        seconds={n: {p: [] for p in PARTS} for n in names},
        decisions={n: [] for n in names},
        answered=dict.fromkeys(LOOKUP_VARIANTS, 0),
        vectors=[],
    )
    for warm, q, vector, embedded in embedded_queries(queries, warmup, embed):
        text = queries[q]
        matching = [n for n in names if n != "pg_exact" or q < exact_queries]
        for name in matching[q % len(matching) :] + matching[: q % len(matching)]:
            with serving(indexes[name]):
                t1 = time.perf_counter()
                result, _, _ = selectors.faq_match(text=text, locale=LOCALE, vector=vector)
                took = time.perf_counter() - t1
            if not warm:
                for part, seconds in (("embed", embedded), ("match", took)):
                    timed.seconds[name][part].append(seconds)
                timed.seconds[name]["full"].append(embedded + took)
                timed.decisions[name].append((result.best_faq_id, result.faq_id))
        for name in LOOKUP_VARIANTS[q % 2 :] + LOOKUP_VARIANTS[: q % 2]:
            with serving(indexes[name]):
                t1 = time.perf_counter()
                lookup = selectors.faq_lookup(text=text, locale=LOCALE, vector=vector)
                took = time.perf_counter() - t1
            if not warm:
                timed.seconds[name]["lookup"].append(took)
                timed.answered[name] += lookup.answered
        if not warm:
            timed.vectors.append(vector)
    return timed


def overlap(found: list[Neighbour], exact: list[Neighbour]) -> tuple[float, bool]:
    """The share of the exact top-k paraphrases that `found` holds too, and whether the nearest
    paraphrase belongs to the same FAQ in both."""
    common = {(n.faq_id, n.text) for n in found} & {(n.faq_id, n.text) for n in exact}
    return len(common) / max(len(exact), 1), bool(
        found and exact and found[0].faq_id == exact[0].faq_id
    )


def recall(
    indexes: dict[str, VectorIndex], vectors: list[np.ndarray], k: int
) -> tuple[float, float]:
    """HNSW against the exact search: mean recall@k of the paraphrases, and the share of queries
    whose nearest paraphrase belongs to the same FAQ."""
    pairs = [
        overlap(
            indexes["hnsw"].search(vector, locale=LOCALE, k=k),
            indexes["memory"].search(vector, locale=LOCALE, k=k),
        )
        for vector in vectors
    ]
    return float(np.mean([p[0] for p in pairs])), float(np.mean([p[1] for p in pairs]))


def set_ef_search(value: int) -> None:
    """This connection's `hnsw.ef_search` from now on (the app sets it when a connection opens)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('hnsw.ef_search', %s, false)", [str(value)])


def ef_sweep(
    indexes: dict[str, VectorIndex],
    queries: list[str],
    timed: Timed,
    values: list[int],
    k: int,
    repeats: list[tuple[str, np.ndarray, int]],
) -> dict[str, dict]:
    """Per `hnsw.ef_search` value: `faq_match` latency through the HNSW index, its recall@k,
    the share of queries given the exact search's best FAQ and answer, and how many `repeats`
    (text, stored vector, its FAQ) are answered with their FAQ. One pass over the queries per
    value, each pass giving query q value q + pass (mod the count): every call follows another
    query, as in production (back to back, the same query would find the graph pages it walks
    in the CPU caches), and every pass spans all values. The SET before each call is not timed;
    the app's value is put back afterwards."""
    from django.conf import settings

    from knowledge import selectors

    exact = [indexes["memory"].search(v, locale=LOCALE, k=k) for v in timed.vectors]
    seen: dict[int, dict[str, list]] = {
        ef: {"seconds": [], "recall": [], "best": [], "answer": [], "repeats": []} for ef in values
    }
    for shift in range(len(values)):
        for q, (text, vector) in enumerate(zip(queries, timed.vectors, strict=True)):
            ef = values[(q + shift) % len(values)]
            set_ef_search(ef)
            with serving(indexes["hnsw"]):
                t0 = time.perf_counter()
                result, _, _ = selectors.faq_match(text=text, locale=LOCALE, vector=vector)
                seen[ef]["seconds"].append(time.perf_counter() - t0)
            found = indexes["hnsw"].search(vector, locale=LOCALE, k=k)
            share, same_best = overlap(found, exact[q])
            seen[ef]["recall"].append(share)
            seen[ef]["best"].append(same_best)
            seen[ef]["answer"].append(result.faq_id == timed.decisions["memory"][q][1])
    for ef in values:
        set_ef_search(ef)
        with serving(indexes["hnsw"]):
            for text, vector, faq_id in repeats:
                result, _, _ = selectors.faq_match(text=text, locale=LOCALE, vector=vector)
                seen[ef]["repeats"].append(result.faq_id == faq_id)
    set_ef_search(settings.PGVECTOR_EF_SEARCH)
    return {
        str(ef): {
            "match_ms": percentiles_ms(s["seconds"]),
            "recall_at_k": float(np.mean(s["recall"])),
            "same_best_faq": float(np.mean(s["best"])),
            "same_answer": float(np.mean(s["answer"])),
            "repeats_answered_with_their_faq": int(np.sum(s["repeats"])),
        }
        for ef, s in seen.items()
    }


def measure(
    store: Store,
    faq_ids: dict[str, int],
    queries: list[str],
    args: argparse.Namespace,
    rng: np.random.Generator,
) -> dict:
    """Latency per variant and part, HNSW recall against the exact search, repeats answered."""
    from django.conf import settings

    from knowledge import selectors
    from knowledge.index import InMemoryIndex
    from knowledge.pgvector_index import PgVectorIndex

    indexes = {"hnsw": PgVectorIndex(), "pg_exact": SeqScanIndex(), "memory": InMemoryIndex()}
    timed = time_queries(indexes, queries, args.warmup, args.exact_queries)
    k = settings.FAQ_MATCH_K
    recall_at_k, same_best = recall(indexes, timed.vectors, k)

    asked = rng.choice(store.originals, min(args.repeats, len(store.originals)), replace=False)
    repeated = dict.fromkeys(LOOKUP_VARIANTS, 0)
    for row in asked:
        for name in LOOKUP_VARIANTS:
            with serving(indexes[name]):
                result, _, _ = selectors.faq_match(
                    text=store.texts[row], locale=LOCALE, vector=store.vectors[row]
                )
            repeated[name] += result.faq_id == faq_ids[store.intents[row]]
    repeats = [(store.texts[r], store.vectors[r], faq_ids[store.intents[r]]) for r in asked]
    sweep = ef_sweep(indexes, queries, timed, args.ef_search, k, repeats)

    def agree(name: str, field: int) -> float:
        pairs = zip(timed.decisions[name], timed.decisions["memory"], strict=False)
        return float(np.mean([a[field] == b[field] for a, b in pairs]))

    return {
        "latency_ms": {
            name: {part: percentiles_ms(s) for part, s in parts.items() if s}
            for name, parts in timed.seconds.items()
        },
        "timed_queries": {name: len(s["match"]) for name, s in timed.seconds.items()},
        "plans": {name: search_plan(indexes[name], timed.vectors[0], k) for name in PLANNED},
        "k": k,
        "recall_at_k": recall_at_k,
        "same_best_faq": same_best,
        "ef_sweep": sweep,
        "same_best_faq_as_memory": {name: agree(name, 0) for name in PLANNED},
        "same_answer_as_memory": {name: agree(name, 1) for name in PLANNED},
        "answered": timed.answered,
        "repeats": {"asked": len(asked), "answered_with_their_faq": repeated},
    }


def run(args: argparse.Namespace) -> dict:
    """Starts PostgreSQL, sets Django up on it and measures every size."""
    from bench.faq_matching import embed_all

    server, url = start_postgres()
    django_setup(url)
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    logging.getLogger("celery").setLevel(logging.WARNING)
    call_command("migrate", verbosity=0, interactive=False)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT version(), (SELECT extversion FROM pg_extension WHERE extname = %s)", ["vector"]
        )
        postgres, pgvector = cursor.fetchone()

    rng = np.random.default_rng(args.seed)
    data = clinc()
    train = list(dict.fromkeys((t, i) for t, i in data["train"]))
    cache = args.cache
    if args.pool:  # a small random pool (tests); the shared cache holds the whole set only
        train = [train[i] for i in sorted(rng.choice(len(train), args.pool, replace=False))]
        cache = None
    t0 = time.perf_counter()
    pool = embed_all([t for t, _ in train], cache)
    log(f"pool: {len(train)} train utterances embedded in {time.perf_counter() - t0:.0f}s")
    test = [t for t, _ in data["test"]]
    queries = [test[i] for i in rng.choice(len(test), min(args.queries, len(test)), False)]
    intents = sorted({i for _, i in train})
    faq_ids = create_faqs(intents)

    sizes = {}
    for size in args.sizes:
        store = make_store([t for t, _ in train], [i for _, i in train], pool, size, rng)
        loaded = load_paraphrases(server.get_uri(), store, faq_ids)
        log(f"{size:>7} paraphrases: COPY {loaded['copy_s']:.1f}s, HNSW {loaded['index_s']:.1f}s")
        sizes[str(size)] = loaded | measure(store, faq_ids, queries, args, rng)
        hnsw = sizes[str(size)]["latency_ms"]["hnsw"]["match"]
        log(f"{size:>7} paraphrases: HNSW match p50 {hnsw['p50']:.2f} ms p99 {hnsw['p99']:.2f}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [hnsw_index()[0]])
        (index_def,) = cursor.fetchone()
    return {
        "sizes": sizes,
        "queries": len(queries),
        "warmup": args.warmup,
        "faqs": len(faq_ids),
        "pool": len(train),
        "postgres": postgres.split(" on ")[0],
        "pgvector": pgvector,
        "index": index_def,
        "ef_search": settings.PGVECTOR_EF_SEARCH,
    }


def pg_verdicts(report: dict) -> list[Verdict]:
    """Per size, the production path (HNSW): the FAQ stage's latency target, and answers that
    exact search would give."""
    checked = []
    for size, r in report["sizes"].items():
        n = f"{int(size):,} paraphrases"
        same = r["same_answer_as_memory"]["hnsw"]
        asked, right = r["repeats"]["asked"], r["repeats"]["answered_with_their_faq"]["hnsw"]
        checked += [
            stage_latency_verdict(f"HNSW full stage at {n}", r["latency_ms"]["hnsw"]["full"]),
            Verdict(
                f"HNSW at {n} answers as exact search does for >= {1 - MAX_MISSES:.0%} of the "
                "questions",
                f"{100 * same:.1f}%",
                same >= 1 - MAX_MISSES,
            ),
            Verdict(
                f"HNSW at {n} answers >= {1 - MAX_MISSES:.0%} of stored questions asked "
                "verbatim with their FAQ",
                f"{right}/{asked}",
                right >= (1 - MAX_MISSES) * asked,
            ),
        ]
    return checked


def render(report: dict, command: str) -> str:
    """The markdown of a report: latency beside the baselines, ratios, recall, load times."""

    def cell(r: dict | None) -> str:
        return f"{r['p50']:.3f} / {r['p99']:.3f}" if r else "-"

    def ratio(a: dict, b: dict) -> str:
        return f"{a['p50'] / b['p50']:.2f}x / {a['p99'] / b['p99']:.2f}x"

    def pct(x: float) -> str:
        return f"{100 * x:.1f}%"

    rows, ratios, quality, sweep, loads = [], [], [], [], []
    for size, r in report["sizes"].items():
        lat, n = r["latency_ms"], f"{int(size):,}"
        for name, label in VARIANTS.items():
            plan = r["plans"].get(name, "numpy over a copy of the rows")
            counted = r["timed_queries"][name]
            rows.append([n, label, plan, counted] + [cell(lat[name].get(p)) for p in PARTS])
        hnsw, pg, mem = lat["hnsw"], lat["pg_exact"], lat["memory"]
        ratios.append(
            [
                n,
                ratio(hnsw["match"], mem["match"]),
                ratio(hnsw["match"], pg["match"]),
                ratio(hnsw["full"], mem["full"]),
                ratio(hnsw["lookup"], mem["lookup"]),
            ]
        )
        asked, said = r["repeats"]["asked"], r["repeats"]["answered_with_their_faq"]
        answered = r["answered"]
        quality.append(
            [
                n,
                pct(r["recall_at_k"]),
                pct(r["same_best_faq"]),
                pct(r["same_answer_as_memory"]["hnsw"]),
                pct(r["same_best_faq_as_memory"]["pg_exact"]),
                f"{said['hnsw']}/{asked} / {said['memory']}/{asked}",
                f"{answered['hnsw']} / {answered['memory']} of {r['timed_queries']['hnsw']}",
            ]
        )
        for ef, e in r["ef_sweep"].items():
            setting = " (app setting)" if int(ef) == report["ef_search"] else ""
            sweep.append(
                [
                    n,
                    f"{ef}{setting}",
                    cell(e["match_ms"]),
                    pct(e["recall_at_k"]),
                    pct(e["same_best_faq"]),
                    pct(e["same_answer"]),
                    f"{e['repeats_answered_with_their_faq']}/{asked}",
                ]
            )
        loads.append([n, f"{r['copy_s']:.1f}", f"{r['index_s']:.1f}"])

    k = next(iter(report["sizes"].values()))["k"]
    return "\n".join(
        [
            f"{report['postgres']} with pgvector {report['pgvector']} (`pgserver` package, "
            "default server settings) under Django as in production (eager Celery, local-memory "
            f"cache). {report['faqs']} FAQs, one per CLINC150 intent with one approved answer; "
            f"their paraphrases are a random subset of the {report['pool']:,} distinct `train` "
            "utterances (MiniLM embeddings computed once), or all of them plus noisy copies "
            f"(Gaussian noise, std {TILE_NOISE} per dimension, re-normalised) for larger sizes, "
            f"loaded by binary COPY, then `ANALYZE`. Index: `{report['index']}` (pgvector "
            f"defaults m = 16, ef_construction = 64), built after the load; `hnsw.ef_search` = "
            f"{report['ef_search']}. {report['queries']} CLINC150 `test` queries per size after "
            f"{report['warmup']} warm-up, each embedded live once; each variant then answers it "
            "with that vector through `knowledge.selectors.faq_match` (and `faq_lookup`), the "
            "variant being the index `get_index()` returns, in rotating order. The sequential "
            "scan takes only the first queries (column *queries*) and no `faq_lookup`.",
            "",
            "Columns: *embed* = MiniLM on the query; *match* = `faq_match` given the vector "
            "(search + decision); *full stage* = embed + match; *faq_lookup* = match + answer "
            "variant pick + hit counters written, given the vector; *plan* = what EXPLAIN shows "
            "for the variant's search query.",
            "",
            "Latency in ms, p50 / p99:",
            "",
            md_table(
                ["paraphrases", "variant", "plan", "queries", *PART_NAMES],
                rows,
            ),
            "",
            "Ratios, p50 / p99 (above 1x: HNSW is slower):",
            "",
            md_table(
                [
                    "paraphrases",
                    "match: HNSW / in-process exact",
                    "match: HNSW / pgvector exact",
                    "full stage: HNSW / in-process exact",
                    "faq_lookup: HNSW / in-process exact",
                ],
                ratios,
            ),
            "",
            f"HNSW against the exact search on the same rows, on the timed queries: recall@{k} ="
            f" share of the exact top-{k} paraphrases that HNSW returns too; best FAQ = the "
            "nearest paraphrase's FAQ; answer = the FAQ `faq_match` answers with, or none; "
            "repeats = stored utterances asked again verbatim (with their stored vector) and "
            "answered with their own FAQ.",
            "",
            md_table(
                [
                    "paraphrases",
                    f"HNSW recall@{k}",
                    "HNSW same best FAQ",
                    "HNSW same answer",
                    "pgvector exact same best FAQ",
                    "repeats answered right: HNSW / exact",
                    "answered: HNSW / exact",
                ],
                quality,
            ),
            "",
            "`hnsw.ef_search` (candidates the graph walk keeps) against cost and agreement: every "
            "timed query through `faq_match` on the HNSW index once per value, values interleaved "
            "so that each call follows another query (the SET between calls is not timed; no "
            "embedding comes between them, so *match* runs below the table above); recall, best "
            "FAQ, answer and repeats as above.",
            "",
            md_table(
                [
                    "paraphrases",
                    "hnsw.ef_search",
                    "match ms, p50 / p99",
                    f"recall@{k}",
                    "same best FAQ",
                    "same answer",
                    "repeats answered right",
                ],
                sweep,
            ),
            "",
            "Load, seconds:",
            "",
            md_table(["paraphrases", "COPY", "HNSW index build"], loads),
            "",
            f"Command: `{command}`",
            "",
            verdict_lines(load(report["verdicts"])),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    """Measures, writes the JSON figures to `--out` and prints the markdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=CACHE_DIR / "pg_lookup.json")
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache (.npz)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--exact-queries", type=int, default=EXACT_QUERIES)
    parser.add_argument("--ef-search", type=int, nargs="+", default=list(EF_SWEEP))
    parser.add_argument("--pool", type=int, default=0, help="random train utterances (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    command = shlex.join(
        ["python", "-m", "bench.pg_lookup", *(sys.argv[1:] if argv is None else argv)]
    )
    report = run(args)
    report["verdicts"] = dump(pg_verdicts(report))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(render(report, command))


if __name__ == "__main__":
    main()
