"""The in-memory FAQ index (on SQLite and PostgreSQL alike) answers a confident match without
the database while it is fresh, rotates the approved variants itself, and sees content changes
after the recheck interval; a slow one loads its next copy behind while the last one answers."""

import threading
import time

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from knowledge import content_version, services
from knowledge.embeddings import get_embedder
from knowledge.index import InMemoryIndex, get_index, reset_index
from knowledge.models import AnswerVariant
from knowledge.selectors import faq_find, faq_find_in_memory
from tests.knowledge.test_admin_content_changes import another_process_bumps

pytestmark = pytest.mark.django_db
QUESTION = "How long does delivery take?"


@pytest.fixture
def store(settings):
    settings.FAQ_INDEX_RECHECK_S = 60.0
    return make_store()


def make_store():
    faq = services.faq_save(question=QUESTION, answer="Standard delivery takes 3-5 working days.")
    services.paraphrases_add(faq=faq, texts=["when will my order arrive", "delivery time"])
    services.variants_add(
        faq=faq, texts=["Orders arrive within 3-5 working days."], origin="generated",
        status="approved",
    )  # fmt: skip
    services.variants_add(faq=faq, texts=["DRAFT"], origin="generated", status="draft")
    services.embeddings_compute(paraphrase_ids=list(faq.paraphrases.values_list("pk", flat=True)))
    return faq


def vector(text: str) -> np.ndarray:
    return get_embedder().embed([text])[0]


def test_a_fresh_index_answers_without_the_database_and_rotates_variants(store):
    assert isinstance(get_index(), InMemoryIndex), "the default on every database"
    assert faq_find_in_memory(text=QUESTION, locale="en", vector=vector(QUESTION)) is None, (
        "never checked against the knowledge version yet"
    )
    first = faq_find(text=QUESTION, locale="en", vector=vector(QUESTION))  # loads the index
    served = [first.text]
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            found = faq_find_in_memory(text=QUESTION, locale="en", vector=vector(QUESTION))
            assert found is not None and found.answered and found.result.faq_id == store.pk
            served.append(found.text)
    assert queries.captured_queries == []
    assert sorted(served) == sorted(
        ["Standard delivery takes 3-5 working days.", "Orders arrive within 3-5 working days."] * 2
    ), "least served first; drafts never"


def test_an_unrelated_question_is_declined_in_memory_too(store):
    faq_find(text=QUESTION, locale="en", vector=vector(QUESTION))
    found = faq_find_in_memory(
        text="what's the weather in paris", locale="en", vector=vector("weather in paris")
    )
    assert found is not None and not found.answered


def test_after_the_recheck_interval_the_database_decides_again(store, settings):
    faq_find(text=QUESTION, locale="en", vector=vector(QUESTION))
    AnswerVariant.objects.filter(faq=store).update(status=AnswerVariant.Status.REJECTED)
    another_process_bumps(1)  # a change made here is looked at at once (test_admin_content_...)
    assert faq_find_in_memory(text=QUESTION, locale="en", vector=vector(QUESTION)).answered, (
        "within the interval the snapshot still serves"
    )
    settings.FAQ_INDEX_RECHECK_S = 0.0
    assert faq_find_in_memory(text=QUESTION, locale="en", vector=vector(QUESTION)) is None
    found = faq_find(text=QUESTION, locale="en", vector=vector(QUESTION))
    assert found.decision == "no_approved_variant" and not found.answered


def test_a_large_store_is_searched_off_the_event_loop(store, settings):
    faq_find(text=QUESTION, locale="en", vector=vector(QUESTION))
    settings.FAQ_IN_MEMORY_MAX_ROWS = 2
    assert faq_find_in_memory(text=QUESTION, locale="en", vector=vector(QUESTION)) is None


def test_with_faq_index_pgvector_every_lookup_goes_to_pgvector(store, settings):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    from knowledge.pgvector_index import PgVectorIndex  # imports pgvector's psycopg types

    settings.FAQ_INDEX = "pgvector"
    reset_index()
    assert isinstance(get_index(), PgVectorIndex)
    assert faq_find(text=QUESTION, locale="en", vector=vector(QUESTION)).answered
    assert faq_find_in_memory(text=QUESTION, locale="en", vector=vector(QUESTION)) is None


@pytest.mark.django_db(transaction=True)  # the next copy loads on a thread of its own
def test_a_slow_index_answers_from_its_last_copy_while_the_next_one_loads(settings):
    settings.KNOWLEDGE_COPY_BACKGROUND_LOAD_MS = 0  # every load counts as slow
    settings.FAQ_INDEX_RECHECK_S = 0.0
    reset_index()
    faq = make_store()
    assert faq_find(text=QUESTION, locale="en", vector=vector(QUESTION)).answered
    index = get_index()
    gate, load = threading.Event(), index._load

    def held_load() -> None:
        assert gate.wait(30)
        load()

    index._load = held_load
    AnswerVariant.objects.filter(faq=faq).update(status=AnswerVariant.Status.REJECTED)
    content_version.knowledge_version_bump()

    during = faq_find(text=QUESTION, locale="en", vector=vector(QUESTION))
    assert during.answered and index.stale, "answered at once from the copy it had"
    gate.set()
    deadline = time.monotonic() + 30
    while index.stale:
        assert time.monotonic() < deadline, "the next copy never loaded"
        time.sleep(0.02)
    after = faq_find(text=QUESTION, locale="en", vector=vector(QUESTION))
    assert after.decision == "no_approved_variant" and not after.answered
    reset_index()


def test_an_faq_saved_with_its_question_alone_answers_a_close_rewording(settings):
    """A store imported as plain question / answer pairs: each FAQ has one phrasing, so it has
    no support; the lone threshold decides (MiniLM 0.855) instead of only exact repeats."""
    reset = services.faq_save(question="How do I reset my password?", answer="Use the link.")
    ship = services.faq_save(question="Do you ship abroad?", answer="Yes, to 40 countries.")
    services.embeddings_compute(
        paraphrase_ids=[p.pk for faq in (reset, ship) for p in faq.paraphrases.all()]
    )
    found = faq_find(text="reset password", locale="en", vector=vector("reset password"))
    assert found.answered and found.result.faq_id == reset.pk
    assert found.result.lone and found.result.score == pytest.approx(0.9, abs=0.01)
    unsure = "I forgot my password, what now?"
    assert not faq_find(text=unsure, locale="en", vector=vector(unsure)).answered, (
        "cosine 0.79: below the lone threshold"
    )
    settings.FAQ_MATCH_LONE_THRESHOLD = 1.01
    declined = faq_find(text="reset password", locale="en", vector=vector("reset password"))
    assert not declined.answered and declined.decision == "below_threshold"
    services.paraphrases_add(faq=reset, texts=["reset my password"])
    services.embeddings_compute(paraphrase_ids=list(reset.paraphrases.values_list("pk", flat=True)))
    reset_index()  # the next copy, without waiting for the recheck interval
    supported = faq_find(text="reset password", locale="en", vector=vector("reset password"))
    assert supported.answered and not supported.result.lone, "two phrasings: support decides"


def test_a_store_of_one_faq_answers_a_rewording_of_it():
    """A new store's first FAQ, tried in the widget: the search returns the whole store, so no
    other FAQ can be the runner-up (before, the FAQ's own last phrasing stood in for one)."""
    faq = services.faq_save(question="How do I reset my password?", answer="Use the link.")
    services.embeddings_compute(paraphrase_ids=list(faq.paraphrases.values_list("pk", flat=True)))
    found = faq_find(text="reset password", locale="en", vector=vector("reset password"))
    assert found.answered and found.result.faq_id == faq.pk
    assert found.result.runner_up_faq_id is None
