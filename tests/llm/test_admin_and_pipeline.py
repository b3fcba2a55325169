"""The staff page, the failover status over the websocket, and recovery kicking the queue."""

import asyncio
import json

import pytest
from django.urls import reverse

from chatbot.answer_trace import Trace
from chatbot.llm.breaker import BreakerPolicy, breaker_states, tier_breaker
from chatbot.llm.retry import RetryPolicy
from chatbot.llm.router import Router, RouterPolicy
from chatbot.llm.simulator import Faults, default_answer
from chatbot.llm.tiers import parse_tiers
from chatbot.models import Conversation, Message
from chatbot.pipeline.base import Turn
from chatbot.pipeline.llm_stage import LLMStage
from tests.conftest import chat_socket
from tests.handoff.conftest import make_agent
from tests.llm.conftest import tier_config


@pytest.mark.django_db(transaction=True)
def test_the_router_page_is_for_leads_only(client, admin_client, settings):
    settings.OPENAI_API_KEY = ""
    url = reverse("llm-router-status")
    assert client.get(url).status_code == 302, "anonymous visitors go to the login page"
    client.force_login(make_agent("router-agent"))
    assert client.get(url).status_code == 403, "agents are staff without the lead's permission"
    index = client.get(reverse("admin:index")).content.decode()
    assert "llm-router" not in index and "matching-quality" not in index, "links that 403"
    page = admin_client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "tier:local" in html and "key:local/none" in html and "closed" in html
    assert "no daily budget" in html


@pytest.mark.django_db(transaction=True)
def test_the_costliest_conversations_link_to_them_in_the_admin(admin_client):
    conversation = Conversation.objects.create(public_id="costly-one")
    Message.objects.create(
        conversation=conversation, role="bot", text="x", source="llm", cost_usd=0.02
    )
    html = admin_client.get(reverse("llm-router-status")).content.decode()
    link = reverse("admin:chatbot_conversation_changelist") + "?q=costly-one"
    assert f'<a href="{link}">costly-one</a>' in html
    found = admin_client.get(link).content.decode()
    assert reverse("admin:chatbot_conversation_change", args=[conversation.pk]) in found


def test_a_probe_already_due_reads_as_the_next_question_not_a_past_time():
    """An operator read a time minutes ago as a half-open breaker's "next probe"."""
    from django.utils import translation

    from chatbot.ops.router_status import _next_probe

    now = 1_800_000_000.0
    assert _next_probe(None, now=now) is None
    assert _next_probe(now + 30, now=now) == "08:00:30 UTC"
    assert _next_probe(now - 120, now=now) == "with the next question"
    with translation.override("zh-hans"):
        assert _next_probe(now, now=now) == "下一个问题时"


async def test_breaker_states_lists_every_tier_and_key(settings):
    settings.OPENAI_API_KEY = ""
    states = await breaker_states()
    assert [(s.name, s.state) for s in states] == [
        ("tier:local", "closed"),
        ("key:local/none", "closed"),
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("settle")
async def test_the_widget_is_told_when_a_slow_tier_is_given_up(sims, settings):
    settings.LLM_TIERS_JSON = json.dumps(
        tier_config(sims, cheap={"first_token_timeout_s": 0.3})[1:]
    )
    sims["cheap"].faults = Faults(first_token_delay_s=3)
    async with chat_socket() as client:
        frames = await client.say("Where is my parcel?", "slow-1")
    statuses = [f for f in frames if f["type"] == "status"]
    failover = [f for f in statuses if f.get("detail") == "failover"]
    assert len(failover) == 1 and failover[0]["stage"] == "llm"
    assert failover[0]["text"] == "This is taking longer than usual, trying another way…"
    assert frames[-1]["source"] == "llm"
    assert frames[-1]["message"]["text"] == default_answer("Where is my parcel?")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("settle")
async def test_a_tier_failing_at_once_is_passed_over_without_taking_longer_than_usual(
    sims, settings
):
    """A tier answering 500s is given up in milliseconds: "This is taking longer than usual"
    showed from the first second to the answer (a model-tiers walk)."""
    settings.LLM_TIERS_JSON = json.dumps(tier_config(sims)[1:])
    sims["cheap"].faults = Faults(error_rate=1.0, error_status=500)
    async with chat_socket() as client:
        frames = await client.say("Where is my parcel?", "fast-1")
    assert [f for f in frames if f.get("detail") == "failover"] == []
    assert frames[-1]["source"] == "llm"
    assert frames[-1]["message"]["text"] == default_answer("Where is my parcel?")


async def test_a_closing_breaker_kicks_the_queued_answers(sims):
    kicks = []

    async def on_recovery() -> None:
        kicks.append(1)

    policy = RouterPolicy(
        retry=RetryPolicy(max_per_message=0),
        breaker=BreakerPolicy(min_calls=2, cooldown_s=0.2),
    )
    router = Router(parse_tiers(tier_config(sims)[2:]), policy, on_recovery=on_recovery)
    stage = LLMStage(router, system_prompt="", history_budget=0, notify=None)
    sims["local"].faults = Faults(error_rate=1.0)
    for _ in range(2):
        assert await stage.attempt(Turn("c", 1, "Hi"), Trace()) is None
    assert (await router.breakers.snapshot(tier_breaker("local"))).state == "open"
    sims["local"].reset()
    await asyncio.sleep(0.25)
    for _ in range(policy.breaker.probes_to_close):
        answer = await stage.attempt(Turn("c", 1, "Hi"), Trace())
        assert "".join([t async for t in answer.tokens]) == default_answer("Hi")
    assert (await router.breakers.snapshot(tier_breaker("local"))).closes == 1
    assert len(kicks) >= 2, "once when the breaker closed, once after the answer"
