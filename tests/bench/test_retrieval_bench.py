"""bench.retrieval end to end on a tiny help centre with a bag-of-words embedder: the app's
parsing and chunking path, the three methods' recall and MRR, the sweep, the floor study and
the latency table with their verdicts. It checks the report's shape and the figures that a
tiny corpus makes certain, never timings."""

import zlib

import numpy as np

from bench.retrieval import Question, Source, markdown, run
from bench.verdicts import load

DIM = 64


class BagOfWords:
    """Unit vectors of hashed lowercase words: texts sharing words are close."""

    identity = "bag-of-words/test/64"

    def embed(self, texts: list[str]) -> np.ndarray:
        rows = np.zeros((len(texts), DIM), dtype=np.float32)
        for row, text in zip(rows, texts, strict=True):
            for word in text.lower().split():
                row[zlib.crc32(word.strip("?.,!").encode()) % DIM] += 1
        return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


ARTICLES = {
    "passwords.md": "# Passwords\n\n## Reset\n\nOpen the sign-in page and choose Forgot password."
    " A reset link arrives by email within five minutes.\n",
    "refunds.md": "# Refunds\n\n## Timing\n\nRefunds reach the original card within 5 business "
    "days after the parcel arrives at our warehouse.\n",
    "shipping.md": "# Shipping\n\n## Rates\n\n| zone | price |\n|---|---|\n| domestic | $5 |\n"
    "| international | $20 |\n\nParcels leave the warehouse within two days.\n",
}
QUESTIONS = [
    Question("how do I reset my password", "passwords", "Forgot password"),
    Question("when do refunds reach my card", "refunds", "within 5 business days"),
    Question("what does international shipping cost", "shipping", "international | $20"),
    Question("do you sell bicycles in Tokyo", None, None),
    Question("can I pay the refund to another card", None, None, near_miss=True),
]


def test_bench_reports_quality_sweep_floors_and_latency_with_verdicts():
    source = Source("tiny", "en", [(n, t.encode()) for n, t in ARTICLES.items()], QUESTIONS)
    report = run(
        [source],
        lambda locale: BagOfWords(),
        sizes=(20, 200),
        default_size=200,
        latency_chunks=50,
        latency_rounds=10,
        cache_dir=None,
        postgres=False,
    )

    at_default = report["sweep"]["tiny"]["200"]
    assert at_default["questions"] == 3
    assert at_default["chunks"] == 3
    assert at_default["evidence_split"] == 0
    assert at_default["lexical"]["recall"] == at_default["hybrid"]["recall"] == 1.0
    assert at_default["hybrid_chunks"]["recall"] == 1.0, "the baseline: no document index"
    assert at_default["hybrid_document_recall"] == 1.0
    assert report["sweep"]["tiny"]["20"]["chunks"] >= at_default["chunks"]

    study = report["floors"]["bag-of-words"]
    for rule in ("cosine_and_coverage", "cosine_only"):
        assert study[rule]["test"]["oos"] + study[rule]["tune"]["oos"] == 2
    assert set(report["tokenizers"]["tiny"]) >= {
        "English stop words kept, Chinese dropped; jieba search mode + bigrams (chosen)",
        "stop words dropped in both languages (before)",
    }

    latency = report["latency"]["en"]
    assert (latency["chunks"], latency["distinct_chunks"], latency["queries"]) == (50, 3, 10)
    assert latency["hybrid_with_embedding"]["p50"] >= latency["hybrid"]["p50"]
    assert latency["hybrid_chunks_with_embedding"]["p50"] >= latency["hybrid_chunks"]["p50"]

    checked = load(report["verdicts"])
    # lexical alone already finds all; the document index loses nothing here
    assert [v.passed for v in checked[:3]] == [True, False, True]
    assert "document index" in checked[2].target
    assert "at 50 chunks" in checked[3].target
    text = markdown(report)
    assert "| tiny | bag-of-words | 3 | 3 | 100.0% / " in text
    assert "| hybrid + document index, w 0.5 (chosen) | hybrid, chunks alone (baseline) |" in text
    assert "| en | in process | bag-of-words | 50 (3 distinct) | hybrid, chunks alone | " in text
    assert set(report["fusions"]["tiny"]) == {
        "convex: min-max normalised scores, equal weights (chosen)",
        "reciprocal rank fusion, k = 60 (before)",
    }
    assert "| tiny | reciprocal rank fusion, k = 60 (before) | 100.0% / " in text
    assert all(v.line() in text for v in checked)


def test_the_latency_is_measured_on_postgresql_too_with_its_own_verdict(tmp_path):
    from knowledge.embeddings import get_embedder

    source = Source("tiny", "en", [(n, t.encode()) for n, t in ARTICLES.items()], QUESTIONS)
    report = run(
        [source],
        get_embedder,  # the PostgreSQL run searches chunks of the app's English model
        sizes=(200,),
        latency_chunks=30,
        latency_rounds=5,
        cache_dir=tmp_path,
    )
    pg = report["latency_pg"]
    assert (pg["chunks"], pg["distinct_chunks"], pg["queries"]) == (30, 3, 5)
    assert pg["relevant"] >= 1, "the app's retrieval found passages in PostgreSQL"
    assert pg["postgres"].startswith("16") and pg["pgvector"]
    assert pg["hybrid_with_embedding"]["p50"] >= pg["hybrid"]["p50"]
    assert pg["hybrid_chunks_with_embedding"]["p50"] >= pg["hybrid_chunks"]["p50"]
    (verdict,) = [v for v in load(report["verdicts"]) if "PostgreSQL" in v.target]
    assert "at 30 chunks on PostgreSQL + pgvector" in verdict.target
    text = markdown(report)
    where = f"| en | PostgreSQL {pg['postgres']} + pgvector {pg['pgvector']} |"
    assert where in text
    assert f"{where} all-MiniLM-L6-v2 | 30 (3 distinct) | hybrid, chunks alone |" in text
    assert verdict.line() in text
