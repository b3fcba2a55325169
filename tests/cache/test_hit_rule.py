"""The cache's hit rule (chatbot.cache.selectors): the nearest entry serves only when entries
agreeing with its answer support it, or when it is a near-certain match on its own. Vectors are
built by hand so each test sets exactly the cosines it is about."""

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from chatbot.cache.index import bump_inserts
from chatbot.cache.models import CachedAnswer
from chatbot.cache.scope import current_scope
from chatbot.cache.selectors import HIT, UNSUPPORTED, CacheLookup, cache_find
from knowledge.operating_points import operating_point

pytestmark = pytest.mark.django_db(transaction=True)

DIM = 384  # MiniLM's: the entries live in the scope of the configured English model


def unit(*weights: float) -> np.ndarray:
    """A unit vector over the first axes with these weights (the rest zero)."""
    vector = np.zeros(DIM, dtype=np.float32)
    vector[: len(weights)] = weights
    return vector / np.linalg.norm(vector)


def at(degrees: float) -> np.ndarray:
    """A unit vector in the plane of the first two axes; the cosine of two of them is the
    cosine of their angle apart."""
    return unit(np.cos(np.radians(degrees)), np.sin(np.radians(degrees)))


def towards(a: np.ndarray, b: np.ndarray, cosine_to_a: float) -> np.ndarray:
    """A unit vector in the plane of orthonormal `a`, `b` at `cosine_to_a` from `a`."""
    return (cosine_to_a * a + np.sqrt(1 - cosine_to_a**2) * b).astype(np.float32)


def entry(question: np.ndarray, answer: np.ndarray, text: str) -> CachedAnswer:
    scope = current_scope(locale="en", context="")
    row = CachedAnswer.objects.create(
        question=text,
        normalised=text,
        answer=text,
        embedding=question.tobytes(),
        answer_embedding=answer.tobytes(),
        embedding_model=scope.embedding_model,
        locale="en",
        knowledge_version=scope.knowledge_version,
        config_fingerprint=scope.config,
        scope_key=scope.key,
        expires_at=timezone.now() + timedelta(days=1),
    )
    bump_inserts()
    return row


def find(vector: np.ndarray) -> CacheLookup:
    scope = current_scope(locale="en", context="")
    return cache_find(CacheLookup("miss", "a question", None, scope, vector))


def test_a_query_between_two_entries_with_different_answers_is_declined():
    entry(at(25), unit(0, 0, 1), "When will my card arrive?")  # cosine 0.906 to the query
    entry(at(-27), unit(0, 0, 0, 1), "How long does card delivery take?")  # 0.891

    found = find(at(0))

    assert found.decision == UNSUPPORTED and not found.hit
    assert found.detail["support"] == 1


def agreeing_entries(count: int) -> list[CachedAnswer]:
    """`count` entries at cosines 0.914, 0.899, 0.883, ... to the query `unit(1)` (above the
    threshold minus its slack, below `cache_alone`; the first nearest), each off towards an axis
    of its own, their answers within 0.95 of each other."""
    point = operating_point("en")
    assert point.cache_threshold <= 0.914 < point.cache_alone
    assert point.cache_threshold - point.cache_support_slack < np.cos(np.radians(22 + 2 * count))
    answer = unit(0, 0, 1)
    rows = []
    for i in range(count):
        angle = np.radians(24 + 2 * i)
        question = np.zeros(DIM, dtype=np.float32)
        question[0], question[1 + i] = np.cos(angle), np.sin(angle)
        agreeing = answer if i == 0 else towards(answer, unit(0, 0, 0, 1), 0.95)
        rows.append(entry(question, agreeing, f"card question {i}"))
    return rows


def test_a_query_near_enough_entries_that_agree_is_served():
    needed = operating_point("en").cache_support
    entries = agreeing_entries(needed)

    found = find(unit(1))

    assert found.decision == HIT and found.entry_id == entries[0].pk
    assert found.detail["support"] == needed


def test_one_agreeing_entry_short_of_the_support_is_declined():
    needed = operating_point("en").cache_support
    agreeing_entries(needed - 1)

    found = find(unit(1))

    assert found.decision == UNSUPPORTED and not found.hit
    assert found.detail["support"] == needed - 1


def test_one_entry_serves_alone_only_when_near_certain():
    point = operating_point("en")
    question, other = unit(1, 0), unit(0, 1)
    served = entry(question, unit(0, 0, 1), "When will my card arrive?")
    alone = towards(question, other, (point.cache_alone + 1) / 2)
    close = towards(question, other, (point.cache_threshold + point.cache_alone) / 2)

    assert find(alone).entry_id == served.pk
    assert find(close).decision == UNSUPPORTED


def test_entries_without_an_answer_embedding_never_support():
    """Rows stored before answers were embedded agree with nothing."""
    legacy = entry(at(24), unit(0, 0, 1), "When will my card arrive?")
    entry(at(-27), unit(0, 0, 1), "card still not here")
    CachedAnswer.objects.filter(pk=legacy.pk).update(answer_embedding=b"")

    assert find(at(0)).decision == UNSUPPORTED
