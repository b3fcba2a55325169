"""The rule-template stage, and queued questions answered once a model is back (websocket,
database, channel layer and simulator all real)."""

import gc

import aiohttp
import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import User
from django.utils import timezone

from chatbot import tasks
from chatbot.answer_trace import Trace, TraceStep
from chatbot.handoff.models import AgentPresence
from chatbot.llm import queued_flag
from chatbot.llm.simulator import default_answer
from chatbot.models import Message
from chatbot.pipeline.base import Turn
from chatbot.pipeline.fallback_stage import FallbackStage, Template, best_template
from knowledge.models import RuleTemplate
from tests.conftest import chat_socket, queued_question_store

SHIPPING = Template(1, "shipping", ("ship", "delivery", "/\\bpost(age|al)\\b/"), 0, "We ship.")
REFUNDS = Template(2, "refunds", ("refund", "/money\\s+back/"), 5, "Refunds take 5 days.")
BROKEN = Template(3, "broken", ("/([unclosed/",), 9, "never")
ZH = Template(4, "zh", ("退货",), 0, "七天无理由退货。")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Do you ship to Norway?", "shipping"),
        ("What are the postage costs", "shipping"),
        ("I want my MONEY  back", "refunds"),
        ("Refund for a delivery that never came", "refunds"),  # priority wins
        ("Is this a spaceship?", None),  # keywords match whole words
        ("Hello", None),
        ("我想退货", "zh"),
    ],
)
def test_best_template(text, expected):
    found = best_template(text, [SHIPPING, REFUNDS, BROKEN, ZH])
    assert (found.name if found else None) == expected


async def _templates(locale: str) -> list[Template]:
    return [SHIPPING, REFUNDS] if locale == "en" else [ZH]


async def answer_text(stage: FallbackStage, turn: Turn, trace: Trace) -> str:
    answer = await stage.attempt(turn, trace)
    return "".join([piece async for piece in answer.tokens])


async def test_a_template_answer_offers_a_person_and_queues_when_a_model_failed(settings):
    settings.CHAT_STORED_ANSWER_TOKEN_DELAY_S = 0
    trace = Trace()
    trace.add(TraceStep("llm", "tier_skipped", 0.0))
    text = await answer_text(FallbackStage(_templates), Turn("c", 1, "Do you ship?"), trace)
    assert text.startswith("We ship. You can also ask to talk to a person")
    assert text.endswith("will answer it here as soon as I can.")
    step = trace.steps[-1]
    assert (step.decision, step.detail["template"], step.detail["queued_for_answer"]) == (
        "rule_template",
        "shipping",
        True,
    )
    assert await queued_flag.is_marked()


async def _one_online() -> int:
    return 1


def every_tier_failed() -> Trace:
    trace = Trace()
    trace.add(TraceStep("llm", "tier_failed", 0.0, detail={"tier": "local", "kind": "transient"}))
    return trace


@pytest.mark.parametrize(
    ("locale", "text", "expected"),
    [
        ("en", "Do you ship?", "We ship."),
        ("en", "Hello", "Sorry, I can't answer that myself right now."),
        ("zh-hans", "你好", "抱歉，我暂时无法回答这个问题。"),
    ],
)
async def test_with_a_person_coming_the_answer_neither_offers_one_nor_promises(
    settings, locale, text, expected
):
    """Every model down and an agent online: the queue takes the conversation after this answer
    and says so; a re-walk read "ask to talk to a person" above it."""
    settings.CHAT_STORED_ANSWER_TOKEN_DELAY_S = 0
    settings.HANDOFF_WHEN_MODELS_DOWN = True
    stage = FallbackStage(_templates, agents_online=_one_online)
    assert await answer_text(stage, Turn("c", 1, text, locale), every_tier_failed()) == expected
    assert not await queued_flag.is_marked()


async def test_no_template_keeps_the_generic_answer_and_no_model_means_no_queue(settings):
    settings.CHAT_STORED_ANSWER_TOKEN_DELAY_S = 0
    trace = Trace()
    text = await answer_text(FallbackStage(_templates), Turn("c", 1, "Hello", "zh-hans"), trace)
    assert text == (
        "抱歉，我现在无法回答这个问题。请稍后再试，或者要求转人工客服，我们的团队成员会帮助您。"
    ), "the generic answer in Chinese, with no promise of a model's answer later"
    assert trace.steps[-1].decision == "canned_answer"
    assert trace.steps[-1].detail["queued_for_answer"] is False
    assert not await queued_flag.is_marked()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("settle")
async def test_a_queued_question_is_answered_here_once_the_model_is_back(upstream, settings):
    settings.CHAT_STORED_ANSWER_TOKEN_DELAY_S = 0
    settings.HANDOFF_WHEN_MODELS_DOWN = False  # the bot keeps the conversation
    settings.HANDOFF_FALLBACK_STREAK = 0
    upstream.answer = default_answer  # other tests may have left their own
    await database_sync_to_async(RuleTemplate.objects.create)(
        name="shipping", patterns="ship\n/deliver(y|ies)/", text="We ship to 30 countries."
    )
    settings.LOCAL_LLM_BASE_URL = "http://127.0.0.1:9/v1"  # the model is down
    settings.LLM_BREAKER_UNREACHABLE_COOLDOWN_S = 0  # probe it again on the next question
    question = "Do you ship to Norway?"
    async with chat_socket() as client:
        frames = await client.say(question, "q1")
        done = frames[-1]
        assert done["source"] == "fallback"
        assert done["message"]["text"].startswith("We ship to 30 countries. You can also ask")
        assert "answer it here as soon as I can" in done["message"]["text"]

        settings.LOCAL_LLM_BASE_URL = upstream.base_url  # back: the next answer kicks the queue
        await client.say("What about Denmark?", "q2")
        pushed = [f for f in await client.recv_until("message") if f["type"] == "message"][-1]
        await tasks.wait_for_drains()
        conversation = client.hello["conversation"]

    later = pushed["message"]
    assert later["role"] == "bot" and later["source"] == "llm"
    assert later["text"] == f"About your earlier question “{question}”: " + default_answer(question)
    stored = await database_sync_to_async(
        lambda: list(Message.objects.filter(conversation__public_id=conversation).order_by("id"))
    )()
    assert [m.role for m in stored] == ["visitor", "bot", "visitor", "bot", "bot"]
    assert stored[-1].trace["queued_reply_to"] == stored[0].id
    assert stored[-1].text == later["text"], "stored, so it shows on the next visit too"
    assert not await queued_flag.is_marked()
    assert await database_sync_to_async(tasks.queued_questions)(max_age_h=1) == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("settle")
async def test_no_question_kept_when_a_person_takes_the_conversation(upstream, settings):
    """With every model down and an agent online the queue takes it after the fallback, and
    the bot never writes into a queued conversation: nothing is promised, nothing kept."""
    settings.CHAT_STORED_ANSWER_TOKEN_DELAY_S = 0
    settings.HANDOFF_WHEN_MODELS_DOWN = True
    settings.LOCAL_LLM_BASE_URL = "http://127.0.0.1:9/v1"
    agent = await database_sync_to_async(User.objects.create_user)("ann", is_staff=True)
    await database_sync_to_async(AgentPresence.objects.create)(
        user=agent, status=AgentPresence.Status.ONLINE, last_seen_at=timezone.now()
    )  # with an agent online, "every model down" hands the conversation to a person
    async with chat_socket() as client:
        await client.say("Do you ship to Norway?", "q1")
    settings.LOCAL_LLM_BASE_URL = upstream.base_url
    assert not await queued_flag.is_marked()
    assert await tasks.answer_queued_questions() == 0
    assert upstream.stats.requests == 0


def open_model_sessions() -> list[aiohttp.ClientSession]:
    """By exact type: isinstance() would evaluate lazy objects lying around (django-csp's
    request nonce raises once its response is written)."""
    return [o for o in gc.get_objects() if type(o) is aiohttp.ClientSession and not o.closed]


@pytest.mark.django_db(transaction=True)
def test_the_celery_task_closes_the_model_clients_of_its_own_event_loop(upstream):
    """A worker runs each task call on an event loop of its own (async_to_sync): a client left
    open there stays open for good (it refers to its loop, so nothing collects either), with its
    connection, and is reported unclosed at exit."""
    queued_question_store("Do you ship to Norway?")
    before = open_model_sessions()

    assert tasks.answer_queued() == 1

    assert upstream.stats.requests == 1, "the model was asked"
    gc.collect()
    assert [s for s in open_model_sessions() if s not in before] == []
