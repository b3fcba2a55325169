"""Help-centre documents through the whole chat: imported and indexed, retrieved for a visitor's
question, sent to the (simulated) model as sources, and the cited answer streamed with its
citations in `done` and in the stored message; nothing relevant hands over instead of inventing;
an edit to a cited document stops the cache serving the answer that cited it. Runs on SQLite and
in the PostgreSQL pass."""

import pytest
from channels.db import database_sync_to_async

from chatbot import answering, visitor_copy
from chatbot.models import Message
from knowledge import content_version, services
from knowledge.documents.parsing import parse_document
from knowledge.models import FAQ, Document, DocumentCitation, Visibility
from tests.conftest import chat_socket, queued_question_store
from tests.handoff.conftest import online_agent

# `settle`: an answer's bookkeeping (the cache entry, the document's cited count) runs on after
# its `done` frame; the test's database must not be flushed under it (on PostgreSQL the flush's
# TRUNCATE and a bookkeeping transaction deadlocked).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("settle")]

RETURNS = """# Returns and refunds
## How to return an item
You can return any unworn item within 30 days of delivery. Print the prepaid return label from
your order page and drop the parcel at any post office.
## Refund timing
Refunds reach your card 5 to 7 working days after we receive the returned parcel.
"""
RETURNS_ZH = """# 退货与退款
## 如何退货
收到商品后30天内，未穿过的商品都可以退货。在订单页面打印预付退货运单，把包裹交到任何邮局即可。
"""


@database_sync_to_async
def upsert(name: str, text: str, locale: str) -> Document:
    parsed = parse_document(text.encode(), filename=name, locale=locale)
    return services.document_upsert(parsed=parsed, source_key=name, index_inline=True).document


@database_sync_to_async
def stored_citations(message_id: int) -> list[dict]:
    return Message.objects.get(pk=message_id).citations


@database_sync_to_async
def cited_count(document_id: int) -> int:
    return Document.objects.get(pk=document_id).cited_count


@database_sync_to_async
def suggested_questions(document_id: int) -> tuple[int, list[str]]:
    document = Document.objects.get(pk=document_id)
    asked = document.citations.filter(suggested=True).values_list("question", flat=True)
    return document.suggested_count, list(asked)


@pytest.fixture
def no_faq_or_fallback_handoff(settings):
    settings.HANDOFF_FALLBACK_STREAK = 0


async def test_a_cited_answer_streams_with_its_sources(upstream):
    document = await upsert("en/returns.md", RETURNS, "en")
    async with chat_socket() as client:
        frames = await client.say(
            "Can I still return unworn shoes a few weeks after delivery?", "g1"
        )
    done = frames[-1]
    assert done["type"] == "done" and done["source"] == "llm"
    assert done["message"]["text"].endswith("[1]")
    assert "30 days" in done["message"]["text"]
    (citation,) = done["message"]["citations"]
    assert citation["title"] == "Returns and refunds"
    assert citation["heading"] == "How to return an item"
    assert citation["url"] == f"/help/{document.pk}/#how-to-return-an-item", "to its heading"
    assert await stored_citations(done["message"]["id"]) == [citation]
    assert done["trace"]["grounded"] is True
    assert await cited_count(document.pk) == 1
    prompt = upstream.stats.questions[-1]
    assert prompt == "Can I still return unworn shoes a few weeks after delivery?"


async def test_chinese_questions_get_chinese_sources(upstream):
    await upsert("zh-hans/returns.md", RETURNS_ZH, "zh-hans")
    async with chat_socket("?locale=zh-hans") as client:
        frames = await client.say("买了鞋子多少天内可以退货？", "g2")
    done = frames[-1]
    assert done["source"] == "llm" and "30天内" in done["message"]["text"]
    assert [c["title"] for c in done["message"]["citations"]] == ["退货与退款"]


async def test_an_answer_citing_nothing_becomes_suggested_articles_with_their_lines(upstream):
    """A model that ignores its sources (as the local one does): the visitor gets the article,
    marked as a suggestion, with its lines nearest the question, and so does a reload."""
    from chatbot.llm.simulator import Faults

    document = await upsert("zh-hans/returns.md", RETURNS_ZH, "zh-hans")
    upstream.reset(Faults(sources="ignore"))
    async with chat_socket("?locale=zh-hans") as client:
        frames = await client.say("买了鞋子多少天内可以退货？", "g9")
    done = frames[-1]
    assert done["source"] == "llm"
    suggestion = visitor_copy.render(visitor_copy.SUGGEST_ARTICLES, "zh-hans")
    assert done["message"]["text"] == suggestion
    (citation,) = done["message"]["citations"]
    assert (citation["document_id"], citation["suggested"]) == (document.pk, True)
    assert citation["excerpt"].startswith("收到商品后30天内，未穿过的商品都可以退货。")
    assert await stored_citations(done["message"]["id"]) == [citation]
    await answering.wait_for_running_answers()
    assert await cited_count(document.pk) == 0, "suggested, not cited: it answered nothing"
    assert await suggested_questions(document.pk) == (1, ["买了鞋子多少天内可以退货？"]), (
        "counted apart: a writer read 0 for an article suggested to many visitors"
    )


@pytest.mark.usefixtures("no_faq_or_fallback_handoff")
@pytest.mark.parametrize("locale", ["en", "zh-hans"])
async def test_nothing_relevant_says_so_and_asks_no_model(upstream, locale):
    await upsert("en/returns.md", RETURNS, "en")
    await upsert("zh-hans/returns.md", RETURNS_ZH, "zh-hans")
    before = upstream.stats.requests
    question = "Do you sell garden furniture?" if locale == "en" else "你们卖花园家具吗？"
    async with chat_socket(f"?locale={locale}") as client:
        frames = await client.say(question, "g3")
    done = frames[-1]
    assert done["source"] == "fallback"
    assert done["message"]["text"] == visitor_copy.render(visitor_copy.NOT_FOUND_ANSWER, locale)
    assert done["message"]["citations"] == []
    assert upstream.stats.requests == before
    assert done["message"]["offers_person"] is True, "the widget puts the button under it"


async def test_an_edited_document_stops_the_cache_serving_what_cited_it(upstream):
    await upsert("en/returns.md", RETURNS, "en")
    question = "Can I still return unworn shoes a few weeks after delivery?"
    async with chat_socket() as client:
        first = (await client.say(question, "c1"))[-1]
        await answering.wait_for_running_answers()  # the answer is stored in the cache
        again = (await client.say(question, "c2"))[-1]
    assert (first["source"], again["source"]) == ("llm", "cache")
    assert again["message"]["citations"] == first["message"]["citations"]

    await upsert("en/returns.md", RETURNS.replace("30 days", "45 days"), "en")
    async with chat_socket() as client:
        after = (await client.say(question, "c3"))[-1]
    assert after["source"] == "llm"
    assert "45 days" in after["message"]["text"]
    assert after["message"]["citations"][0]["document_version"] == 2


@database_sync_to_async
def returns_faq(document: Document | None) -> FAQ:
    faq = services.faq_save(
        question="What is your return window?",
        answer="You can return unworn items within 30 days of delivery.",
    )
    services.paraphrases_add(faq=faq, texts=["how long do I have to return something"])
    faq.source_document = document
    faq.save(update_fields=["source_document"])
    content_version.knowledge_version_bump()
    return faq


async def test_an_faq_answer_cites_its_linked_document_at_its_current_version(upstream, settings):
    settings.FAQ_INDEX_RECHECK_S = 0  # the in-memory index sees the edit at once
    document = await upsert("en/returns.md", RETURNS, "en")
    await returns_faq(document)
    async with chat_socket() as client:
        done = (await client.say("What is your return window?", "f1"))[-1]
    assert done["source"] == "faq"
    (citation,) = done["message"]["citations"]
    assert citation == {
        "number": 1,
        "title": "Returns and refunds",
        "url": f"/help/{document.pk}/",
        "heading": "",
        "document_id": document.pk,
        "document_version": 1,
        "chunk_id": None,
    }
    assert await stored_citations(done["message"]["id"]) == [citation]
    stored = await database_sync_to_async(Message.objects.get)(pk=done["message"]["id"])
    (faq_step,) = [step for step in stored.trace["steps"] if step["stage"] == "faq"]
    assert faq_step["detail"]["source_document_id"] == document.pk
    await answering.wait_for_running_answers()
    assert await cited_count(document.pk) == 1
    asked = await database_sync_to_async(DocumentCitation.objects.get)(document=document)
    assert (asked.question, asked.message_id) == ("What is your return window?", stored.pk)

    await upsert("en/returns.md", RETURNS.replace("30 days", "45 days"), "en")
    async with chat_socket() as client:
        after = (await client.say("What is your return window?", "f2"))[-1]
    assert after["source"] == "faq"
    assert after["message"]["citations"][0]["document_version"] == 2
    assert upstream.stats.requests == 0


@pytest.mark.parametrize("visibility", [None, Visibility.AGENTS])
async def test_an_faq_answer_without_a_public_linked_document_cites_nothing(upstream, visibility):
    document = await upsert("en/returns.md", RETURNS, "en") if visibility else None
    if document is not None:
        document.visibility = visibility
        await database_sync_to_async(document.save)(update_fields=["visibility"])
    await returns_faq(document)
    async with chat_socket() as client:
        done = (await client.say("What is your return window?", "f3"))[-1]
    assert done["source"] == "faq"
    assert done["message"]["citations"] == []


@pytest.mark.usefixtures("no_faq_or_fallback_handoff")
@pytest.mark.parametrize(("locale", "yes"), [("en", "Yes please"), ("zh-hans", "好的")])
async def test_a_yes_to_the_offer_of_a_person_hands_over(upstream, locale, yes):
    await upsert("en/returns.md", RETURNS, "en")
    await upsert("zh-hans/returns.md", RETURNS_ZH, "zh-hans")
    question = "Do you sell garden furniture?" if locale == "en" else "你们卖花园家具吗？"
    async with chat_socket(f"?locale={locale}") as client:
        offer = (await client.say(question, "y1"))[-1]["message"]["text"]
        assert offer == visitor_copy.render(visitor_copy.NOT_FOUND_ANSWER, locale)
        await client.send({"type": "message", "client_id": "y2", "text": yes})
        frames = await client.recv_until("handoff")
    assert frames[-1]["reason"] == "visitor_words"
    assert not {f["type"] for f in frames} & {"token", "done"}, "the bot does not answer the yes"


@pytest.mark.usefixtures("no_faq_or_fallback_handoff")
@pytest.mark.parametrize(
    ("locale", "agent_online"), [("en", False), ("zh-hans", False), ("en", True), ("zh-hans", True)]
)
async def test_with_no_model_the_articles_it_found_are_suggested(
    upstream_down, locale, agent_online
):
    """With an agent online the queue takes the conversation next: the answer offers no person
    and promises nothing."""
    document = await upsert(
        f"{locale}/returns.md", RETURNS if locale == "en" else RETURNS_ZH, locale
    )
    if agent_online:
        await online_agent("online-ann")
    question = "How do I return an item?" if locale == "en" else "怎么退货？"
    async with chat_socket(f"?locale={locale}") as client:
        done = (await client.say(question, "d1"))[-1]
    assert done["source"] == "fallback"
    text = done["message"]["text"]
    if agent_online:
        assert text == visitor_copy.render(visitor_copy.SUGGEST_BEFORE_PERSON, locale)
    else:
        assert text.startswith(visitor_copy.render(visitor_copy.SUGGEST_WITHOUT_MODEL, locale))
        assert visitor_copy.render(visitor_copy.QUEUED_PROMISE, locale) in text
    (citation,) = done["message"]["citations"]
    assert (citation["document_id"], citation["suggested"]) == (document.pk, True)
    assert citation["excerpt"]
    assert await stored_citations(done["message"]["id"]) == [citation]
    step = (await database_sync_to_async(Message.objects.get)(pk=done["message"]["id"])).trace
    fallback = step["steps"][-1]
    assert (fallback["decision"], fallback["detail"]["suggested_documents"]) == (
        "suggested_articles",
        [document.pk],
    )


queued_question = database_sync_to_async(queued_question_store)


@database_sync_to_async
def later_answer(visitor_id: int) -> Message:
    return Message.objects.get(trace__queued_reply_to=visitor_id)


@pytest.mark.parametrize("locale", ["en", "zh-hans"])
async def test_a_queued_question_is_answered_later_from_the_help_centre_with_citations(
    upstream, locale
):
    from chatbot import tasks

    document = await upsert(
        f"{locale}/returns.md", RETURNS if locale == "en" else RETURNS_ZH, locale
    )
    question = "How do I return an item?" if locale == "en" else "怎么退货？"
    visitor_id = await queued_question(question, locale)

    assert await tasks.answer_queued_questions() == 1

    later = await later_answer(visitor_id)
    assert later.source == "llm"
    assert later.text.endswith("[1]")
    assert ("30 days" if locale == "en" else "30天内") in later.text
    (citation,) = later.citations
    assert citation["document_id"] == document.pk
    assert citation["url"].startswith(f"/help/{document.pk}/#")
    assert later.trace["grounded"] is True
    assert upstream.stats.questions[-1] == question
    assert await cited_count(document.pk) == 1


async def test_a_queued_answer_citing_nothing_is_replaced_as_a_live_one_is(upstream):
    """Seen in a `make run` walk: the local model, asked later without the help centre, wrote
    back the agent's greeting from the history, and it went out as the bot's answer."""
    from chatbot import tasks
    from chatbot.llm.simulator import Faults

    document = await upsert("en/returns.md", RETURNS, "en")
    upstream.reset(Faults(sources="ignore"))
    visitor_id = await queued_question("How do I return an item?", "en")

    assert await tasks.answer_queued_questions() == 1

    later = await later_answer(visitor_id)
    suggestion = visitor_copy.render(visitor_copy.SUGGEST_ARTICLES, "en")
    assert later.text == f"About your earlier question “How do I return an item?”: {suggestion}"
    (citation,) = later.citations
    assert (citation["document_id"], citation["suggested"]) == (document.pk, True)
    assert await cited_count(document.pk) == 0
    answered = later.trace["steps"][-1]
    assert (answered["detail"]["grounded"], answered["detail"]["replaced"]) == (False, True)


async def test_a_queued_answer_that_would_only_repeat_the_suggested_articles_keeps_the_promise(
    upstream,
):
    """The first reply already suggested the returns article (no model answered in time); the
    model, asked later, still cites nothing: no second copy of the articles, but the visitor,
    promised an answer here, is told so and offered a person (a model-tiers walk saw silence)."""
    from chatbot import tasks
    from chatbot.llm.simulator import Faults

    document = await upsert("en/returns.md", RETURNS, "en")
    upstream.reset(Faults(sources="ignore"))
    suggested = [{"number": 1, "document_id": document.pk, "suggested": True}]
    visitor_id = await queued_question("How do I return an item?", "en", suggested)

    assert await tasks.answer_queued_questions() == 1

    assert await database_sync_to_async(tasks.queued_questions)(max_age_h=1) == []
    later = await later_answer(visitor_id)
    nothing_more = visitor_copy.render(visitor_copy.QUEUED_NOTHING_MORE, "en")
    assert later.text == f"About your earlier question “How do I return an item?”: {nothing_more}"
    assert later.citations == [] and later.source == "fallback"
    assert later.trace["source"] == "fallback", "the trace names what was sent"
    assert visitor_copy.offers_a_person(later.text)


async def test_a_queued_question_the_help_centre_no_longer_covers_gets_not_found(upstream):
    """Its article was deleted while it waited: "not found" now, no model asked, and the
    questions queued after it are not held up behind it."""
    from chatbot import tasks

    document = await upsert("en/returns.md", RETURNS, "en")
    await upsert("en/shipping.md", "# Shipping\nWe ship parcels to 30 countries.\n", "en")
    first = await queued_question("How do I return an item?", "en")
    second = await queued_question("Which countries do you ship parcels to?", "en")
    await database_sync_to_async(services.document_delete)(document=document)
    before = upstream.stats.requests

    assert await tasks.answer_queued_questions() == 2

    not_found = await later_answer(first)
    assert not_found.source == "fallback"
    assert not_found.text.endswith(visitor_copy.render(visitor_copy.NOT_FOUND_ANSWER, "en"))
    assert (await later_answer(second)).source == "llm"
    assert upstream.stats.requests == before + 1
