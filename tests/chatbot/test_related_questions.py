""" "Did you mean": a question the FAQ store declined, near one of its FAQs, gets that FAQ's
question offered under a reply that answers nothing (the suggested articles, the not-found
answer, the rule template), never under an answer; asking it as written gets the FAQ's answer,
and the question before it becomes a draft phrasing of that FAQ. Runs on SQLite and in the
PostgreSQL pass."""

import numpy as np
import pytest
from channels.db import database_sync_to_async

from chatbot import answering, visitor_copy
from chatbot import services as chat_services
from chatbot.answer_facts import offer_faq_ids
from chatbot.answer_trace import Trace, TraceStep
from chatbot.models import Message
from chatbot.outcomes import Decision, Source
from knowledge import services
from knowledge.documents.parsing import parse_document
from knowledge.matching import ANSWER, BELOW_THRESHOLD, related_faqs
from knowledge.models import FAQ, Origin
from tests.conftest import chat_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("settle")]

STORE = {
    "en": (
        ("How long does delivery take?", "Standard delivery takes 3-5 working days."),
        ["When will my order arrive?", "how many days for shipping", "delivery time"],
        ("Can I pay with PayPal?", "Yes, we accept PayPal."),
        ["is paypal accepted", "paying via paypal"],
    ),
    "zh-hans": (
        ("多久能收到货？", "标准配送需要3-5个工作日。"),
        ["几天能到", "发货要多久", "配送时间"],
        ("可以用支付宝吗？", "可以，我们支持支付宝。"),
        ["支持支付宝付款吗", "能不能用支付宝"],
    ),
}
ARTICLE = {
    "en": "# Delivery\n## Delivery times\nStandard delivery takes 3-5 working days. We also "
    "deliver on Saturdays, but not on Sundays.\n",
    "zh-hans": "# 配送\n## 配送时间\n标准配送需要3-5个工作日。周六也配送，周日不配送。\n",
}
# Near the delivery FAQ (MiniLM 0.71 / USE 0.63 to its nearest phrasing), not one of its
# phrasings: declined by the FAQ store.
NEAR = {"en": "does delivery take long on weekends", "zh-hans": "周末也发货吗"}


@database_sync_to_async
def make_store(locale: str) -> FAQ:
    (question, answer), paraphrases, (other_q, other_a), other_paraphrases = STORE[locale]
    faq = services.faq_save(question=question, answer=answer, locale=locale)
    services.paraphrases_add(faq=faq, texts=paraphrases)
    other = services.faq_save(question=other_q, answer=other_a, locale=locale)
    services.paraphrases_add(faq=other, texts=other_paraphrases)
    parsed = parse_document(ARTICLE[locale].encode(), filename="delivery.md", locale=locale)
    services.document_upsert(parsed=parsed, source_key=f"{locale}/delivery.md", index_inline=True)
    return faq


@database_sync_to_async
def drafts(faq: FAQ) -> list[tuple[str, str, bool]]:
    return list(
        faq.paraphrases.exclude(origin__in=[Origin.CANONICAL, Origin.HUMAN]).values_list(
            "text", "origin", "approved"
        )
    )


@database_sync_to_async
def offer_columns(message_id: int) -> tuple[int, bool]:
    """What the dashboard counts of a reply: its offers, and whether the visitor took one."""
    return Message.objects.values_list("offers", "offer_taken").get(pk=message_id)


@database_sync_to_async
def replayed(message_id: int) -> dict:
    return chat_services.message_payload(Message.objects.get(pk=message_id))


@pytest.mark.parametrize("locale", ["en", "zh-hans"])
async def test_a_near_faq_is_offered_under_the_suggested_articles_and_answers_when_asked(
    upstream, locale
):
    from chatbot.llm.simulator import Faults

    faq = await make_store(locale)
    upstream.reset(Faults(sources="ignore"))  # the local model's way: the articles are suggested
    async with chat_socket(f"?locale={locale}") as client:
        done = (await client.say(NEAR[locale], "r1"))[-1]
        assert done["message"]["text"] == visitor_copy.render(visitor_copy.SUGGEST_ARTICLES, locale)
        assert done["message"]["related"] == [{"faq_id": faq.pk, "question": faq.question}]
        assert (await replayed(done["message"]["id"]))["related"] == done["message"]["related"]
        picked = (await client.say(faq.question, "r2"))[-1]
    assert picked["source"] == "faq"
    assert picked["message"]["text"] == faq.answer
    assert "related" not in picked["message"]
    await answering.wait_for_running_answers()  # the draft is kept after the answer went out
    assert await drafts(faq) == [(NEAR[locale], Origin.OFFER, False)]
    assert await offer_columns(done["message"]["id"]) == (1, True)
    assert await offer_columns(picked["message"]["id"]) == (0, False)


async def test_asking_an_faq_that_was_not_offered_keeps_no_draft(upstream):
    """The visitor asked another FAQ than the one offered, or one with no offer before it."""
    from chatbot.llm.simulator import Faults

    faq = await make_store("en")
    other = await database_sync_to_async(FAQ.objects.get)(question="Can I pay with PayPal?")
    upstream.reset(Faults(sources="ignore"))
    async with chat_socket() as client:
        await client.say("Can I pay with PayPal?", "n1")
        offering = (await client.say(NEAR["en"], "n2"))[-1]["message"]
        assert offering["related"]
        assert (await client.say("Can I pay with PayPal?", "n3"))[-1]["source"] == "faq"
    await answering.wait_for_running_answers()
    assert await drafts(faq) == await drafts(other) == []
    assert await offer_columns(offering["id"]) == (1, False)


async def test_an_answer_stopped_for_a_made_up_link_offers_the_near_faq(upstream):
    """Seen in a walk: the local model wrote a shop URL of its own; the output filter stopped
    it and the suggested articles went out, without the FAQ the question was near."""
    from chatbot.llm.simulator import Faults

    faq = await make_store("en")
    upstream.reset(Faults(obey={NEAR["en"]: "See https://made-up-shop.example/delivery [1]."}))
    async with chat_socket() as client:
        done = (await client.say(NEAR["en"], "r6"))[-1]
    assert done["message"]["text"] == visitor_copy.render(visitor_copy.SUGGEST_ARTICLES, "en")
    assert done["message"]["related"] == [{"faq_id": faq.pk, "question": faq.question}]


async def test_a_grounded_model_answer_offers_nothing(upstream):
    await make_store("en")
    async with chat_socket() as client:
        done = (await client.say(NEAR["en"], "r3"))[-1]
    assert done["source"] == "llm" and done["message"]["citations"]
    assert "related" not in done["message"]


async def test_the_rule_template_offers_a_near_faq_and_a_far_question_gets_none(
    upstream_down, settings
):
    settings.HANDOFF_FALLBACK_STREAK = 0
    settings.HANDOFF_WHEN_MODELS_DOWN = False
    faq = await make_store("en")
    async with chat_socket() as client:
        near = (await client.say(NEAR["en"], "r4"))[-1]
        far = (await client.say("what's the weather like", "r5"))[-1]
    assert near["source"] == far["source"] == "fallback"
    assert near["message"]["related"] == [{"faq_id": faq.pk, "question": faq.question}]
    assert "related" not in far["message"]


def test_related_faqs_are_distinct_best_first_above_the_floor_and_at_most_the_limit():
    ids = np.array([7, 7, 3, 9, 3, 5])
    scores = np.array([0.9, 0.8, 0.7, 0.65, 0.6, 0.5], dtype=np.float32)
    assert related_faqs(ids, scores, 0.6, 3) == [7, 3, 9]
    assert related_faqs(ids, scores, 0.6, 2) == [7, 3]
    assert related_faqs(ids, scores, 0.75, 3) == [7]
    assert related_faqs(ids, scores, 1.01, 3) == []


def _trace(final: TraceStep | None, source: str) -> dict:
    trace = Trace()
    faq_detail = {"faq_id": 4, "related": [4, 9]}
    trace.add(TraceStep(Source.FAQ, BELOW_THRESHOLD, 1.0, score=0.7, detail=faq_detail))
    if final is not None:
        trace.add(final)
    trace.finish(source)
    return trace.to_dict()


def _llm(decision: str, **detail: object) -> TraceStep:
    return TraceStep(Source.LLM, decision, 5.0, detail=detail)


@pytest.mark.parametrize(
    ("final", "source", "offered"),
    [
        (None, Source.FALLBACK, True),
        (_llm(Decision.ANSWERED, grounded=False, replaced=True), Source.LLM, True),
        (_llm(Decision.NOT_GROUNDING, grounded=False, replaced=True), Source.LLM, True),
        (_llm(Decision.ANSWERED, grounded=True), Source.LLM, False),
        (_llm(Decision.ANSWERED, grounded=False), Source.LLM, False),
        (_llm(Decision.REFUSED, blocked="topic:x"), Source.LLM, False),
        # The output filter stopped a made-up link mid-stream: the suggested articles instead.
        (_llm("routed", blocked="unknown_link:x.example", replaced=True), Source.LLM, True),
        (_llm("routed", blocked="topic:x"), Source.LLM, False),  # the refusal instead
        (TraceStep(Source.CACHE, ANSWER, 1.0), Source.CACHE, False),
    ],
    ids=[
        "template",
        "suggested",
        "not-asked",
        "grounded",
        "ungrounded-sent",
        "refused",
        "invented-link-replaced",
        "blocked-refusal",
        "cache",
    ],
)
def test_only_a_reply_that_answers_nothing_offers_the_related_questions(final, source, offered):
    assert offer_faq_ids(_trace(final, source)) == ([4, 9] if offered else [])


@pytest.mark.parametrize(
    ("asked", "refused", "kept"),
    [
        (
            "I don't want a refund, I want an exchange",
            "When will I get my refund?",
            "Can I exchange an item for another size?",
        ),
        ("我不要退款，我想换货", "退款多久能到账？", "尺码不合适可以换吗？"),
    ],
)
def test_a_did_you_mean_offer_is_never_what_the_visitor_said_they_do_not_want(asked, refused, kept):
    """A walk: "I don't want a refund, I want an exchange" was offered "When will I get my
    refund?", one click from the answer the visitor had just refused."""
    from chatbot.pipeline.offers import offers_for, refused_subjects

    locale = "zh-hans" if "退" in asked else "en"
    unwanted = services.faq_save(question=refused, answer="-", locale=locale)
    wanted = services.faq_save(question=kept, answer="-", locale=locale)
    offered = offers_for(faq_ids=[unwanted.pk, wanted.pk], locale=locale, asked=asked)
    assert [o["faq_id"] for o in offered] == [wanted.pk]
    assert len(offers_for(faq_ids=[unwanted.pk, wanted.pk], locale=locale, asked=refused)) == 2
    assert refused_subjects("I don't have my order number") == set(), "only what follows"
