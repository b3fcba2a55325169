import io
import json

import pytest
from django.core.management import CommandError, call_command

from knowledge import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def store(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        faq = services.faq_save(question="How do I reset my password?", answer="Use the link.")
        services.paraphrases_add(faq=faq, texts=["forgot my password", "password reset link"])
        other = services.faq_save(question="Do you ship abroad?", answer="Yes.")
        services.paraphrases_add(faq=other, texts=["international shipping", "ship to canada?"])
    return faq


def run(monkeypatch, capsys, lines: list[str]) -> list[dict]:
    return run_with_summary(monkeypatch, capsys, lines)[0]


def run_with_summary(monkeypatch, capsys, lines: list[str]) -> tuple[list[dict], list[str]]:
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    call_command("match_faq")
    captured = capsys.readouterr()
    summary = [line for line in captured.err.splitlines() if not line.startswith("{")]
    return [json.loads(line) for line in captured.out.splitlines()], summary


def test_match_faq_writes_one_decision_per_query(store, monkeypatch, capsys):
    out = run(
        monkeypatch,
        capsys,
        [
            json.dumps({"text": "How do I reset my password?"}),
            "",
            json.dumps({"text": "what is the weather"}),
        ],
    )
    assert [o["text"] for o in out] == ["How do I reset my password?", "what is the weather"]
    assert out[0]["faq_id"] == store.pk and out[0]["faq_question"] == "How do I reset my password?"
    assert out[0]["decision"] in ("answer", "exact")
    assert out[1]["faq_id"] is None and out[1]["decision"] in ("below_threshold", "ambiguous")
    assert set(out[0]) == {
        "text", "faq_id", "faq_question", "score", "decision",
        "best_faq_id", "best_faq_question", "margin",
    }  # fmt: skip


def test_a_declined_query_names_its_best_candidate_and_the_summary_counts(
    store, monkeypatch, capsys
):
    out, summary = run_with_summary(
        monkeypatch,
        capsys,
        [
            json.dumps({"text": "How do I reset my password?"}),
            json.dumps({"text": "can I change my password"}),  # near, below the threshold
            json.dumps({"text": "what is the weather"}),
        ],
    )
    near = out[1]
    assert near["faq_id"] is None and near["decision"] == "below_threshold"
    assert near["best_faq_id"] == store.pk
    assert near["best_faq_question"] == "How do I reset my password?"
    assert 0.5 < near["score"] < 0.81
    assert out[0]["best_faq_id"] == out[0]["faq_id"] == store.pk
    assert summary[0] == "3 queries: 1 answered, 2 declined (answer 1, below_threshold 2)"
    answered, declined = summary[2].split(), summary[3].split()
    assert answered[:2] == ["answered", "1"]
    assert float(answered[-1]) == pytest.approx(out[0]["score"], abs=5e-4)
    assert declined[:2] == ["declined", "2"]
    assert float(declined[2]) == pytest.approx(min(out[1]["score"], out[2]["score"]), abs=5e-4)
    assert float(declined[-1]) == pytest.approx(max(out[1]["score"], out[2]["score"]), abs=5e-4)
    assert summary[4].startswith("histogram:")
    counts = [[int(n) for n in line.split()[-2:]] for line in summary[5:]]
    assert [sum(column) for column in zip(*counts, strict=True)] == [1, 2]
    [answered_bin] = [line.split()[0] for line in summary[5:] if line.split()[-2] == "1"]
    low, high = (float(edge) for edge in answered_bin.split("-"))
    assert low <= out[0]["score"] < high


def test_match_faq_rejects_a_bad_line(store, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO('{"text": "ok"}\n{"nope": 1}\n'))
    with pytest.raises(CommandError, match="Line 2"):
        call_command("match_faq")
