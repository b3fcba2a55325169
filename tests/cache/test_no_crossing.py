"""Two visitors, one model that restates the question (as real models often do): what visitor
A told the bot never reaches visitor B through the answer cache (issue 16, finding 2)."""

import pytest
from channels.db import database_sync_to_async

from chatbot import answering
from chatbot.cache.models import CachedAnswer
from chatbot.llm.simulator import default_answer
from knowledge import services as knowledge_services
from tests.conftest import chat_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("settle")]


async def ask(text: str) -> dict:
    """One question in a fresh conversation (a new visitor); its `done` frame once the answer's
    bookkeeping (storing it in the cache) is over."""
    async with chat_socket() as client:
        done = (await client.say(text, "c1"))[-1]
    await answering.wait_for_running_answers()
    return done


@database_sync_to_async
def stored_answers() -> list[str]:
    return list(CachedAnswer.objects.values_list("answer", flat=True))


@pytest.fixture
def restating(upstream):
    upstream.answer = default_answer  # "… Here is what I know about: <the question>"
    return upstream


@pytest.mark.parametrize(
    ("visitor_a", "visitor_b", "detail"),
    [
        (
            "my address is 221b baker street, can you deliver there tomorrow?",
            "My address is 221B Baker Street, can you deliver there tomorrow",
            "221b baker street",
        ),
        (
            "i was born on 3 march 1990 and my postcode is sw1a 1aa, can i order wine online",
            "I was born on 3 March 1990 and my postcode is SW1A 1AA, can I order wine online?",
            "sw1a 1aa",
        ),
        (
            "我的地址是北京市朝阳区建国路88号，明天能送到吗",
            "我的地址是北京市朝阳区建国路88号,明天能送到吗?",
            "建国路88号",
        ),
    ],
)
async def test_visitor_b_is_not_served_visitor_a_s_personal_details(
    restating, visitor_a, visitor_b, detail
):
    a = await ask(visitor_a)
    assert a["source"] == "llm" and detail in a["message"]["text"].casefold()
    b = await ask(visitor_b)
    assert b["source"] == "llm", "B was served A's answer from the cache"
    assert b["message"]["text"] != a["message"]["text"]
    assert await stored_answers() == []


async def test_an_answer_restating_undetected_details_is_not_shared(restating):
    """The detector finds no personal detail here, but the answer repeats the visitor's words
    that the knowledge base does not hold: it is not stored."""
    question = "can the courier leave it by the blue gate behind the old mill cottage"
    assert (await ask(question))["source"] == "llm"
    assert (await ask(question))["source"] == "llm"
    assert await stored_answers() == []
    assert restating.stats.requests == 2


async def test_an_answer_repeating_words_the_knowledge_holds_is_shared(restating):
    """Restating what the help centre says ("open on 26 December") is no leak: the answer is
    stored and served to the next visitor."""
    await database_sync_to_async(knowledge_services.faq_save)(
        question="Do you have special opening hours at Christmas?",
        answer="We are closed on 25 December and open on 26 December from 10am.",
    )
    question = "are you open on 26 december"
    first = await ask(question)
    assert first["source"] == "llm"
    assert await stored_answers() == [first["message"]["text"]]
    assert (await ask(question))["source"] == "cache"
