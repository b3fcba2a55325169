"""Re-rankings of the app's hybrid retrieval studied on the labelled questions (issue 15): a
sentence-level re-ranking (each chunk's sentences, list items and table rows embedded by the
locale's model, the fused candidates raised by the question's best cosine to one of their
sentences: late interaction, lite) and field weighting on the lexical side (a chunk's title and
heading path counted twice, or scored by a BM25 of their own). Side experiments, not in `make
bench`: they answer whether the manual's misses are the ranker's, at what cost.

    python -m bench.retrieval_rerank [--out FILE.json] [--misses FILE.json]

Recall@5 / MRR@10 per variant on both help centres, the manual and each half of the manual's
documents (the floor study's stable split), with the index-time and query-time cost of the
sentences. `--misses` writes the manual's misses of the shipped ranking with its top 5 passages,
to read. Figures and what was kept: docs/retrieval.md, "Sentences and fields".
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench import django_for_bench
from bench.retrieval import (
    CACHE_DIR,
    MRR_DEPTH,
    TOP,
    Corpus,
    Embed,
    Source,
    build_corpus,
    cached_embeddings,
    exact_top,
    first_rank,
    gold_chunks,
    helpcentre_sources,
    in_tune_half,
    normalised,
    pgdocs_source,
)
from knowledge.documents.chunking import chunk_document, chunk_search_text
from knowledge.documents.lexical import LexicalIndex
from knowledge.documents.parsing import parse_document
from knowledge.documents.ranking import (
    CANDIDATES,
    DOCUMENT_CANDIDATES,
    DOCUMENT_WEIGHT,
    convex_fusion,
    document_scores,
    min_max,
    with_document_scores,
)
from knowledge.documents.retrieval_points import CHUNK_MAX_TOKENS

# A sentence ends after . ! ? (and closing quotes or brackets) and a space, or after Chinese
# 。！？； wherever they stand; the chunker cuts long blocks at the same places.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]”’]*\s+|(?<=[。！？；])[”’」』）)]*\s*")
_TABLE_SEPARATOR = re.compile(r"^\|(?:\s*:?-+:?\s*\|)+$")
_WORDY = re.compile(r"\w")

Scored = list[tuple[int, float]]


def sentence_units(text: str) -> list[str]:
    """A chunk's text as the units a question's answer usually sits in: each line (a list item,
    a table row, a code line, a paragraph) cut into sentences; a table's separator row and
    units without a letter or digit are left out."""
    units = []
    for line in text.splitlines():
        line = line.strip()
        if not line or _TABLE_SEPARATOR.match(line):
            continue
        units += (s.strip() for s in _SENTENCE_END.split(line) if _WORDY.search(s))
    return units


class SentenceVectors:
    """Every chunk's sentence vectors in one matrix: chunk i's rows are
    `vectors[starts[i]:starts[i + 1]]` (a chunk without units has none)."""

    def __init__(self, counts: Sequence[int], vectors: np.ndarray) -> None:
        if sum(counts) != len(vectors):
            raise ValueError("one vector per unit")
        self.starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.vectors = vectors

    def max_cosine(self, query: np.ndarray, chunk_ids: Sequence[int]) -> dict[int, float]:
        """Each chunk's best cosine between the question and one of its units (0 if none)."""
        rows = [np.arange(self.starts[i], self.starts[i + 1]) for i in chunk_ids]
        if not rows:
            return {}
        scores = self.vectors[np.concatenate(rows)] @ query.astype(np.float32, copy=False)
        best, at = {}, 0
        for chunk, own in zip(chunk_ids, rows, strict=True):
            best[chunk] = float(scores[at : at + len(own)].max()) if len(own) else 0.0
            at += len(own)
        return best


def with_sentences(
    ranked: Scored, best: Mapping[int, float], *, weight: float, depth: int
) -> Scored:
    """The first `depth` of `ranked` ((id, score) best first) re-scored by their score +
    `weight` * their min-max normalised best sentence cosine (`best`), the rest after them."""
    head, tail = ranked[:depth], ranked[depth:]
    bonus = min_max([(i, best[i]) for i, _ in head])
    rescored = sorted(((i, s + weight * bonus[i]) for i, s in head), key=lambda p: -p[1])
    return rescored + tail


class FieldedWords:
    """BM25 over a chunk's text alone beside a BM25 over its title and heading path alone: a
    chunk's lexical score is the text's + `weight` * the fields' (BM25F, lite)."""

    def __init__(self, text_tokens: Sequence[str], field_tokens: Sequence[str]) -> None:
        ids = range(len(text_tokens))
        self.text = LexicalIndex.from_search_tokens(ids, text_tokens)
        self.fields = LexicalIndex.from_search_tokens(ids, field_tokens)

    def search(self, tokens: Sequence[str], k: int, *, weight: float) -> Scored:
        total: dict[int, float] = {}
        for index, share in ((self.text, 1.0), (self.fields, weight)):
            for i, score in index.search_tokens(tokens, len(index)):
                total[i] = total.get(i, 0.0) + share * score
        scored = [(i, s) for i, s in total.items() if s > 0]
        return sorted(scored, key=lambda p: (-p[1], p[0]))[:k]


@dataclass
class Study:
    """One corpus with what the variants need beside the app's indexes."""

    corpus: Corpus
    fields: list[str]  # per chunk: its title and heading path
    texts: list[str]  # per chunk: its text (the search text is the two)
    sentences: SentenceVectors
    in_context: SentenceVectors  # the same units embedded below the chunk's title and headings
    index_cost: dict[str, float]


def study_corpus(source: Source, embed: Embed, cache_dir: Path | None) -> Study:
    """The app's corpus (`build_corpus`), each chunk's fields and its units' vectors (cached as
    the chunks' are); the units' embedding time is the first run's (later runs read the cache)."""
    corpus = build_corpus(source, CHUNK_MAX_TOKENS, embed, cache_dir)
    fields, texts, counts, units, contexts = [], [], [], [], []
    for name, data in source.files:
        doc = parse_document(data, filename=name, locale=source.locale)
        for draft in chunk_document(doc, max_tokens=CHUNK_MAX_TOKENS):
            search_text = corpus.search_texts[len(fields)]
            fields.append(search_text[: len(search_text) - len(draft.text)].strip())
            texts.append(draft.text)
            own = sentence_units(draft.text)
            counts.append(len(own))
            units += own
            contexts += (chunk_search_text(doc.title, draft.heading_path, u) for u in own)
    if len(fields) != len(corpus.search_texts):
        raise RuntimeError("the corpus's chunks changed between the two passes")
    started = time.perf_counter()
    vectors = cached_embeddings(units, embed, cache_dir)
    seconds = time.perf_counter() - started
    in_context = cached_embeddings(contexts, embed, cache_dir)
    cost = {
        "chunks": len(fields),
        "units": len(units),
        "embed_seconds": round(seconds, 1),
        "in_context_embed_seconds": round(time.perf_counter() - started - seconds, 1),
        "megabytes": round(vectors.nbytes / 2**20, 1),
        "chunk_megabytes": round(corpus.vectors.nbytes / 2**20, 1),
    }
    return Study(
        corpus, fields, texts, SentenceVectors(counts, vectors),
        SentenceVectors(counts, in_context), cost,
    )  # fmt: skip


@dataclass(frozen=True)
class Asked:
    """One answerable question's shipped inputs: its vector, tokens and both sides' top."""

    text: str
    gold: frozenset[int]
    gold_document: str
    query: np.ndarray
    tokens: list[str]
    vector: Scored
    lexical: Scored
    pages: dict[int, float]  # the document index's page scores


Variant = Callable[[Study, Asked], Scored]


def shipped(study: Study, asked: Asked, lexical: Scored | None = None) -> Scored:
    """The app's ranking: the convex fusion, each candidate raised by its page's score."""
    fused = convex_fusion(asked.vector, asked.lexical if lexical is None else lexical)
    return with_document_scores(
        fused, document_of=study.corpus.pages.document_of, scores=asked.pages,
        weight=DOCUMENT_WEIGHT,
    )  # fmt: skip


def sentence_bonus(weight: float, depth: int, *, in_context: bool = False) -> Variant:
    def variant(study: Study, asked: Asked) -> Scored:
        ranked = shipped(study, asked)
        units = study.in_context if in_context else study.sentences
        best = units.max_cosine(asked.query, [i for i, _ in ranked[:depth]])
        return with_sentences(ranked, best, weight=weight, depth=depth)

    return variant


def sentence_side(study: Study, asked: Asked) -> Scored:
    """The vector side's cosine replaced by the best sentence cosine, for every candidate of
    either side (so a chunk only BM25 found has a vector score too)."""
    ids = list(dict.fromkeys([i for i, _ in asked.vector] + [i for i, _ in asked.lexical]))
    best = study.sentences.max_cosine(asked.query, ids)
    by_sentence = sorted(best.items(), key=lambda p: -p[1])
    fused = convex_fusion(by_sentence, asked.lexical)
    return with_document_scores(
        fused, document_of=study.corpus.pages.document_of, scores=asked.pages,
        weight=DOCUMENT_WEIGHT,
    )  # fmt: skip


def field_variants(study: Study) -> dict[str, Variant]:
    """The lexical side with the title and heading path twice, or scored apart."""
    tokenizer = study.corpus.index.tokenizer
    text_tokens = [" ".join(tokenizer.tokenize(t)) for t in study.texts]
    field_tokens = [" ".join(tokenizer.tokenize(f)) for f in study.fields]
    twice = LexicalIndex.from_search_tokens(
        range(len(study.texts)),
        [f"{f} {f} {t}" for f, t in zip(field_tokens, text_tokens, strict=True)],
    )
    apart = FieldedWords(text_tokens, field_tokens)

    def doubled(_: Study, asked: Asked) -> Scored:
        return shipped(study, asked, twice.search_tokens(asked.tokens, CANDIDATES))

    def separate(weight: float) -> Variant:
        return lambda _, asked: shipped(
            study, asked, apart.search(asked.tokens, CANDIDATES, weight=weight)
        )

    return {
        "BM25: title and headings twice": doubled,
        "BM25: text alone (no title or headings)": separate(0.0),
        "BM25: text + 0.5 x title-and-headings BM25": separate(0.5),
        "BM25: text + 1 x title-and-headings BM25": separate(1.0),
    }


VARIANTS: dict[str, Variant] = {
    "shipped: hybrid + document index, w 0.5": shipped,
    **{
        f"+ {w:g} x best sentence cosine (min-max), top {n}": sentence_bonus(w, n)
        for n in (20, 50)
        for w in (0.25, 0.5, 1.0)
    },
    "vector side: best sentence cosine instead of the chunk's": sentence_side,
    **{
        f"+ {w:g} x best sentence-in-context cosine (min-max), top 20": sentence_bonus(
            w, 20, in_context=True
        )
        for w in (0.25, 0.5)
    },
}


def asked_questions(study: Study, embed: Embed) -> list[Asked]:
    corpus = study.corpus
    questions = [q for q in corpus.source.questions if q.document]
    queries = embed([q.text for q in questions])
    out = []
    for question, query in zip(questions, queries, strict=True):
        tokens = corpus.index.tokenizer.tokenize(question.text)
        pages = corpus.pages.search(vector=query, tokens=tokens, n=DOCUMENT_CANDIDATES)
        out.append(
            Asked(
                question.text, frozenset(gold_chunks(corpus, question)), question.document or "",
                query, tokens, exact_top(corpus.vectors, query, CANDIDATES),
                corpus.index.search_tokens(tokens, CANDIDATES), document_scores(pages),
            )
        )  # fmt: skip
    return out


def figures(ranks: Sequence[int]) -> dict[str, float]:
    """recall@TOP, MRR@MRR_DEPTH and the count found, over 1-based ranks (0: not found)."""
    r = np.array(ranks)
    hit = (r > 0) & (r <= TOP)
    reciprocal = np.where((r > 0) & (r <= MRR_DEPTH), 1.0 / np.maximum(r, 1), 0.0)
    return {
        "recall": round(float(hit.mean()), 4) if len(r) else 0.0,
        "mrr": round(float(reciprocal.mean()), 4) if len(r) else 0.0,
        "found": int(hit.sum()),
        "questions": len(r),
    }


def measure(studies: dict[str, Study], asked: dict[str, list[Asked]]) -> dict[str, Any]:
    """Every variant's figures per corpus, and the manual's per half of its documents."""
    rows: dict[str, dict[str, Any]] = {}
    for name, study in studies.items():
        variants = {**VARIANTS, **field_variants(study)}
        for label, variant in variants.items():
            ranks = [first_rank([i for i, _ in variant(study, a)], a.gold) for a in asked[name]]
            row = rows.setdefault(label, {})
            row[name] = figures(ranks)
            if len(studies[name].corpus.texts) > 1000:  # the manual: its two halves too
                half = [in_tune_half(f"{name}/{a.gold_document}") for a in asked[name]]
                row[f"{name}, half A"] = figures([r for r, h in zip(ranks, half, strict=True) if h])
                row[f"{name}, half B"] = figures(
                    [r for r, h in zip(ranks, half, strict=True) if not h]
                )
    return rows


def query_cost(study: Study, asked: list[Asked], depth: int) -> dict[str, float]:
    """ms per question of the sentence re-ranking alone (gather the candidates' units, one
    matrix product, the max per chunk), p50 / p99."""
    took = []
    for a in asked * 3:
        ids = [i for i, _ in shipped(study, a)[:depth]]
        started = time.perf_counter()
        study.sentences.max_cosine(a.query, ids)
        took.append(time.perf_counter() - started)
    p50, p99 = np.percentile(np.array(took) * 1000, [50, 99])
    return {"p50": round(float(p50), 3), "p99": round(float(p99), 3)}


def misses(study: Study, asked: list[Asked]) -> list[dict[str, Any]]:
    """The shipped ranking's misses with its top 5, to read."""
    corpus, out = study.corpus, []
    for a in asked:
        ranked = [i for i, _ in shipped(study, a)]
        rank = first_rank(ranked, a.gold)
        if 0 < rank <= TOP:
            continue
        out.append({
            "question": a.text, "document": a.gold_document, "rank": rank,
            "gold_page_in_top": any(corpus.documents[i] == a.gold_document for i in ranked[:TOP]),
            "gold": [normalised(corpus.search_texts[i]) for i in sorted(a.gold)][:1],
            "top": [
                {"document": corpus.documents[i], "text": normalised(corpus.search_texts[i])}
                for i in ranked[:TOP]
            ],
        })  # fmt: skip
    return out


def main() -> None:
    django_for_bench()
    from knowledge.embeddings import get_embedder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--misses", type=Path)
    args = parser.parse_args()
    studies: dict[str, Study] = {}
    asked: dict[str, list[Asked]] = {}
    for source in [*helpcentre_sources(), pgdocs_source()]:
        embed = get_embedder(source.locale).embed
        studies[source.name] = study_corpus(source, embed, CACHE_DIR)
        asked[source.name] = asked_questions(studies[source.name], embed)
        print(source.name, studies[source.name].index_cost, file=sys.stderr, flush=True)
    report = {
        "variants": measure(studies, asked),
        "index_cost": {name: s.index_cost for name, s in studies.items()},
        "query_ms": {
            name: {str(n): query_cost(s, asked[name], n) for n in (20, 50)}
            for name, s in studies.items()
        },
    }
    if args.misses:
        manual = "PostgreSQL 15 manual"
        args.misses.write_text(
            json.dumps(misses(studies[manual], asked[manual]), indent=1, ensure_ascii=False)
        )
    if args.out:
        args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    for label, row in report["variants"].items():
        cells = [f"{100 * f['recall']:.1f}% / {f['mrr']:.3f}" for f in row.values()]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
