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
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    call_command("match_faq")
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


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
    assert set(out[0]) == {"text", "faq_id", "faq_question", "score", "decision"}


def test_match_faq_rejects_a_bad_line(store, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO('{"text": "ok"}\n{"nope": 1}\n'))
    with pytest.raises(CommandError, match="Line 2"):
        call_command("match_faq")
