"""bench.pg_lookup: the PostgreSQL + pgvector section of `make bench`.

The slow test runs the module as `make bench` does (its own process, its own pgserver
PostgreSQL, the real MiniLM) on a tiny store, and checks what the report claims: HNSW finds what
the exact searches find on a store that small, the baseline really is a sequential scan, and the
percentiles are real timings."""

import json
import subprocess
import sys

import numpy as np
import pytest
from django.conf import settings

from bench import verdicts
from bench.pg_lookup import VARIANTS, make_store
from tests.servers import REPO


def test_store_tiles_with_unique_texts_beyond_the_pool():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((10, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    texts, intents = [f"question {i}" for i in range(10)], [f"intent {i % 3}" for i in range(10)]

    store = make_store(texts, intents, vectors, 25, rng)
    assert len(store.texts) == len(store.intents) == len(store.vectors) == 25
    assert store.texts[:10] == texts and list(store.originals) == list(range(10))
    assert len(set(zip(store.intents, store.texts, strict=True))) == 25, "unique per FAQ"
    copies = zip(store.texts[10:], store.intents[10:], store.vectors[10:], strict=True)
    for text, intent, vector in copies:
        source = texts.index(text.rsplit(" [", 1)[0])
        assert intent == intents[source], "a copy keeps its original's FAQ"
        assert 0.9 < float(vector @ vectors[source]) < 1.0, "a noisy copy, near its original"
    np.testing.assert_allclose(np.linalg.norm(store.vectors, axis=1), 1.0, atol=1e-5)

    subset = make_store(texts, intents, vectors, 4, rng)
    assert len(set(subset.texts)) == 4 and set(subset.texts) <= set(texts)
    assert list(subset.originals) == [0, 1, 2, 3]
    for text, vector in zip(subset.texts, subset.vectors, strict=True):
        np.testing.assert_array_equal(vector, vectors[texts.index(text)])


@pytest.mark.slow
@pytest.mark.postgres
def test_pg_lookup_reports_hnsw_beside_exact_search(tmp_path):
    out = tmp_path / "pg.json"
    cmd = [sys.executable, "-m", "bench.pg_lookup", "--out", str(out), "--pool", "200"]
    cmd += ["--sizes", "200", "400", "--queries", "20", "--warmup", "3"]
    ef = str(settings.PGVECTOR_EF_SEARCH)
    cmd += ["--repeats", "20", "--exact-queries", "10", "--ef-search", "20", ef]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())

    assert report["postgres"].startswith("PostgreSQL 16") and report["pgvector"]
    assert "USING hnsw (((embedding_vec)::vector(384)) vector_ip_ops)" in report["index"]
    assert "WHERE ((embedding_model)::text = " in report["index"]
    assert report["queries"] == 20 and report["pool"] == 200
    assert set(report["sizes"]) == {"200", "400"}
    for size, r in report["sizes"].items():
        assert r["timed_queries"] == {"hnsw": 20, "pg_exact": 10, "memory": 20}
        lat = r["latency_ms"]
        assert set(lat) == set(VARIANTS)
        assert set(lat["hnsw"]) == set(lat["memory"]) == {"embed", "match", "full", "lookup"}
        assert "lookup" not in lat["pg_exact"]
        for parts in lat.values():
            assert all(0 < p["p50"] <= p["p99"] for p in parts.values()), size
            assert parts["full"]["p50"] > parts["embed"]["p50"], "full = embed + match"
        # On a store this small the graph search is exact: the same answers as exact search.
        assert r["recall_at_k"] == 1.0 and r["same_best_faq"] == 1.0
        assert r["same_best_faq_as_memory"] == {"hnsw": 1.0, "pg_exact": 1.0}
        assert r["same_answer_as_memory"]["hnsw"] == 1.0
        assert r["repeats"] == {
            "asked": 20,
            "answered_with_their_faq": {"hnsw": 20, "memory": 20},
        }, "a stored question asked verbatim is answered with its FAQ"
        assert r["plans"]["pg_exact"] == "sequential scan"
        sweep = r["ef_sweep"]
        assert set(sweep) == {"20", ef} and report["ef_search"] == int(ef)
        at_setting = sweep[ef]
        assert at_setting["recall_at_k"] == r["recall_at_k"]
        assert at_setting["repeats_answered_with_their_faq"] == 20
        for point in sweep.values():
            assert 0 < point["match_ms"]["p50"] <= point["match_ms"]["p99"]
            assert 0 < point["recall_at_k"] <= 1 and 0 < point["same_answer"] <= 1
        assert r["copy_s"] > 0 and r["index_s"] > 0
    assert report["sizes"]["400"]["plans"]["hnsw"] == "HNSW index scan"

    md = done.stdout
    assert "| paraphrases | variant | plan | queries | embed | match | full stage |" in md
    for size in ("200", "400"):
        rows = [line for line in md.splitlines() if line.startswith(f"| {size} |")]
        assert len(rows) == 3 + 1 + 1 + 2 + 1, "three variants, ratios, recall, sweep, load"
        assert sum("(baseline)" in row for row in rows) == 2
    assert "match: HNSW / pgvector exact" in md and "x / " in md
    assert f"| 400 | {report['ef_search']} (app setting) |" in md
    assert "Command: `python -m bench.pg_lookup --out" in md
    checked = verdicts.load(report["verdicts"])
    assert len(checked) == 3 * 2, "per size: latency, same answer, repeats"
    assert all(v.line() in md for v in checked)
    answers = [v.passed for v in checked if "answers" in v.target]
    assert answers == [True] * 4, "HNSW is exact on a store this small"
