"""Each dashboard figure over hand-built rows with known numbers, stored in the database."""

import datetime as dt
from dataclasses import dataclass
from itertools import count
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chatbot.analytics import figures
from chatbot.answer_facts import message_facts
from chatbot.models import Conversation, Feedback, Message

pytestmark = pytest.mark.django_db

DAY1 = dt.date(2025, 3, 10)
DAY2 = dt.date(2025, 3, 11)
T0 = dt.datetime(2025, 3, 10, 10, 0, tzinfo=dt.UTC)
_ids = count(1)


def faq(score: float, faq_id: int = 1) -> dict[str, Any]:
    """The FAQ stage's step as it records it (answered from 0.8 on, for these tests)."""
    decision = "answer" if score >= 0.8 else "below_threshold"
    return {"stage": "faq", "decision": decision, "score": score, "detail": {"faq_id": faq_id}}


def trace(source: str, ttft: float, *steps: dict[str, Any]) -> dict[str, Any]:
    return {"source": source, "ttft_ms": ttft, "steps": list(steps)}


def llm_answer(cost: float) -> dict[str, Any]:
    return {"stage": "llm", "decision": "answered", "cost": cost, "detail": {"tier": "local"}}


SKIPPED = {"stage": "llm", "decision": "tier_skipped", "detail": {"tier": "cloud"}}
FAILED = {"stage": "llm", "decision": "tier_failed", "detail": {"tier": "local"}}
FALLBACK = {"stage": "fallback", "decision": "canned_answer"}


@dataclass(frozen=True)
class ConversationRow:
    id: int
    visitor_token: str
    created_at: dt.datetime
    handoff_reason: str = ""
    rating: int | None = None


@dataclass(frozen=True)
class MessageRow:
    id: int
    conversation_id: int
    role: str
    created_at: dt.datetime
    text: str
    source: str = ""
    reply_to_id: int | None = None
    feedback: str | None = None


class Builder:
    """Conversations and messages written down first, then stored as the app stores them."""

    def __init__(self) -> None:
        self.conversations: list[ConversationRow] = []
        self.messages: list[MessageRow] = []
        self.tokens: dict[int, str] = {}
        self.every_conversation: dict[int, ConversationRow] = {}
        self.traces: dict[int, dict[str, Any]] = {}
        self.stored: dict[int, int] = {}  # a conversation's id here -> its primary key

    def conversation(self, token: str, at: dt.datetime, **fields: Any) -> int:
        row = ConversationRow(next(_ids), token, at, **fields)
        self.conversations.append(row)
        self.every_conversation[row.id] = row
        self.tokens[row.id] = token
        return row.id

    def turn(
        self,
        conversation: int,
        at: dt.datetime,
        text: str,
        source: str | None = None,
        answer_trace: dict[str, Any] | None = None,
        feedback: str | None = None,
    ) -> None:
        """A visitor message and, when `source` is given, the bot's answer a second later."""
        visitor = MessageRow(next(_ids), conversation, "visitor", at, text)
        self.messages.append(visitor)
        if source is not None:
            bot = MessageRow(
                next(_ids),
                conversation,
                "bot",
                at + dt.timedelta(seconds=1),
                "answer",
                source,
                reply_to_id=visitor.id,
                feedback=feedback,
            )
            self.messages.append(bot)
            self.traces[bot.id] = {"source": source, **(answer_trace or {})}

    def agent(self, conversation: int, at: dt.datetime) -> None:
        self.messages.append(MessageRow(next(_ids), conversation, "agent", at, "hi"))

    def store(self, start: dt.date = DAY1, end: dt.date = DAY2) -> figures.Scope:
        """The same rows in the database (answers stored with their facts, as the app stores
        them), and the scope of the range."""
        stored: dict[int, Conversation] = {}
        for row in self.every_conversation.values():
            conversation = Conversation.objects.create(
                visitor_token=row.visitor_token,
                handoff_reason=row.handoff_reason,
                rating=row.rating,
            )
            Conversation.objects.filter(pk=conversation.pk).update(created_at=row.created_at)
            stored[row.id] = conversation
            self.stored[row.id] = conversation.pk
        stored_ids: dict[int, int] = {}
        for m in sorted(self.messages, key=lambda m: (m.created_at, m.id)):
            trace = self.traces.get(m.id, {})
            message = Message.objects.create(
                conversation=stored[m.conversation_id],
                role=m.role,
                text=m.text,
                source=m.source,
                trace=trace,
                reply_to_id=stored_ids.get(m.reply_to_id),
                **message_facts(m.role, trace).columns(),
            )
            Message.objects.filter(pk=message.pk).update(created_at=m.created_at)
            if m.feedback:
                Feedback.objects.create(message=message, value=m.feedback)
            stored_ids[m.id] = message.pk
        return figures.Scope.of_days(start, end)


@pytest.fixture
def seven() -> Builder:
    """Seven conversations over two days (see each figure's test for what they add up to)."""
    b = Builder()
    h = dt.timedelta(hours=1)
    # c1: FAQ answer, thumbs up -> deflected, confirmed.
    c1 = b.conversation("A", T0)
    b.turn(c1, T0, "How long does shipping take?", "faq", trace("faq", 50, faq(0.9)), "up")
    # c2: cache then FAQ -> deflected; ends on an answer -> assumed.
    c2 = b.conversation("B", T0 + h)
    b.turn(c2, T0 + h, "Is there a student discount?", "cache", trace("cache", 80, faq(0.5, 7)))
    b.turn(c2, T0 + 2 * h, "thanks!", "faq", trace("faq", 30, faq(0.95, 8)))
    # c3 and c4: the same visitor asks the same thing again 2 h later -> c3 is a re-contact.
    question = "Can I combine discount codes?"
    c3 = b.conversation("C", T0 + h)
    b.turn(c3, T0 + h, question, "llm", trace("llm", 900, faq(0.4, 3), llm_answer(0.002)))
    c4 = b.conversation("C", T0 + 3 * h)
    b.turn(c4, T0 + 3 * h, question, "llm", trace("llm", 1100, faq(0.4, 3), llm_answer(0.003)))
    # c5: every model down, fallback, thumbs down, handed off, rated 2.
    c5 = b.conversation("D", T0 + 4 * h, handoff_reason="negative_feedback", rating=2)
    down = trace("fallback", 3000, faq(0.2, 5), SKIPPED, FAILED, FALLBACK)
    b.turn(c5, T0 + 4 * h, "Do you offer gift wrapping?", "fallback", down, "down")
    b.agent(c5, T0 + 5 * h)
    # c6: asks for a person straight away (no bot answer), rated 5.
    c6 = b.conversation("E", T0 + 5 * h, handoff_reason="visitor_words", rating=5)
    b.turn(c6, T0 + 5 * h, "talk to a human")
    b.agent(c6, T0 + 6 * h)
    # c7, day 2: fallback without any model step; ends on it -> unresolved.
    c7 = b.conversation("F", T0 + 24 * h)
    b.turn(
        c7,
        T0 + 24 * h,
        "do you offer GIFT wrapping",
        "fallback",
        trace("fallback", 20, faq(0.3, 5), FALLBACK),
    )
    # Outside the range: a conversation the day after, never counted.
    c8 = b.conversation("G", T0 + 48 * h)
    b.conversations.pop()
    b.turn(c8, T0 + 48 * h, "later question", "faq", trace("faq", 10, faq(0.9)), "up")
    return b


@pytest.fixture
def scope(seven: Builder) -> figures.Scope:
    return seven.store()


def test_deflection_counts_conversations_and_messages_answered_by_faq_or_cache(scope):
    d = figures.deflection(scope)
    assert (d.conversations, d.deflected) == (7, 2)
    assert d.rate == pytest.approx(2 / 7)
    assert (d.visitor_messages, d.deflected_messages) == (8, 3)


def test_a_cache_answer_after_a_model_call_is_not_deflection():
    b = Builder()
    c = b.conversation("A", T0)
    b.turn(c, T0, "q", "cache", trace("cache", 10, faq(0.2), FAILED))
    d = figures.deflection(b.store())
    assert (d.conversations, d.deflected, d.deflected_messages) == (1, 0, 0)


def test_a_handed_off_conversation_is_not_deflected_even_with_faq_answers():
    b = Builder()
    c = b.conversation("A", T0, handoff_reason="visitor_request")
    b.turn(c, T0, "q", "faq", trace("faq", 10, faq(0.9)))
    assert figures.deflection(b.store()).deflected == 0


def test_source_mix_per_day_includes_agents_and_empty_days(scope):
    mix = figures.source_mix(scope)
    assert [m.day for m in mix] == [DAY1, DAY2]
    assert mix[0].counts == {
        "small_talk": 0,
        "faq": 2,
        "cache": 1,
        "llm": 2,
        "fallback": 1,
        "agent": 2,
    }
    assert mix[1].counts == {
        "small_talk": 0,
        "faq": 0,
        "cache": 0,
        "llm": 0,
        "fallback": 1,
        "agent": 0,
    }


def test_percentile_is_nearest_rank():
    values = list(range(100, 0, -1))
    assert figures.percentile(values, 50) == 50
    assert figures.percentile(values, 99) == 99
    assert figures.percentile([7.0], 99) == 7.0
    assert figures.percentile([], 50) is None


def test_ttft_percentiles_by_source(scope):
    rows = {r.source: r for r in figures.ttft_by_source(scope)}
    assert list(rows) == ["faq", "cache", "llm", "fallback"]
    assert (rows["faq"].count, rows["faq"].p50, rows["faq"].p99) == (2, 30, 50)
    assert (rows["llm"].p50, rows["llm"].p99) == (900, 1100)
    assert (rows["fallback"].p50, rows["fallback"].p99) == (20, 3000)


def test_cost_per_day_and_per_conversation(scope):
    c = figures.costs(scope)
    assert c.by_day == [(DAY1, 0.005), (DAY2, 0.0)]
    assert c.total == 0.005
    assert c.conversations == 7
    assert c.per_conversation == pytest.approx(0.005 / 7)


def test_handoff_rate_and_reasons(scope):
    h = figures.handoffs(scope)
    assert (h.conversations, h.handed_off) == (7, 2)
    assert h.rate == pytest.approx(2 / 7)
    assert sorted(h.by_reason) == [("negative_feedback", 1), ("visitor_words", 1)]


def test_thumbs_and_csat(scope):
    t = figures.thumbs(scope)
    assert (t.up, t.down) == (1, 1)
    assert t.by_source == [("faq", 1, 0), ("fallback", 0, 1)]
    c = figures.csat(scope)
    assert c.distribution == [(1, 0), (2, 1), (3, 0), (4, 0), (5, 1)]
    assert (c.count, c.mean, c.satisfied) == (2, 3.5, 0.5)


def test_breaker_events_from_the_answers_facts(scope):
    b = figures.breaker_events(scope)
    assert [(d.day, d.skipped, d.failed, d.models_down) for d in b.by_day] == [
        (DAY1, 1, 1, 1),
        (DAY2, 0, 0, 0),
    ]
    assert sorted(b.by_tier) == [("cloud", 1, 0), ("local", 0, 1)]
    assert (b.total, b.models_down) == (2, 1)


def test_top_unanswered_groups_normalised_text(scope):
    rows = figures.top_unanswered(scope)
    assert [(r.text, r.count, r.fallback, r.best_score) for r in rows] == [
        ("do you offer GIFT wrapping", 2, 2, 0.3),
        ("Can I combine discount codes?", 2, 0, 0.4),
        ("Is there a student discount?", 1, 0, 0.5),
    ]


def test_top_unanswered_is_capped():
    b = Builder()
    c = b.conversation("A", T0)
    for i in range(25):
        b.turn(c, T0 + dt.timedelta(minutes=i), f"question {i}", "fallback", trace("fallback", 1))
    assert len(figures.top_unanswered(b.store())) == 20


def test_resolution_outcomes(scope):
    r = figures.resolution(scope)
    assert r.conversations == 6
    assert (r.confirmed, r.assumed, r.recontact, r.handed_off, r.unresolved) == (1, 2, 1, 1, 1)
    assert r.share("assumed") == pytest.approx(2 / 6)


def _two_visits(gap: dt.timedelta, second: str, faq_id: int = 3, score: float = 0.7) -> int:
    """The first conversation's primary key; the two are stored."""
    b = Builder()
    first = b.conversation("V", T0)
    b.turn(first, T0, "Where is my parcel?", "llm", trace("llm", 1, faq(score, 3)))
    later = b.conversation("V", T0 + gap)
    b.turn(later, T0 + gap, second, "llm", trace("llm", 1, faq(score, faq_id)))
    b.store()
    return b.stored[first]


@pytest.mark.parametrize(
    ("gap", "second", "faq_id", "score", "expected"),
    [
        (dt.timedelta(hours=2), "where is my parcel", 3, 0.7, True),  # same normalised text
        (dt.timedelta(hours=2), "has my order shipped yet?", 3, 0.7, True),  # same FAQ
        (dt.timedelta(hours=2), "has my order shipped yet?", 3, 0.5, False),  # weak match
        (dt.timedelta(hours=2), "do you sell gift cards?", 9, 0.7, False),  # other topic
        (dt.timedelta(minutes=10), "where is my parcel", 3, 0.7, False),  # no 30 min gap
        (dt.timedelta(hours=25), "where is my parcel", 3, 0.7, False),  # after 24 h
    ],
)
def test_recontact_rules(gap, second, faq_id, score, expected):
    first = _two_visits(gap, second, faq_id, score)
    assert (first in figures.recontacted(figures.Scope.of_days(DAY1, DAY2))) is expected


def test_recontact_within_the_same_conversation_after_a_gap():
    b = Builder()
    c = b.conversation("V", T0)
    b.turn(c, T0, "Where is my parcel?", "llm", trace("llm", 1, faq(0.3)))
    b.turn(c, T0 + dt.timedelta(hours=1), "where is my parcel??", "llm", trace("llm", 1))
    assert figures.recontacted(b.store()) == {b.stored[c]}


def test_the_gap_is_from_the_previous_message_of_any_role():
    """A visitor answering an agent five minutes after its message is still in the same talk,
    however long ago the visitor last wrote."""
    b = Builder()
    c = b.conversation("V", T0)
    b.turn(c, T0, "Where is my parcel?", "llm", trace("llm", 1, faq(0.3)))
    b.agent(c, T0 + dt.timedelta(minutes=40))
    b.turn(c, T0 + dt.timedelta(minutes=45), "where is my parcel??", "llm", trace("llm", 1))
    assert figures.recontacted(b.store()) == set()


def test_recontact_beats_a_thumbs_up():
    b = Builder()
    c = b.conversation("V", T0)
    b.turn(c, T0, "Where is my parcel?", "faq", trace("faq", 1, faq(0.9)), "up")
    again = b.conversation("V", T0 + dt.timedelta(hours=3))
    b.turn(again, T0 + dt.timedelta(hours=3), "Where is my parcel?", "faq", trace("faq", 1), "up")
    r = figures.resolution(b.store())
    assert (r.recontact, r.confirmed) == (1, 1)


def test_a_rating_confirms_and_a_follow_up_question_is_not_assumed():
    b = Builder()
    rated = b.conversation("A", T0, rating=4)
    b.turn(rated, T0, "q1", "llm", trace("llm", 1))
    open_ = b.conversation("B", T0)
    b.turn(open_, T0, "q2", "llm", trace("llm", 1))
    b.turn(open_, T0 + dt.timedelta(seconds=30), "that didn't help")
    r = figures.resolution(b.store())
    assert (r.confirmed, r.assumed, r.unresolved) == (1, 0, 1)


def test_thanks_after_an_answer_is_assumed_resolved_but_small_talk_alone_is_not():
    b = Builder()
    thanked = b.conversation("A", T0)
    b.turn(thanked, T0, "Where is my parcel?", "faq", trace("faq", 1, faq(0.9)))
    b.turn(thanked, T0 + dt.timedelta(seconds=20), "thanks!", "small_talk", trace("small_talk", 1))
    greeted = b.conversation("B", T0)
    b.turn(greeted, T0, "hi", "small_talk", trace("small_talk", 1))
    r = figures.resolution(b.store())
    assert (r.conversations, r.assumed, r.unresolved) == (2, 1, 1)


NOTHING = {"stage": "llm", "decision": "nothing_relevant", "detail": {"vector_score": 0.1}}
NOT_FOUND = {"stage": "fallback", "decision": "not_found"}
NOT_ASKED = {
    "stage": "llm",
    "decision": "not_grounding",
    "detail": {"left_out": ["local"], "grounded": False, "replaced": True},
}


def grounded_answer(grounded: bool, replaced: bool = False) -> dict[str, Any]:
    detail: dict[str, Any] = {"tier": "local", "grounded": grounded}
    if replaced:
        detail["replaced"] = True
    return {"stage": "llm", "decision": "answered", "detail": detail}


def test_an_answer_replaced_by_suggested_articles_is_not_assumed_resolved():
    """ "I'm not sure I can answer that… these articles may help" answered nothing (an
    analytics walk found such conversations counted as assumed resolved)."""
    b = Builder()
    for visitor, answer in (("A", grounded_answer(False, True)), ("B", NOT_ASKED)):
        c = b.conversation(visitor, T0)
        b.turn(c, T0, "Can I pre-order?", "llm", trace("llm", 500, answer))
        b.turn(c, T0 + dt.timedelta(seconds=20), "thanks", "small_talk", trace("small_talk", 1))
    answered = b.conversation("C", T0)
    b.turn(answered, T0, "return window?", "llm", trace("llm", 500, grounded_answer(True)))
    r = figures.resolution(b.store())
    assert (r.conversations, r.assumed, r.unresolved) == (3, 1, 2)


def test_grounding_counts_cited_ungrounded_and_nothing_relevant():
    b = Builder()
    c = b.conversation("A", T0)
    m = dt.timedelta(minutes=1)
    b.turn(c, T0, "return window?", "llm", trace("llm", 500, grounded_answer(True)))
    b.turn(c, T0 + m, "refund time?", "llm", trace("llm", 500, grounded_answer(False)))
    b.turn(c, T0 + 2 * m, "exchange?", "llm", trace("llm", 500, grounded_answer(False, True)))
    b.turn(
        c, T0 + 3 * m, "garden furniture?", "fallback", trace("fallback", 20, NOTHING, NOT_FOUND)
    )
    b.turn(c, T0 + 4 * m, "hello", "llm", trace("llm", 500, llm_answer(0.0)))  # no sources
    b.turn(c, T0 + 5 * m, "gift wrap?", "llm", trace("llm", 20, NOT_ASKED))
    grounding = figures.grounding(b.store())
    assert grounding == figures.Grounding(
        with_sources=3,
        grounded=1,
        ungrounded_sent=1,
        ungrounded_replaced=1,
        nothing_relevant=1,
        not_asked=1,
    ), "a question no model was asked is not among the model answers"
    assert grounding.ungrounded_share == pytest.approx(2 / 3)


def test_did_you_mean_counts_the_replies_with_offers_and_the_offers_taken():
    b = Builder()
    c = b.conversation("A", T0)
    m = dt.timedelta(minutes=1)
    offered = {"offers": [{"faq_id": 1, "question": "How long does delivery take?"}]}
    for i, text in enumerate(["delivery on weekends?", "shipping slow?", "parcel late?"]):
        b.turn(c, T0 + 2 * i * m, text, "fallback", {**trace("fallback", 20, FALLBACK), **offered})
        b.turn(c, T0 + (2 * i + 1) * m, "How long does delivery take?", "faq", trace("faq", 9))
    b.turn(c, T0 + 9 * m, "gift wrap?", "fallback", trace("fallback", 20, FALLBACK))
    later = b.conversation("B", T0 + dt.timedelta(days=3))  # outside the range
    b.turn(later, T0 + dt.timedelta(days=3), "delivery?", "fallback", offered)
    scope = b.store()
    first = Message.objects.filter(offers__gt=0).order_by("id").first()
    Message.objects.filter(pk=first.pk).update(offer_taken=True)
    assert figures.offers(scope) == figures.Offers(replies=3, taken=1)
    assert figures.offers(scope).taken_percent == pytest.approx(100 / 3)


def test_content_gaps_cluster_questions_by_meaning_per_language():
    b = Builder()
    c = b.conversation("A", T0)
    gap = trace("fallback", 20, NOTHING, NOT_FOUND)
    asked = [
        "Do you sell garden furniture?",
        "do you have outdoor garden furniture",
        "Can I buy patio furniture from you?",
        "Do you ship to Antarctica?",
        "你们卖花园家具吗？",
        "有没有户外花园家具？",
    ]
    for i, text in enumerate(asked):
        b.turn(c, T0 + dt.timedelta(minutes=i), text, "fallback", gap)
    b.turn(c, T0 + dt.timedelta(hours=1), "Where is my parcel?", "faq", trace("faq", 9, faq(0.9)))
    gaps = figures.content_gaps(b.store())
    members = {gap.example: {gap.example, *gap.questions} for gap in gaps}
    furniture = next(m for m in members.values() if "Do you sell garden furniture?" in m)
    assert "do you have outdoor garden furniture" in furniture
    assert "Do you ship to Antarctica?" not in furniture
    chinese = next(m for m in members.values() if "你们卖花园家具吗？" in m)
    assert chinese == {"你们卖花园家具吗？", "有没有户外花园家具？"}
    assert sum(gap.count for gap in gaps) == len(asked), "the answered FAQ question is no gap"
    assert gaps[0].count >= 2


def _queries(figure, scope: figures.Scope) -> int:
    with CaptureQueriesContext(connection) as queries:
        figure(scope)
    return len(queries)


@pytest.mark.parametrize(
    ("figure", "seen", "in_many"),
    [
        (figures.deflection, lambda d: (d.conversations, d.visitor_messages), (30, 60)),
        (figures.resolution, lambda r: (r.conversations, r.recontact), (30, 30)),
        (figures.top_unanswered, lambda rows: (len(rows), rows[0].fallback), (20, 1)),
        (figures.recontacted, len, 30),
    ],
)
def test_the_per_conversation_figures_are_a_few_queries_whatever_the_rows(figure, seen, in_many):
    """Counted by the database: ten times the conversations, the same queries. Each visitor
    asks, gets the fallback, and asks the same again an hour later (a re-contact)."""

    def visitors(n: int, day: dt.date) -> figures.Scope:
        b = Builder()
        at = dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC)
        for i in range(n):
            c = b.conversation(f"{day}-{i}", at)
            b.turn(c, at, f"question {i}", "fallback", trace("fallback", 1, faq(0.2)), "down")
            b.turn(c, at + dt.timedelta(hours=1), f"question {i}", "llm", trace("llm", 1))
        return b.store(day, day)

    few, many = visitors(3, DAY1), visitors(30, DAY2 + dt.timedelta(days=5))
    assert _queries(figure, few) == _queries(figure, many)
    assert seen(figure(many)) == in_many


def test_a_content_gap_links_its_conversation_and_names_the_article_that_covers_it_now():
    """A writer published "Garden furniture" and the gap stayed listed as if still open, with
    no link to the conversations that asked."""
    from knowledge import services
    from knowledge.documents.indexing import reset_chunk_index
    from knowledge.documents.types import Block, BlockKind, ParsedDocument
    from knowledge.index import reset_index

    b = Builder()
    c = b.conversation("A", T0)
    gap = trace("fallback", 20, NOTHING, NOT_FOUND)
    for i, text in enumerate(["Do you sell garden furniture?", "Do you ship to Antarctica?"]):
        b.turn(c, T0 + dt.timedelta(minutes=i), text, "fallback", gap)
    scope = b.store()
    asked_in = Message.objects.get(text="Do you sell garden furniture?").conversation_id
    before = figures.content_gaps(scope)
    assert all(g.found_url == "" and g.conversation_id == asked_in for g in before), before

    reset_chunk_index()
    article = ParsedDocument(
        title="Garden furniture",
        blocks=(
            Block(BlockKind.PARAGRAPH, "We sell garden furniture: tables, chairs and benches."),
        ),
        locale="en",
    )
    document = services.document_upsert(
        parsed=article, source_key="garden.md", index_inline=True
    ).document
    found = {g.example: (g.found_title, g.found_url) for g in figures.content_gaps(scope)}
    reset_chunk_index()
    assert found["Do you sell garden furniture?"] == ("Garden furniture", f"/help/{document.pk}/")
    assert found["Do you ship to Antarctica?"] == ("", "")

    antarctica = services.faq_save(question="Do you ship to Antarctica?", answer="Sadly, no.")
    # The test's transaction never commits: no embedding task runs, no version bump reloads.
    services.embeddings_compute(
        paraphrase_ids=list(antarctica.paraphrases.values_list("pk", flat=True))
    )
    reset_index()
    gaps = {g.example: g for g in figures.content_gaps(scope)}
    assert (
        gaps["Do you ship to Antarctica?"].faq_id,
        gaps["Do you ship to Antarctica?"].faq_question,
    ) == (
        antarctica.pk,
        "Do you ship to Antarctica?",
    ), "a lead's gap list held questions an FAQ answered by then"
    assert gaps["Do you sell garden furniture?"].faq_id is None
