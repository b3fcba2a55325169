"""A bot answer's facts: taken from the trace the pipeline writes, stored with the answer on every
path that stores one, and filled in for answers stored before the columns existed."""

import importlib

import pytest
from django.apps import apps
from django.db.migrations import AddField
from django.utils import timezone

from chatbot import message_sql, services
from chatbot.answer_facts import (
    NO_FACTS,
    AnswerFacts,
    Grounding,
    answer_facts,
    model_words_replaced,
)
from chatbot.answer_trace import Trace, TraceStep
from chatbot.llm.queued_flag import QUEUED_FLAG
from chatbot.models import Conversation, Message
from chatbot.outcomes import Decision, Source
from knowledge.matching import BELOW_THRESHOLD
from tests.migration_steps import state_apps


def model_answer_trace(*, grounded: bool | None = None, replaced: bool = False) -> dict:
    """A trace as the pipeline builds it: the FAQ below its threshold, the cloud tier's breaker
    open, the local tier failing once then answering."""
    trace = Trace()
    trace.add(TraceStep(Source.FAQ, BELOW_THRESHOLD, 2.0, score=0.61, detail={"faq_id": 12}))
    trace.add(TraceStep(Source.LLM, Decision.TIER_SKIPPED, 0.0, detail={"tier": "cloud"}))
    trace.add(
        TraceStep(
            Source.LLM,
            Decision.TIER_FAILED,
            80.0,
            model="smollm2",
            cost=0.0005,
            detail={"tier": "local", "kind": "transient"},
        )
    )
    detail: dict = {"tier": "local"}
    if grounded is not None:
        detail["grounded"] = grounded
    if replaced:
        detail["replaced"] = True
    trace.add(
        TraceStep(Source.LLM, Decision.ANSWERED, 400.0, model="smollm2", cost=0.002, detail=detail)
    )
    trace.mark_first_token()
    trace.finish(Source.LLM)
    return trace.to_dict()


def test_a_model_answer_keeps_cost_tier_model_faq_candidate_and_tier_events():
    trace = model_answer_trace(grounded=True)
    facts = answer_facts(trace)
    assert facts.first_token_ms == trace["ttft_ms"]
    assert facts.cost_usd == pytest.approx(0.0025), "cut-off attempts cost too"
    assert (facts.llm_model, facts.llm_tier, facts.llm_called) == ("smollm2", "local", True)
    assert (facts.faq_id, facts.faq_score, facts.faq_decision) == (12, 0.61, BELOW_THRESHOLD)
    assert facts.grounding == Grounding.GROUNDED
    assert (facts.tiers_skipped, facts.tiers_failed) == (1, 1)
    assert facts.tier_events == (("cloud", Decision.TIER_SKIPPED), ("local", Decision.TIER_FAILED))
    assert not (facts.models_down or facts.answer_promised or facts.nothing_relevant)


@pytest.mark.parametrize(
    ("grounded", "replaced", "expected"),
    [
        (None, False, Grounding.NONE),
        (True, False, Grounding.GROUNDED),
        (False, False, Grounding.UNGROUNDED),
        (False, True, Grounding.REPLACED),
        (None, True, Grounding.REPLACED),  # stopped for a made-up link before the check
    ],
)
def test_grounding_is_the_answering_steps_check(grounded, replaced, expected):
    assert answer_facts(model_answer_trace(grounded=grounded, replaced=replaced)).grounding == (
        expected
    )


def test_a_fallback_after_every_tier_failed_is_models_down_and_may_queue_the_question():
    trace = Trace()
    trace.add(TraceStep(Source.LLM, Decision.NOTHING_RELEVANT, 3.0, detail={"score": 0.1}))
    trace.add(TraceStep(Source.LLM, Decision.TIER_FAILED, 90.0, detail={"tier": "local"}))
    trace.add(TraceStep(Source.FALLBACK, Decision.CANNED_ANSWER, 1.0, detail={QUEUED_FLAG: True}))
    trace.mark_first_token()
    trace.finish(Source.FALLBACK)
    facts = answer_facts(trace.to_dict())
    assert facts.models_down and facts.answer_promised and facts.nothing_relevant
    assert (facts.llm_model, facts.llm_tier, facts.grounding) == ("", "", Grounding.NONE)
    assert facts.faq_id is None and facts.faq_decision == ""


def test_an_empty_trace_has_no_facts():
    assert answer_facts({}) == NO_FACTS == AnswerFacts()


@pytest.mark.django_db
def test_storing_an_answer_stores_its_facts_and_a_visitor_message_none():
    conversation = Conversation.objects.create()
    question = message_sql.message_store(
        conversation_id=conversation.pk,
        role=Message.Role.VISITOR,
        text="Where is my parcel?",
        created_at=timezone.now(),
        trace={Message.TRACE_RETRY_OF: 1},
    )
    trace = model_answer_trace(grounded=False)
    message_sql.message_store(
        conversation_id=conversation.pk,
        role=Message.Role.BOT,
        text="On its way.",
        source=Source.LLM,
        trace=trace,
        reply_to_id=question.pk,
        created_at=timezone.now(),
    )
    bot = Message.objects.get(role=Message.Role.BOT)
    stored = {name: getattr(bot, name) for name in NO_FACTS.columns()}
    assert stored == answer_facts(trace).columns()
    assert stored["grounding"] == Grounding.UNGROUNDED and stored["cost_usd"] > 0
    visitor = Message.objects.get(pk=question.pk)
    assert {name: getattr(visitor, name) for name in NO_FACTS.columns()} == NO_FACTS.columns()


@pytest.mark.django_db
def test_the_migration_fills_in_the_facts_of_answers_stored_before_it():
    conversation = Conversation.objects.create()
    trace = model_answer_trace(grounded=True)
    for _ in range(3):
        Message.objects.create(
            conversation=conversation, role=Message.Role.BOT, text="a", source="llm", trace=trace
        )
    Message.objects.create(conversation=conversation, role=Message.Role.VISITOR, text="q")
    assert set(Message.objects.values_list("cost_usd", flat=True)) == {0.0}
    migration = importlib.import_module("chatbot.migrations.0016_answer_facts")
    migration.facts_fill(apps, None, batch=2)
    for bot in Message.objects.filter(role=Message.Role.BOT):
        assert bot.cost_usd == pytest.approx(0.0025)
        assert (bot.llm_tier, bot.faq_id, bot.grounding) == ("local", 12, Grounding.GROUNDED)
        assert bot.tier_events == [["cloud", "tier_skipped"], ["local", "tier_failed"]]
    assert Message.objects.get(role=Message.Role.VISITOR).cost_usd == 0.0


@pytest.mark.django_db
def test_the_migration_writes_only_the_columns_it_adds_on_its_own_historical_model():
    """A fact added to AnswerFacts later must not make 0016 write a column its model lacks."""
    migration = importlib.import_module("chatbot.migrations.0016_answer_facts")
    added = {
        operation.name
        for operation in migration.Migration.operations
        if isinstance(operation, AddField)
    }
    assert set(migration.COLUMNS) == added
    conversation = Conversation.objects.create()
    Message.objects.create(
        conversation=conversation,
        role=Message.Role.BOT,
        text="a",
        source="llm",
        trace=model_answer_trace(grounded=False),
    )
    migration.facts_fill(state_apps("chatbot", "0016_answer_facts"), None)
    bot = Message.objects.get()
    assert (bot.llm_tier, bot.grounding, bot.tiers_failed) == ("local", Grounding.UNGROUNDED, 1)


def _refused_trace() -> dict:
    trace = Trace()
    trace.add(TraceStep(Source.LLM, Decision.REFUSED, 0.0, detail={"blocked": "topic:crypto"}))
    trace.finish(Source.LLM)
    return trace.to_dict()


def _blocked_trace() -> dict:
    trace = model_answer_trace()
    trace["steps"][-1]["detail"]["blocked"] = "term:no crypto"
    return trace


@pytest.mark.parametrize(
    ("trace", "automatic"),
    [
        (model_answer_trace(grounded=True), False),
        (model_answer_trace(grounded=False), False),  # sent as the model wrote it
        (model_answer_trace(grounded=False, replaced=True), True),
        (_refused_trace(), True),
        (_blocked_trace(), True),
    ],
)
def test_a_reply_in_the_products_own_words_is_marked_automatic_for_clients(trace, automatic):
    """ "AI-generated answer" stood over "Sorry, I can't help with that here": the refusal and
    the texts that replace an ungrounded answer are our copy, not the model's words."""
    assert model_words_replaced(trace) is automatic
    bot = Message(id=7, role="bot", text="…", source="llm", trace=trace, created_at=timezone.now())
    assert services.message_payload(bot).get("automatic", False) is automatic


def test_a_reply_counts_the_did_you_mean_questions_it_offered():
    offered = [
        {"faq_id": 3, "question": "How long does delivery take?"},
        {"faq_id": 5, "question": "Can I pay with PayPal?"},
    ]
    assert answer_facts({"source": Source.FALLBACK, "offers": offered}).offers == 2
    assert answer_facts(model_answer_trace(grounded=True)).offers == 0


@pytest.mark.django_db
def test_the_offers_migration_counts_the_offers_of_replies_stored_before_it():
    migration = importlib.import_module("chatbot.migrations.0021_did_you_mean_offers")
    conversation = Conversation.objects.create()
    offered = [{"faq_id": 3, "question": "q3"}, {"faq_id": 5, "question": "q5"}]
    for trace in ({"offers": offered}, {"offers": offered[:1]}, {"offers": []}, {}):
        Message.objects.create(
            conversation=conversation, role=Message.Role.BOT, text="a", trace=trace
        )
    Message.objects.create(conversation=conversation, role=Message.Role.VISITOR, text="q")
    migration.offers_fill(state_apps("chatbot", "0021_did_you_mean_offers"), None, batch=1)
    assert list(Message.objects.order_by("id").values_list("offers", flat=True)) == [2, 1, 0, 0, 0]


@pytest.mark.parametrize("decision", [Decision.NOTHING_RELEVANT, Decision.REFUSED])
def test_a_fallback_that_asked_no_model_is_not_models_down(decision):
    """ "Nothing relevant in the help centre" once counted as every model down: the dashboard
    said so and the visitor was queued for a person as if the models had failed (an analytics
    walk)."""
    trace = Trace()
    trace.add(TraceStep(Source.LLM, decision, 3.0))
    trace.add(TraceStep(Source.FALLBACK, Decision.NOT_FOUND, 1.0))
    trace.mark_first_token()
    trace.finish(Source.FALLBACK)
    facts = answer_facts(trace.to_dict())
    assert not facts.models_down
    assert not facts.llm_called, "no model was asked"


@pytest.mark.django_db
def test_the_migration_clears_models_down_from_answers_that_asked_no_model():
    conversation = Conversation.objects.create()
    trace = Trace()
    trace.add(TraceStep(Source.LLM, Decision.NOTHING_RELEVANT, 3.0))
    trace.add(TraceStep(Source.FALLBACK, Decision.NOT_FOUND, 1.0))
    trace.finish(Source.FALLBACK)
    wrong = Message.objects.create(
        conversation=conversation, role=Message.Role.BOT, text="a", source="fallback",
        trace=trace.to_dict(), models_down=True, llm_called=True,
    )  # fmt: skip
    down = Message.objects.create(
        conversation=conversation, role=Message.Role.BOT, text="b", source="fallback",
        trace=model_answer_trace(), models_down=True, llm_called=True,
    )  # fmt: skip
    migration = importlib.import_module("chatbot.migrations.0022_models_down_needs_a_model_asked")
    migration.facts_refill(apps, None, batch=1)
    wrong.refresh_from_db()
    down.refresh_from_db()
    assert (wrong.models_down, wrong.llm_called) == (False, False)
    assert down.llm_called, "a model answer's stay as they were"
