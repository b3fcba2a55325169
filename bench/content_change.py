"""FAQ lookups while the knowledge changes, at 10,000 paraphrases and 10,000 chunks: each change
(a bump of the knowledge version, as every edit, import or deletion makes) is noticed by the next
question that retrieves passages, and the per-process copies of the FAQs and the chunks reload.
Before, that question reloaded them on the lookup lane, and every FAQ and cache lookup queued
behind it; now a copy whose last load was slow loads behind while it keeps serving
(knowledge.process_copy). Both run here side by side, on a temporary SQLite database with
synthetic rows (random unit vectors, words drawn from a Zipf vocabulary: the load's cost depends
on the sizes, not on the text).

    python -m bench.content_change [--rounds 15] [--out FILE]

Per round: the version moves, a retrieval goes on the retrieval lane, and 5 ms later 5 FAQ
lookups follow it on the lookup lane 20 ms apart (the pipeline's lanes), each timed from its
submission to its result (the lane's queue included, the question's embedding not: vectors are
given). The round ends when the copies are
current again, so each round starts from the same state."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench import verdicts as bench_verdicts
from bench.verdicts import Verdict

FAQS = 1_000
PARAPHRASES_PER_FAQ = 10
DOCUMENTS = 1_000
CHUNKS_PER_DOCUMENT = 10
WORDS_PER_CHUNK = 120
VOCABULARY = 20_000
LOOKUPS_PER_ROUND = 5
LOOKUP_GAP_S = 0.02
FIRST_LOOKUP_AFTER_S = 0.005
TARGET_P99_MS = 25.0  # the FAQ stage's p99 target (issue 14), here without the embedding
IN_THE_CALLER_MS = 600_000.0  # KNOWLEDGE_COPY_BACKGROUND_LOAD_MS that never loads behind
SETTLE_TIMEOUT_S = 60.0


def setup() -> None:
    from bench.run import django_setup

    os.environ["LOG_LEVEL"] = "WARNING"
    django_setup(f"sqlite:///{tempfile.mkdtemp(prefix='bench-change-')}/db")
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def unit_rows(rng: np.random.Generator, n: int, dimension: int) -> np.ndarray:
    rows = rng.standard_normal((n, dimension)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def fill(rng: np.random.Generator, faqs: int = FAQS, documents: int = DOCUMENTS) -> np.ndarray:
    """The synthetic store; returns the paraphrase vectors (queries are taken near them)."""
    from knowledge.embeddings import get_embedder
    from knowledge.models import FAQ, AnswerVariant, Chunk, Document, Paraphrase

    embedder = get_embedder("en")
    stored_faqs = FAQ.objects.bulk_create(
        FAQ(question=f"question {i}", answer=f"answer {i}", locale="en") for i in range(faqs)
    )
    AnswerVariant.objects.bulk_create(
        AnswerVariant(faq=faq, text=f"answer {faq.pk}", status=AnswerVariant.Status.APPROVED)
        for faq in stored_faqs
    )
    vectors = unit_rows(rng, faqs * PARAPHRASES_PER_FAQ, embedder.dimension)
    Paraphrase.objects.bulk_create(
        (
            Paraphrase(
                faq=stored_faqs[i // PARAPHRASES_PER_FAQ],
                text=f"paraphrase {i}",
                embedding=vectors[i].tobytes(),
                embedding_model=embedder.identity,
            )
            for i in range(len(vectors))
        ),
        batch_size=2_000,
    )
    pages = Document.objects.bulk_create(
        Document(source_key=f"page-{i}", title=f"Page {i}", locale="en", version=1,
                 content_hash=str(i))
        for i in range(documents)
    )  # fmt: skip
    chunk_vectors = unit_rows(rng, documents * CHUNKS_PER_DOCUMENT, embedder.dimension)
    ranks = rng.zipf(1.3, size=(len(chunk_vectors), WORDS_PER_CHUNK)) % VOCABULARY
    Chunk.objects.bulk_create(
        (
            Chunk(
                document=pages[i // CHUNKS_PER_DOCUMENT],
                position=i % CHUNKS_PER_DOCUMENT,
                text=f"chunk {i}",
                search_tokens=" ".join(f"w{r}" for r in ranks[i]),
                token_count=WORDS_PER_CHUNK,
                embedding=chunk_vectors[i].tobytes(),
                embedding_model=embedder.identity,
            )
            for i in range(len(chunk_vectors))
        ),
        batch_size=2_000,
    )
    return vectors


def copies() -> list[Any]:
    from knowledge.documents.indexing import get_chunk_index
    from knowledge.index import get_index

    return [get_index(), get_chunk_index()]


async def settled() -> None:
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while any(copy.stale for copy in copies()):
        if time.monotonic() > deadline:
            raise RuntimeError("a copy did not finish loading")
        await asyncio.sleep(0.01)


async def rounds(number: int, queries: np.ndarray, *, change: bool) -> dict[str, list[float]]:
    """Seconds per FAQ lookup and per retrieval, `number` rounds, with or without a change."""
    from chatbot.database_lanes import on_lookup_lane, on_retrieval_lane
    from knowledge.content_version import knowledge_version_bump
    from knowledge.selectors import faq_find, passages_retrieve

    # On the lanes the pipeline uses (chatbot.pipeline.faq_stage, chatbot.pipeline.registry).
    find, retrieve = on_lookup_lane(faq_find), on_retrieval_lane(passages_retrieve)
    timings: dict[str, list[float]] = {"lookup": [], "retrieval": []}

    async def timed(key: str, call: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        await call(**kwargs)
        timings[key].append(time.perf_counter() - started)

    for r in range(number):
        if change:
            await asyncio.to_thread(knowledge_version_bump)  # the database's counter, off the loop
        question = queries[r % len(queries)]
        retrieval = asyncio.ensure_future(
            timed("retrieval", retrieve, text="w1 w2 w3", locale="en", vector=question)
        )
        await asyncio.sleep(FIRST_LOOKUP_AFTER_S)
        for i in range(LOOKUPS_PER_ROUND):
            vector = queries[(r + i) % len(queries)]
            await timed("lookup", find, text=f"query {r} {i}", locale="en", vector=vector)
            await asyncio.sleep(LOOKUP_GAP_S)
        await retrieval
        await settled()
    return timings


def percentiles_ms(seconds: Sequence[float]) -> dict[str, float]:
    p50, p99 = np.percentile(np.asarray(seconds) * 1000, [50, 99])
    return {"p50": round(float(p50), 2), "p99": round(float(p99), 2), "n": len(seconds)}


def load_times_ms() -> dict[str, float]:
    return {type(copy).__name__: round(copy.last_load_s * 1000, 1) for copy in copies()}


def run(number: int) -> dict[str, Any]:
    setup()
    return measure(number, fill(np.random.default_rng(0)))


def measure(number: int, stored: np.ndarray, behind_ms: float | None = None) -> dict[str, Any]:
    """Both ways of reloading over the rows stored; `behind_ms` the limit over which a copy
    loads behind (None: the setting's default, as shipped)."""
    from django.test import override_settings

    from knowledge.documents.indexing import reset_chunk_index
    from knowledge.index import reset_index
    from knowledge.models import Chunk

    rng = np.random.default_rng(1)
    picked = stored[rng.choice(len(stored), min(50, len(stored)), replace=False)]
    noisy = picked + rng.normal(0, 0.01, picked.shape)
    queries = (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)
    figures: dict[str, Any] = {
        "rounds": number,
        "paraphrases": len(stored),
        "chunks": Chunk.objects.count(),
    }
    variants = {"in_the_caller": IN_THE_CALLER_MS, "behind": behind_ms}
    for name, limit in variants.items():
        reset_index()
        reset_chunk_index()
        overrides = {} if limit is None else {"KNOWLEDGE_COPY_BACKGROUND_LOAD_MS": limit}
        with override_settings(FAQ_INDEX_RECHECK_S=0.0, **overrides):
            asyncio.run(rounds(3, queries, change=False))  # loads the copies
            figures[f"{name}_load_ms"] = load_times_ms()
            quiet = asyncio.run(rounds(number, queries, change=False))
            changing = asyncio.run(rounds(number, queries, change=True))
        figures[name] = {
            "quiet_lookup": percentiles_ms(quiet["lookup"]),
            "lookup": percentiles_ms(changing["lookup"]),
            "retrieval": percentiles_ms(changing["retrieval"]),
        }
    reset_index()
    reset_chunk_index()
    return figures


def verdicts(figures: dict[str, Any]) -> list[Verdict]:
    shipped, before = figures["behind"]["lookup"], figures["in_the_caller"]["lookup"]
    return [
        Verdict(
            f"FAQ lookup (lane queue included) while the knowledge changes, {figures['chunks']:,} "
            f"chunks and {figures['paraphrases']:,} paraphrases: p99 <= {TARGET_P99_MS:g} ms",
            f"p99 {shipped['p99']:.2f} ms (loads in the caller: {before['p99']:.2f} ms)",
            shipped["p99"] <= TARGET_P99_MS,
        )
    ]


def markdown(figures: dict[str, Any]) -> str:
    rows = []
    for name, title in (
        ("in_the_caller", "copies reload in the question that notices (before, baseline)"),
        ("behind", "a slow copy loads behind while it serves (shipped)"),
    ):
        f = figures[name]
        loads = ", ".join(f"{k} {v:,.0f} ms" for k, v in figures[f"{name}_load_ms"].items())
        rows.append(
            f"| {title} | {f['quiet_lookup']['p50']:.2f} / {f['quiet_lookup']['p99']:.2f} | "
            f"{f['lookup']['p50']:.2f} / {f['lookup']['p99']:.2f} | "
            f"{f['retrieval']['p50']:.1f} / {f['retrieval']['p99']:.1f} | {loads} |"
        )
    before, shipped = figures["in_the_caller"]["lookup"], figures["behind"]["lookup"]
    ratio = before["p99"] / shipped["p99"] if shipped["p99"] else float("inf")
    return "\n".join(
        [
            f"`python -m bench.content_change --rounds {figures['rounds']}`: FAQ lookups on the "
            "lookup lane while the knowledge version moves, at "
            f"{figures['paraphrases']:,} paraphrases and {figures['chunks']:,} chunks (synthetic "
            "rows on SQLite). Per round the version moves, a retrieval goes on the retrieval lane "
            "(it notices the change), and 5 FAQ lookups follow it 20 ms apart, each timed from its "
            "submission (the lane's queue included, no embedding); the round ends when every "
            f"copy is current. {figures['rounds']} rounds per row; ms, p50 / p99.",
            "",
            "| copies | FAQ lookup, no change | FAQ lookup, a change per round "
            "| the retrieval that notices | last load of each copy |",
            "|---|---|---|---|---|",
            *rows,
            "",
            f"FAQ lookup p99 during changes: {ratio:.1f}x lower than the baseline.",
            "",
            bench_verdicts.markdown(verdicts(figures)),
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    figures = run(args.rounds)
    figures["verdicts"] = bench_verdicts.dump(verdicts(figures))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2))
    print(markdown(figures))


if __name__ == "__main__":
    main()
