"""The database lanes (chatbot.database_lanes): a model answer's retrieval runs on a lane of its
own, so the FAQ and cache lookups of other visitors do not queue behind it."""

import asyncio
import threading

import numpy as np
import pytest

from chatbot.database_lanes import on_lookup_lane, on_retrieval_lane
from chatbot.pipeline import registry
from chatbot.pipeline.base import Turn
from knowledge.documents.types import Retrieval

WAIT_S = 10
# A lane opens its own connection (channels' database_sync_to_async closes stale ones first).
pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_lookup_does_not_wait_for_a_retrieval_in_progress() -> None:
    started, release = threading.Event(), threading.Event()

    def slow_retrieval() -> str:
        started.set()
        assert release.wait(WAIT_S)
        return threading.current_thread().name

    retrieval = asyncio.ensure_future(on_retrieval_lane(slow_retrieval)())
    assert await asyncio.to_thread(started.wait, WAIT_S)
    lookup = on_lookup_lane(lambda: threading.current_thread().name)
    looked_up_on = await asyncio.wait_for(lookup(), WAIT_S)
    assert not retrieval.done(), "the lookup finished while the retrieval was still running"
    release.set()
    assert (await retrieval).startswith("db-retrieval")
    assert looked_up_on.startswith("db-lookup")


async def test_the_help_centre_retriever_searches_on_the_retrieval_lane(monkeypatch) -> None:
    threads: list[str] = []

    def recorded(**kwargs) -> Retrieval:
        threads.append(threading.current_thread().name)
        return Retrieval(
            passages=(),
            relevant=False,
            best_vector_score=0.0,
            best_lexical_score=0.0,
            elapsed_ms=0.0,
            searched=False,
        )

    async def embedded(text: str, locale: str) -> np.ndarray:
        return np.zeros(4, dtype=np.float32)

    monkeypatch.setattr(registry, "passages_retrieve", recorded)
    monkeypatch.setattr(registry, "embed_one_async", embedded)
    retrieve = registry.help_centre_retriever(top_k=3)
    turn = Turn(conversation_public_id="c", message_id=1, text="Where is my parcel?")
    assert await retrieve(turn) is None, "no help centre: nothing to answer from"
    assert len(threads) == 1 and threads[0].startswith("db-retrieval")
