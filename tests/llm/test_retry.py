"""Error classification, the per-message retry allowance and the retry budget (fake clock)."""

import httpx
import openai
import pytest
from tenacity import RetryCallState

from chatbot.llm.retry import (
    FirstTokenTimeout,
    KeysUnavailable,
    Kind,
    MessageRetries,
    OwnRateLimited,
    RetryBudget,
    RetryPolicy,
    TierRefused,
    classify,
    retry_after_s,
)

REQUEST = httpx.Request("POST", "http://upstream/v1/chat/completions")


def status_error(status: int, headers: dict[str, str] | None = None) -> openai.APIStatusError:
    response = httpx.Response(status, headers=headers or {}, request=REQUEST)
    cls = openai.RateLimitError if status == 429 else openai.APIStatusError
    return cls("failed", response=response, body=None)


@pytest.mark.parametrize(
    ("exc", "kind", "tier", "key"),
    [
        (status_error(500), Kind.TRANSIENT, True, True),
        (status_error(503), Kind.TRANSIENT, True, True),
        (status_error(429, {"Retry-After": "1.5"}), Kind.RATE_LIMITED, True, True),
        (status_error(401), Kind.FATAL, False, True),
        (status_error(403), Kind.FATAL, False, True),
        (status_error(400), Kind.FATAL, True, True),
        (status_error(404), Kind.FATAL, True, True),
        (openai.APIConnectionError(request=REQUEST), Kind.TRANSIENT, True, True),
        (openai.APITimeoutError(request=REQUEST), Kind.TRANSIENT, True, True),
        (httpx.RemoteProtocolError("peer closed"), Kind.TRANSIENT, True, True),
        (ConnectionResetError(), Kind.TRANSIENT, True, True),
        (FirstTokenTimeout(), Kind.FIRST_TOKEN_TIMEOUT, True, True),
        (OwnRateLimited(2.0), Kind.OWN_LIMIT, False, False),
        (KeysUnavailable("t"), Kind.KEYS_UNAVAILABLE, False, False),
        (TierRefused(throttled=True, retry_at=0), Kind.THROTTLED, False, False),
        (TierRefused(throttled=False, retry_at=5), Kind.BREAKER_OPEN, False, False),
    ],
)
def test_classification_and_which_breakers_count_it(exc, kind, tier, key):
    failure = classify(exc)
    assert failure.kind == kind
    assert (failure.counts_for_tier, failure.counts_for_key) == (tier, key)


def test_an_error_event_inside_a_stream_is_classified_by_its_body():
    rate = openai.APIError("x", request=REQUEST, body={"code": 429, "message": "slow down"})
    server = openai.APIError("x", request=REQUEST, body={"code": 503})
    assert classify(rate).kind == Kind.RATE_LIMITED
    assert classify(server).kind == Kind.TRANSIENT


def test_retry_after_headers():
    assert retry_after_s(httpx.Headers({"retry-after-ms": "250"})) == 0.25
    assert retry_after_s(httpx.Headers({"Retry-After": "3"})) == 3.0
    assert retry_after_s(httpx.Headers({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0
    assert retry_after_s(httpx.Headers({})) is None
    assert classify(status_error(429, {"Retry-After": "1.5"})).retry_after_s == 1.5


def test_what_is_retried():
    retries = MessageRetries(
        RetryPolicy(max_per_message=10, budget_min=100), RetryBudget(RetryPolicy())
    )
    assert retries.should_retry(classify(status_error(502)))
    assert retries.should_retry(classify(status_error(429, {"Retry-After": "1"})))
    assert not retries.should_retry(classify(status_error(429, {"Retry-After": "30"}))), (
        "a long Retry-After fails over instead of waiting"
    )
    assert retries.should_retry(classify(status_error(429))), "no Retry-After: backoff"
    for status in (400, 401, 403, 404):
        assert not retries.should_retry(classify(status_error(status)))
    assert not retries.should_retry(classify(FirstTokenTimeout()))
    assert not retries.should_retry(classify(OwnRateLimited(0.1)))
    assert not retries.should_retry(classify(TierRefused(throttled=True, retry_at=0)))


def test_retries_per_message_are_capped_across_tiers():
    policy = RetryPolicy(max_per_message=2, budget_min=100)
    retries = MessageRetries(policy, RetryBudget(policy))
    outcomes = [retries.should_retry(classify(status_error(500))) for _ in range(4)]
    assert outcomes == [True, True, False, False]


def test_the_budget_keeps_retries_under_a_share_of_requests(clock):
    policy = RetryPolicy(budget_ratio=0.2, budget_window_s=10, budget_min=0)
    budget = RetryBudget(policy, clock)
    for _ in range(100):
        budget.note_request()
    spent = sum(budget.try_spend() for _ in range(50))
    assert spent == 20
    clock.advance(10.01)
    assert not budget.try_spend(), "requests that left the window no longer earn retries"
    for _ in range(10):
        budget.note_request()
    assert sum(budget.try_spend() for _ in range(5)) == 2


def test_the_budget_floor_lets_a_quiet_site_retry(clock):
    budget = RetryBudget(RetryPolicy(budget_ratio=0.2, budget_min=3), clock)
    budget.note_request()
    assert [budget.try_spend() for _ in range(4)] == [True, True, True, False]


def test_backoff_is_full_jitter_exponential_and_honours_retry_after():
    policy = RetryPolicy(base_s=0.2, max_wait_s=2.0)
    retries = MessageRetries(policy, RetryBudget(policy))

    def wait(exc: Exception, attempt: int) -> float:
        state = RetryCallState(None, None, (), {})
        state.attempt_number = attempt
        state.set_exception((type(exc), exc, None))
        return retries.wait_s(state)

    first = [wait(status_error(500), 1) for _ in range(200)]
    third = [wait(status_error(500), 3) for _ in range(200)]
    assert min(first) >= 0 and max(first) <= 0.2 and max(first) > 0.1
    assert max(third) <= 0.8 and max(third) > 0.4 and min(third) < 0.2, "jitter from zero"
    assert max(wait(status_error(500), 10) for _ in range(50)) <= 2.0
    assert wait(status_error(429, {"Retry-After": "1.25"}), 1) == 1.25
    assert 0 <= wait(status_error(429), 1) <= 0.2, "a 429 without Retry-After backs off"
    assert wait(status_error(429, {"Retry-After": "60"}), 1) == 2.0
