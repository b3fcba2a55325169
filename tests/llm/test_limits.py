"""Token buckets (per upstream key, per visitor) with a fake clock, in memory and in Redis."""

import logging

import pytest

from chatbot.llm.limits import Bucket, per_minute, take
from chatbot.outcomes import Decision
from chatbot.security.ratelimit import (
    ClientAction,
    client_allowed,
    model_call_allowed,
    visitor_message_allowed,
)


async def test_a_bucket_allows_its_burst_then_says_when_to_come_back(backend, clock):
    bucket = per_minute("rpm:k", 60)  # one a second, burst 60
    for _ in range(60):
        assert (await take([bucket], clock=clock)).allowed
    verdict = await take([bucket], clock=clock)
    assert not verdict.allowed and verdict.retry_after_s == pytest.approx(1.0, abs=0.01)
    clock.advance(1.0)
    assert (await take([bucket], clock=clock)).allowed
    assert not (await take([bucket], clock=clock)).allowed


async def test_several_buckets_are_taken_all_or_nothing(backend, clock):
    rpm = per_minute("rpm:k", 10)
    tpm = per_minute("tpm:k", 1000, cost=600)
    assert (await take([rpm, tpm], clock=clock)).allowed
    refused = await take([rpm, tpm], clock=clock)
    assert not refused.allowed
    assert refused.retry_after_s == pytest.approx(200 / (1000 / 60), abs=0.01)
    # The refusal did not spend a request: 9 of 10 remain.
    for _ in range(9):
        assert (await take([rpm], clock=clock)).allowed
    assert not (await take([rpm], clock=clock)).allowed


async def test_a_cost_larger_than_the_bucket_is_capped_so_it_can_ever_pass(backend, clock):
    assert (await take([Bucket("tpm:small", 100, 1.0, cost=500)], clock=clock)).allowed


async def test_visitor_messages_are_limited_per_conversation(backend, clock, settings):
    settings.CHAT_VISITOR_MESSAGES_PER_MINUTE = 10
    settings.CHAT_VISITOR_MESSAGE_BURST = 5
    results = [await visitor_message_allowed("conv-a", clock=clock) for _ in range(6)]
    assert [allowed for allowed, _ in results] == [True] * 5 + [False]
    assert results[-1][1] == pytest.approx(6.0, abs=0.01)
    assert (await visitor_message_allowed("conv-b", clock=clock))[0], "another visitor"
    clock.advance(6.0)
    assert (await visitor_message_allowed("conv-a", clock=clock)) == (True, 0.0)
    assert not (await visitor_message_allowed("conv-a", clock=clock))[0]


async def test_a_clients_message_limit_spans_its_conversations(backend, clock, settings):
    settings.CHAT_VISITOR_MESSAGES_PER_MINUTE = 10
    settings.CHAT_VISITOR_MESSAGE_BURST = 5
    settings.CHAT_CLIENT_LIMITS = {"message": (6.0, 3.0), "connect": (0.0, 0.0)}
    ip = "203.0.113.1"
    taken = [await visitor_message_allowed(f"conv-{n}", ip, clock=clock) for n in range(4)]
    assert [allowed for allowed, _ in taken] == [True, True, True, False]
    assert taken[-1][1] == pytest.approx(10.0, abs=0.01)
    assert (await visitor_message_allowed("conv-x", "203.0.113.2", clock=clock))[0]
    clock.advance(10.0)
    assert (await visitor_message_allowed("conv-3", ip, clock=clock))[0]
    # 0/0 turns a limit off; an unknown address is not limited per client.
    assert (await client_allowed("203.0.113.1", ClientAction.CONNECT, clock=clock)) == (True, 0.0)
    assert (await client_allowed("", ClientAction.MESSAGE, clock=clock)) == (True, 0.0)


async def test_the_model_brake_and_a_clients_model_calls(
    backend, clock, settings, caplog, monkeypatch
):
    from chatbot.security import ratelimit

    monkeypatch.setattr(ratelimit, "_brake_noted_at", float("-inf"))
    caplog.set_level(logging.WARNING, logger="chatbot.security.ratelimit")
    settings.LLM_MODEL_CALLS_PER_MINUTE = 3
    settings.CHAT_CLIENT_LIMITS = {"model": (60.0, 2.0)}
    assert await model_call_allowed("a", clock=clock) is None
    assert await model_call_allowed("a", clock=clock) is None
    assert await model_call_allowed("a", clock=clock) == Decision.CLIENT_LIMITED
    assert await model_call_allowed("b", clock=clock) is None, "a's refusal spent no brake"
    assert await model_call_allowed("c", clock=clock) == Decision.MODEL_BRAKE
    clock.advance(20.0)  # a third of a minute: one call back
    assert await model_call_allowed("c", clock=clock) is None
    assert await model_call_allowed("d", clock=clock) == Decision.MODEL_BRAKE
    # The operator is told in the log, once a minute, not once per refusal.
    noted = [r for r in caplog.records if "LLM_MODEL_CALLS_PER_MINUTE (3) reached" in r.message]
    assert len(noted) == 1
