"""The retrieval benchmark's labelled data stays true to its corpora: every evidence string is in
the document it names, every help-centre article exists in both languages and has the shape the
chunker relies on (one `# Title`, `##` sections), and the sets keep their minimum sizes
(bench/data/README.md, "Retrieval questions")."""

import json
import re
import shutil
from collections import Counter
from functools import cache
from pathlib import Path

import jieba
import pytest
from bs4 import BeautifulSoup

from bench.pgdocs import HTML_SUBDIR, PgDocsUnavailable, cached_pgdocs_folder, pgdocs_folder

REPO = Path(__file__).resolve().parents[2]
HELPCENTRE = REPO / "knowledge" / "fixtures" / "helpcentre"
LOCALES = ("en", "zh-hans")
HELPCENTRE_QUESTIONS = json.loads(
    (REPO / "bench" / "data" / "retrieval_helpcentre.json").read_text(encoding="utf-8")
)["questions"]
PGDOCS_QUESTIONS = json.loads(
    (REPO / "bench" / "data" / "retrieval_pgdocs.json").read_text(encoding="utf-8")
)["questions"]


def collapsed(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def article(locale: str, slug: str) -> str:
    return (HELPCENTRE / locale / f"{slug}.md").read_text(encoding="utf-8")


def slugs(locale: str) -> set[str]:
    return {path.stem for path in (HELPCENTRE / locale).glob("*.md")}


def word_count(locale: str, text: str) -> int:
    """Words as a reader counts them: jieba's words in Chinese, whitespace-separated in English."""
    tokens = jieba.lcut(text) if locale == "zh-hans" else text.split()
    return sum(1 for token in tokens if re.search(r"\w", token))


def test_every_article_exists_in_both_languages():
    assert slugs("en") == slugs("zh-hans")
    assert 15 <= len(slugs("en")) <= 30, "issue 15 asks for 15-30 demo articles"


@pytest.mark.parametrize("locale", LOCALES)
def test_articles_have_one_title_sections_a_readable_length_and_tables_across_the_set(locale):
    tables = 0
    for slug in sorted(slugs(locale)):
        text = article(locale, slug)
        lines = text.splitlines()
        assert lines[0].startswith("# "), f"{locale}/{slug}: starts with its # Title"
        assert sum(line.startswith("# ") for line in lines) == 1, f"{locale}/{slug}: one h1"
        assert sum(line.startswith("## ") for line in lines) >= 3, f"{locale}/{slug}: sections"
        words = word_count(locale, text)
        assert 200 <= words <= 800, f"{locale}/{slug}: {words} words"
        tables += any(line.startswith("|---") for line in lines)
    assert tables >= 3


def test_the_help_centre_set_meets_its_minimums():
    answerable = Counter(q["locale"] for q in HELPCENTRE_QUESTIONS if q["document"])
    out_of_scope = [q for q in HELPCENTRE_QUESTIONS if q["document"] is None]
    assert answerable["en"] >= 90 and answerable["zh-hans"] >= 90
    assert len(out_of_scope) >= 40
    assert any(q.get("near_miss") for q in out_of_scope)
    assert not any("evidence" in q for q in out_of_scope)
    assert {q["locale"] for q in HELPCENTRE_QUESTIONS} == set(LOCALES)
    questions = [q["question"] for q in HELPCENTRE_QUESTIONS]
    assert len(questions) == len(set(questions)), "no question is labelled twice"
    for locale in LOCALES:
        labelled = {q["document"] for q in HELPCENTRE_QUESTIONS if q["document"]}
        assert labelled <= slugs(locale)
        covered = {q["document"] for q in HELPCENTRE_QUESTIONS if q["locale"] == locale}
        assert covered >= slugs(locale), f"every {locale} article has questions"


@pytest.mark.parametrize(
    "labelled",
    [q for q in HELPCENTRE_QUESTIONS if q["document"]],
    ids=lambda q: f"{q['locale']}/{q['document']}",
)
def test_each_help_centre_evidence_is_a_short_exact_passage_of_its_article(labelled):
    evidence = labelled["evidence"]
    assert 8 <= len(evidence) <= 60
    assert collapsed(evidence) in collapsed(article(labelled["locale"], labelled["document"]))


def test_the_pgdocs_set_meets_its_minimums():
    answerable = [q for q in PGDOCS_QUESTIONS if q["document"]]
    assert len(answerable) >= 80 and len(PGDOCS_QUESTIONS) - len(answerable) >= 15
    assert {q["locale"] for q in PGDOCS_QUESTIONS} == {"en"}
    assert all(q["document"].endswith(".html") for q in answerable)
    assert all(8 <= len(q["evidence"]) <= 80 for q in answerable)


@cache
def manual_page_text(folder: Path, name: str) -> str:
    html = (folder / name).read_text(encoding="utf-8", errors="replace")
    return collapsed(BeautifulSoup(html, "html.parser").get_text())


def test_each_pgdocs_evidence_is_in_the_text_of_its_manual_page():
    folder = cached_pgdocs_folder()
    if folder is None:
        pytest.skip("the PostgreSQL manual is not cached: run `python -m bench.pgdocs` first")
    missing = [
        (q["document"], q["evidence"])
        for q in PGDOCS_QUESTIONS
        if q["document"] and collapsed(q["evidence"]) not in manual_page_text(folder, q["document"])
    ]
    assert missing == []


def test_the_cached_manual_is_reused_without_apt(tmp_path, monkeypatch):
    html = tmp_path / HTML_SUBDIR
    html.mkdir(parents=True)
    (html / "index.html").write_text("<html></html>")
    monkeypatch.setattr(shutil, "which", lambda tool: None)
    assert pgdocs_folder(tmp_path) == html


def test_without_apt_the_manual_fetch_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda tool: None)
    with pytest.raises(PgDocsUnavailable, match=r"apt-get not found.*postgresql-doc-15"):
        pgdocs_folder(tmp_path)
    assert cached_pgdocs_folder(tmp_path) is None


def test_a_failing_apt_download_is_reported_with_apts_own_message(tmp_path, monkeypatch):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for tool, script in {
        "apt-get": "echo 'E: Unable to locate package postgresql-doc-15' >&2; exit 100",
        "dpkg-deb": "exit 0",
    }.items():
        (fake_bin / tool).write_text(f"#!/bin/sh\n{script}\n")
        (fake_bin / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}:/usr/bin:/bin")
    with pytest.raises(PgDocsUnavailable, match="Unable to locate package"):
        pgdocs_folder(tmp_path / "cache")
    assert cached_pgdocs_folder(tmp_path / "cache") is None
