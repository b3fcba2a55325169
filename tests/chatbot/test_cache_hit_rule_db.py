"""The cache's hit rule on the configured database (SQLite, and PostgreSQL under
CHATBOT_TEST_POSTGRES=1, where binary columns come back as memoryview): answers are embedded when
stored, the index reads them back, and as many agreeing entries as the operating point's support
let a rewording hit."""

import numpy as np
import pytest

from chatbot.cache import services
from chatbot.cache.index import reset_index
from chatbot.cache.models import CachedAnswer
from chatbot.cache.scope import current_scope
from chatbot.cache.selectors import HIT, UNSUPPORTED, CacheLookup, cache_find
from knowledge.embeddings import get_embedder
from knowledge.operating_points import operating_point

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "How long does delivery to Canada take?"
PARAPHRASES = ("how long does shipping to canada take", "how long do deliveries to canada take")
REWORDING = "what is the delivery time to canada"


@pytest.fixture(autouse=True)
def _fresh_index():
    reset_index()
    yield
    reset_index()


def store(question: str) -> CachedAnswer:
    vector = get_embedder("en").embed([question])[0]
    entry = services.entry_store(
        question=question,
        answer=f"Thanks for asking. Here is what I know about: {question}",
        vector=vector,
        scope=current_scope(locale="en", context=""),
    )
    assert entry is not None
    return entry


def find(text: str) -> CacheLookup:
    vector = get_embedder("en").embed([text])[0]
    return cache_find(
        CacheLookup("miss", text, None, current_scope(locale="en", context=""), vector)
    )


def test_answers_are_embedded_when_stored_and_read_back():
    entry = store(QUESTION)
    expected = get_embedder("en").embed([entry.answer])[0]
    stored = CachedAnswer.objects.get(pk=entry.pk).answer_vector()
    assert np.allclose(stored, expected, atol=1e-6)


def test_a_rewording_hits_once_enough_agreeing_entries_support_it():
    support = operating_point("en").cache_support
    assert len(PARAPHRASES) == support - 1
    first = store(QUESTION)
    for paraphrase in PARAPHRASES:
        assert find(REWORDING).decision == UNSUPPORTED
        store(paraphrase)
    found = find(REWORDING)
    assert (found.decision, found.entry_id, found.detail["support"]) == (HIT, first.pk, support)
