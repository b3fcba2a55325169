"""Personal details and context dependence, the two reasons a turn bypasses the cache."""

import pytest

from chatbot.cache.context import STANDALONE, cache_context, depends_on_context
from chatbot.cache.pii import is_personal
from chatbot.history import HistoryItem


@pytest.mark.parametrize(
    "text",
    [
        "My name is Alice, where is my parcel?",
        "I'm Bob and I need help",
        "call me dave please",
        "email me at jane.doe@example.com",
        "my phone is +1 (555) 123-4567",
        "where is order #12345?",
        "my order number is A1234B",
        "card 4111 1111 1111 1111 was charged twice",
        "account no. 99887766 is locked",
        "我叫小明，我的订单在哪里",
        "what is my account balance",
    ],
)
def test_personal_details_are_detected(text):
    assert is_personal(text)


@pytest.mark.parametrize(
    "text",
    [
        "How long does delivery take?",
        "I'm looking for running shoes",
        "I am trying to reset my password",
        "how do I track my order",
        "transfer 100 dollars to savings",
        "Do you ship to Canada?",
    ],
)
def test_ordinary_questions_are_not_personal(text):
    assert not is_personal(text)


@pytest.mark.parametrize(
    "text",
    ["and how long does that take?", "what about Canada?", "is it free?", "in red?", "那呢？"],
)
def test_follow_ups_depend_on_context(text):
    assert depends_on_context(text)


@pytest.mark.parametrize(
    "text", ["How long does delivery take?", "Do you ship to Canada?", "how do I reset my password"]
)
def test_standalone_questions_do_not(text):
    assert not depends_on_context(text)


def visitor(*texts: str) -> tuple[HistoryItem, ...]:
    return tuple(
        item for t in texts for item in (HistoryItem("visitor", t), HistoryItem("bot", "…"))
    )


def test_a_follow_up_is_keyed_on_the_questions_it_follows():
    follow_up = "and how long does that take?"
    after_returns = cache_context(follow_up, visitor("How do I return an item?"))
    after_returns_again = cache_context(follow_up, visitor("how do I return an item"))
    after_password = cache_context(follow_up, visitor("How do I change my password?"))
    assert after_returns.lookup == after_returns.store == after_returns_again.lookup
    assert after_returns.lookup not in (STANDALONE, after_password.lookup)


def test_a_chain_of_follow_ups_keeps_the_standalone_question_it_started_from():
    a = cache_context("and that?", visitor("How do I return an item?", "is it free?"))
    b = cache_context("and that?", visitor("How do I change my password?", "is it free?"))
    assert a.lookup != b.lookup


def test_a_standalone_question_later_in_a_conversation_is_looked_up_but_not_stored():
    context = cache_context("Do you ship to Canada?", visitor("How do I return an item?"))
    assert context.lookup == STANDALONE and context.store is None
    first = cache_context("Do you ship to Canada?", ())
    assert first.lookup == first.store == STANDALONE


def test_a_deep_chain_of_follow_ups_bypasses_the_cache():
    context = cache_context("and then?", visitor("is it free?", "and that?", "what about it?"))
    assert context.lookup is None and context.store is None
