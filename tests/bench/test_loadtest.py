"""The load test end to end at a small size: every message acked and answered once."""

import json
import subprocess
import sys

import pytest

from bench.loadtest import STORED_SOURCES
from tests.servers import REPO

pytestmark = pytest.mark.slow


def test_small_load_loses_nothing(tmp_path):
    out, samples = tmp_path / "loadtest.json", tmp_path / "samples.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "bench.loadtest", "--start-server", "--sessions", "10",
         "--duration", "8", "--ramp", "1", "--think", "0.2", "0.5", "--out", str(out),
         "--samples", str(samples)],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(out.read_text())
    assert {"sessions", "messages", "errors", "answers_per_s", "ack_ms", "by_source"} <= set(
        figures
    )
    messages = figures["messages"]
    assert messages["sent"] > 10 and messages["sent"] == messages["acked"] == messages["answered"]
    assert messages["lost"] == messages["duplicated"] == messages["corrupt"] == 0
    assert {"faq", "llm"} <= set(figures["by_source"]), figures["mix"]
    for source in figures["by_source"].values():
        inside, end_to_end = source["pipeline_ttft_ms"], source["ttft_ms"]
        assert inside["n"] == end_to_end["n"] and 0 < inside["p50"] <= end_to_end["p50"]
    cpu = figures["cpu"]
    assert set(cpu) == {"load generator", "daphne", "simulator"}
    assert cpu["daphne"]["cpu_s"] > 0 and cpu["daphne"]["ms_per_answer"] > 0
    host = figures["host_cpu_percent"]
    assert {"user", "idle", "steal"} <= set(host) and 99 <= sum(host.values()) <= 101
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    assert len(rows) == messages["sent"]
    sent_at = [r["sent_s"] for r in rows]
    assert sent_at == sorted(sent_at) and sent_at[0] == 0
    answered = [r for r in rows if r["outcome"] == "answered"]
    assert len(answered) == messages["answered"]
    assert all(0 < r["ack_ms"] <= r["ttft_ms"] <= r["done_ms"] for r in answered)
    by_source = {s: sum(r["source"] == s for r in answered) for s in figures["by_source"]}
    assert by_source == {s: f["answers"] for s, f in figures["by_source"].items()}
    stored_by_kind = figures["stored_by_kind"]
    assert sum(k["answers"] for k in stored_by_kind.values()) == sum(
        figures["by_source"].get(s, {}).get("answers", 0) for s in STORED_SOURCES
    )
    assert set(stored_by_kind) <= {"faq", "faq_reworded", "repeat", "new"}


def test_reworded_faq_questions_differ_from_the_stored_wording_only_in_case_and_punctuation():
    import random
    import re

    from bench.loadtest import Questions

    questions = Questions(random.Random(1))
    stored = {re.sub(r"[^\w\s]", "", q).lower() for q in questions.faq}
    reworded = [questions.reworded(q) for q in questions.faq for _ in range(3)]
    assert all(re.sub(r"[^\w\s]", "", r).lower().strip() in stored for r in reworded)
    assert not set(reworded) & set(questions.faq), "never word for word"


def test_messages_sent_after_the_ramp_are_summarised_on_their_own():
    from bench.loadtest import Sent, SessionLog, report_text, summarise

    def answered(at: float, took: float, source: str) -> Sent:
        sent = Sent(kind="faq", text="q", client_id=str(at), sent_at=at, acks=1, dones=1)
        sent.acked_at, sent.first_token_at, sent.done_at = at + took, at + took, at + took
        sent.source, sent.stored_text, sent.tokens = source, "a", [(0, "a")]
        return sent

    log = SessionLog(connected=True)
    log.sent = [answered(0.0, 2.0, "faq"), answered(20.0, 0.01, "faq"), answered(21, 0.1, "llm")]
    figures = summarise([log], {"ramp_s": 10.0}, (1.0, 1.0))
    settled = figures["after_ramp"]
    assert settled["from_s"] == 15.0
    assert settled["stored_ttft_ms"] == {"p50": 10.0, "p99": 10.0, "n": 1}, "not the ramp's one"
    assert settled["llm_ttft_ms"]["n"] == 1 and settled["ack_ms"]["n"] == 2
    assert figures["by_source"]["faq"]["answers"] == 2, "the whole run's figures keep both"
    assert "sent from 15 s on (after the ramp)" in report_text(figures)
