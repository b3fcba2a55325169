"""The FAQ stage in the pipeline, over the websocket: confident matches get an approved variant
with no model call; anything else goes on to the model."""

import pytest
from channels.db import database_sync_to_async

from chatbot import answering
from chatbot.admin import trace_summary
from chatbot.models import Message
from knowledge import services
from knowledge.models import FAQ, AnswerVariant
from tests.conftest import chat_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("settle")]


@database_sync_to_async
def make_store() -> FAQ:
    faq = services.faq_save(
        question="How long does delivery take?",
        answer="Standard delivery takes 3-5 working days.",
    )
    services.paraphrases_add(
        faq=faq,
        texts=["When will my order arrive?", "how many days for shipping", "delivery time"],
    )
    services.variants_add(
        faq=faq,
        texts=["Orders usually arrive within 3-5 working days."],
        origin="generated",
        status="approved",
    )
    services.variants_add(faq=faq, texts=["DRAFT never served"], origin="generated", status="draft")
    other = services.faq_save(question="Can I pay with PayPal?", answer="Yes, we accept PayPal.")
    services.paraphrases_add(faq=other, texts=["is paypal accepted", "paying via paypal"])
    return faq


async def test_a_paraphrase_gets_an_approved_variant_without_a_model_call(upstream, settings):
    settings.CHAT_STATUS_DELAY_S = 10  # found at once: no status frame
    faq = await make_store()
    async with chat_socket() as client:
        frames = await client.say("How many days does delivery take?", "q1")
    done = frames[-1]
    assert done["source"] == "faq"
    assert [f["stage"] for f in frames if f["type"] == "status"] == []
    tokens = [f["text"] for f in frames if f["type"] == "token"]
    assert tokens == [done["message"]["text"]], "a stored answer goes out whole, in one frame"
    approved = {
        "Standard delivery takes 3-5 working days.",
        "Orders usually arrive within 3-5 working days.",
    }
    assert done["message"]["text"] in approved
    assert done["trace"]["score"] >= 0.81
    assert upstream.stats.requests == 0
    await answering.wait_for_running_answers()  # the hit is counted after the answer went out
    await database_sync_to_async(faq.refresh_from_db)()
    assert faq.hit_count == 1


async def test_variants_rotate_and_drafts_are_never_served(upstream):
    await make_store()
    served = []
    async with chat_socket() as client:
        for n in range(4):
            served.append(
                (await client.say("How long does delivery take?", f"r{n}"))[-1]["message"]["text"]
            )
    assert set(served) == {
        "Standard delivery takes 3-5 working days.",
        "Orders usually arrive within 3-5 working days.",
    }
    assert "DRAFT never served" not in served
    await answering.wait_for_running_answers()
    counts = await database_sync_to_async(
        lambda: sorted(
            AnswerVariant.objects.filter(status="approved").values_list("served_count", flat=True)
        )
    )()
    assert counts == [0, 2, 2]


async def test_an_unrelated_question_goes_to_the_model(upstream, settings):
    settings.CHAT_STATUS_DELAY_S = 0  # every stage's status as it starts
    await make_store()
    async with chat_socket() as client:
        frames = await client.say("What is the capital of France?", "x1")
    assert frames[-1]["source"] == "llm"
    assert [f["stage"] for f in frames if f["type"] == "status"] == [
        "small_talk",
        "faq",
        "cache",
        "llm",
    ]
    assert upstream.stats.requests == 1


async def test_stale_variants_are_not_served_after_the_answer_changes(upstream):
    faq = await make_store()
    await database_sync_to_async(services.faq_save)(
        faq=faq, question=faq.question, answer="Delivery now takes 2 working days."
    )
    async with chat_socket() as client:
        texts = {
            (await client.say("How long does delivery take?", f"s{n}"))[-1]["message"]["text"]
            for n in range(3)
        }
    assert texts == {"Delivery now takes 2 working days."}


async def test_faq_of_another_language_is_not_served(upstream):
    await make_store()  # English FAQs only
    async with chat_socket() as client:  # an English page, a question in Chinese
        frames = await client.say("送货需要多长时间？", "z1")
    assert frames[-1]["source"] == "llm"


async def test_a_question_in_english_on_a_chinese_page_gets_the_english_faq(upstream):
    await make_store()
    async with chat_socket("?locale=zh-hans") as client:
        frames = await client.say("How long does delivery take?", "z1")
    assert frames[-1]["source"] == "faq"  # answered in the language it was asked in


async def test_an_faq_with_its_question_alone_answers_a_rewording_marked_lone(upstream):
    """An FAQ imported without paraphrases: the lone threshold (MiniLM 0.855) decides, and the
    stored trace says the score is that single phrasing's cosine."""
    save = database_sync_to_async(services.faq_save)
    faq = await save(question="How do I reset my password?", answer="Use the sign-in page's link.")
    await save(question="Do you ship abroad?", answer="Yes, to 40 countries.")
    async with chat_socket() as client:
        frames = await client.say("reset password", "q1")
    done = frames[-1]
    assert done["source"] == "faq" and upstream.stats.requests == 0
    assert done["message"]["text"] == "Use the sign-in page's link."
    stored = await database_sync_to_async(Message.objects.get)(pk=done["message"]["id"])
    step = next(s for s in stored.trace["steps"] if s["stage"] == "faq")
    assert step["detail"]["faq_id"] == faq.pk and step["detail"]["lone"] is True
    assert 0.855 <= step["score"] < 1.0


async def test_the_answers_trace_names_the_rule_that_matched(upstream):
    """A question in a stored phrasing's own words, moved round, is answered by the
    same-wording rule at the search's score, which can sit under the threshold: the summary
    the console and the admin show says which rule it was."""
    save = database_sync_to_async(services.faq_save)
    faq = await save(question="发票怎么开", answer="在订单详情页申请电子发票。", locale="zh-hans")
    await database_sync_to_async(services.paraphrases_add)(faq=faq, texts=["怎么申请发票"])
    async with chat_socket("?locale=zh-hans") as client:
        reworded = (await client.say("怎么开发票", "q1"))[-1]
        asked_as_stored = (await client.say("发票怎么开", "q2"))[-1]
    assert reworded["source"] == "faq" and reworded["trace"]["decision"] == "same_wording"
    assert asked_as_stored["trace"]["decision"] == "answer"  # the search's own rule
    assert trace_summary(reworded["trace"])[:2] == [
        "source FAQ",
        "decision the same words reordered",
    ]
