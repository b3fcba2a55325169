"""A question the bot promised to answer later ("I've kept your question…") is answered after a
restart too, on the embedded default with no Redis (issue 19): the promise is kept in the
database, and a fresh process drains it (websocket, database and model simulator all real)."""

import pytest
from channels.db import database_sync_to_async

from chatbot import tasks
from chatbot.llm import queued_flag
from chatbot.llm.simulator import default_answer
from chatbot.models import Message, QueuedQuestion
from chatbot.shared_state import reset_shared_state
from tests.conftest import chat_socket

QUESTION = "Do you ship to Norway?"


def _queued_answers(public_id: str) -> list[Message]:
    return list(
        Message.objects.filter(
            conversation__public_id=public_id, trace__queued_reply_to__isnull=False
        )
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("settle")
async def test_a_question_queued_before_a_restart_is_answered_once_after_it(upstream, settings):
    settings.REDIS_URL = ""
    settings.CHAT_STORED_ANSWER_TOKEN_DELAY_S = 0
    settings.HANDOFF_WHEN_MODELS_DOWN = False  # the bot keeps the conversation
    settings.HANDOFF_FALLBACK_STREAK = 0
    upstream.answer = default_answer  # other tests may have left their own
    settings.LOCAL_LLM_BASE_URL = "http://127.0.0.1:9/v1"  # the model is down
    async with chat_socket() as client:
        done = (await client.say(QUESTION, "q1"))[-1]
        public_id, token = client.hello["conversation"], client.hello["token"]
    assert "answer it here as soon as I can" in done["message"]["text"]
    assert await queued_flag.is_marked()
    await tasks.wait_for_drains()

    # The restart: this process's memory (the pending flag, breakers) is gone; the model is up.
    reset_shared_state()
    settings.LOCAL_LLM_BASE_URL = upstream.base_url
    assert not await queued_flag.is_marked(), "a fresh process's flag knows nothing of it"

    async with chat_socket(f"?conversation={public_id}&token={token}") as client:
        pushed = (await client.recv_until("message"))[-1]["message"]
        await tasks.wait_for_drains()
    assert pushed["role"] == "bot" and pushed["source"] == "llm"
    assert pushed["text"] == f"About your earlier question “{QUESTION}”: " + default_answer(
        QUESTION
    )
    assert upstream.stats.requests == 1

    # Later kicks, and another restart, answer nothing again.
    await tasks.kick_queued_answers()
    reset_shared_state()
    async with chat_socket(f"?conversation={public_id}&token={token}"):
        await tasks.wait_for_drains()
    assert await tasks.answer_queued_questions() == 0
    stored = await database_sync_to_async(_queued_answers)(public_id)
    assert [m.id for m in stored] == [pushed["id"]]
    assert upstream.stats.requests == 1
    assert not await database_sync_to_async(QueuedQuestion.objects.exists)()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("settle")
async def test_a_question_queued_before_redis_restarted_is_answered_on_the_next_kick(
    upstream, own_redis, settings
):
    """With REDIS_URL the flag lives in Redis; a Redis that restarts empty forgets it, and the
    next kick (here: a model answer) asks the database instead of believing nothing waits."""
    settings.REDIS_RETRY_S = 0
    settings.CHAT_STORED_ANSWER_TOKEN_DELAY_S = 0
    settings.HANDOFF_WHEN_MODELS_DOWN = False
    settings.HANDOFF_FALLBACK_STREAK = 0
    settings.LLM_BREAKER_UNREACHABLE_COOLDOWN_S = 0  # probe the model again on the next question
    upstream.answer = default_answer
    settings.LOCAL_LLM_BASE_URL = "http://127.0.0.1:9/v1"
    async with chat_socket() as client:
        assert (await client.say(QUESTION, "q1"))[-1]["source"] == "fallback"
        assert own_redis.client().get("test-router:queued-pending") == "1"
        own_redis.stop()
        own_redis.start()  # empty: it keeps nothing on disk
        assert await queued_flag.marked() is None
        settings.LOCAL_LLM_BASE_URL = upstream.base_url
        assert (await client.say("What about Denmark?", "q2"))[-1]["source"] == "llm"
        pushed = [f for f in await client.recv_until("message") if f["type"] == "message"][-1]
        await tasks.wait_for_drains()
    assert pushed["message"]["text"].startswith(f"About your earlier question “{QUESTION}”")
    assert upstream.stats.requests == 2
    assert await queued_flag.marked() is False


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("settle")
async def test_without_a_beat_the_process_kicks_the_drain_itself(upstream, settings):
    """The embedded default runs no Celery beat: a visitor whose question was kept while the
    model did not answer is answered once it does, with no new question, socket or recovery to
    kick the drain (a walk waited minutes on `make run` for a promised answer)."""
    settings.REDIS_URL = ""
    settings.CHAT_STORED_ANSWER_TOKEN_DELAY_S = 0
    settings.HANDOFF_WHEN_MODELS_DOWN = False
    settings.HANDOFF_FALLBACK_STREAK = 0
    settings.QUEUED_ANSWERS_IN_PROCESS = True
    settings.QUEUED_ANSWERS_EVERY_S = 0.2
    upstream.answer = default_answer
    settings.LOCAL_LLM_BASE_URL = "http://127.0.0.1:9/v1"  # the model does not answer
    try:
        async with chat_socket() as client:
            done = (await client.say(QUESTION, "q1"))[-1]
            assert "answer it here as soon as I can" in done["message"]["text"]
            await tasks.wait_for_drains()
            settings.LOCAL_LLM_BASE_URL = upstream.base_url  # it answers again, nobody says so
            pushed = (await client.recv_until("message", timeout=10))[-1]["message"]
        assert pushed["text"].startswith(f"About your earlier question “{QUESTION}”: ")
    finally:
        for task in tasks._periodic:
            task.cancel()
        tasks._periodic.clear()
