"""Greetings and filler in front of a question: taken off before the question is embedded, kept
in the text the visitor sees; the FAQ and cache stages answer the question behind them."""

import json
from pathlib import Path

import pytest
from channels.db import database_sync_to_async

from chatbot import answering
from chatbot.models import Message
from knowledge.embeddings import get_embedder
from knowledge.greetings import strip_greetings
from knowledge.importing import import_faqs
from knowledge.models import FAQ
from knowledge.selectors import faq_lookup, faq_match
from tests.conftest import chat_socket

STORE = Path(__file__).resolve().parents[2] / "bench" / "data" / "en_faq_eval.json"
# Declined when embedded as written (support 0.756 < 0.81), answered without "hello there!".
GREETED = "hello there! how do I make a new account"


@pytest.mark.parametrize(
    ("text", "core"),
    [
        ("hi, how do I cancel an order?", "how do I cancel an order?"),
        ("Hello there! Do you ship abroad?", "Do you ship abroad?"),
        ("quick question: do you ship abroad?", "do you ship abroad?"),
        ("hey, can you tell me how long delivery takes?", "how long delivery takes?"),
        ("Hi team, quick question - where is my parcel", "where is my parcel"),
        ("Good morning! Sorry to bother you, but where is my order", "where is my order"),
        ("I have a question, can I pay with PayPal?", "can I pay with PayPal?"),
        ("please cancel my order", "cancel my order"),
        ("Dear support team, my parcel is late", "my parcel is late"),
        ("你好，请问怎么取消订单", "怎么取消订单"),
        ("请问下单后还能撤销吗", "下单后还能撤销吗"),
        ("在吗？我想问一下怎么退货", "怎么退货"),
        ("亲，我想把订单取消掉", "我想把订单取消掉"),
        ("客服你好，我想问一下运费多少", "运费多少"),
        ("hello，麻烦问一下，能开发票吗", "能开发票吗"),
        ("您好！请问支持货到付款吗", "支持货到付款吗"),
    ],
)
def test_leading_greetings_and_filler_are_taken_off(text, core):
    assert strip_greetings(text) == core


@pytest.mark.parametrize(
    "text",
    [
        "Hi-fi headphones in stock?",  # a hyphen joins words
        "question about refunds",  # no punctuation: "question" may be the subject
        "how do I cancel, please?",  # only the front is touched
        "hi!",  # nothing but a greeting: kept whole
        "你好",
        "在吗？",
        "亲子装有吗",  # 亲 and 客服 begin words too: only before punctuation
        "客服电话是多少",
        "咨询下单流程",  # 下 after a filler begins 下单: only before punctuation
    ],
)
def test_words_that_belong_to_the_question_are_kept(text):
    assert strip_greetings(text) == text


def import_store() -> FAQ:
    """The English evaluation store (45 FAQs); returns its account-registration FAQ."""
    import_faqs(json.loads(STORE.read_text(encoding="utf-8")))
    return FAQ.objects.get(question="How do I create an account?")


@pytest.fixture
def store(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return import_store()


def test_a_greeted_question_is_answered_as_the_question_alone(store):
    as_written = get_embedder().embed([GREETED])[0]
    declined, _, _ = faq_match(text=GREETED, locale="en", vector=as_written)
    assert not declined.answered and declined.best_faq_id == store.pk, "the figure before"
    found = faq_lookup(text=GREETED, locale="en")
    assert found.answered and found.result.faq_id == store.pk
    alone = faq_match(text="how do I make a new account", locale="en")[0]
    assert found.result.score == pytest.approx(alone.score, abs=1e-6)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("settle")
async def test_the_visitor_sees_their_own_words_and_the_faq_answer(upstream):
    faq = await database_sync_to_async(import_store)()
    async with chat_socket() as client:
        frames = await client.say(GREETED, "q1")
    await answering.wait_for_running_answers()
    done = frames[-1]
    assert done["source"] == "faq" and done["message"]["text"] == faq.answer
    visitor = await database_sync_to_async(Message.objects.get)(role="visitor")
    assert visitor.text == GREETED, "stored and shown as written"
    assert upstream.stats.requests == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("settle")
async def test_the_cache_serves_a_greeted_rewording_of_an_answered_question(upstream, monkeypatch):
    async def ask(text: str) -> dict:
        async with chat_socket() as client:
            frames = await client.say(text, "c1")
        await answering.wait_for_running_answers()
        return frames[-1]

    # An answer that does not restate the question (the cache keeps no such answer).
    monkeypatch.setattr(upstream, "answer", lambda question: "Five to seven working days.")
    first = await ask("How long does delivery to Canada take?")
    assert first["source"] == "llm"
    done = await ask("Hi there, quick question: how long does delivery to Canada take?")
    assert done["source"] == "cache" and done["message"]["text"] == first["message"]["text"]
    assert done["trace"]["score"] == pytest.approx(1.0, abs=1e-4), "the same text was embedded"
    assert upstream.stats.requests == 1
