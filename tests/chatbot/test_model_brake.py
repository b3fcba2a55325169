"""The model-call brake across every visitor and the per-client allowance of model calls (issue
16, finding 4): over either, the rule templates answer, no later model answer is promised and
nobody is handed to a person for it. Real sockets, the upstream simulator as the model."""

import pytest
from channels.db import database_sync_to_async

from chatbot.answer_facts import models_were_down
from chatbot.models import Message
from chatbot.outcomes import Decision
from chatbot.pipeline.fallback_stage import QUEUED_FLAG
from tests.chatbot.test_client_limits import OFF, visitor
from tests.handoff.conftest import agent_socket, make_agent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("settle")]


@pytest.fixture
def model_only(settings, upstream):
    """Questions go to the model (nothing else could answer them); no per-client limits."""
    settings.CHAT_PIPELINE_STAGES = ["llm", "fallback"]
    settings.CHAT_CLIENT_LIMITS = dict.fromkeys(
        ("connect", "conversation", "message", "handoff", "model"), OFF
    )
    settings.HANDOFF_FALLBACK_STREAK = 0
    return upstream


async def ask(ip: str, text: str) -> dict:
    async with visitor(ip) as client:
        return (await client.say(text, "q1"))[-1]


@database_sync_to_async
def stored_trace(message_id: int) -> dict:
    return Message.objects.get(pk=message_id).trace


def llm_decisions(trace: dict) -> list[str]:
    return [s["decision"] for s in trace["steps"] if s["stage"] == "llm"]


async def test_the_brake_sends_visitors_to_the_templates_once_tripped(model_only, settings):
    settings.LLM_MODEL_CALLS_PER_MINUTE = 2
    agent = await database_sync_to_async(make_agent)("ann")
    async with agent_socket(agent):  # online: a "models down" answer would hand off
        answers = [await ask(f"203.0.113.{n}", f"Tell me about order {n}") for n in range(3)]
    assert [a["source"] for a in answers] == ["llm", "llm", "fallback"]
    assert model_only.stats.requests == 2, "the third question never reached a model"
    trace = await stored_trace(answers[2]["message"]["id"])
    assert Decision.MODEL_BRAKE in llm_decisions(trace)
    fallback = next(s for s in trace["steps"] if s["stage"] == "fallback")
    assert fallback["detail"][QUEUED_FLAG] is False, "no model answer promised for later"
    assert not models_were_down(trace), "a brake is not an outage: nobody is handed off"


async def test_one_client_cannot_spend_more_than_its_model_calls(model_only, settings):
    settings.LLM_MODEL_CALLS_PER_MINUTE = 0
    settings.CHAT_CLIENT_LIMITS["model"] = (1.0, 2.0)
    mine = [await ask("198.51.100.1", f"Tell me about order {n}") for n in range(3)]
    other = await ask("198.51.100.2", "Tell me about returns")
    assert [a["source"] for a in mine] == ["llm", "llm", "fallback"]
    assert other["source"] == "llm", "another client has its own allowance"
    assert model_only.stats.requests == 3
    trace = await stored_trace(mine[2]["message"]["id"])
    assert Decision.CLIENT_LIMITED in llm_decisions(trace)
