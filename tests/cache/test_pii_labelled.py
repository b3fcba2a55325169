"""The personal-data detector against the hand-labelled questions in
data/personal_questions.jsonl (docs/security.md, "Personal data and the answer cache"): recall
on personal questions is held per language, and the share of harmless ones the cache may still
keep is reported."""

import json
from pathlib import Path

import pytest

from chatbot.cache.pii import is_personal

DATA = Path(__file__).parent / "data" / "personal_questions.jsonl"
ROWS = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line]
MIN_RECALL = 0.99


def test_the_labelled_set_is_large_and_balanced_enough_to_measure():
    assert len(ROWS) >= 300
    for lang in ("en", "zh-hans"):
        personal = sum(r["lang"] == lang and r["label"] == "personal" for r in ROWS)
        harmless = sum(r["lang"] == lang and r["label"] == "harmless" for r in ROWS)
        assert personal >= 100 and harmless >= personal, lang


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_personal_questions_are_detected(lang, capsys):
    personal = [r for r in ROWS if r["lang"] == lang and r["label"] == "personal"]
    missed = [r["text"] for r in personal if not is_personal(r["text"])]
    recall = 1 - len(missed) / len(personal)
    with capsys.disabled():
        for split in ("dev", "test", "holdout"):
            harmless = [
                r for r in ROWS if (r["lang"], r["label"], r["split"]) == (lang, "harmless", split)
            ]
            kept = sum(not is_personal(r["text"]) for r in harmless)
            print(f"\n{lang} {split}: harmless questions still cached {kept}/{len(harmless)}")
        print(f"{lang}: recall on personal questions {recall:.3f} ({len(personal)})")
    assert recall >= MIN_RECALL, missed
