"""Retrieval over the knowledge base (issue 15): the demo help centre (en, zh-hans) and the
PostgreSQL 15 manual, parsed and chunked by the app's own path and embedded by each locale's model.
Hybrid (BM25 + vectors, a convex combination of their normalised scores, each chunk raised by its
page's own score: the document index) beside hybrid by the chunks alone, vector-only and
lexical-only: recall@5 and MRR@10 per corpus and chunk size, the fusion and tokenizer variants,
the relevance floor tuned on half the documents and reported on the other half, and the latency
of one retrieval at 10,000 chunks, in process and on PostgreSQL.

    python -m bench.retrieval [--out FILE.json] [--sizes 100 200 350] [--pg-sizes 200]

A question counts as found at rank r when the r-th passage is a chunk of its gold document that
contains its evidence string (whitespace-normalised). Figures and choices: docs/retrieval.md.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import math
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench import django_for_bench
from bench.verdicts import Verdict, dump
from knowledge.documents.chunking import chunk_document, chunk_search_text
from knowledge.documents.document_index import DocumentIndex
from knowledge.documents.lexical import DEFAULT_TOKENIZER, LexicalIndex, Tokenizer
from knowledge.documents.parsing import parse_document
from knowledge.documents.ranking import (
    CANDIDATES,
    DOCUMENT_CANDIDATES,
    DOCUMENT_WEIGHT,
    Fusion,
    RelevanceFloor,
    fuse,
    hybrid,
    token_coverage,
)
from knowledge.documents.retrieval_points import CHUNK_MAX_TOKENS

ROOT = Path(__file__).resolve().parent.parent
HELPCENTRE = ROOT / "knowledge" / "fixtures" / "helpcentre"
HELPCENTRE_QUESTIONS = ROOT / "bench" / "data" / "retrieval_helpcentre.json"
PGDOCS_QUESTIONS = ROOT / "bench" / "data" / "retrieval_pgdocs.json"
CACHE_DIR = ROOT / "var" / "bench"
SIZES = (100, 200, 350)
TOP = 5  # passages the model gets
MRR_DEPTH = 10
TARGET_RECALL = 0.95
LATENCY_CHUNKS = 10_000
TARGET_P50_MS = 15.0
TARGET_P99_MS = 30.0
MAX_WRONGLY_DECLINED = (
    0.05  # floor tuning: answerable questions declined, at most, on the tune half
)
TILE_NOISE = 0.01
TILE_PAGE_CHUNKS = 20  # copies beyond the corpus's own chunks make pages of this many

Embed = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class Question:
    text: str
    document: str | None  # None: out of scope
    evidence: str | None
    near_miss: bool = False


@dataclass(frozen=True)
class Source:
    """One corpus: its files (name, bytes) and labelled questions, in one locale."""

    name: str
    locale: str
    files: list[tuple[str, bytes]]
    questions: list[Question]
    sizes: tuple[int, ...] | None = None  # chunk sizes to sweep; None: the run's


@dataclass
class Corpus:
    source: Source
    documents: list[str]  # per chunk: the file's stem (the questions' `document`)
    texts: list[str]  # per chunk: its text, for the evidence check
    search_texts: list[str]  # per chunk: title + heading path + text, embedded and indexed
    vectors: np.ndarray
    index: LexicalIndex = field(repr=False)
    pages: DocumentIndex = field(repr=False)  # the app's document index over these chunks


@dataclass(frozen=True)
class Found:
    """Per question: the 1-based rank of the first gold passage (0 = not in the top
    CANDIDATES), per method; and the floor's two signals. `hybrid` is the app's path (the
    document index at DOCUMENT_WEIGHT), `hybrid_chunks` the same fusion by the chunks alone."""

    vector: int
    lexical: int
    hybrid: int
    hybrid_chunks: int
    hybrid_document: int  # any chunk of the gold document, evidence or not (app's path)
    best_cosine: float
    coverage: float  # over the chunks' own fused top 5, as the app's floor reads it


def normalised(text: str) -> str:
    return " ".join(text.split())


def build_corpus(source: Source, max_tokens: int, embed: Embed, cache_dir: Path | None) -> Corpus:
    """Parse, chunk (the app's path), embed (cached on disk by model and texts) and index."""
    documents, texts, search_texts = [], [], []
    for name, data in source.files:
        doc = parse_document(data, filename=name, locale=source.locale)
        for draft in chunk_document(doc, max_tokens=max_tokens):
            documents.append(Path(name).stem)
            texts.append(normalised(draft.text))
            search_texts.append(chunk_search_text(doc.title, draft.heading_path, draft.text))
    vectors = cached_embeddings(search_texts, embed, cache_dir)
    index, pages = indexes(search_texts, documents, vectors, DEFAULT_TOKENIZER)
    return Corpus(source, documents, texts, search_texts, vectors, index, pages)


def indexes(
    search_texts: list[str], documents: list[str], vectors: np.ndarray, tokenizer: Tokenizer
) -> tuple[LexicalIndex, DocumentIndex]:
    """The chunks' BM25 index and the pages' document index, as the app builds them from the
    stored tokens (chunk ids are positions; a page's id its name's first position)."""
    stored = [" ".join(tokenizer.tokenize(text)) for text in search_texts]
    ids = range(len(search_texts))
    first = {}
    for i, name in enumerate(documents):
        first.setdefault(name, i)
    pages = DocumentIndex(
        chunk_ids=ids, document_ids=[first[d] for d in documents], tokens=stored, vectors=vectors
    )
    return LexicalIndex.from_search_tokens(ids, stored, tokenizer), pages


def embedded_by_length(texts: list[str], embed: Embed) -> np.ndarray:
    """Rows in `texts` order, embedded shortest first: a batch is padded to its longest text,
    so sorted batches waste little (the manual's chunks embed in about half the time)."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vectors = embed([texts[i] for i in order])
    out = np.empty_like(vectors)
    out[order] = vectors
    return out


def cached_embeddings(texts: list[str], embed: Embed, cache_dir: Path | None) -> np.ndarray:
    """Chunk vectors, kept on disk by model identity and texts (the manual takes minutes)."""
    identity = getattr(getattr(embed, "__self__", None), "identity", None)
    if cache_dir is None or identity is None:
        return embedded_by_length(texts, embed)
    digest = hashlib.sha256("\x00".join([identity, *texts]).encode()).hexdigest()[:20]
    path = cache_dir / f"retrieval-{digest}.npy"
    if path.exists():
        return np.load(path)
    vectors = embedded_by_length(texts, embed)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def gold_chunks(corpus: Corpus, question: Question) -> set[int]:
    evidence = normalised(question.evidence or "")
    return {
        i
        for i, (doc, text) in enumerate(zip(corpus.documents, corpus.texts, strict=True))
        if doc == question.document and evidence in text
    }


def first_rank(ranking: Sequence[int], gold: set[int]) -> int:
    return next((r for r, i in enumerate(ranking, start=1) if i in gold), 0)


def evaluate(
    corpus: Corpus,
    embed: Embed,
    tokenizer: Tokenizer | None = None,
    fusion: Fusion = Fusion.CONVEX,
) -> list[Found]:
    """Every question of the corpus's source retrieved four ways. `tokenizer` (a variant to
    compare) re-indexes the corpus (chunks and pages) with it; else the corpus's indexes are
    used. `fusion`: another fusion to compare (compare it on `hybrid_chunks`: the page's share
    is on the convex fusion's scale)."""
    questions = corpus.source.questions
    index, pages = corpus.index, corpus.pages
    if tokenizer is not None:
        index, pages = indexes(corpus.search_texts, corpus.documents, corpus.vectors, tokenizer)
    query_vectors = embed([q.text for q in questions])
    found = []
    for question, query in zip(questions, query_vectors, strict=True):
        vector = exact_top(corpus.vectors, query, CANDIDATES)
        tokens = index.tokenizer.tokenize(question.text)
        lexical = index.search_tokens(tokens, CANDIDATES)
        fused = fuse(vector, lexical, limit=CANDIDATES, fusion=fusion)
        # Every candidate of both sides re-ranked, as the app does before it keeps the top 5.
        shipped = fuse(
            vector,
            lexical,
            limit=CANDIDATES,
            fusion=fusion,
            documents=pages.search(vector=query, tokens=tokens, n=DOCUMENT_CANDIDATES),
            document_weight=DOCUMENT_WEIGHT,
        )
        coverage = max(
            (token_coverage(tokens, index.tokens_of(r.chunk_id)) for r in fused[:TOP]), default=0.0
        )
        gold = gold_chunks(corpus, question) if question.document else set()
        found.append(
            Found(
                vector=first_rank([i for i, _ in vector], gold),
                lexical=first_rank([i for i, _ in lexical], gold),
                hybrid=first_rank([r.chunk_id for r in shipped], gold),
                hybrid_chunks=first_rank([r.chunk_id for r in fused], gold),
                hybrid_document=first_rank(
                    [r.chunk_id for r in shipped],
                    {
                        r.chunk_id
                        for r in shipped
                        if corpus.documents[r.chunk_id] == question.document
                    },
                ),
                best_cosine=vector[0][1] if vector else 0.0,
                coverage=coverage,
            )
        )
    return found


def exact_top(vectors: np.ndarray, query: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Exact cosine top-k (rows and query are unit length), as the in-process index does."""
    if len(vectors) == 0:
        return []
    sims = vectors @ query.astype(np.float32, copy=False)
    k = min(k, len(sims))
    top = np.argpartition(-sims, k - 1)[:k]
    top = top[np.argsort(-sims[top], kind="stable")]
    return [(int(i), float(sims[i])) for i in top]


METHODS = ("hybrid", "hybrid_chunks", "vector", "lexical")
METHOD_LABELS = {
    "hybrid": f"hybrid + document index, w {DOCUMENT_WEIGHT:g} (chosen)",
    "hybrid_chunks": "hybrid, chunks alone (baseline)",
    "vector": "vector",
    "lexical": "lexical",
}


def quality(questions: Sequence[Question], found: Sequence[Found]) -> dict[str, Any]:
    """recall@TOP and MRR@MRR_DEPTH per method over the answerable questions."""
    answerable = [f for q, f in zip(questions, found, strict=True) if q.document]
    out: dict[str, Any] = {"questions": len(answerable)}
    for method in METHODS:
        ranks = np.array([getattr(f, method) for f in answerable])
        hit = (ranks > 0) & (ranks <= TOP)
        reciprocal = np.where((ranks > 0) & (ranks <= MRR_DEPTH), 1.0 / np.maximum(ranks, 1), 0.0)
        out[method] = {
            "recall": round(float(hit.mean()) if len(ranks) else 0.0, 4),
            "mrr": round(float(reciprocal.mean()) if len(ranks) else 0.0, 4),
            "found": int(hit.sum()),
        }
    documents = np.array([f.hybrid_document for f in answerable])
    out["hybrid_document_recall"] = round(
        float(((documents > 0) & (documents <= TOP)).mean()) if len(documents) else 0.0, 4
    )
    return out


# --- relevance floor -----------------------------------------------------------------------

COSINES = np.round(np.arange(0.0, 1.0001, 0.01), 2)
# inf: coverage never suffices; first, so that on a tie the simpler cosine-only floor wins
COVERAGES = (math.inf, 1.0, 0.75, 0.5)


def in_tune_half(key: str) -> bool:
    """A stable half of the documents (and of the out-of-scope questions, by their text)."""
    return hashlib.sha256(key.encode()).digest()[0] % 2 == 0


def floor_rates(
    floor: RelevanceFloor, cosine: np.ndarray, coverage: np.ndarray, answerable: np.ndarray
) -> dict[str, float]:
    accepted = np.array(
        [
            floor.relevant(best_cosine=float(c), coverage=float(v))
            for c, v in zip(cosine, coverage, strict=True)
        ],
        dtype=bool,
    )
    oos = ~answerable
    return {
        "oos_declined": round(float((~accepted & oos).sum() / max(oos.sum(), 1)), 4),
        "answerable_declined": round(
            float((~accepted & answerable).sum() / max(answerable.sum(), 1)), 4
        ),
        "oos": int(oos.sum()),
        "answerable": int(answerable.sum()),
    }


def tune_floor(
    cosine: np.ndarray, coverage: np.ndarray, answerable: np.ndarray, *, with_coverage: bool
) -> RelevanceFloor:
    """The floor declining the most out-of-scope questions while declining at most
    MAX_WRONGLY_DECLINED of the answerable ones (ties: fewer answerable declined, then no
    coverage rule, then the lower floor). Without coverage: a cosine threshold alone (the
    baseline)."""
    best: tuple[float, float, RelevanceFloor] | None = None
    oos = ~answerable
    close = cosine[None, :] >= COSINES[:, None]  # [min_cosine, question]
    for min_coverage in COVERAGES if with_coverage else (math.inf,):
        for coverage_min_cosine in COSINES if with_coverage else (0.0,):
            covered = (coverage >= min_coverage) & (cosine >= coverage_min_cosine)
            declined = ~(close | covered[None, :])
            wrongly = (declined & answerable).sum(axis=1) / max(answerable.sum(), 1)
            rightly = (declined & oos).sum(axis=1) / max(oos.sum(), 1)
            allowed = (wrongly <= MAX_WRONGLY_DECLINED) & np.greater_equal(
                COSINES, coverage_min_cosine
            )
            for i in np.flatnonzero(allowed):
                key = (float(rightly[i]), -float(wrongly[i]))
                if best is None or key > best[:2]:
                    floor = RelevanceFloor(
                        float(COSINES[i]), float(min_coverage), float(coverage_min_cosine)
                    )
                    best = (*key, floor)
    return best[2] if best else RelevanceFloor(0.0)


def floor_study(model: str, rows: list[tuple[str, Question, Found]]) -> dict[str, Any]:
    """Tune on the documents (and out-of-scope questions) of one half, report on the other;
    `rows` are (corpus name, question, found) of every corpus this model embeds."""

    def key(name: str, q: Question) -> str:
        return f"{name}/{q.document}" if q.document else f"oos/{q.text}"

    # The help centre's two languages share document slugs and so the same split.
    split = np.array([in_tune_half(key(n.split(":")[0], q)) for n, q, _ in rows])
    cosine = np.array([f.best_cosine for _, _, f in rows])
    coverage = np.array([f.coverage for _, _, f in rows])
    answerable = np.array([q.document is not None for _, q, _ in rows])
    near_miss = np.array([q.near_miss for _, q, _ in rows])
    out: dict[str, Any] = {"model": model}
    for rule, with_coverage in (("cosine_and_coverage", True), ("cosine_only", False)):
        tuned = tune_floor(
            cosine[split], coverage[split], answerable[split], with_coverage=with_coverage
        )
        held = ~split
        report = floor_rates(tuned, cosine[held], coverage[held], answerable[held])
        near = held & (near_miss | answerable)
        report["near_miss_declined"] = floor_rates(
            tuned, cosine[near], coverage[near], answerable[near]
        )["oos_declined"]
        other = tune_floor(
            cosine[held], coverage[held], answerable[held], with_coverage=with_coverage
        )
        out[rule] = {
            "floor": asdict(tuned),
            "tune": floor_rates(tuned, cosine[split], coverage[split], answerable[split]),
            "test": report,
            "swapped": {
                "floor": asdict(other),
                "test": floor_rates(other, cosine[split], coverage[split], answerable[split]),
            },
        }
    return out


# --- latency -------------------------------------------------------------------------------


def tiled(
    corpus: Corpus, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, list[str], list[str]]:
    """`n` chunks: the corpus's, then noisy copies of its vectors beside copies of their texts;
    and each one's page: the corpus's own chunks keep theirs, copies make pages of
    TILE_PAGE_CHUNKS (so the page count grows with `n` as a manual's does)."""
    count = len(corpus.search_texts)
    pick = np.arange(min(n, count))
    if n > count:
        pick = np.concatenate([pick, rng.integers(0, count, n - count)])
    vectors = corpus.vectors[pick].copy()
    if n > count:
        noise = TILE_NOISE * rng.standard_normal((n - count, vectors.shape[1]))
        vectors[count:] += noise.astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    pages = [
        corpus.documents[i] if row < count else f"copies {(row - count) // TILE_PAGE_CHUNKS}"
        for row, i in enumerate(pick)
    ]
    texts = [corpus.search_texts[i] for i in pick]
    return np.ascontiguousarray(vectors, dtype=np.float32), texts, pages


def latency(
    corpus: Corpus, embed: Embed, floor: RelevanceFloor, *, n: int, rounds: int, seed: int = 0
) -> dict[str, Any]:
    """p50/p99 of one retrieval over `n` chunks, live query embedding included and excluded:
    hybrid with the document index (the app's path), hybrid by the chunks alone, and
    vector-only (the baseline they add to)."""
    rng = np.random.default_rng(seed)
    vectors, texts, documents = tiled(corpus, n, rng)
    index, pages = indexes(texts, documents, vectors, DEFAULT_TOKENIZER)
    questions = [q.text for q in corpus.source.questions]
    asked = [questions[i % len(questions)] for i in range(rounds)]
    timings: dict[str, list[float]] = {k: [] for k in ("embed", *LATENCY_PARTS)}

    def retrieve(text: str, query: np.ndarray, *, with_pages: bool) -> None:
        tokens = index.tokenizer.tokenize(text)
        hybrid(
            exact_top(vectors, query, CANDIDATES),
            index.search_tokens(tokens, CANDIDATES),
            query_tokens=tokens,
            tokens_of=index.tokens_of,
            floor=floor,
            limit=TOP,
            documents=(
                pages.search(vector=query, tokens=tokens, n=DOCUMENT_CANDIDATES)
                if with_pages
                else None
            ),
            document_weight=DOCUMENT_WEIGHT,
        )

    searches: dict[str, Callable[[str, np.ndarray], object]] = {
        "vector": lambda text, query: exact_top(vectors, query, TOP),
        "hybrid": lambda text, query: retrieve(text, query, with_pages=True),
        "hybrid_chunks": lambda text, query: retrieve(text, query, with_pages=False),
    }
    for warm in (True, False):
        gc.collect()
        for number, text in enumerate(asked[:10] if warm else asked):
            t0 = time.perf_counter()
            query = embed([text])[0]
            embedded = time.perf_counter() - t0
            took = {
                part: timed(searches[part], text, query) for part in in_turn(LATENCY_PARTS, number)
            }
            if not warm:
                timings["embed"].append(embedded)
                for part, seconds in took.items():
                    timings[part].append(seconds)
    return {
        "chunks": n,
        "distinct_chunks": min(n, len(corpus.search_texts)),
        "queries": rounds,
    } | latency_figures(timings)


def in_turn(parts: Sequence[str], number: int) -> list[str]:
    """`parts` rotated by `number`: each search goes first after the embedding as often as the
    others (the one right after it ran measurably slower, with the embedder's threads still
    on the cores), so none of them carries that cost alone."""
    turn = number % len(parts)
    return [*parts[turn:], *parts[:turn]]


def timed(search: Callable[..., object], *args: Any) -> float:
    """Seconds `search(*args)` took."""
    started = time.perf_counter()
    search(*args)
    return time.perf_counter() - started


# What one latency run times beside the question's embedding: the app's path (hybrid with the
# document index), hybrid by the chunks alone, and the vector top-5 alone (the baseline).
LATENCY_PARTS = ("hybrid", "hybrid_chunks", "vector")
LATENCY_LABELS = {
    "hybrid": "hybrid + document index (chosen)",
    "hybrid_chunks": "hybrid, chunks alone",
    "vector": "vector only (baseline)",
}


def latency_figures(timings: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """p50/p99 ms of the "embed" seconds and of each search's (LATENCY_PARTS), alone and with
    the question's embedding added."""
    embed_s = np.array(timings["embed"])

    def pct(seconds: np.ndarray) -> dict[str, float]:
        p50, p99 = np.percentile(seconds * 1000, [50, 99])
        return {"p50": round(float(p50), 2), "p99": round(float(p99), 2)}

    figures = {"embed": pct(embed_s)}
    for part in LATENCY_PARTS:
        figures[part] = pct(np.array(timings[part]))
        figures[f"{part}_with_embedding"] = pct(np.array(timings[part]) + embed_s)
    return figures


def pg_latency(corpus: Corpus, *, n: int, rounds: int, work_dir: Path) -> dict[str, Any]:
    """The same `n` chunks and questions as `latency`, retrieved by the app on PostgreSQL +
    pgvector (bench/retrieval_pg.py, in a process of its own with a throwaway server)."""
    vectors, texts, documents = tiled(corpus, n, np.random.default_rng(0))
    questions = [q.text for q in corpus.source.questions]
    work_dir.mkdir(parents=True, exist_ok=True)
    chunks, asked, out = (work_dir / name for name in ("pg_chunks.npz", "pg_q.json", "pg.json"))
    np.savez(chunks, texts=np.array(texts), vectors=vectors, documents=np.array(documents))
    asked.write_text(json.dumps([questions[i % len(questions)] for i in range(rounds)]))
    command = [sys.executable, "-m", "bench.retrieval_pg", "--chunks", str(chunks)]
    command += ["--questions", str(asked), "--out", str(out)]
    subprocess.run(command, check=True, cwd=ROOT)
    return json.loads(out.read_text()) | {"distinct_chunks": min(n, len(corpus.search_texts))}


def jieba_first_call_ms() -> float:
    """Loading jieba's dictionary in a fresh process (what the first Chinese tokenize pays)."""
    code = (
        "import time, jieba; jieba.setLogLevel(60); t = time.perf_counter(); "
        "jieba.initialize(); print((time.perf_counter() - t) * 1000)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return round(float(done.stdout.strip()), 1)


# --- the run -------------------------------------------------------------------------------

FUSIONS = {
    "convex: min-max normalised scores, equal weights (chosen)": Fusion.CONVEX,
    "reciprocal rank fusion, k = 60 (before)": Fusion.RRF,
}
TOKENIZERS = {  # label: (tokenizer, changes only Chinese text)
    "English stop words kept, Chinese dropped; jieba search mode + bigrams (chosen)": (
        Tokenizer(),
        False,
    ),
    "stop words dropped in both languages (before)": (Tokenizer(english_stopwords=True), False),
    "Chinese: jieba search mode, no bigrams": (Tokenizer(bigrams=False), True),
    "Chinese: jieba plain cut + bigrams": (Tokenizer(search_mode=False), True),
    "Chinese: jieba plain cut, no bigrams": (Tokenizer(search_mode=False, bigrams=False), True),
    "no stop words dropped": (Tokenizer(chinese_stopwords=False), False),
}


def run(
    sources: list[Source],
    embedders: Callable[[str], Any],
    *,
    sizes: Sequence[int] = SIZES,
    default_size: int = CHUNK_MAX_TOKENS,
    latency_chunks: int = LATENCY_CHUNKS,
    latency_rounds: int = 300,
    cache_dir: Path | None = CACHE_DIR,
    postgres: bool = True,
) -> dict[str, Any]:
    """Every figure of the section; `embedders(locale)` gives an Embedder (identity, embed).
    `postgres`: the English latency on PostgreSQL too (a throwaway pgserver)."""
    pg_work_dir = (cache_dir or CACHE_DIR) / "retrieval_pg"
    report: dict[str, Any] = {"sizes": list(sizes), "default_size": default_size}
    sweep: dict[str, dict[str, Any]] = {}
    corpora: dict[str, Corpus] = {}
    found_at_default: dict[str, list[Found]] = {}
    for source in sources:
        embedder = embedders(source.locale)
        for size in sorted({*(source.sizes or sizes), default_size}):
            t0 = time.perf_counter()
            corpus = build_corpus(source, size, embedder.embed, cache_dir)
            found = evaluate(corpus, embedder.embed)
            figures = quality(source.questions, found)
            figures |= {"chunks": len(corpus.texts), "seconds": round(time.perf_counter() - t0)}
            figures["evidence_split"] = sum(
                1 for q in source.questions if q.document and not gold_chunks(corpus, q)
            )
            sweep.setdefault(source.name, {})[str(size)] = figures
            print(f"  {source.name} max_tokens={size}: {figures}", file=sys.stderr, flush=True)
            if size == default_size:
                corpora[source.name], found_at_default[source.name] = corpus, found
        sweep[source.name]["model"] = embedder.identity
    report["sweep"] = sweep

    tokenizers: dict[str, dict[str, Any]] = {}
    for name, corpus in corpora.items():
        embed = embedders(corpus.source.locale).embed
        tokenizers[name] = {
            label: quality(corpus.source.questions, evaluate(corpus, embed, tokenizer))
            for label, (tokenizer, chinese_only) in TOKENIZERS.items()
            if corpus.source.locale == "zh-hans" or not chinese_only
        }
    report["tokenizers"] = tokenizers
    report["fusions"] = {}
    for name, corpus in corpora.items():
        embed = embedders(corpus.source.locale).embed
        report["fusions"][name] = {  # by the chunks alone: the page's share is convex-scaled
            label: quality(corpus.source.questions, evaluate(corpus, embed, fusion=fusion))
            for label, fusion in FUSIONS.items()
        }

    by_model: dict[str, list[tuple[str, Question, Found]]] = {}
    for name, corpus in corpora.items():
        model = embedders(corpus.source.locale).identity.split("/", 1)[0]
        rows = zip(corpus.source.questions, found_at_default[name], strict=True)
        by_model.setdefault(model, []).extend((name, q, f) for q, f in rows)
    report["floors"] = {model: floor_study(model, rows) for model, rows in by_model.items()}

    report["latency"] = {}
    for locale in dict.fromkeys(c.source.locale for c in corpora.values()):
        corpus = max(
            (c for c in corpora.values() if c.source.locale == locale), key=lambda c: len(c.texts)
        )
        embedder = embedders(locale)
        model = embedder.identity.split("/", 1)[0]
        floor = RelevanceFloor(**report["floors"][model]["cosine_only"]["floor"])
        # A visitor's new question misses the app's cache of recent questions' vectors.
        uncached = getattr(embedder, "inner", embedder)
        report["latency"][locale] = latency(
            corpus, uncached.embed, floor, n=latency_chunks, rounds=latency_rounds
        ) | {"corpus": corpus.source.name, "model": embedder.identity}
        if postgres and locale == "en":  # the PostgreSQL run embeds with MiniLM
            report["latency_pg"] = pg_latency(
                corpus, n=latency_chunks, rounds=latency_rounds, work_dir=pg_work_dir
            ) | {"corpus": corpus.source.name, "model": embedder.identity}
    report["verdicts"] = dump(verdicts(report))
    return report


def verdicts(report: dict[str, Any]) -> list[Verdict]:
    size = str(report["default_size"])
    checked = []
    for name, by_size in report["sweep"].items():
        figures = by_size[size]
        hybrid_recall = figures["hybrid"]["recall"]
        checked.append(
            Verdict(
                f"{name}, max_tokens={size}: hybrid recall@{TOP} >= {TARGET_RECALL:.0%}",
                f"{hybrid_recall:.1%} ({figures['hybrid']['found']}/{figures['questions']})",
                hybrid_recall >= TARGET_RECALL,
            )
        )
        others = (figures["vector"]["recall"], figures["lexical"]["recall"])
        checked.append(
            Verdict(
                f"{name}, max_tokens={size}: hybrid recall@{TOP} ahead of vector-only and "
                "lexical-only",
                f"hybrid {hybrid_recall:.1%}, vector {others[0]:.1%}, lexical {others[1]:.1%}",
                all(hybrid_recall > other for other in others),
            )
        )
        chunks_alone = figures["hybrid_chunks"]
        checked.append(
            Verdict(
                f"{name}, max_tokens={size}: the document index (w {DOCUMENT_WEIGHT:g}) loses "
                f"no recall@{TOP} against the chunks alone",
                f"with {hybrid_recall:.1%} / {figures['hybrid']['mrr']:.3f}, without "
                f"{chunks_alone['recall']:.1%} / {chunks_alone['mrr']:.3f} (recall / MRR)",
                hybrid_recall >= chunks_alone["recall"],
            )
        )
    measured = [(locale, lat, "") for locale, lat in report["latency"].items()]
    if "latency_pg" in report:
        measured.append(("en", report["latency_pg"], " on PostgreSQL + pgvector"))
    for locale, lat, where in measured:
        full = lat["hybrid_with_embedding"]
        checked.append(
            Verdict(
                f"{locale}: one hybrid retrieval at {lat['chunks']:,} chunks{where}, query "
                f"embedding included: p50 <= {TARGET_P50_MS:g} ms and p99 <= {TARGET_P99_MS:g} ms",
                f"p50 {full['p50']:.2f} ms, p99 {full['p99']:.2f} ms",
                full["p50"] <= TARGET_P50_MS and full["p99"] <= TARGET_P99_MS,
            )
        )
    return checked


# --- rendering -----------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def markdown(report: dict[str, Any]) -> str:
    from bench.verdicts import load
    from bench.verdicts import markdown as verdict_lines

    size = str(report["default_size"])
    methods = METHODS
    quality_rows = [
        [name, by_size["model"].split("/")[0], by_size[size]["chunks"], by_size[size]["questions"]]
        + [f"{_pct(by_size[size][m]['recall'])} / {by_size[size][m]['mrr']:.3f}" for m in methods]
        + [_pct(by_size[size]["hybrid_document_recall"])]
        for name, by_size in report["sweep"].items()
    ]
    sweep_rows = [
        [name, s, figures["chunks"], figures["evidence_split"]]
        + [f"{_pct(figures[m]['recall'])} / {figures[m]['mrr']:.3f}" for m in methods]
        for name, by_size in report["sweep"].items()
        for s, figures in by_size.items()
        if s != "model"
    ]
    tokenizer_rows = [
        [
            name,
            label,
            *(f"{_pct(q[m]['recall'])} / {q[m]['mrr']:.3f}" for m in ("hybrid", "lexical")),
        ]
        for name, variants in report["tokenizers"].items()
        for label, q in variants.items()
    ]
    fusion_rows = [
        [name, label, f"{_pct(q['hybrid_chunks']['recall'])} / {q['hybrid_chunks']['mrr']:.3f}"]
        for name, variants in report.get("fusions", {}).items()
        for label, q in variants.items()
    ]
    floor_rows = []
    for model, study in report["floors"].items():
        for rule, label in (("cosine_only", "cosine only (shipped)"),
                            ("cosine_and_coverage", "cosine or token coverage")):  # fmt: skip
            r = study[rule]
            f = r["floor"]
            params = f"cosine >= {f['min_cosine']:.2f}" + (
                f" or (coverage >= {f['min_coverage']:.2f} and cosine >= "
                f"{f['coverage_min_cosine']:.2f})"
                if f["min_coverage"] <= 1
                else ""
            )
            floor_rows.append([
                model, label, params,
                f"{_pct(r['tune']['oos_declined'])} / {_pct(r['tune']['answerable_declined'])}",
                f"{_pct(r['test']['oos_declined'])} ({r['test']['oos']}) / "
                f"{_pct(r['test']['answerable_declined'])} ({r['test']['answerable']})",
                _pct(r["test"]["near_miss_declined"]),
                f"{_pct(r['swapped']['test']['oos_declined'])} / "
                f"{_pct(r['swapped']['test']['answerable_declined'])}",
            ])  # fmt: skip
    latency_rows = []
    measured = [(locale, lat, "in process") for locale, lat in report["latency"].items()]
    if "latency_pg" in report:
        pg = report["latency_pg"]
        measured.append(("en", pg, f"PostgreSQL {pg['postgres']} + pgvector {pg['pgvector']}"))
    for locale, lat, where in measured:
        for part, label in LATENCY_LABELS.items():
            if part not in lat:
                continue
            bare, full = lat[part], lat[f"{part}_with_embedding"]
            latency_rows.append([
                locale, where, lat["model"].split("/")[0],
                f"{lat['chunks']:,} ({lat['distinct_chunks']:,} distinct)", label,
                f"{bare['p50']:.2f} / {bare['p99']:.2f}", f"{full['p50']:.2f} / {full['p99']:.2f}",
            ])  # fmt: skip
    md = [
        __doc__.split("\n\n")[0].replace("\n", " "),
        "",
        f"Recall@{TOP} / MRR@{MRR_DEPTH} at the default chunk size (max_tokens={size}):",
        "",
        _table(
            [
                "corpus",
                "model",
                "chunks",
                "questions",
                *(METHOD_LABELS[m] for m in methods),
                "hybrid: gold document in top 5",
            ],
            quality_rows,
        ),
        "",
        "Chunk-size sweep (*evidence split*: answerable questions whose evidence no single chunk "
        "holds, counted as misses):",
        "",
        _table(
            [
                "corpus",
                "max_tokens",
                "chunks",
                "evidence split",
                *(METHOD_LABELS[m] for m in methods),
            ],
            sweep_rows,
        ),
        "",
        f"Fusion of the two rankings at max_tokens={size} (hybrid by the chunks alone, "
        f"recall@{TOP} / MRR@{MRR_DEPTH}):",
        "",
        _table(["corpus", "fusion", "hybrid, chunks alone"], fusion_rows),
        "",
        f"Tokenizer variants at max_tokens={size} (recall@{TOP} / MRR@{MRR_DEPTH}); jieba's "
        f"dictionary load in a fresh process: {report.get('jieba_load_ms', '-')} ms:",
        "",
        _table(["corpus", "tokenizer", "hybrid + document index", "lexical"], tokenizer_rows),
        "",
        "Relevance floor per embedding model: tuned on the questions of half the documents (and "
        f"half the out-of-scope questions) for the most out-of-scope declined with at most "
        f"{MAX_WRONGLY_DECLINED:.0%} of answerable questions declined, reported on the other half; "
        "*swapped*: tuned on the test half, reported on the tune half.",
        "",
        _table(
            [
                "model",
                "rule",
                "floor (tuned)",
                "tune: oos declined / answerable declined",
                "test: oos declined / answerable declined",
                "test: near-miss declined",
                "swapped: oos / answerable declined",
            ],
            floor_rows,
        ),
        "",
        f"One retrieval at {LATENCY_CHUNKS:,} chunks (ms, p50 / p99; beyond the corpus's own "
        f"chunks, copies with noisy vectors, {TILE_PAGE_CHUNKS} to a page): in process vector "
        f"top-{CANDIDATES} + BM25 top-{CANDIDATES} + the document index's top-"
        f"{DOCUMENT_CANDIDATES} pages by cosine and by BM25 + fusion + floor; on PostgreSQL "
        f"`passages_retrieve` itself (pgvector HNSW top-{CANDIDATES} + BM25 and pages in process "
        "+ fusion + floor + the passages' rows); each beside the same without the pages "
        "(`KNOWLEDGE_DOCUMENT_WEIGHT=0` on PostgreSQL) and its vector top-5 alone; the query "
        "embedded live once per retrieval:",
        "",
        _table(
            [
                "locale",
                "where",
                "model",
                "chunks",
                "retrieval",
                "without embedding",
                "with embedding",
            ],
            latency_rows,
        ),
        "",
        verdict_lines(load(report["verdicts"])),
    ]
    return "\n".join(md)


# --- data ----------------------------------------------------------------------------------


def helpcentre_sources() -> list[Source]:
    data = json.loads(HELPCENTRE_QUESTIONS.read_text())
    sources = []
    for locale in ("en", "zh-hans"):
        files = [(p.name, p.read_bytes()) for p in sorted((HELPCENTRE / locale).glob("*.md"))]
        questions = [_question(q) for q in _entries(data) if q["locale"] == locale]
        sources.append(Source(f"help centre:{locale}", locale, files, questions))
    return sources


def pgdocs_source(pages: int | None = None, sizes: Sequence[int] | None = None) -> Source:
    from bench.pgdocs import pgdocs_folder

    folder = pgdocs_folder()
    data = json.loads(PGDOCS_QUESTIONS.read_text())
    questions = [_question(q) for q in _entries(data)]
    paths = sorted(folder.glob("*.html"))
    if pages is not None:  # the gold pages first, then the manual's first pages
        gold = {q.document for q in questions}
        paths = sorted(paths, key=lambda p: (p.stem not in gold, p.name))[:pages]
    files = [(p.name, p.read_bytes()) for p in paths]
    return Source("PostgreSQL 15 manual", "en", files, questions, tuple(sizes) if sizes else None)


def _entries(data: Any) -> list[dict[str, Any]]:
    return data["questions"] if isinstance(data, dict) else data


def _question(entry: dict[str, Any]) -> Question:
    document = entry.get("document")
    return Question(
        text=entry["question"],
        document=Path(document).stem if document else None,
        evidence=entry.get("evidence"),
        near_miss=bool(entry.get("near_miss")),
    )


def main() -> None:
    django_for_bench()
    from knowledge.embeddings import get_embedder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--pg-pages", type=int, help="only this many manual pages (gold first)")
    parser.add_argument(
        "--pg-sizes",
        type=int,
        nargs="+",
        default=[CHUNK_MAX_TOKENS],
        help="chunk sizes for the manual (each embeds ~10k chunks: ~10 min on 2 cores)",
    )
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    parser.add_argument(
        "--no-postgres", action="store_true", help="skip the latency on PostgreSQL + pgvector"
    )
    args = parser.parse_args()
    sources = [*helpcentre_sources(), pgdocs_source(args.pg_pages, args.pg_sizes)]
    report = run(
        sources,
        get_embedder,
        sizes=args.sizes,
        cache_dir=args.cache_dir,
        postgres=not args.no_postgres,
    )
    report["jieba_load_ms"] = jieba_first_call_ms()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(markdown(report))


if __name__ == "__main__":
    main()
