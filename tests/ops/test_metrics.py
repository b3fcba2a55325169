"""/metrics: who may read it, and that answers, model calls, the cache, sockets, breakers and
the handoff queue show up in it."""

import datetime as dt
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import Permission, User
from django.utils import timezone
from prometheus_client import REGISTRY
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from chatbot import answering, services
from chatbot.handoff import services as handoff
from chatbot.llm.breaker import Breakers, breaker_policy, tier_breaker
from chatbot.llm.simulator import Faults
from chatbot.models import Conversation, HandoffReason
from tests.conftest import chat_socket
from tests.handoff.conftest import agent_socket, make_agent
from tests.ops.conftest import AUTH, samples, value

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("settle")]


# --- access ---------------------------------------------------------------------------------


def test_anonymous_and_wrong_tokens_are_refused(client, metrics_token):
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 403
    assert client.get("/metrics", headers={"Authorization": metrics_token}).status_code == 403


def test_an_empty_token_setting_accepts_no_token(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 403


def test_the_bearer_token_is_accepted(client, metrics_token):
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200
    assert response["Content-Type"] == CONTENT_TYPE_LATEST
    assert "chatbot_websocket_connections" in response.content.decode()


def test_leads_sessions_are_accepted_agents_and_other_users_are_not(client):
    lead = User.objects.create_user("ops-lead", password="pw", is_staff=True)
    lead.user_permissions.add(Permission.objects.get(codename="view_conversation"))
    agent = make_agent("ops-agent")
    visitor = User.objects.create_user("ops-user", password="pw")
    for refused in (visitor, agent):
        client.force_login(refused)
        assert client.get("/metrics").status_code == 403, refused.username
    client.force_login(lead)
    assert client.get("/metrics").status_code == 200


# --- answers and model calls ----------------------------------------------------------------


async def scrape(async_client) -> dict:
    response = await async_client.get("/metrics", headers=AUTH)
    assert response.status_code == 200
    return samples(response.content.decode())


async def test_a_websocket_answer_is_counted_timed_and_costed(
    async_client, metrics_token, priced_tier
):
    answers = ("chatbot_answers_total", (("source", "llm"),))
    first_token = ("chatbot_answer_first_token_seconds_count", (("source", "llm"),))
    duration = ("chatbot_answer_duration_seconds_count", (("source", "llm"),))
    calls = (
        "chatbot_llm_upstream_request_duration_seconds_count",
        (("status", "200"), ("tier", priced_tier)),
    )
    prompt = ("chatbot_llm_tokens_total", (("kind", "prompt"), ("tier", priced_tier)))
    completion = ("chatbot_llm_tokens_total", (("kind", "completion"), ("tier", priced_tier)))
    cost = ("chatbot_llm_cost_usd_total", (("tier", priced_tier),))
    before = await scrape(async_client)

    async with chat_socket() as client:
        frames = await client.say("Where is my parcel?", "m-1")
    done = frames[-1]
    assert done["source"] == "llm"
    after = await scrape(async_client)

    def grew(key: tuple) -> float:
        return after[key] - before.get(key, 0.0)

    assert grew(answers) == grew(first_token) == grew(duration) == grew(calls) == 1
    assert grew(prompt) == done["trace"]["prompt_tokens"] > 0
    assert grew(completion) == done["trace"]["completion_tokens"] > 0
    assert grew(cost) == pytest.approx(done["trace"]["cost"]) and done["trace"]["cost"] > 0


async def test_upstream_errors_and_retries_are_counted_by_tier_and_status(upstream, priced_tier):
    upstream.faults = Faults(fail_first=1, error_status=503)
    errors = value(
        "chatbot_llm_upstream_errors_total", tier=priced_tier, status="503", kind="transient"
    )
    retries = value("chatbot_llm_upstream_retries_total", tier=priced_tier)

    async with chat_socket() as client:
        frames = await client.say("Where is my parcel?", "m-1")

    assert frames[-1]["source"] == "llm", "the retry answered"
    assert (
        value("chatbot_llm_upstream_errors_total", tier=priced_tier, status="503", kind="transient")
        == errors + 1
    )
    assert value("chatbot_llm_upstream_retries_total", tier=priced_tier) == retries + 1


async def test_cache_hits_and_misses_are_counted(upstream, monkeypatch):
    hits, misses = (
        value("chatbot_cache_hits_total"),
        value("chatbot_cache_misses_total", reason="miss"),
    )
    cached = value("chatbot_answers_total", source="cache")
    # An answer that does not restate the question (the cache keeps no such answer).
    monkeypatch.setattr(upstream, "answer", lambda question: "Three to five working days.")

    async with chat_socket() as first:
        assert (await first.say("How long does delivery take?", "m-1"))[-1]["source"] == "llm"
    await answering.wait_for_running_answers()  # the answer is stored in the cache after `done`
    async with chat_socket() as second:
        assert (await second.say("How long does delivery take?", "m-1"))[-1]["source"] == "cache"

    assert value("chatbot_cache_misses_total", reason="miss") == misses + 1
    assert value("chatbot_cache_hits_total") == hits + 1
    assert value("chatbot_answers_total", source="cache") == cached + 1


# --- state read at scrape time --------------------------------------------------------------


async def test_breaker_state_per_configured_tier(async_client, metrics_token, settings, upstream):
    settings.LLM_TIERS_JSON = (
        '[{"name": "ops-a", "providers": [{"model": "m", "base_url": "http://127.0.0.1:9/v1"}]},'
        ' {"name": "ops-b", "providers": [{"model": "m", "base_url": "http://127.0.0.1:9/v1"}]}]'
    )
    settings.LLM_BREAKER_MIN_CALLS = 1
    breakers = Breakers(breaker_policy())
    await breakers.record(tier_breaker("ops-b"), False)
    for ok in [True] * 2 + [False] * 8:  # 80% failed: not down, but throttled
        await breakers.record(tier_breaker("ops-a"), ok)

    scraped = await scrape(async_client)

    assert scraped[("chatbot_llm_tier_breaker_state", (("tier", "ops-a"),))] == 0  # closed
    assert scraped[("chatbot_llm_tier_breaker_state", (("tier", "ops-b"),))] == 2  # open
    assert scraped[("chatbot_llm_key_breaker_state", (("upstream", "ops-a-1/none"),))] == 0
    throttle = scraped[("chatbot_llm_tier_throttle_ratio", (("tier", "ops-a"),))]
    assert throttle == pytest.approx((10 - 2 * 2) / 11, abs=1e-4)  # (requests - K x ok) / (n + 1)
    assert scraped[("chatbot_llm_tier_throttle_ratio", (("tier", "ops-b"),))] == 0


@database_sync_to_async
def queue_a_conversation() -> str:
    conversation = services.conversation_start(locale="en")
    assert handoff.conversation_handoff(
        conversation_id=conversation.pk, reason=HandoffReason.VISITOR_REQUEST
    )
    return conversation.public_id


async def test_queue_length_and_wait_at_claim(async_client, metrics_token):
    public_id = await queue_a_conversation()
    waits = value("chatbot_handoff_wait_seconds_count")
    queued_at = timezone.now() - dt.timedelta(seconds=120)
    await Conversation.objects.filter(public_id=public_id).aupdate(queued_at=queued_at)

    before = timezone.now()
    scraped = await scrape(async_client)
    after = timezone.now()
    assert scraped[("chatbot_handoff_queue_length", ())] == 1
    oldest = scraped[("chatbot_handoff_oldest_wait_seconds", ())]
    assert (before - queued_at).total_seconds() <= oldest <= (after - queued_at).total_seconds()

    agent = await database_sync_to_async(make_agent)("ops-agent")
    result = await database_sync_to_async(handoff.conversation_claim)(
        public_id=public_id, agent=agent
    )
    assert result.won
    assert value("chatbot_handoff_wait_seconds_count") == waits + 1
    assert (await scrape(async_client))[("chatbot_handoff_queue_length", ())] == 0


async def test_open_connections_go_up_while_open_and_back_down(upstream):
    visitors = value("chatbot_websocket_connections", kind="visitor")
    agents = value("chatbot_websocket_connections", kind="agent")
    agent = await database_sync_to_async(make_agent)("ops-agent")

    async with chat_socket(), chat_socket():
        assert value("chatbot_websocket_connections", kind="visitor") == visitors + 2
        async with agent_socket(agent):
            assert value("chatbot_websocket_connections", kind="agent") == agents + 1
        assert value("chatbot_websocket_connections", kind="agent") == agents

    assert value("chatbot_websocket_connections", kind="visitor") == visitors


def test_every_metric_of_the_app_is_in_the_operations_guide():
    """Three counters (retrievals, ungrounded answers, blocked output) were missing from its
    table, and its "did not know" query missed model answers replaced by suggested articles."""
    guide = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    ours = {
        m.name + ("_total" if m.type == "counter" else "")
        for m in REGISTRY.collect()
        if m.name.startswith("chatbot_")
    }
    assert ours and {name for name in ours if f"`{name}`" not in guide} == set()
