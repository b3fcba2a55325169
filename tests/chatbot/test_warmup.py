"""A process that ends while the embedding model is still loading exits cleanly, and the
warm-up builds the retrieval copies before the first question."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
START_AND_LEAVE = (
    "import sys, time\n"
    "import django; django.setup()\n"
    "from chatbot.ops.warmup import warm_up_in_background\n"
    "warm_up_in_background()\n"
    "time.sleep(float(sys.argv[1]))\n"
)


@pytest.mark.slow
@pytest.mark.own_stack  # processes of its own, no database: the PostgreSQL pass would repeat it
def test_exiting_during_the_warm_up_does_not_abort_the_process():
    # As a daemon thread the warm-up died inside ONNX Runtime at exit, which aborted the
    # process (exit code 134) when it ended while the model session was being created, about
    # half a second after the start here. Several moments, since machines differ in speed.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "chatbot.settings", "WARM_UP_EMBEDDINGS": "1"}
    for leave_after_s in ("0.3", "0.5", "0.7", "0.9"):
        done = subprocess.run(
            [sys.executable, "-c", START_AND_LEAVE, leave_after_s],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]


def test_the_interpreter_waits_for_the_warm_up_at_exit(settings):
    from chatbot.ops.warmup import warm_up_in_background

    settings.WARM_UP_EMBEDDINGS = True
    thread = warm_up_in_background()
    assert thread is not None and not thread.daemon
    thread.join(timeout=120)


def _store_a_page() -> None:
    from knowledge import services
    from knowledge.documents.parsing import parse_document

    text = "# Gift wrapping\n\nWe wrap any order in recycled paper for free.\n"
    parsed = parse_document(text.encode(), filename="gift.md", locale="en")
    services.document_upsert(parsed=parsed, source_key="gift.md", index_inline=True)


def _retrieval_builds(monkeypatch) -> list[str]:
    """Records each build of a retrieval copy (both databases' copies read `_searchable`)."""
    from knowledge.documents import indexing

    builds: list[str] = []
    searchable = indexing._searchable

    def counted(fields):
        builds.append(threading.current_thread().name)
        return searchable(fields)

    monkeypatch.setattr(indexing, "_searchable", counted)
    return builds


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("warm_up_retrieval", [True, False])
def test_the_warm_up_builds_the_retrieval_copies_so_the_first_question_does_not(
    settings, monkeypatch, warm_up_retrieval
):
    """The chunk index (SQLite) or the word copy (PostgreSQL), each with its document index,
    are built by the warm-up thread; without it, by the first question (0.7-1.4 s on the
    PostgreSQL manual; docs/retrieval.md, "Latency")."""
    from chatbot.ops.warmup import warm_up_in_background
    from knowledge.documents.indexing import reset_chunk_index
    from knowledge.faq_word_store import faq_word_store
    from knowledge.selectors import passages_retrieve

    _store_a_page()
    reset_chunk_index()
    builds = _retrieval_builds(monkeypatch)
    settings.WARM_UP_EMBEDDINGS = True
    settings.WARM_UP_RETRIEVAL = warm_up_retrieval
    try:
        thread = warm_up_in_background()
        assert thread is not None
        thread.join(timeout=120)
        assert builds == (["embedding-warm-up"] if warm_up_retrieval else [])
        # The FAQ stage's word copy too (knowledge/faq_words.py): checked against the version.
        assert faq_word_store().is_fresh(60) is warm_up_retrieval

        found = passages_retrieve(text="Can you wrap my order in paper?", locale="en")

        assert found.relevant and "recycled paper" in found.passages[0].text
        assert found.passages[0].score > 1.0, "the page's share (its only page: 0.5 * 1)"
        assert len(builds) == 1, "built once, by the warm-up or else by the first question"
        assert (builds[0] == "embedding-warm-up") is warm_up_retrieval
    finally:
        reset_chunk_index()
