"""`make bench`: run every benchmark once and write docs/benchmarks.md (also printed to stdout).

Each section is a function `section_*(ctx) -> Section` returning markdown plus a dict of the raw
figures; every figure is shown beside a baseline measured in the same run, and every section
states its targets and shows PASS or FAIL against them (bench/verdicts.py). The report and the
terminal end with every verdict; the command exits with 1 when one failed. Add a section by
writing such a function and listing it in `SECTIONS`. Embeddings are cached under var/bench/,
so reruns skip the slow part (the first run embeds ~25k CLINC150 sentences, ~3 minutes on 2 cores).

    python -m bench.run [--out docs/benchmarks.md] [--only faq_latency ...] [--queries 300]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import logging
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench import verdicts
from bench.faq_matching import MAX_WRONG, shipped_policy
from bench.loadtest import PROD_STORED_TTFT_P99_MS, STORED_SOURCES, TARGET_STORED_TTFT_P99_MS
from bench.verdicts import Verdict
from knowledge.matching import DEFAULT_K, FixedThresholdPolicy, top_k

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = ROOT / "var" / "bench"
DOC = ROOT / "docs" / "benchmarks.md"
SIZES = (1_000, 10_000, 100_000)
TARGET_SIZE = 10_000
TARGET_P50_MS = 10.0
TARGET_P99_MS = 25.0
TILE_NOISE = 0.01  # per-dimension std of the noise added to tiled copies (before re-normalising)

Embed = Callable[[list[str]], np.ndarray]


@dataclass
class Context:
    cache_dir: Path = CACHE_DIR
    queries: int = 300
    sizes: Sequence[int] = SIZES
    seed: int = 0
    started: float = field(default_factory=time.perf_counter)


@dataclass
class Section:
    key: str
    title: str
    markdown: str
    data: dict
    verdicts: list[Verdict] = field(default_factory=list)  # shown in `markdown` too
    seconds: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average at its start and end


# --- helpers -------------------------------------------------------------------------------


def percentiles_ms(seconds: Sequence[float]) -> dict[str, float]:
    p50, p99 = np.percentile(np.asarray(seconds) * 1000, [50, 99])
    return {"p50": float(p50), "p99": float(p99)}


def stage_latency_verdict(where: str, full: dict[str, float]) -> Verdict:
    """The FAQ stage's latency target (embedding the question included), wherever measured."""
    return Verdict(
        f"{where}: p50 <= {TARGET_P50_MS:g} ms and p99 <= {TARGET_P99_MS:g} ms",
        f"p50 {full['p50']:.2f} ms, p99 {full['p99']:.2f} ms",
        full["p50"] <= TARGET_P50_MS and full["p99"] <= TARGET_P99_MS,
    )


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _read_first(path: str, prefix: str) -> str:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def machine() -> dict[str, str]:
    mem_kb = _read_first("/proc/meminfo", "MemTotal")
    try:
        ram = f"{int(mem_kb.split()[0]) / 1024**2:.1f} GiB"
    except (ValueError, IndexError):
        ram = mem_kb
    info = {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": _read_first("/proc/cpuinfo", "model name"),
        "ram": ram,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    try:
        import torch

        info["torch"] = f"{torch.__version__} ({torch.get_num_threads()} intra-op threads)"
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_info

        pools = {f"{p['internal_api']} {p['num_threads']}" for p in threadpool_info()}
        info["thread pools"] = ", ".join(sorted(pools)) + (
            f"; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}"
        )
    except ImportError:
        pass
    info["load average (1 min) at the end"] = f"{os.getloadavg()[0]:.2f}"
    return info


def embedded_queries(
    queries: Sequence[str],
    warmup: int,
    embed: Embed,
    clock: Callable[[], float] = time.perf_counter,
) -> Iterator[tuple[bool, int, np.ndarray, float]]:
    """(warm-up?, position, vector, seconds to embed) for the first `warmup` queries, then for
    every query: each is embedded live once, as a visitor's question is, before it is timed."""
    for warm in (True, False):
        gc.collect()
        for q, text in enumerate(queries[:warmup] if warm else queries):
            t0 = clock()
            vector = embed([text])[0]
            yield warm, q, vector, clock() - t0


def clinc() -> dict[str, list[list[str]]]:
    from bench.faq_matching import DATA

    return json.loads(DATA.read_text())


MODEL_DIR = ROOT / "var" / "models"


def minilm_embed() -> Embed:
    """The app's embedder: all-MiniLM-L6-v2 on ONNX Runtime."""
    from knowledge.embeddings import MiniLMEmbedder

    return MiniLMEmbedder(model_dir=MODEL_DIR, threads=2).embed


def torch_minilm_embed() -> Embed:
    """The reference it replaced: the same model through sentence-transformers and PyTorch."""
    from knowledge.embeddings import TorchMiniLMEmbedder

    return TorchMiniLMEmbedder().embed


# --- a. FAQ matching quality on CLINC150 ---------------------------------------------------


RATE_KEYS = ("coverage", "wrong_per_total", "wrong_per_answered")
RATE_NAMES = ("coverage", "wrong/total", "wrong/answered")


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


TARGET_FAQ_COVERAGE = 0.30  # issue 14: of in-store questions, at <= 1% wrong per answer


def faq_quality_verdicts(report: dict) -> list[Verdict]:
    """The operating point the app ships (settings default) keeps within the 1% budget on
    test, per answer given and per question asked, and recognises enough phrasings."""
    test = report["default"]["test"]
    within = test["wrong_per_answered"] <= MAX_WRONG and test["wrong_per_total"] <= MAX_WRONG
    return [
        Verdict(
            f"settings default on CLINC150 test: wrong/answered and wrong/total <= "
            f"{_pct(MAX_WRONG)}",
            f"wrong/answered {_pct(test['wrong_per_answered'])}, wrong/total "
            f"{_pct(test['wrong_per_total'])}",
            within,
        ),
        Verdict(
            f"settings default on CLINC150 test: coverage >= {TARGET_FAQ_COVERAGE:.0%} of in-store "
            f"questions at wrong/answered <= {_pct(MAX_WRONG)}",
            f"coverage {_pct(test['coverage'])} at wrong/answered "
            f"{_pct(test['wrong_per_answered'])}",
            within and test["coverage"] >= TARGET_FAQ_COVERAGE,
        ),
        *close_intents_verdicts(report),
        *domain_verdicts(report),
        *lone_verdicts(report),
    ]


def domain_verdicts(report: dict) -> list[Verdict]:
    """The shipped point on single-business stores (one CLINC150 domain's intents as FAQs)."""
    domains = report.get("domains", {})
    if "default" not in domains:
        return []
    test = domains["default"]["test"]
    return [
        Verdict(
            f"settings default on single-business stores ({domains['faqs']} of a CLINC150 "
            f"domain's 15 intents as FAQs), test: wrong/answered <= {_pct(MAX_WRONG)}",
            f"{test['wrong']}/{test['answered']} ({_pct(test['wrong_per_answered'])}), coverage "
            f"{_pct(test['coverage'])}; {domains['default']['stores_within']} of "
            f"{domains['default']['stores']} stores within 1%",
            test["wrong_per_answered"] <= MAX_WRONG,
        )
    ]


def domain_markdown(report: dict, label: dict[str, str]) -> list[str]:
    """Rows for the single-business stores."""
    domains = report.get("domains", {})
    rows = [
        [label[name], split, _pct(r["coverage"]), _pct(r["wrong_per_answered"]),
         f"{r['wrong']}/{r['answered']}/{r['queries']}",
         f"{domains[name]['stores_within']}/{domains[name]['stores']}" if split == "test" else ""]
        for name in label
        if name in domains
        for split, r in ((s, domains[name][s]) for s in ("val", "test"))
    ]  # fmt: skip
    if not rows:
        return []
    return [
        "",
        f"Single-business stores, as a customer's store is one business: per CLINC150 domain "
        f"(banking, credit cards, travel, work, ...: 15 sibling intents each) and seed "
        f"{domains['seeds']}, {domains['faqs']} of its intents are the FAQs (5 phrasings each); "
        "asked with all of the domain's questions (its other intents are the same business's "
        "questions the store lacks) and 100 out-of-scope ones; the same parameters:",
        "",
        table(
            ["policy", "split", "coverage", "wrong/answered", "wrong/answered/queries",
             "stores within 1% (test)"],
            rows,
        ),
    ]  # fmt: skip


def lone_verdicts(report: dict) -> list[Verdict]:
    """The shipped point on stores where every FAQ, or a share, has one phrasing."""
    out = []
    for share, entry in report.get("lone", {}).items():
        test = entry["default"]["test"]
        before = entry["before"]["test"]
        out.append(
            Verdict(
                f"settings default, {float(share):.0%} of the FAQs with one phrasing, CLINC150 "
                f"test: wrong/answered <= {_pct(MAX_WRONG)}",
                f"{test['wrong']}/{test['answered']} ({_pct(test['wrong_per_answered'])}), "
                f"coverage {_pct(test['coverage'])} (without the lone threshold: "
                f"{_pct(before['coverage'])})",
                test["wrong_per_answered"] <= MAX_WRONG and test["wrong_per_total"] <= MAX_WRONG,
            )
        )
    return out


def lone_markdown(report: dict) -> list[str]:
    """Rows for the stores whose FAQs (all, or a share) have one phrasing."""
    label = {
        "default": "MatchPolicy, settings default (chosen)",
        "before": "the same without its lone threshold (before)",
        "tuned": "lone threshold tuned on val",
        "baseline": "FixedThresholdPolicy, tuned on val (baseline)",
    }
    rows = []
    for share, entry in report.get("lone", {}).items():
        for name in label:
            if name not in entry:
                continue
            params = ", ".join(f"{k}={v:g}" for k, v in entry[name]["params"].items())
            v, t = entry[name]["val"], entry[name]["test"]
            rows.append(
                [f"{float(share):.0%}", label[name], params]
                + [_pct(r[k]) for r in (v, t) for k in RATE_KEYS]
                + [f"{t['wrong']}/{t['answered']}/{t['queries']}"]
            )
    if not rows:
        return []
    within = "; ".join(
        f"{float(share):.0%}: {e['stores_within']}/{e['stores']}"
        for share, e in report["lone"].items()
    )
    return [
        "",
        "FAQs with one phrasing (a store imported as plain question / answer pairs, or new FAQs "
        "before their paraphrases are approved): the same stores where every FAQ, or a seeded "
        "20% of them, keeps only its first phrasing. Such an FAQ has no second phrasing to take "
        "support from; its best cosine must reach `lone_threshold` instead (before: only exact "
        "repeats answered). Stores within 1% wrong/answered on test with the settings default, "
        f'of the 16: {within} (docs/faq-format.md, "FAQs with one phrasing", says which '
        "answers are wrong).",
        "",
        table(
            [
                "FAQs with one phrasing",
                "policy",
                "parameters",
                *(f"{split} {k}" for split in ("val", "test") for k in RATE_NAMES),
                "test wrong/answered/queries",
            ],
            rows,
        ),
    ]


def close_intents_verdicts(report: dict) -> list[Verdict]:
    """The shipped point on the store of look-alike intents (the held-out banking failure)."""
    close = report.get("close_intents", {}).get("default")
    if close is None:
        return []
    test = close["test"]
    return [
        Verdict(
            f"settings default on the store of the {len(report['close_intents']['intents'])} "
            f"CLINC150 intents closest to another, test: wrong/answered <= {_pct(MAX_WRONG)}",
            f"{test['wrong']}/{test['answered']} ({_pct(test['wrong_per_answered'])}), "
            f"coverage {_pct(test['coverage'])}",
            test["wrong_per_answered"] <= MAX_WRONG,
        )
    ]


def section_faq_quality(ctx: Context) -> Section:
    """Runs bench/faq_matching.py as is and renders its JSON (chosen policy vs baseline)."""
    ctx.cache_dir.mkdir(parents=True, exist_ok=True)
    out = ctx.cache_dir / "faq_matching.json"
    cmd = [sys.executable, "-m", "bench.faq_matching", "--out", str(out)]
    cmd += ["--cache", str(ctx.cache_dir / "clinc_eval.npz")]
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    report = json.loads(out.read_text())
    names = [n for n in ("chosen", "default", "baseline") if report.get(n)]
    label = {
        "chosen": "MatchPolicy, tuned on val (chosen)",
        "default": "MatchPolicy, settings default",
        "baseline": "FixedThresholdPolicy, tuned on val (baseline)",
    }

    def params(name: str) -> str:
        return ", ".join(f"{k}={v:g}" for k, v in report[name]["params"].items())

    points = []
    for name in names:
        v, t = report[name]["val"], report[name]["test"]
        points.append(
            [
                label[name],
                params(name),
                *(_pct(r[k]) for r in (v, t) for k in RATE_KEYS),
                f"{t['wrong']}/{t['answered']}/{t['queries']}",
            ]
        )
    groups = []
    for name in names:
        for split in ("val", "test"):
            r = report[name][split]
            groups.append(
                [label[name], split]
                + [_pct(r[f"wrong_rate_{g}"]) for g in ("in_store", "other_intent", "oos")]
            )
    matched = report.get("matched_test", {})
    limits = sorted({k for m in matched.values() for k in m}, key=float)
    matched_rows = [
        [label[n]] + [_pct(matched[n][k]) for k in limits]
        for n in ("chosen", "baseline")
        if n in matched
    ]
    robust_rows, ok = [], {"chosen": 0, "baseline": 0}
    for spec, entry in report.get("robustness", {}).items():
        row = [spec]
        for name in ("chosen", "baseline"):
            r = entry.get(name)
            row += [_pct(r["coverage"]), _pct(r["wrong_per_answered"])] if r else ["-", "-"]
            ok[name] += bool(r and r["wrong_per_answered"] <= 0.01)
        robust_rows.append(row)
    n_stores = len(robust_rows)
    proto = report.get("protocol", {})

    md = [
        f"Stores of {proto.get('intents', '?')} CLINC150 intents x 5 `train` phrasings, "
        f"seeds {proto.get('tune_seeds', '?')} pooled; parameters tuned on `val`+`oos_val` "
        "for wrong/total and wrong/answered <= 1% at the best coverage, then reported on "
        "`test`+`oos_test`. Wrong counts below are wrong/answered/queries on test.",
        "",
        table(
            [
                "policy",
                "parameters",
                *(f"{split} {k}" for split in ("val", "test") for k in RATE_NAMES),
                "test wrong/answered/queries",
            ],
            points,
        ),
        "",
        "Wrong answers per query group (wrong answers / queries of that group):",
        "",
        table(["policy", "split", "in-store (wrong FAQ)", "other intent", "out-of-scope"], groups),
    ]
    word_check = report.get("word_check")
    if word_check:
        with_, without = word_check["with"]["test"], word_check["without"]["test"]
        md += [
            "",
            "The settings default includes the FAQ stage's word check (knowledge/faq_words.py; "
            'docs/faq-format.md, "The word check"). The same point without it, same stores, '
            f"test: coverage {_pct(without['coverage'])} at wrong/answered "
            f"{_pct(without['wrong_per_answered'])} ({without['wrong']}/{without['answered']}); "
            f"with it: {_pct(with_['coverage'])} at {_pct(with_['wrong_per_answered'])} "
            f"({with_['wrong']}/{with_['answered']}).",
        ]
    if matched_rows:
        md += [
            "",
            "Test coverage at matched test wrong/answered (threshold re-swept on test, so both "
            "rules are compared at equal wrong rates):",
            "",
            table(
                ["policy"] + [f"wrong/answered <= {_pct(float(k))}" for k in limits], matched_rows
            ),
        ]
    if robust_rows:
        md += [
            "",
            f"Robustness on test, same parameters, other seeds / store sizes (seed:intents): "
            f"wrong/answered <= 1% in {ok['chosen']}/{n_stores} stores for the chosen policy, "
            f"{ok['baseline']}/{n_stores} for the baseline.",
            "",
            table(
                [
                    "store",
                    *(f"{n} {k}" for n in ("chosen", "baseline") for k in RATE_NAMES[::2]),
                ],
                robust_rows,
            ),
        ]
    close = report.get("close_intents", {})
    close_rows = [
        [label[name], split, _pct(r["coverage"]), _pct(r["wrong_per_answered"]),
         f"{r['wrong']}/{r['answered']}/{r['queries']}"]
        for name in names
        if name in close
        for split, r in close[name].items()
    ]  # fmt: skip
    if close_rows:
        md += [
            "",
            f"A store of look-alike FAQs, as the held-out banking store is (its card and "
            f"transfer families; 1.79% wrong there at 0.81 / 0.08): the "
            f"{len(close['intents'])} intents whose nearest other intent is closest (centroids "
            "of their store phrasings), 5 phrasings each, the same parameters, queried with all "
            "of val / test and out-of-scope:",
            "",
            table(["policy", "split", "coverage", "wrong/answered", "wrong/answered/queries"],
                  close_rows),
        ]  # fmt: skip
    md += domain_markdown(report, label)
    md += lone_markdown(report)
    checked = faq_quality_verdicts(report)
    md += ["", f"Command: `{shlex.join(['python', *cmd[1:]])}`", "", verdicts.markdown(checked)]
    return Section(
        "faq_quality", "FAQ matching quality on CLINC150", "\n".join(md), report, checked
    )


# --- b. FAQ stage latency -------------------------------------------------------------------


def naive_top_k(
    embeddings: np.ndarray, faq_ids: np.ndarray, query: np.ndarray, k: int = DEFAULT_K
) -> tuple[np.ndarray, np.ndarray]:
    """Baseline search: score everything and fully sort (np.argsort) instead of argpartition."""
    sims = embeddings @ query.astype(np.float32, copy=False)
    order = np.argsort(-sims, kind="stable")[:k]
    return faq_ids[order], sims[order]


def store_of_size(
    vectors: np.ndarray, faq_ids: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """`n` stored paraphrases: a random subset of `vectors`, or, beyond their count, noisy copies
    (per-dimension Gaussian noise of std TILE_NOISE, re-normalised to unit length)."""
    if n <= len(vectors):
        pick = rng.choice(len(vectors), n, replace=False)
        return np.ascontiguousarray(vectors[pick]), faq_ids[pick]
    extra = rng.integers(0, len(vectors), n - len(vectors))
    copies = vectors[extra] + TILE_NOISE * rng.standard_normal(
        (len(extra), vectors.shape[1])
    ).astype(np.float32)
    copies /= np.linalg.norm(copies, axis=1, keepdims=True)
    store = np.ascontiguousarray(np.vstack([vectors, copies]).astype(np.float32))
    return store, np.concatenate([faq_ids, faq_ids[extra]])


VARIANTS = {
    "chosen": ("MatchPolicy + argpartition top-k (chosen)", "top_k", shipped_policy()),
    "fixed": (
        "FixedThresholdPolicy + argpartition top-k (baseline: decision)",
        "top_k",
        FixedThresholdPolicy(),
    ),
    "naive": (
        "MatchPolicy + full np.argsort (baseline: naive search)",
        "argsort",
        shipped_policy(),
    ),
}
PARTS = ("embed", "search", "decide", "full")


def section_faq_latency(
    ctx: Context,
    *,
    store_vectors: np.ndarray | None = None,
    store_faq_ids: np.ndarray | None = None,
    queries: list[str] | None = None,
    embed: Embed | None = None,
    reference_embed: Embed | None = None,
    warmup: int = 20,
    target_size: int = TARGET_SIZE,
    clock: Callable[[], float] = time.perf_counter,
) -> Section:
    """p50/p99 of embed + top-k search + decision per store size, chosen vs two baselines, and
    the embedding alone: ONNX Runtime (chosen) vs sentence-transformers on PyTorch (baseline).
    `clock` times the stage (tests pass a fake one, so the verdict is known).

    By default: the store is CLINC150's distinct `train` utterances (FAQ = intent) embedded once
    with MiniLM (cached), queries are `test` utterances embedded live one at a time. Tests pass a
    tiny store, a few queries and fake embedders.
    """
    rng = np.random.default_rng(ctx.seed)
    described, asked = "caller-supplied vectors", "caller-supplied queries"
    if store_vectors is None or store_faq_ids is None or queries is None:
        from bench.faq_matching import embed_all

        data = clinc()
        train = list(dict.fromkeys((t, i) for t, i in data["train"]))
        intents = {i: n for n, i in enumerate(sorted({i for _, i in train}))}
        ctx.cache_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        store_vectors = embed_all([t for t, _ in train], ctx.cache_dir / "clinc_train.npz")
        print(f"  store: {len(train)} train utterances embedded in {time.perf_counter() - t0:.0f}s")
        store_faq_ids = np.array([intents[i] for _, i in train], dtype=np.int64)
        test = [t for t, _ in data["test"]]
        queries = [test[i] for i in rng.choice(len(test), min(ctx.queries, len(test)), False)]
        described = (
            f"{len(train)} distinct CLINC150 `train` utterances (FAQ id = intent), MiniLM "
            "embeddings computed once"
        )
        asked = "CLINC150 `test` utterances"
    embed = embed or minilm_embed()
    reference_embed = reference_embed or torch_minilm_embed()
    store_faq_ids = np.asarray(store_faq_ids)
    embedders = embedding_comparison(embed, reference_embed, queries, warmup)

    results: dict[int, dict] = {}
    agree = True
    for size in ctx.sizes:
        store, ids = store_of_size(store_vectors, store_faq_ids, size, rng)
        search = {
            "top_k": lambda v, store=store, ids=ids: top_k(store, ids, v, DEFAULT_K),
            "argsort": lambda v, store=store, ids=ids: naive_top_k(store, ids, v, DEFAULT_K),
        }
        times = {name: {p: [] for p in PARTS} for name in VARIANTS}
        names = list(VARIANTS)
        for warm, q, vector, embedded in embedded_queries(queries, warmup, embed, clock):
            for name in names[q % 3 :] + names[: q % 3]:  # each goes first in turn
                _, how, policy = VARIANTS[name]
                t1 = clock()
                found, scores = search[how](vector)
                t2 = clock()
                policy.decide(found, scores)
                t3 = clock()
                if not warm:
                    took = (embedded, t2 - t1, t3 - t2, embedded + t3 - t1)
                    for part, dt_ in zip(PARTS, took, strict=True):
                        times[name][part].append(dt_)
            if warm or q < 20:  # the naive search must find the same neighbours
                a, b = search["top_k"](vector), search["argsort"](vector)
                agree &= bool(np.allclose(a[1], b[1], atol=1e-6))
        results[size] = {
            name: {part: percentiles_ms(times[name][part]) for part in PARTS} for name in VARIANTS
        }
        full = results[size]["chosen"]["full"]
        print(f"  {size:>7} paraphrases: full stage p50 {full['p50']:.2f} ms p99 {full['p99']:.2f}")

    def cell(r: dict) -> str:
        return f"{r['p50']:.3f} / {r['p99']:.3f}"

    def ratio(a: dict, b: dict) -> str:
        return f"{a['p50'] / b['p50']:.2f}x / {a['p99'] / b['p99']:.2f}x"

    rows, ratios = [], []
    for size, by_variant in results.items():
        for name, parts in by_variant.items():
            rows.append([f"{size:,}", VARIANTS[name][0]] + [cell(parts[p]) for p in PARTS])
        c, f, n = by_variant["chosen"], by_variant["fixed"], by_variant["naive"]
        ratios.append(
            [
                f"{size:,}",
                ratio(n["search"], c["search"]),
                ratio(n["full"], c["full"]),
                ratio(c["decide"], f["decide"]),
                ratio(c["full"], f["full"]),
            ]
        )

    target: dict = {"size": target_size, "p50_ms": TARGET_P50_MS, "p99_ms": TARGET_P99_MS}
    where = f"full stage of the chosen variant at {target_size:,} paraphrases"
    if target_size in results:
        verdict = stage_latency_verdict(where, results[target_size]["chosen"]["full"])
    else:
        verdict = Verdict(
            f"{where}: p50 <= {TARGET_P50_MS:g} ms and p99 <= {TARGET_P99_MS:g} ms",
            "not measured (size not in this run)",
            None,
        )
    target["passed"] = verdict.passed

    md = "\n".join(
        [
            f"Store: {described}; sizes above the distinct count are tiled with noisy copies "
            f"(Gaussian noise, std {TILE_NOISE} per dimension, re-normalised — cos ~0.98 to the "
            f"original), smaller sizes are random subsets. {len(queries)} queries per size "
            f"({asked}), each embedded live once, after {warmup} warm-up queries; the three "
            "variants then search and decide on that vector in rotating order (each goes first "
            "after the embedding in turn), and a variant's full stage is the embedding time plus "
            "its own search and decision. "
            f"Top-{DEFAULT_K} exact search in memory (`knowledge.matching.top_k`), no database.",
            "",
            "Latency in ms, p50 / p99:",
            "",
            table(["paraphrases", "variant", "embed", "search", "decide", "full stage"], rows),
            "",
            "Ratios, p50 / p99 (above 1x: the first is slower):",
            "",
            table(
                [
                    "paraphrases",
                    "search: argsort / argpartition",
                    "full stage: naive / chosen",
                    "decide: MatchPolicy / FixedThreshold",
                    "full stage: MatchPolicy / FixedThreshold",
                ],
                ratios,
            ),
            "",
            f"Naive and top-k search return the same neighbours: {'yes' if agree else 'NO'}.",
            "",
            verdicts.markdown([verdict]),
            "",
            embedders["markdown"],
        ]
    )
    data = {
        "sizes": {str(k): v for k, v in results.items()},
        "queries": len(queries),
        "target": target,
        "same_neighbours": agree,
        "embedders": {k: v for k, v in embedders.items() if k != "markdown"},
    }
    return Section(
        "faq_latency", "FAQ stage latency (embed + search + decide)", md, data, [verdict]
    )


EMBED_BATCHES = (1, 4, 8, 16)


def embedding_comparison(embed: Embed, reference: Embed, queries: list[str], warmup: int) -> dict:
    """The same questions through both embedders, interleaved (each goes first in turn): single
    question latency, agreement of the vectors, and per-question cost in batches (what the
    app's embedding batcher gains when questions arrive together)."""
    pair = {"onnx": embed, "torch": reference}
    times: dict[str, list[float]] = {name: [] for name in pair}
    cosines = []
    for q, text in enumerate(queries[:warmup] + queries):
        vectors = {}
        for name in list(pair)[q % 2 :] + list(pair)[: q % 2]:
            t0 = time.perf_counter()
            vectors[name] = pair[name]([text])[0]
            if q >= warmup:
                times[name].append(time.perf_counter() - t0)
        cosines.append(float(vectors["onnx"] @ vectors["torch"]))
    single = {name: percentiles_ms(times[name]) for name in pair}
    batches: dict[str, dict[int, float]] = {name: {} for name in pair}
    for size in EMBED_BATCHES:
        groups = [queries[i : i + size] for i in range(0, len(queries) - size + 1, size)][:40]
        for name, fn in pair.items():
            took = []
            for group in groups:
                t0 = time.perf_counter()
                fn(group)
                took.append((time.perf_counter() - t0) / size)
            batches[name][size] = float(np.median(took) * 1000) if took else float("nan")
    o, t = single["onnx"], single["torch"]
    md = "\n".join(
        [
            "Embedding one question, the app's ONNX Runtime embedder (chosen) vs the same model "
            f"through sentence-transformers on PyTorch (baseline), {len(queries)} queries "
            f"interleaved; lowest cosine between the two vectors of a query: {min(cosines):.6f}.",
            "",
            table(
                ["embedder", "p50 ms", "p99 ms", "ratio torch / onnx (p50 / p99)"],
                [
                    ["ONNX Runtime (chosen)", f"{o['p50']:.3f}", f"{o['p99']:.3f}", ""],
                    [
                        "sentence-transformers (baseline)",
                        f"{t['p50']:.3f}",
                        f"{t['p99']:.3f}",
                        f"{t['p50'] / o['p50']:.2f}x / {t['p99'] / o['p99']:.2f}x",
                    ],
                ],
            ),
            "",
            "Median cost per question when questions are embedded together (ms):",
            "",
            table(
                ["embedder", *[f"batch of {n}" for n in EMBED_BATCHES]],
                [
                    [name, *[f"{batches[name][n]:.3f}" for n in EMBED_BATCHES]]
                    for name in ("onnx", "torch")
                ],
            ),
        ]
    )
    return {
        "single": single,
        "min_cosine": min(cosines),
        "per_question_in_batch": batches,
        "markdown": md,
    }


# --- c. SQLite end-to-end FAQ lookup --------------------------------------------------------

SQLITE_INTENTS = 100
SQLITE_PER_FAQ = 10  # question + 9 paraphrases: 1,000 stored paraphrases
SQLITE_WARMUP = 20


def django_setup(database_url: str) -> None:
    """Sets Django up on `database_url` with the embedded defaults; only once per process, so
    each database gets a process of its own."""
    import django
    from django.conf import settings

    if settings.configured:
        raise RuntimeError("Django is already configured; each database needs its own process")
    os.environ["DATABASE_URL"] = database_url
    os.environ["SECRET_KEY"] = os.environ.get("SECRET_KEY") or "bench"
    os.environ["REDIS_URL"] = ""  # embedded defaults: eager Celery, local-memory cache
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings")
    django.setup()


def lookup_timings(
    queries: Sequence[str], warmup: int, embed: Embed
) -> tuple[dict[str, list[float]], int]:
    """Seconds per query to embed it, to `faq_lookup` it and to `faq_match` it, and how many
    lookups answered. Each query is embedded once and both calls get that vector: through the
    app's caching embedder the second call would find the first one's vector cached."""
    from knowledge import selectors

    steps = {
        "faq_lookup": lambda text, v: selectors.faq_lookup(text=text, locale="en", vector=v),
        "faq_match": lambda text, v: selectors.faq_match(text=text, locale="en", vector=v)[0],
    }
    times: dict[str, list[float]] = {"embed": [], **{name: [] for name in steps}}
    answered = 0
    for warm, q, vector, embedded in embedded_queries(queries, warmup, embed):
        for name in list(steps)[q % 2 :] + list(steps)[: q % 2]:
            t = time.perf_counter()
            result = steps[name](queries[q], vector)
            elapsed = time.perf_counter() - t
            if not warm:
                times[name].append(elapsed)
                if name == "faq_lookup":
                    answered += result.answered
        if not warm:
            times["embed"].append(embedded)
    return times, answered


def section_sqlite_lookup(ctx: Context) -> Section:
    """`faq_lookup` (match + variant pick + hit count on SQLite) vs `faq_match` alone."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-sqlite-"))
    django_setup(f"sqlite:///{tmp / 'bench.sqlite3'}")
    from django.core.management import call_command

    from knowledge import services
    from knowledge.models import Paraphrase

    logging.getLogger("celery").setLevel(logging.WARNING)  # no line per embedding task
    call_command("migrate", verbosity=0, interactive=False)
    data = clinc()
    by_intent: dict[str, list[str]] = {}
    for text, intent in data["train"]:
        by_intent.setdefault(intent, [])
        if text not in by_intent[intent]:
            by_intent[intent].append(text)
    rng = np.random.default_rng(ctx.seed)
    chosen = sorted(rng.choice(sorted(by_intent), SQLITE_INTENTS, replace=False))
    t0 = time.perf_counter()
    for intent in chosen:
        texts = by_intent[intent][:SQLITE_PER_FAQ]
        faq = services.faq_save(question=texts[0], answer=f"Answer about {intent}.", locale="en")
        services.paraphrases_add(faq=faq, texts=texts[1:])
    imported = time.perf_counter() - t0
    stored = Paraphrase.objects.filter(embedding__isnull=False).count()
    print(f"  imported {stored} embedded paraphrases in {imported:.0f}s")

    test = [t for t, _ in data["test"]]
    queries = [test[i] for i in rng.choice(len(test), min(ctx.queries, len(test)), False)]
    times, answered = lookup_timings(queries, SQLITE_WARMUP, minilm_embed())
    times["stage"] = [e + lk for e, lk in zip(times["embed"], times["faq_lookup"], strict=True)]
    stats = {name: percentiles_ms(ts) for name, ts in times.items()}
    lk, mt, em, st = stats["faq_lookup"], stats["faq_match"], stats["embed"], stats["stage"]
    rows = [
        ["`faq_lookup` (match + variant pick + hit count)", f"{lk['p50']:.3f}", f"{lk['p99']:.3f}"],
        ["`faq_match` only (baseline)", f"{mt['p50']:.3f}", f"{mt['p99']:.3f}"],
        ["ratio lookup / match", f"{lk['p50'] / mt['p50']:.2f}x", f"{lk['p99'] / mt['p99']:.2f}x"],
        ["embedding the question (in neither call)", f"{em['p50']:.3f}", f"{em['p99']:.3f}"],
        ["embedding + `faq_lookup`, per query (the stage)", f"{st['p50']:.3f}", f"{st['p99']:.3f}"],
    ]
    checked = [stage_latency_verdict("embedding + `faq_lookup` on SQLite", st)]
    md = "\n".join(
        [
            f"Django on a temporary SQLite file (WAL), in-memory index, eager Celery. "
            f"{SQLITE_INTENTS} FAQs (CLINC150 intents, {SQLITE_PER_FAQ} distinct `train` phrasings "
            f"each: question + paraphrases) imported with `knowledge.services.faq_save` + "
            f"`paraphrases_add`; {stored} paraphrases embedded on commit in {imported:.1f} s. "
            f"{len(queries)} CLINC150 `test` queries after {SQLITE_WARMUP} warm-up: each is "
            "embedded once by MiniLM without the app's vector cache (timed on its own, last row), "
            "then both calls are given that vector, in rotating order; so the calls time the "
            "search, the decision and, for `faq_lookup`, the variant pick and the hit counters, "
            f"never an embedding. `faq_lookup` answered {answered}/{len(queries)}.",
            "",
            table(["call", "p50 ms", "p99 ms"], rows),
            "",
            verdicts.markdown(checked),
        ]
    )
    data = {"paraphrases": stored, "import_s": imported, "answered": answered} | stats
    return Section("sqlite_lookup", "SQLite end-to-end FAQ lookup", md, data, checked)


# --- driver ---------------------------------------------------------------------------------

STDERR_TAIL = 4000  # characters of a failed section's stderr shown (its traceback's end)


def _module_output(module: str, *args: str) -> str:
    """Runs another bench module in its own process (each sets Django up its own way) and
    returns the markdown it prints."""
    cmd = [sys.executable, "-m", module, *args]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"`{shlex.join(cmd[1:])}` exited with {done.returncode}; the end of its stderr:\n"
            + done.stderr[-STDERR_TAIL:]
        )
    return done.stdout.strip()


def section_shop_matching(ctx: Context) -> Section:
    """The zh-hans and English shop stores: the locale's model at its point vs MiniLM for all
    (before issue 14) and a fixed threshold; bench/shop_matching.py in its own process."""
    out = ctx.cache_dir / "shop_matching.json"
    text = _module_output("bench.shop_matching", "--out", str(out))
    data = json.loads(out.read_text())
    title = "FAQ matching in Chinese and English (bench/shop_matching.py)"
    return Section("shop_matching", title, text, data, verdicts.load(data["verdicts"]))


def section_retrieval(ctx: Context) -> Section:
    """Knowledge-base retrieval (help centre en + zh-hans, PostgreSQL manual): hybrid vs vector
    and lexical only, chunk sizes, the relevance floor, latency at 10k chunks; own process."""
    out = ctx.cache_dir / "retrieval.json"
    text = _module_output("bench.retrieval", "--out", str(out), "--cache-dir", str(ctx.cache_dir))
    data = json.loads(out.read_text())
    title = "Knowledge-base retrieval (bench/retrieval.py)"
    return Section("retrieval", title, text, data, verdicts.load(data["verdicts"]))


def section_grounding(ctx: Context) -> Section:
    """Grounded answers on the demo help centre with the simulator scripted to cite, ignore,
    misquote or cite a missing source, and the real local model on a sample; own process."""
    out = ctx.cache_dir / "grounding.json"
    text = _module_output("bench.grounding", "--out", str(out))
    data = json.loads(out.read_text())
    title = "Grounded answers and citations (bench/grounding.py)"
    return Section("grounding", title, text, data, verdicts.load(data["verdicts"]))


def section_content_change(ctx: Context) -> Section:
    """FAQ lookups while the knowledge changes at 10,000 chunks and paraphrases: copies that load
    behind vs reloading in the question that notices; bench/content_change.py, own process."""
    out = ctx.cache_dir / "content_change.json"
    text = _module_output("bench.content_change", "--out", str(out))
    data = json.loads(out.read_text())
    title = "FAQ lookups while the knowledge changes (bench/content_change.py)"
    return Section("content_change", title, text, data, verdicts.load(data["verdicts"]))


def section_phrasing_sources(ctx: Context) -> Section:
    """What handoff phrasings and negative examples add to the human ones, at the shipped
    operating points; bench/phrasing_sources.py in its own process (without the slow (d))."""
    out = ctx.cache_dir / "phrasing_sources.json"
    cache = ctx.cache_dir / "clinc_eval.npz"  # the same texts as the faq_quality section's
    text = _module_output("bench.phrasing_sources", "--out", str(out), "--cache", str(cache))
    data = json.loads(out.read_text())
    title = "What each phrasing source adds (bench/phrasing_sources.py)"
    return Section("phrasing_sources", title, text, data, verdicts.load(data["verdicts"]))


def section_cache(ctx: Context) -> Section:
    """Semantic cache: hit and wrong-hit rates vs a fixed-threshold cache on CLINC150, lookup
    latency at 100k entries, upstream calls for 50 identical concurrent questions."""
    out = ctx.cache_dir / "cache.json"
    text = _module_output(
        "bench.cache", "--out", str(out), "--embeddings", str(ctx.cache_dir / "clinc-cache.npz")
    )
    data = json.loads(out.read_text())
    return Section(
        "cache",
        "Semantic cache (bench/cache.py)",
        text,
        data,
        verdicts.load(data["verdicts"]),
    )


def section_pg_lookup(ctx: Context) -> Section:
    """The FAQ stage on PostgreSQL + pgvector (HNSW) at 1k and 100k paraphrases beside exact
    search on the same rows, with the index's recall; bench/pg_lookup.py in its own process."""
    out = ctx.cache_dir / "pg_lookup.json"
    text = _module_output(
        "bench.pg_lookup",
        *("--out", str(out), "--cache", str(ctx.cache_dir / "clinc_train.npz")),
        *("--queries", str(ctx.queries)),
    )
    data = json.loads(out.read_text())
    return Section(
        "pg_lookup",
        "PostgreSQL + pgvector FAQ lookup (bench/pg_lookup.py)",
        text,
        data,
        verdicts.load(data["verdicts"]),
    )


def section_router(ctx: Context) -> Section:
    """Time to first token through the whole pipeline vs the openai SDK calling the same
    upstream directly; cost of a routed mix vs everything on the strong tier."""
    out = ctx.cache_dir / "router.json"
    text = _module_output("bench.router", "--out", str(out))
    data = json.loads(out.read_text())
    checked = [v for part in data.values() for v in verdicts.load(part["verdicts"])]
    return Section("router", "Model router (bench/router.py)", text, data, checked)


def section_partial_failure(ctx: Context) -> Section:
    """Partial failure vs outages through the pipeline against faulty upstream simulators, each
    target PASS or FAIL from the measured figures (bench/partial_failure.py, its own process)."""
    out = ctx.cache_dir / "partial_failure.json"
    text = _module_output("bench.partial_failure", "--out", str(out))
    title = "Partial failure and outages (bench/partial_failure.py)"
    data = json.loads(out.read_text())
    return Section("partial_failure", title, text, data, verdicts.load(data["verdicts"]))


LOADTEST_RUNS = (  # (sessions, pipeline, stages, think time s, duration s)
    (200, "full pipeline", "faq,cache,llm,fallback", (2, 8), 30),
    (200, "model only", "llm,fallback", (2, 8), 30),
    (200, "full pipeline", "faq,cache,llm,fallback", (5, 15), 60),
    (50, "full pipeline", "faq,cache,llm,fallback", (2, 8), 30),
    (50, "model only", "llm,fallback", (2, 8), 30),
)


LOADTEST_COLUMNS = ("sessions", "think", "pipeline", "source", "answers", "first token",
                    "in the pipeline", "answers/s", "lost", "dropped", "errors")  # fmt: skip
LOADTEST_CPU_COLUMNS = ("sessions", "think", "pipeline", "ack p50 / p99 ms", "daphne cores",
                        "daphne CPU ms/answer", "load generator cores", "machine idle %",
                        "machine steal %")  # fmt: skip


def _loadtest(
    sessions: int,
    duration: int,
    stages: str,
    think: tuple[int, int],
    out: Path,
    *,
    where: Sequence[str] = ("--start-server",),
) -> dict:
    cmd = [sys.executable, "-m", "bench.loadtest", *where, "--sessions", str(sessions),
           "--duration", str(duration), "--stages", stages, "--think", *map(str, think),
           "--out", str(out)]  # fmt: skip
    out.unlink(missing_ok=True)
    done = subprocess.run(cmd, cwd=ROOT, check=False, capture_output=True, text=True)
    if not out.exists():  # exit code 1 alone means lost messages, and the figures say so
        raise RuntimeError(f"{shlex.join(cmd[1:])} wrote no figures:\n{done.stderr[-4000:]}")
    return json.loads(out.read_text())


def loadtest_verdict(run: dict, pace: str) -> Verdict:
    """Issue 7's target for one run: nothing lost, stored answers' first token p99 in time."""
    by_source = run["by_source"]
    stored = {s: by_source[s]["ttft_ms"]["p99"] for s in STORED_SOURCES if s in by_source}
    lost = run["messages"]["lost"]
    measured = ", ".join(f"{s} p99 {p99:.1f} ms" for s, p99 in stored.items())
    return Verdict(
        f"{run['sessions']['planned']} sessions, {pace} between messages, one daphne process: "
        f"zero lost, FAQ/cache first token p99 <= {TARGET_STORED_TTFT_P99_MS:g} ms",
        f"{lost} lost, {measured or 'no FAQ/cache answer'}",
        lost == 0 and bool(stored) and max(stored.values()) <= TARGET_STORED_TTFT_P99_MS,
    )


def section_loadtest(ctx: Context) -> Section:
    """Concurrent visitor sockets against one daphne process: the full pipeline beside the same
    load with the FAQ and cache stages off (every answer from the model), at the issue's 200
    sessions with 2-8 s between messages, with slower visitors (5-15 s), and at 50 sessions."""
    runs = {}
    for sessions, label, stages, think, duration in LOADTEST_RUNS:
        tag = f"{sessions}-{stages.replace(',', '-')}-{think[0]}-{think[1]}"
        runs[(sessions, label, think)] = _loadtest(
            sessions, duration, stages, think, ctx.cache_dir / f"loadtest-{tag}.json"
        )
    rows, machine = [], []
    for (sessions, label, think), run in runs.items():
        m, daphne = run["messages"], run["cpu"]["daphne"]
        for source, figures in sorted(run["by_source"].items()):
            ttft, inside = figures["ttft_ms"], figures["pipeline_ttft_ms"]
            rows.append([sessions, f"{think[0]}-{think[1]} s", label, source, figures["answers"],
                         f"{ttft['p50']:.1f} / {ttft['p99']:.1f}",
                         f"{inside['p50']:.1f} / {inside['p99']:.1f}",
                         run["answers_per_s"], m["lost"], run["sessions"]["dropped"],
                         sum(run["errors"].values())])  # fmt: skip
        host, ack = run["host_cpu_percent"], run["ack_ms"]
        machine.append([sessions, f"{think[0]}-{think[1]} s", label,
                        f"{ack['p50']:.1f} / {ack['p99']:.1f}", daphne["cores"],
                        daphne["ms_per_answer"], run["cpu"]["load generator"]["cores"],
                        host["idle"], host["steal"]])  # fmt: skip
    issue = runs[(200, "full pipeline", (2, 8))]
    checked = [
        loadtest_verdict(issue, "2-8 s"),
        loadtest_verdict(runs[(200, "full pipeline", (5, 15))], "5-15 s"),
    ]
    by_kind = [
        [kind, f["answers"], f"{f['ttft_ms']['p50']:.1f} / {f['ttft_ms']['p99']:.1f}",
         f"{f['pipeline_ttft_ms']['p50']:.1f} / {f['pipeline_ttft_ms']['p99']:.1f}"]
        for kind, f in issue["stored_by_kind"].items()
    ]  # fmt: skip
    md = [
        "`python -m bench.loadtest --start-server --sessions N --duration 30 --think MIN MAX "
        "[--stages …]`: N visitor websockets (ramped over 10 s) asking demo FAQ questions "
        "(word for word and reworded), repeats of earlier questions and new questions, with "
        "MIN-MAX s between an answer and the next message; the "
        "model is the upstream simulator (its own process, 20 ms to the first token, 5 ms per "
        "token); load generator, daphne and simulator share this machine's 2 cores. *First "
        "token* is end to end over the socket (send → first `token` frame); *in the pipeline* "
        "is the server's own part of it (pipeline start → first token, from the answer's trace).",
        "",
        "First token in ms, p50 / p99:",
        "",
        table(LOADTEST_COLUMNS, rows),
        "",
        "The FAQ and cache answers of the first run (200 sessions, 2-8 s) by what was asked "
        "(`faq`: an FAQ phrasing word for word, its vector known; `faq_reworded`: one in "
        "another case or punctuation, embedded by the model; `repeat`: another visitor's "
        "question, in the cache), first token ms p50 / p99:",
        "",
        table(("asked", "answers", "first token", "in the pipeline"), by_kind),
        "",
        "Where the CPU went (`ack` = send → `ack`, after the message is stored; daphne's CPU "
        "per answer counts all its threads; *steal* is CPU time the hypervisor gave to other "
        "machines during the run):",
        "",
        table(LOADTEST_CPU_COLUMNS, machine),
        "",
        verdicts.markdown(checked),
    ]
    return Section(
        "loadtest",
        "Load test (bench/loadtest.py)",
        "\n".join(md),
        {str(k): v for k, v in runs.items()},
        checked,
    )


# Issue 18: the production shape (nginx, N daphne, PostgreSQL, Redis, Celery) at 500 sessions
# with 1, 2 and 4 processes (the target is the 2-process run), and 2 processes below saturation.
PROD_RUNS = ((1, 500), (2, 500), (4, 500), (2, 200))  # (daphne processes, sessions)
PROD_THINK = (2, 8)
PROD_DURATION_S = 60
PROD_TARGET = (2, 500)
PROD_COLUMNS = ("daphne", "sessions", "answered / sent", "answers/s", "lost / dup. / garbled",
                "first token FAQ", "cache", "model", "after the ramp: FAQ/cache", "model",
                "ack p50 / p99", "daphne CPU ms/answer", "machine idle %")  # fmt: skip


def _p50_p99(figures: dict | None) -> str:
    if not figures or figures.get("p50") is None:
        return "-"
    return f"{figures['p50']:.0f} / {figures['p99']:.0f}"


def prod_verdict(run: dict, processes: int) -> Verdict:
    """Issue 18's target: zero lost, FAQ/cache first token p99 <= 100 ms, over the whole run."""
    by_source, m = run["by_source"], run["messages"]
    stored = {s: by_source[s]["ttft_ms"]["p99"] for s in STORED_SOURCES if s in by_source}
    measured = ", ".join(f"{s} p99 {p99:.0f} ms" for s, p99 in stored.items())
    return Verdict(
        f"production shape, {processes} daphne processes, {run['sessions']['planned']} sessions, "
        f"{PROD_THINK[0]}-{PROD_THINK[1]} s between messages: zero lost, FAQ/cache first token "
        f"p99 <= {PROD_STORED_TTFT_P99_MS:g} ms",
        f"{m['lost']} lost, {measured or 'no FAQ/cache answer'}",
        m["lost"] == 0 and bool(stored) and max(stored.values()) <= PROD_STORED_TTFT_P99_MS,
    )


def section_prod_loadtest(ctx: Context) -> Section:
    """The load test through nginx against the production shape with 1, 2 and 4 daphne
    processes at the same load, so the scaling table and the target come from one run."""
    runs = {}
    for processes, sessions in PROD_RUNS:
        out = ctx.cache_dir / f"loadtest-prod-{processes}-{sessions}.json"
        runs[(processes, sessions)] = _loadtest(
            sessions, PROD_DURATION_S, "faq,cache,llm,fallback", PROD_THINK, out,
            where=("--start-prod", str(processes)),
        )  # fmt: skip
    rows = []
    for (processes, sessions), run in runs.items():
        m, by, settled = run["messages"], run["by_source"], run["after_ramp"]
        daphnes = [v["ms_per_answer"] for k, v in run["cpu"].items() if k.startswith("daphne")]
        rows.append([processes, sessions, f"{m['answered']} / {m['sent']}", run["answers_per_s"],
                     f"{m['lost']} / {m['duplicated']} / {m['corrupt']}",
                     _p50_p99(by.get("faq", {}).get("ttft_ms")),
                     _p50_p99(by.get("cache", {}).get("ttft_ms")),
                     _p50_p99(by.get("llm", {}).get("ttft_ms")),
                     _p50_p99(settled.get("stored_ttft_ms")), _p50_p99(settled.get("llm_ttft_ms")),
                     _p50_p99(run["ack_ms"]), " + ".join(f"{v:.1f}" for v in daphnes),
                     run["host_cpu_percent"]["idle"]])  # fmt: skip
    checked = [prod_verdict(runs[PROD_TARGET], PROD_TARGET[0])]
    md = [
        f"`python -m bench.loadtest --start-prod N --sessions S --duration {PROD_DURATION_S} "
        f"--think {PROD_THINK[0]} {PROD_THINK[1]}`: the production shape (`manage.py serve "
        "--prod`, docs/deploy.md: nginx in front of N daphne processes, PostgreSQL + pgvector, "
        "Redis, Celery worker and beat) on this machine, the upstream simulator as the model, "
        "the load generator beside it; the same visitors as the load test above, through nginx. "
        "First token and ack in ms, p50 / p99, end to end over the socket; *after the ramp*: "
        "messages sent from 15 s on (the first 10 s open the sockets, and every session's first "
        "question goes to the model); daphne CPU per answer per process, all threads.",
        "",
        table(PROD_COLUMNS, rows),
        "",
        verdicts.markdown(checked),
    ]
    return Section(
        "prod_loadtest",
        "Production shape under load (bench/loadtest.py --start-prod)",
        "\n".join(md),
        {str(k): v for k, v in runs.items()},
        checked,
    )


SECTIONS: dict[str, Callable[[Context], Section]] = {
    "faq_quality": section_faq_quality,
    "shop_matching": section_shop_matching,
    "retrieval": section_retrieval,
    "phrasing_sources": section_phrasing_sources,
    "grounding": section_grounding,
    "faq_latency": section_faq_latency,
    "sqlite_lookup": section_sqlite_lookup,
    "content_change": section_content_change,
    "pg_lookup": section_pg_lookup,
    "cache": section_cache,
    "router": section_router,
    "partial_failure": section_partial_failure,
    "loadtest": section_loadtest,
    "prod_loadtest": section_prod_loadtest,
}

INTRO = """\
# Benchmarks

Generated by `make bench` (= `.venv/bin/python -m bench.run`), which runs every section below
in one process on the machine listed and overwrites this file; it is not edited by hand. Each
figure sits beside its baseline measured in the same run. Each section states its targets and
shows PASS or FAIL against them, computed from the measured figures; "Targets" below lists every
verdict, and the command exits non-zero when one is FAIL. Embeddings are cached under
`var/bench/` (the first run embeds ~25k CLINC150 sentences, a few minutes on 2 cores; reruns
take about a minute). Data: CLINC150 (`data_full.json`), model all-MiniLM-L6-v2 on CPU.

What the numbers mean:

- **coverage**: share of in-store questions answered with the right FAQ.
- **wrong/total**: wrong answers over all queries (in-store, other-intent and out-of-scope).
- **wrong/answered**: share of the answers given that were wrong (the 1% budget applies here
  and to wrong/total).
- **per-group rates**: wrong answers over the queries of that group — in-store (answered with
  the wrong FAQ), other intent (a question about an intent not in the store got an answer),
  out-of-scope (CLINC's `oos` utterances got an answer).
- **p50 / p99**: median and 99th-percentile latency over the queries, in milliseconds.
  *embed* = MiniLM on one query, *search* = exact top-20 over the in-memory matrix,
  *decide* = the policy's `decide`, *full stage* = all three back to back (what
  `knowledge.selectors.faq_match` does, minus the database).
- **ratio a / b**: a's latency divided by b's at the same percentile; above 1x means a is
  slower.

Latencies are wall-clock on a shared virtual machine: each section's footer gives the load
average, and the load test gives the share of CPU time the hypervisor gave to other machines
(*steal*) during each run. Figures taken while other processes used the CPUs are inflated
(embedding and search share one process, as in the app, so ONNX Runtime's threads and numpy's
OpenBLAS threads compete for the same cores); the same command gave up to 2-3x different
load-test tails an hour apart on this machine, so compare figures within one run.
"""


def summary(sections: list[Section]) -> str:
    """Every section's verdicts in one table; a section without any shows as FAIL."""
    rows = [
        [s.title, v.target, v.measured, f"**{v.word}**"]
        for s in sections
        for v in s.verdicts or [Verdict("none stated", "-", False)]
    ]
    return table(["section", "target", "measured", "verdict"], rows)


def render(sections: list[Section], info: dict[str, str], command: str, total: float) -> str:
    md = [INTRO, "## Run", ""]
    md += [f"- {k}: {v}" for k, v in info.items()]
    md += [f"- command: `{command}`", f"- total runtime: {total:.0f} s", ""]
    md += ["## Targets", "", summary(sections), ""]
    for s in sections:
        footer = (
            f"_Section runtime: {s.seconds:.0f} s; 1-minute load average {s.load[0]:.2f} at its "
            f"start, {s.load[1]:.2f} at its end (on {info['nproc']} CPUs)._"
        )
        md += [f"## {s.title}", "", s.markdown, "", footer, ""]
    return "\n".join(md).rstrip() + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOC)
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    parser.add_argument("--only", nargs="+", choices=list(SECTIONS), default=list(SECTIONS))
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    args = parser.parse_args(argv)
    ctx = Context(cache_dir=args.cache_dir, queries=args.queries, sizes=args.sizes)
    command = shlex.join(["python", "-m", "bench.run", *(sys.argv[1:] if argv is None else argv)])

    sections = []
    for key in args.only:
        print(f"== {key}", flush=True)
        t0, load0 = time.perf_counter(), os.getloadavg()[0]
        section = SECTIONS[key](ctx)
        section.seconds = time.perf_counter() - t0
        section.load = (load0, os.getloadavg()[0])
        sections.append(section)
    total = time.perf_counter() - ctx.started
    text = render(sections, machine(), command, total)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    ctx.cache_dir.mkdir(parents=True, exist_ok=True)
    raw = {s.key: s.data | {"seconds": s.seconds, "load": s.load} for s in sections}
    (ctx.cache_dir / "results.json").write_text(json.dumps(raw, indent=2, default=str))
    print(f"wrote {args.out} and {ctx.cache_dir / 'results.json'} in {total:.0f} s")
    failing = [s.title for s in sections if verdicts.failed(s.verdicts)]
    print(f"\nTargets:\n\n{summary(sections)}\n")
    print(f"FAIL: {', '.join(failing)}" if failing else "No target failed.")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
