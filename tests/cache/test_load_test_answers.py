"""The load test's model answers in words of its own (`Faults.restate_question=False`): the
cache stores them, so a question another visitor asked word for word is served from it. With
the simulator's default answer, which restates the question, nothing was stored and every
`repeat` of `make loadtest` reached the model instead of the cache."""

import random

import pytest
from channels.db import database_sync_to_async

from bench.loadtest import Questions
from chatbot import answering
from chatbot.cache.echo import private_echoes
from chatbot.cache.models import CachedAnswer
from chatbot.cache.pii import answer_is_personal
from chatbot.llm.simulator import Faults, default_answer, own_words_answer
from tests.conftest import chat_socket


@pytest.mark.django_db
def test_own_words_answers_share_no_run_of_the_question_and_hold_nothing_personal():
    questions = Questions(random.Random(7))
    asked = [questions.new() for _ in range(200)]
    answers = {own_words_answer(q) for q in asked}
    assert len(answers) >= 30  # different questions mostly get different answers
    for question in asked:
        assert own_words_answer(question) == own_words_answer(question)
        assert not answer_is_personal(own_words_answer(question))
        assert not private_echoes(question, own_words_answer(question))
    assert private_echoes(asked[0], default_answer(asked[0]))


@database_sync_to_async
def stored_questions() -> list[str]:
    return list(CachedAnswer.objects.values_list("question", flat=True))


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("settle")
async def test_a_question_asked_again_by_another_visitor_is_served_from_the_cache(upstream):
    upstream.reset(Faults(restate_question=False))
    question = "Is the camp chair suitable for dog walking?"
    sources = []
    for client_id in ("a1", "b1"):
        async with chat_socket() as client:
            done = (await client.say(question, client_id))[-1]
        await answering.wait_for_running_answers()
        sources.append(done["source"])
        assert done["message"]["text"] == own_words_answer(question)
    assert sources == ["llm", "cache"]
    assert await stored_questions() == [question]
