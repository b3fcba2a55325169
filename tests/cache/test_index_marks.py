"""The answer cache's per-process index follows two marks in the shared state store
(chatbot/cache/index.py). While Redis does not answer they fail open: bumps are skipped and an
index keeps the copy it has; once Redis answers, the next bump brings every index up to date,
the rows added meanwhile included (docs/operations.md, "When Redis does not answer")."""

import re
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone
from prometheus_client import REGISTRY

from chatbot.cache.index import InMemoryCacheIndex, bump_inserts
from chatbot.cache.models import CachedAnswer

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

DIM = 8
SCOPE = "scope-a"


def fallbacks() -> float:
    labels = {"store": "cache_index"}
    return REGISTRY.get_sample_value("chatbot_redis_fallbacks_total", labels) or 0.0


def axis(i: int) -> np.ndarray:
    vector = np.zeros(DIM, dtype=np.float32)
    vector[i] = 1.0
    return vector


def stored(i: int) -> int:
    """An entry on axis i, stored as entry_store stores one: the row, then the insert bump."""
    row = CachedAnswer.objects.create(
        question=f"q{i}",
        normalised=f"q{i}",
        answer=f"a{i}",
        embedding=axis(i).tobytes(),
        answer_embedding=axis(i).tobytes(),
        embedding_model="test",
        locale="en",
        knowledge_version=1,
        config_fingerprint="c",
        scope_key=SCOPE,
        expires_at=timezone.now() + timedelta(days=1),
    )
    bump_inserts()
    return row.pk


def nearest(index: InMemoryCacheIndex, i: int) -> int | None:
    found = index.search(axis(i), scope_key=SCOPE, k=1)
    return found[0][0] if found and found[0][1] > 0.99 else None


def test_an_index_keeps_its_copy_while_redis_is_down_and_catches_up_after(
    own_redis, settings, django_assert_num_queries
):
    settings.REDIS_RETRY_S = 0  # ask Redis on every call
    first = stored(0)
    index, other = InMemoryCacheIndex(), InMemoryCacheIndex()  # two processes' copies
    assert nearest(index, 0) == first
    assert nearest(other, 0) == first

    own_redis.stop()
    counted = fallbacks()
    second = stored(1)  # the bump is skipped: no error for the answer being stored
    with django_assert_num_queries(0):
        assert nearest(index, 0) == first, "the copy it has, without a database query"
    assert nearest(index, 1) is None, "nothing told it of the new row"
    fresh = InMemoryCacheIndex()  # a process without a copy loads one
    assert nearest(fresh, 1) == second
    assert fallbacks() - counted == 4

    own_redis.start()  # empty: it keeps nothing on disk
    third = stored(2)
    for copy in (index, other, fresh):
        assert [nearest(copy, i) for i in range(3)] == [first, second, third]


def vector_queries(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if "answer_embedding" in q["sql"]]


def test_a_look_after_an_insert_fetches_the_vectors_of_the_new_rows_only(own_redis):
    """The window of rows a look re-reads is SYNC_SLACK wide; re-sending every row of it with
    its vectors on every look cost a busy cache most of its lookup time."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    earlier = [stored(i) for i in range(3)]
    index = InMemoryCacheIndex()
    assert [nearest(index, i) for i in range(3)] == earlier

    newest = stored(3)
    with CaptureQueriesContext(connection) as captured:
        assert nearest(index, 3) == newest
    [fetched] = vector_queries(captured)
    [ids] = re.findall(r"IN \(([^)]*)\)", fetched)
    assert {int(entry_id) for entry_id in ids.split(",")} == {newest}

    bump_inserts()  # another process's insert of a row this copy holds already
    with CaptureQueriesContext(connection) as captured:
        assert [nearest(index, i) for i in range(4)] == [*earlier, newest]
    assert vector_queries(captured) == [], "nothing new: no vectors fetched"
