"""A follow-up is searched in the help centre with the questions it continues when its words
alone find nothing: "and to Canada?" got "I couldn't find that in our help centre" in a walk,
after a delivery question the help centre answers."""

import pytest
from asgiref.sync import async_to_sync

from chatbot.cache.context import question_in_context
from chatbot.history import HistoryItem
from chatbot.pipeline.base import Turn
from chatbot.pipeline.registry import help_centre_retriever
from tests.knowledge.test_documents import (  # noqa: F401 - fixtures: the help centre, a fresh index
    _fresh_chunk_index,
    help_centre,
)

pytestmark = pytest.mark.django_db(transaction=True)


def visitor(*texts: str) -> tuple[HistoryItem, ...]:
    return tuple(HistoryItem("visitor", text) for text in texts)


def test_a_follow_up_carries_the_questions_it_continues():
    history = (*visitor("Do you ship abroad?"), HistoryItem("bot", "Yes, to 40 countries."))
    assert question_in_context("and how long?", history) == "Do you ship abroad? and how long?"
    assert question_in_context("Where is my parcel?", history) == "Where is my parcel?"
    chain = visitor("Do you ship abroad?", "and to Canada?", "how much?")
    assert question_in_context("and customs?", chain) == (
        "Do you ship abroad? and to Canada? how much? and customs?"
    )
    assert (
        question_in_context("要多久？", visitor("可以寄到国外吗？")) == "可以寄到国外吗？ 要多久？"
    )
    assert question_in_context("and how long?", ()) == "and how long?"


@pytest.mark.usefixtures("help_centre")
@pytest.mark.parametrize(
    ("locale", "earlier", "follow_up", "heading"),
    [
        (
            "en",
            "Do you deliver to other countries?",
            "and who pays for that?",
            "International shipping",
        ),
        ("zh-hans", "加急配送要几天？", "那要多少钱？", "配送时间"),
    ],
)
def test_a_follow_up_finds_the_article_of_the_conversation(locale, earlier, follow_up, heading):
    retrieve = help_centre_retriever(top_k=5)
    alone = async_to_sync(retrieve)(Turn("c", 2, follow_up, locale))
    assert alone is None or not alone.relevant, "the words alone must find nothing"
    found = async_to_sync(retrieve)(Turn("c", 2, follow_up, locale, history=visitor(earlier)))
    assert found is not None and found.relevant
    assert found.passages[0].heading_path[-1] == heading


@pytest.mark.usefixtures("help_centre")
def test_a_short_question_on_a_new_subject_keeps_its_own_article():
    retrieve = help_centre_retriever(top_k=5)
    history = visitor("Do you deliver to other countries?")
    found = async_to_sync(retrieve)(Turn("c", 2, "refund timing", "en", history=history))
    assert found is not None and found.relevant
    assert found.passages[0].heading_path[-1] == "Refund timing"
