"""Semantic-cache figures for `make bench`: hit rate and wrong-hit rate of the shipped hit rule
beside today's fixed threshold (0.88) and a GPTCache-style 0.80, on CLINC150 replayed as a stream
of questions and on the banking-like stress stream (bench/cache_rules.py builds both, with
simulated answers); lookup latency of both rules at 10k entries and of the shipped one at 100k;
upstream calls for 50 concurrent identical questions; the zh-hans model's (USE) point on the
same streams embedded by USE and on the Chinese shop set as a dense stream. `benchmark()`
returns (markdown, figures).

Stream protocol: every question of a split (in-scope + out-of-scope, shuffled with a seed) asks
the cache; a miss goes to an upstream that answers by intent and the answer is stored, a hit is
served. A hit is wrong when the entry's intent differs from the question's (an out-of-scope
question hitting an in-scope entry included); out-of-scope hitting out-of-scope is counted too,
as `strict`. The threshold is tuned on a dense stream (val + train, 120 questions per intent:
wrong hits grow with the number of entries) for <= 1% wrong hits per question and per hit, then
reported on test.

    python -m bench.cache [--out bench/results/cache.json] [--embeddings /tmp/clinc-cache.npz]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.verdicts import Verdict, dump, load
from bench.verdicts import markdown as verdict_lines

DATA = Path(os.environ.get("SHARED_DIR", "/work/shared")) / "datasets/clinc150/data_full.json"
MAX_WRONG = 0.01
NEIGHBOURS = 64  # earlier questions kept per question; the stored ones among them are searched
BASELINE_THRESHOLD = 0.80  # GPTCache / RedisVL style: cosine >= 0.8 (distance <= 0.2)
SEED = 7
TARGET_LOOKUP_P50_MS = 10.0  # a cache hit, the question's embedding included (docs/cache.md)
TARGET_HIT_RATE = 0.30  # issue 14: questions answered from the cache, at <= 1% wrong per hit
TODAY_THRESHOLD = 0.88  # the fixed-threshold rule shipped before the support rule
RULE_STREAMS = {
    "clinc_test": "CLINC150 test",
    "stress_test": "stress (50 closest intents)",
    "domains_test": "single-business (one CLINC150 domain each)",
}

USE_MODEL = "use-multilingual-v3"  # the zh-hans model; its point is tuned on the same streams
USE_STREAMS = {
    **RULE_STREAMS,
    "shop_zh_dense": "Chinese shop set, dense (every phrasing and question, 5 orders)",
}


@dataclass
class Stream:
    texts: list[str]
    intents: np.ndarray
    vectors: np.ndarray
    personal: np.ndarray


def _stream(rows: list[list[str]], vectors: np.ndarray, seed: int) -> Stream:
    from chatbot.cache.pii import is_personal

    order = np.random.default_rng(seed).permutation(len(rows))
    texts = [rows[i][0] for i in order]
    return Stream(
        texts,
        np.array([rows[i][1] for i in order]),
        vectors[order],
        np.array([is_personal(t) for t in texts]),
    )


def load_streams(embeddings: Path | None) -> dict[str, Stream]:
    from bench.faq_matching import embed_all

    data = json.loads(DATA.read_text())
    parts = {
        "tune": data["val"] + data["oos_val"] + data["train"] + data["oos_train"],
        "test": data["test"] + data["oos_test"],
    }
    texts = [row[0] for rows in parts.values() for row in rows]
    vectors = embed_all(texts, embeddings)
    out, start = {}, 0
    for name, rows in parts.items():
        out[name] = _stream(rows, vectors[start : start + len(rows)], SEED)
        start += len(rows)
    return out


def earlier_neighbours(vectors: np.ndarray, k: int = NEIGHBOURS) -> tuple[np.ndarray, np.ndarray]:
    """For each question, its k most similar earlier questions (indices, cosines), best first."""
    n = len(vectors)
    ids = np.full((n, k), -1, dtype=np.int64)
    scores = np.full((n, k), -np.inf, dtype=np.float32)
    for start in range(0, n, 1024):
        block = vectors[start : start + 1024] @ vectors.T
        rows = np.arange(start, min(start + 1024, n))
        block[np.arange(n)[None, :] >= rows[:, None]] = -np.inf
        kk = min(k, n)
        part = np.argpartition(-block, kk - 1, axis=1)[:, :kk]
        part_scores = np.take_along_axis(block, part, axis=1)
        order = np.argsort(-part_scores, axis=1)
        ids[rows, :kk] = np.take_along_axis(part, order, axis=1)
        scores[rows, :kk] = np.take_along_axis(part_scores, order, axis=1)
    return ids, scores


def replay(stream: Stream, neighbours: tuple[np.ndarray, np.ndarray], threshold: float) -> dict:
    """The cache's decisions over the stream: a question hits its nearest stored entry when the
    cosine reaches `threshold` (the rule `chatbot.cache.selectors` applies)."""
    ids, scores = neighbours
    stored = np.zeros(len(stream.texts), dtype=bool)
    hits = wrong = strict = bypassed = 0
    for i in range(len(stream.texts)):
        if stream.personal[i]:
            bypassed += 1
            continue
        row = ids[i]
        alive = (row >= 0) & stored[np.maximum(row, 0)]
        if alive.any():
            j = int(np.argmax(alive))
            if scores[i, j] >= threshold:
                hits += 1
                entry, query = stream.intents[row[j]], stream.intents[i]
                wrong += int(entry != query)
                strict += int(entry != query or query == "oos")
                continue
        stored[i] = True
    n = len(stream.texts)
    return {
        "threshold": float(threshold),
        "questions": n,
        "hits": hits,
        "hit_rate": hits / n,
        "wrong_hits": wrong,
        "wrong_per_question": wrong / n,
        "wrong_per_hit": wrong / max(hits, 1),
        "strict_wrong_per_hit": strict / max(hits, 1),
        "bypassed_personal": bypassed,
        "entries": int(stored.sum()),
    }


def canned_answers(intents: list[str]) -> dict[str, str]:
    """The upstream's answer per intent; out-of-scope questions get one answer each (they are
    all different topics), keyed by the question itself."""
    return {intent: f"Here is how we help with {intent.replace('_', ' ')}." for intent in intents}


@contextmanager
def django_database() -> Iterator[None]:
    """A throwaway database (the test database of the configured one) for the end-to-end parts."""
    # The benchmark measures the model tiers and stages, not the spend brake (docs/security.md).
    os.environ.setdefault("LLM_MODEL_CALLS_PER_MINUTE", "0")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
    import django

    django.setup()
    from django.db import connection

    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        yield
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def _pipeline_settings(simulator: Any) -> Any:
    from django.test import override_settings

    return override_settings(
        LOCAL_LLM_BASE_URL=simulator.base_url,
        LOCAL_LLM_MODEL=simulator.model,
        OPENAI_API_KEY="",
        LLM_TIERS_JSON="",
        LLM_TIERS_FILE="",
        REDIS_URL="",
        CHAT_PIPELINE_STAGES=["cache", "llm", "fallback"],
        CHAT_STORED_ANSWER_TOKEN_DELAY_S=0.0,
    )


def shipped_rule(model: str = "all-MiniLM-L6-v2") -> Any:
    """A model's operating point as a bench.cache_rules rule (what the app applies)."""
    from bench.cache_rules import Rule
    from knowledge.operating_points import MEASURED

    point = MEASURED[model]
    return Rule(
        point.cache_threshold,
        same_answer=point.cache_same_answer,
        support=point.cache_support,
        support_slack=point.cache_support_slack,
        alone=point.cache_alone,
    )


def end_to_end(stream: Stream, n: int) -> dict[str, Any]:
    """The first `n` questions through the real pipeline (cache stage, LLM stage, upstream
    simulator answering by intent), compared with the shipped rule's replay on the same prefix
    with the same answers."""
    from bench import cache_rules
    from chatbot.llm.client import clients_close
    from chatbot.llm.simulator import UpstreamSimulator
    from chatbot.management.commands.replay import Replayer
    from knowledge.embeddings import get_embedder
    from knowledge.greetings import strip_greetings

    intent_of = {text: intent for text, intent in zip(stream.texts, stream.intents, strict=True)}
    answers = canned_answers(sorted(set(stream.intents)))

    def answer(question: str) -> str:
        intent = intent_of.get(question, "oos")
        return answers[intent] if intent != "oos" else f"About {question}: we cannot help."

    async def ask_all() -> list[dict[str, Any]]:
        replayer = Replayer()
        try:
            return [
                await replayer.answer({"conversation": i, "text": text})
                for i, text in enumerate(stream.texts[:n])
            ]
        finally:
            await clients_close()

    simulator = UpstreamSimulator(answer=answer).start()
    by_answer = {text: intent for intent, text in answers.items()}
    try:
        with _pipeline_settings(simulator):
            results = asyncio.run(ask_all())
    finally:
        simulator.stop()
    hits = [(r, stream.intents[i]) for i, r in enumerate(results) if r["source"] == "cache"]
    wrong = sum(by_answer.get(r["answer"], "oos") != intent for r, intent in hits)
    embedder = get_embedder("en")
    prefix = cache_rules.Stream(
        "end_to_end",
        stream.texts[:n],
        stream.intents[:n],
        embedder.embed([strip_greetings(text) for text in stream.texts[:n]]),  # as the app does
        embedder.embed([answer(text) for text in stream.texts[:n]]),
        np.zeros((n, 1), dtype=np.float32),
        stream.personal[:n],
    ).prepare()
    simulated = cache_rules.replay(prefix, shipped_rule())
    return {
        "questions": n,
        "hits": len(hits),
        "wrong_hits": wrong,
        "upstream_calls": simulator.stats.requests,
        "simulated_hits": simulated["hits"],
        "simulated_wrong_hits": simulated["wrong_hits"],
    }


def rule_latency(vectors: np.ndarray, texts: list[str], entries: int = 10_000) -> dict:
    """Lookup latency at `entries` entries in one scope, today's fixed threshold against the
    support rule: index search, the rule and the row fetch (`cache_find`; the question's
    embedding is the same for both and left out). Entries are CLINC questions (answer
    embeddings: their question vector moved a little, so near entries agree as answers to one
    topic do), queries other CLINC questions."""
    from django.test import override_settings

    from chatbot.cache.index import bump_inserts, bump_removals, reset_index
    from chatbot.cache.models import CachedAnswer
    from chatbot.cache.pii import is_personal
    from chatbot.cache.scope import current_scope
    from chatbot.cache.selectors import CacheLookup, cache_find

    rng = np.random.default_rng(SEED)
    order = rng.permutation(len(vectors))
    stored, asked = order[:entries], [i for i in order[entries:] if not is_personal(texts[i])]
    answers = vectors[stored] + rng.normal(0, 0.02, (entries, vectors.shape[1])).astype(np.float32)
    answers /= np.linalg.norm(answers, axis=1, keepdims=True)
    scope = current_scope(locale="en", context="")
    expires = timezone_now() + _days(7)
    CachedAnswer.objects.bulk_create(
        CachedAnswer(
            question=texts[i],
            normalised=f"rule-latency {n}",
            answer=f"answer {n}",
            embedding=vectors[i].tobytes(),
            answer_embedding=answers[n].tobytes(),
            locale="en",
            knowledge_version=scope.knowledge_version,
            config_fingerprint=scope.config,
            scope_key=scope.key,
            expires_at=expires,
        )
        for n, i in enumerate(stored)
    )
    bump_inserts()
    rules = {
        "today": override_settings(ANSWER_CACHE_THRESHOLD=TODAY_THRESHOLD, ANSWER_CACHE_SUPPORT=1),
        "support": override_settings(),
    }
    out: dict[str, Any] = {"entries": entries}
    for name, rule in rules.items():
        with rule:
            cache_find(CacheLookup("miss", "warm up", None, scope, vectors[asked[0]]))
            timings, hits = [], 0
            for i in asked[:400]:
                t0 = time.perf_counter()
                hits += cache_find(CacheLookup("miss", texts[i], None, scope, vectors[i])).hit
                timings.append((time.perf_counter() - t0) * 1000)
        out[name] = {
            "search_p50_ms": round(float(np.percentile(timings, 50)), 2),
            "search_p99_ms": round(float(np.percentile(timings, 99)), 2),
            "hits": hits,
            "queries": len(timings),
        }
    CachedAnswer.objects.all().delete()
    bump_removals()
    reset_index()
    return out


def lookup_latency(vectors: np.ndarray, texts: list[str], entries: int = 100_000) -> dict:
    """Cache-hit lookup at `entries` entries in one scope: CLINC questions plus perturbed
    copies of them; queries are stored questions asked again (hits)."""
    from chatbot.cache.index import bump_inserts, get_index
    from chatbot.cache.models import CachedAnswer
    from chatbot.cache.scope import current_scope
    from chatbot.cache.selectors import CacheLookup, cache_find, cache_lookup
    from knowledge.embeddings import get_embedder

    rng = np.random.default_rng(SEED)
    scope = current_scope(locale="en", context="")
    extra = entries - len(vectors)
    noisy = vectors[rng.integers(0, len(vectors), extra)]
    noisy = noisy + rng.normal(0, 0.04, noisy.shape).astype(np.float32)
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    matrix = np.vstack([vectors, noisy]).astype(np.float32)
    expires = timezone_now() + _days(7)
    for start in range(0, entries, 5000):
        CachedAnswer.objects.bulk_create(
            CachedAnswer(
                question=texts[i] if i < len(texts) else f"variant {i}",
                normalised=str(i),
                answer=f"answer {i}",
                embedding=matrix[i].tobytes(),
                locale="en",
                knowledge_version=scope.knowledge_version,
                config_fingerprint=scope.config,
                scope_key=scope.key,
                expires_at=expires,
            )
            for i in range(start, min(start + 5000, entries))
        )
    bump_inserts()
    started = time.perf_counter()
    get_index().search(matrix[0], scope_key=scope.key, k=2)
    load_s = time.perf_counter() - started
    from chatbot.cache.pii import is_personal
    from knowledge.greetings import strip_greetings

    # Asked again as stored: no personal details, nothing the lookup strips off the front.
    picks = [
        i
        for i in rng.choice(len(texts), 320, replace=False)
        if not is_personal(texts[i]) and strip_greetings(texts[i]) == texts[i]
    ]
    get_embedder().embed(["warm up"])
    total, search = [], []
    for i in picks:
        t0 = time.perf_counter()
        found = cache_lookup(text=texts[i], locale="en", history=())
        total.append((time.perf_counter() - t0) * 1000)
        assert found.hit, texts[i]
        t0 = time.perf_counter()
        cache_find(CacheLookup("miss", texts[i], found.context, scope, found.vector))
        search.append((time.perf_counter() - t0) * 1000)
    # How often the PCA shortlist finds the exact nearest entry for unseen questions.
    queries = vectors[rng.choice(len(vectors), 300, replace=False)] + rng.normal(
        0, 0.05, (300, vectors.shape[1])
    ).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    exact = np.argmax(queries @ matrix.T, axis=1)
    first_id = (
        CachedAnswer.objects.filter(scope_key=scope.key).order_by("id").values_list("id", flat=True)
    ).first()
    agree = np.mean(
        [
            get_index().search(q, scope_key=scope.key, k=1)[0][0] - first_id == e
            for q, e in zip(queries, exact, strict=True)
        ]
    )
    return {
        "entries": entries,
        "index_load_s": round(load_s, 2),
        "lookup_p50_ms": round(float(np.percentile(total, 50)), 2),
        "lookup_p99_ms": round(float(np.percentile(total, 99)), 2),
        "search_p50_ms": round(float(np.percentile(search, 50)), 2),
        "search_p99_ms": round(float(np.percentile(search, 99)), 2),
        "shortlist_top1_agreement": round(float(agree), 4),
    }


def stampede(n: int = 50) -> dict[str, int]:
    """`n` visitors ask the same new question at once through the real pipeline."""
    from chatbot import services
    from chatbot.answer_trace import Trace
    from chatbot.llm.client import clients_close
    from chatbot.llm.simulator import Faults, UpstreamSimulator
    from chatbot.pipeline.base import DoneEvent
    from chatbot.pipeline.orchestrator import run_pipeline
    from chatbot.pipeline.registry import configured_stages

    question = "Can I change the delivery address after ordering?"
    # An answer in the help centre's words: the simulator's default restates the question, and
    # an answer repeating words of the question that the knowledge base does not hold is never
    # shared (chatbot.cache.echo), so nobody would be served from the cache.
    simulator = UpstreamSimulator(
        answer=lambda _: "Yes, until the parcel ships: open the order page and choose Edit.",
        faults=Faults(first_token_delay_s=0.5),
    ).start()

    def turn(i: int) -> Any:
        conversation = services.conversation_start(locale="en")
        message, _ = services.visitor_message_store(
            conversation=conversation, client_id=f"stampede-{i}", text=question
        )
        return services.turn_build(message=message)

    async def ask(t: Any) -> str:
        async for event in run_pipeline(t, configured_stages(), Trace()):
            if isinstance(event, DoneEvent):
                return event.source
        return ""

    async def everyone() -> list[str]:
        try:
            return await asyncio.gather(*(ask(t) for t in turns))
        finally:
            await clients_close()

    turns = [turn(i) for i in range(n)]

    try:
        with _pipeline_settings(simulator):
            sources = asyncio.run(everyone())
    finally:
        simulator.stop()
    return {
        "visitors": n,
        "upstream_calls": simulator.stats.requests,
        "served_from_cache": sources.count("cache"),
    }


def timezone_now() -> Any:
    from django.utils import timezone

    return timezone.now()


def _days(n: int) -> Any:
    from datetime import timedelta

    return timedelta(days=n)


def benchmark(embeddings: Path | None = None, end_to_end_questions: int = 300) -> tuple[str, dict]:
    from bench import cache_rules

    cache_dir = embeddings.parent if embeddings else cache_rules.ROOT / "var" / "bench"
    rule_streams, _ = cache_rules.build_streams(cache_dir)
    rules = {
        "support": shipped_rule(),
        "today": cache_rules.Rule(TODAY_THRESHOLD),
        "baseline": cache_rules.Rule(BASELINE_THRESHOLD),
    }
    figures: dict[str, Any] = {
        "rules": {
            stream: {
                name: cache_rules.test_result(rule_streams, stream, rule)
                for name, rule in rules.items()
            }
            for stream in RULE_STREAMS
        }
    }
    use_streams, _ = cache_rules.build_streams(cache_dir, "use")
    figures["use_rules"] = {
        stream: cache_rules.test_result(use_streams, stream, shipped_rule(USE_MODEL))
        for stream in USE_STREAMS
    }
    streams = load_streams(embeddings)
    with django_database():
        started = time.perf_counter()
        figures["end_to_end"] = end_to_end(streams["test"], end_to_end_questions)
        print(f"end to end: {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)
        figures["stampede"] = stampede()
        all_texts = streams["tune"].texts + streams["test"].texts
        all_vectors = np.vstack([streams["tune"].vectors, streams["test"].vectors])
        figures["rule_latency"] = rule_latency(all_vectors, all_texts)
        figures["latency"] = lookup_latency(all_vectors, all_texts)
    figures["verdicts"] = dump(cache_verdicts(figures))
    return markdown(figures), figures


def cache_verdicts(f: dict[str, Any]) -> list[Verdict]:
    """The cache's promises: on each stream, the shipped rule's wrong hits within the 1% budget,
    and the issue's target (>= 30% hits at <= 1% wrong per hit) for the shipped rule and today's
    fixed threshold side by side; the real pipeline doing what the replay predicts; one upstream
    call per stampede; fast hits."""
    e2e, crowd, lat = f["end_to_end"], f["stampede"], f["latency"]
    verdicts = []
    for stream, title in RULE_STREAMS.items():
        shipped = f["rules"][stream]["support"]
        verdicts.append(
            Verdict(
                f"support rule on the {title} stream: wrong/hit <= {MAX_WRONG:.0%}",
                f"wrong/hit {shipped['wrong_per_hit']:.2%} ({shipped['wrong_hits']} of "
                f"{shipped['hits']}; 95% upper bound {shipped['wrong_per_hit_upper95']:.2%})",
                shipped["wrong_per_hit"] <= MAX_WRONG,
            )
        )
        for name, label in (("support", "support rule"), ("today", f"fixed {TODAY_THRESHOLD}")):
            r = f["rules"][stream][name]
            within = r["wrong_per_hit"] <= MAX_WRONG
            verdicts.append(
                Verdict(
                    f"{label} on the {title} stream: hit rate >= {TARGET_HIT_RATE:.0%} at "
                    f"wrong/hit <= {MAX_WRONG:.0%}",
                    f"hit rate {r['hit_rate']:.2%} at wrong/hit {r['wrong_per_hit']:.2%}",
                    within and r["hit_rate"] >= TARGET_HIT_RATE,
                )
            )
    for stream, title in USE_STREAMS.items():
        r = f["use_rules"][stream]
        verdicts.append(
            Verdict(
                f"USE (zh-hans) point on the {title} stream: wrong/hit <= {MAX_WRONG:.0%}",
                f"wrong/hit {r['wrong_per_hit']:.2%} ({r['wrong_hits']} of {r['hits']}; 95% "
                f"upper bound {r['wrong_per_hit_upper95']:.2%}) at hit rate {r['hit_rate']:.2%}",
                r["wrong_per_hit"] <= MAX_WRONG,
            )
        )
    return [
        *verdicts,
        Verdict(
            "end to end, the real pipeline's hits and wrong hits are the ones the replay predicts",
            f"{e2e['hits']} hits, {e2e['wrong_hits']} wrong (predicted {e2e['simulated_hits']}, "
            f"{e2e['simulated_wrong_hits']})",
            (e2e["hits"], e2e["wrong_hits"])
            == (e2e["simulated_hits"], e2e["simulated_wrong_hits"]),
        ),
        Verdict(
            f"{crowd['visitors']} concurrent identical questions make one upstream call",
            f"{crowd['upstream_calls']} upstream call(s)",
            crowd["upstream_calls"] == 1,
        ),
        Verdict(
            f"cache-hit lookup at {lat['entries']:,} entries, embedding included: p50 <= "
            f"{TARGET_LOOKUP_P50_MS:g} ms",
            f"p50 {lat['lookup_p50_ms']} ms",
            lat["lookup_p50_ms"] <= TARGET_LOOKUP_P50_MS,
        ),
    ]


def markdown(f: dict[str, Any]) -> str:
    lat, e2e, rl = f["latency"], f["end_to_end"], f["rule_latency"]
    names = {
        "support": "support rule (shipped: " + shipped_rule().name + ")",
        "today": f"fixed threshold {TODAY_THRESHOLD} (before)",
        "baseline": f"fixed threshold {BASELINE_THRESHOLD} (GPTCache/RedisVL style)",
    }
    rows = [
        f"| {RULE_STREAMS[stream]} | {names[name]} | {r['hit_rate']:.1%} "
        f"| {r['wrong_per_hit']:.2%} ({r['wrong_hits']}/{r['hits']}) "
        f"| {r['wrong_per_hit_upper95']:.2%} "
        f"| {r['strict_wrong_per_hit']:.2%} |"
        for stream, by_rule in f["rules"].items()
        for name, r in by_rule.items()
    ]
    use_rows = [
        f"| {USE_STREAMS[stream]} | {r['hit_rate']:.1%} "
        f"| {r['wrong_per_hit']:.2%} ({r['wrong_hits']}/{r['hits']}) "
        f"| {r['wrong_per_hit_upper95']:.2%} |"
        for stream, r in f["use_rules"].items()
    ]
    timing = [
        f"| {names[name]} | {rl[name]['search_p50_ms']} | {rl[name]['search_p99_ms']} "
        f"| {rl[name]['hits']}/{rl[name]['queries']} |"
        for name in ("today", "support")
    ]
    return "\n".join(
        [
            "## Semantic cache (CLINC150 streams, all-MiniLM-L6-v2)",
            "",
            "Questions shuffled into a stream; a miss is answered by an upstream whose answer "
            "text depends on the intent (three phrasings each) and stored. Stress: the 50 CLINC "
            "intents whose nearest other intent is closest, 20% out-of-scope (the held-out banking "
            "failure). Single-business: each of CLINC150's ten domains (15 sibling intents, as "
            "one business's questions are) its own stream and cache, 20% out-of-scope, pooled. "
            "Parameters tuned on val + train draws only (bench/cache_rules.py).",
            "",
            "| stream | rule | hit rate | wrong / hit | 95% upper (Clopper-Pearson) "
            "| strict wrong / hit (oos→oos counted) |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            "The zh-hans model's point (USE multilingual v3, shipped: "
            f"{shipped_rule(USE_MODEL).name}) on the same streams embedded by USE, and on the "
            "Chinese shop set as one dense stream (bench/data/zh_faq_eval.json: 45 FAQs, every "
            "phrasing and question once, near-miss and out-of-scope questions right only with "
            "an entry of their own words):",
            "",
            "| stream | hit rate | wrong / hit | 95% upper (Clopper-Pearson) |",
            "|---|---|---|---|",
            *use_rows,
            "",
            f"Lookup at {rl['entries']:,} entries, unseen questions: index search + rule + row "
            "fetch in ms (the question's embedding, the same for both, left out):",
            "",
            "| rule | p50 | p99 | hits |",
            "|---|---|---|---|",
            *timing,
            "",
            f"End to end (real pipeline, first {e2e['questions']} test questions): "
            f"{e2e['hits']} hits, {e2e['wrong_hits']} wrong, {e2e['upstream_calls']} upstream "
            f"calls (the simulation predicts {e2e['simulated_hits']} hits, "
            f"{e2e['simulated_wrong_hits']} wrong).",
            "",
            f"Cache-hit lookup at {lat['entries']:,} entries: p50 {lat['lookup_p50_ms']} ms, "
            f"p99 {lat['lookup_p99_ms']} ms including the question's embedding; index search + "
            f"row fetch p50 {lat['search_p50_ms']} ms, p99 {lat['search_p99_ms']} ms "
            f"(PCA shortlist finds the exact nearest entry {lat['shortlist_top1_agreement']:.1%}"
            f" of the time; index load {lat['index_load_s']} s).",
            "",
            f"Stampede: {f['stampede']['visitors']} concurrent identical questions → "
            f"{f['stampede']['upstream_calls']} upstream call(s), "
            f"{f['stampede']['served_from_cache']} served from the cache.",
            "",
            verdict_lines(load(f["verdicts"])),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("bench/results/cache.json"))
    parser.add_argument("--embeddings", type=Path, default=None, help="embedding cache (.npz)")
    args = parser.parse_args()
    text, figures = benchmark(args.embeddings)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2, default=float) + "\n")
    print(text)


if __name__ == "__main__":
    main()
