"""A conversation that goes on while Redis is stopped (a redis-server of the test's own holding
shared state and router state): every question is answered, by the stage that can,
with no error frame; the FAQ store answers again once Redis is back. Runs on SQLite and on
PostgreSQL (`make test` runs it on both)."""

import pytest
from channels.db import database_sync_to_async

from chatbot.llm.simulator import default_answer
from chatbot.models import Message
from chatbot.shared_state import reset_shared_state
from tests.conftest import chat_socket
from tests.knowledge.test_faq_stage import make_store

pytestmark = [
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("settle"),
]

FAQ_QUESTION = "How many days does delivery take?"
NEW_QUESTION = "Do you deliver to Iceland?"


@pytest.fixture
def on_own_redis(own_redis, upstream, settings):
    settings.REDIS_RETRY_S = 0  # ask Redis again on every call: it is back when restarted
    settings.FAQ_INDEX_RECHECK_S = 0  # the FAQ index checks the knowledge version every time
    settings.HANDOFF_WHEN_MODELS_DOWN = False
    reset_shared_state()
    return own_redis


@database_sync_to_async
def stored_trace(message_id: int) -> dict:
    return Message.objects.get(pk=message_id).trace


def failed_stages(trace: dict) -> list[tuple[str, str]]:
    return [
        (s["stage"], s["detail"]["kind"]) for s in trace["steps"] if s["decision"] == "stage_failed"
    ]


async def test_answers_keep_coming_while_redis_is_stopped(on_own_redis):
    await make_store()
    async with chat_socket() as client:
        before = await client.say(FAQ_QUESTION, "q1")
        assert before[-1]["source"] == "faq"
        assert (await client.say(NEW_QUESTION, "q2"))[-1]["source"] == "llm"

        on_own_redis.stop()
        during = [await client.say(FAQ_QUESTION, "q3"), await client.say(NEW_QUESTION, "q4")]
        for frames in during:
            assert not [f for f in frames if f["type"] == "error"], frames
        faq_answer, new_answer = (frames[-1] for frames in during)
        # The FAQ index serves the copy it has without the knowledge version; the cache needs
        # Redis.
        assert faq_answer["source"] == "faq"
        expected_failures = [("cache", "redis")]
        assert new_answer["source"] == "llm"
        assert new_answer["message"]["text"] == default_answer(NEW_QUESTION)
        trace = await stored_trace(new_answer["message"]["id"])
        assert failed_stages(trace) == expected_failures

        on_own_redis.start()
        after = await client.say(FAQ_QUESTION, "q5")
    assert after[-1]["source"] == "faq", "the FAQ store answers again once Redis is back"
