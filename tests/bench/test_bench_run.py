"""bench.run's latency section renders p50/p99 tables with the baselines' ratios; the SQLite
lookup section's timing loop; a failing section's error; every section's verdicts at the top of
the report and the end of the run, and a failed target failing the command.

Runs on tiny random stores with fake embedders, so no model is loaded; it checks the report's
shape, never the timings."""

import itertools
import zlib
from collections.abc import Callable

import numpy as np
import pytest

from bench import run
from bench.run import (
    Context,
    Section,
    _module_output,
    lookup_timings,
    naive_top_k,
    section_faq_latency,
)
from bench.verdicts import Verdict
from knowledge import services
from knowledge.matching import top_k

DIM = 384


def unit_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    rows = rng.standard_normal((n, DIM)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def fake_embed(texts: list[str]) -> np.ndarray:
    return unit_rows(np.random.default_rng(zlib.crc32(texts[0].encode())), len(texts))


def ticking(step_s: float) -> Callable[[], float]:
    """A clock that moves `step_s` each time it is read, so every timed span is known."""
    reads = itertools.count()
    return lambda: next(reads) * step_s


def latency_section(tmp_path, *, sizes=(200,), queries=5, warmup=1, **options) -> Section:
    """The FAQ latency section on a random store of 200 paraphrases (40 FAQs)."""
    return section_faq_latency(
        Context(cache_dir=tmp_path, sizes=list(sizes)),
        store_vectors=unit_rows(np.random.default_rng(0), 200),
        store_faq_ids=np.arange(200) // 5,
        queries=[f"question {i}" for i in range(queries)],
        embed=fake_embed,
        reference_embed=fake_embed,
        warmup=warmup,
        **options,
    )


def test_latency_section_reports_percentiles_beside_baselines(tmp_path):
    section = latency_section(
        tmp_path, sizes=(200, 300), queries=20, warmup=3, target_size=200, clock=ticking(0.001)
    )

    md = section.markdown
    assert "| paraphrases | variant | embed | search | decide | full stage |" in md
    assert "p50 / p99" in md
    for variant in ("(chosen)", "(baseline: decision)", "(baseline: naive search)"):
        assert sum(variant in line for line in md.splitlines() if line.startswith("| 2")) == 1
    assert "search: argsort / argpartition" in md
    assert "| 300 |" in md, "a size above the store's count is tiled"
    assert "x / " in md, "ratios are printed as p50 / p99"
    [verdict] = section.verdicts
    assert verdict.line() in md
    assert "same neighbours: yes" in md

    stats = section.data["sizes"]["200"]
    assert set(stats) == {"chosen", "fixed", "naive"}
    assert set(stats["chosen"]) == {"embed", "search", "decide", "full"}
    # Each part takes one tick of the fake clock; the full stage is embed + search + decide.
    assert stats["chosen"]["search"] == pytest.approx({"p50": 1.0, "p99": 1.0})
    assert stats["chosen"]["full"] == pytest.approx({"p50": 3.0, "p99": 3.0})
    assert section.data["queries"] == 20
    assert verdict.word == "PASS" and section.data["target"]["passed"] is True

    slow = latency_section(tmp_path, target_size=200, clock=ticking(0.004))  # 12 ms: over 10
    assert [v.word for v in slow.verdicts] == ["FAIL"]
    assert slow.data["target"]["passed"] is False
    unmeasured = latency_section(tmp_path, target_size=10_000)
    assert [v.word for v in unmeasured.verdicts] == ["NOT MEASURED"]

    embedders = section.data["embedders"]
    assert "ONNX Runtime (chosen)" in md and "sentence-transformers (baseline)" in md
    assert abs(embedders["min_cosine"] - 1.0) < 1e-5, "the same fake embedder on both sides"
    assert set(embedders["per_question_in_batch"]["onnx"]) == {1, 4, 8, 16}
    assert all(0 < p["p50"] <= p["p99"] for p in embedders["single"].values())


def test_naive_search_finds_the_same_neighbours():
    rng = np.random.default_rng(1)
    store, query = unit_rows(rng, 500), unit_rows(rng, 1)[0]
    ids = np.arange(500) // 5
    fast, naive = top_k(store, ids, query, 20), naive_top_k(store, ids, query, 20)
    np.testing.assert_allclose(fast[1], naive[1], atol=1e-6)
    assert list(fast[0]) == list(naive[0])


class TextEmbedder:
    """One fixed unit vector per text; counts the texts it was asked for."""

    dimension = DIM
    identity = f"fake/{DIM}"

    def __init__(self) -> None:
        self.asked: list[str] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.asked += texts
        return np.vstack([fake_embed([t]) for t in texts])


class NoEmbedder:
    dimension = DIM
    identity = TextEmbedder.identity

    def embed(self, texts: list[str]) -> np.ndarray:
        raise AssertionError(f"the timed calls embedded {texts}")


@pytest.mark.django_db(transaction=True)
def test_lookup_timings_embed_each_query_once_outside_the_timed_calls(monkeypatch, swap_embedder):
    swap_embedder(TextEmbedder())
    for i in range(5):
        services.faq_save(question=f"question {i}", answer=f"answer {i}")
    swap_embedder(NoEmbedder())
    queries = [f"question {i}" for i in range(5)] + ["something else entirely"]
    counting = TextEmbedder()

    times, answered = lookup_timings(queries, 2, counting.embed)

    assert counting.asked == queries[:2] + queries, "warm-up, then each query once"
    assert {name: len(t) for name, t in times.items()} == {
        "embed": 6,
        "faq_lookup": 6,
        "faq_match": 6,
    }
    assert all(t > 0 for ts in times.values() for t in ts)
    assert answered == 5, "the stored questions, asked again with their own vectors"


def test_a_failing_section_shows_the_end_of_its_stderr():
    with pytest.raises(RuntimeError) as failed:
        _module_output("bench.no_such_section", "--flag")
    message = str(failed.value)
    assert "`-m bench.no_such_section --flag` exited with 1" in message
    assert "No module named bench.no_such_section" in message


def fake_sections(*sections: Section):
    return {s.key: (lambda ctx, s=s: s) for s in sections}


def test_the_report_and_the_run_end_list_every_verdict_and_a_fail_fails_the_command(
    tmp_path, monkeypatch, capsys
):
    met = Verdict("p50 <= 10 ms", "p50 4.00 ms", True)
    missed = Verdict("wrong/answered <= 1.00%", "wrong/answered 1.56%", False)
    sections = fake_sections(
        Section("fine", "A fine section", "figures " + met.line(), {}, [met]),
        Section("worse", "A worse section", "figures " + missed.line(), {}, [met, missed]),
        Section("silent", "A section without a target", "figures", {}),
    )
    monkeypatch.setattr(run, "SECTIONS", sections)
    monkeypatch.setattr(run, "machine", lambda: {"nproc": "2"})
    out = tmp_path / "benchmarks.md"

    code = run.main(
        ["--only", "fine", "worse", "silent", "--out", str(out), "--cache-dir", str(tmp_path)]
    )

    assert code == 1
    doc = out.read_text()
    targets = doc[doc.index("## Targets") : doc.index("## A fine section")]
    assert (
        "| A worse section | wrong/answered <= 1.00% | wrong/answered 1.56% | **FAIL** |" in targets
    )
    assert "| A fine section | p50 <= 10 ms | p50 4.00 ms | **PASS** |" in targets
    assert "| A section without a target | none stated | - | **FAIL** |" in targets
    end = capsys.readouterr().out.rsplit("wrote ", 1)[1]
    assert "| A worse section | wrong/answered <= 1.00% | wrong/answered 1.56% | **FAIL** |" in end
    assert end.rstrip().endswith("FAIL: A worse section, A section without a target")


def test_a_run_whose_targets_are_met_or_not_measured_exits_zero(tmp_path, monkeypatch, capsys):
    met = Verdict("p50 <= 10 ms", "p50 4.00 ms", True)
    unmeasured = Verdict("at 10,000 paraphrases", "not measured (size not in this run)", None)
    sections = fake_sections(Section("fine", "A fine section", "figures", {}, [met, unmeasured]))
    monkeypatch.setattr(run, "SECTIONS", sections)
    monkeypatch.setattr(run, "machine", lambda: {"nproc": "2"})

    code = run.main(["--out", str(tmp_path / "b.md"), "--cache-dir", str(tmp_path)])

    assert code == 0
    assert "**NOT MEASURED**" in (tmp_path / "b.md").read_text()
    assert capsys.readouterr().out.rstrip().endswith("No target failed.")


def prod_run(*, faq_p99: float, cache_p99: float, lost: int = 0) -> dict:
    return {
        "sessions": {"planned": 500},
        "messages": {"lost": lost},
        "by_source": {
            "faq": {"ttft_ms": {"p50": 10.0, "p99": faq_p99}},
            "cache": {"ttft_ms": {"p50": 10.0, "p99": cache_p99}},
            "llm": {"ttft_ms": {"p50": 10.0, "p99": 900.0}},
        },
    }


@pytest.mark.parametrize(
    ("faq_p99", "cache_p99", "lost", "passed"),
    [
        (80.0, 99.0, 0, True),
        (80.0, 101.0, 0, False),
        (120.0, 50.0, 0, False),
        (50.0, 50.0, 1, False),
    ],
)
def test_the_production_target_takes_the_slower_stored_source_and_nothing_lost(
    faq_p99, cache_p99, lost, passed
):
    verdict = run.prod_verdict(prod_run(faq_p99=faq_p99, cache_p99=cache_p99, lost=lost), 2)
    assert verdict.passed is passed
    assert "2 daphne processes, 500 sessions" in verdict.target
    assert f"{lost} lost" in verdict.measured
