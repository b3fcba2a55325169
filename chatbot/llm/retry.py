"""What a failed upstream call means (`classify`), and whether to retry it: per message and
within a per-process retry budget; failing over does not start a fresh cycle.
What is retried and why: docs/llm.md, "Failing well"."""

import asyncio
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx
import openai
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_random_exponential

from chatbot.llm.failure_kind import Kind

Clock = Callable[[], float]


class FirstTokenTimeout(Exception):
    """No token arrived within the tier's first-token timeout."""


class OwnRateLimited(Exception):
    """Our own token bucket for this upstream key is empty."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"own rate limit, retry after {retry_after_s:.2f}s")
        self.retry_after_s = retry_after_s


class KeysUnavailable(Exception):
    """Every key of the tier is behind an open or throttling breaker."""


class TierRefused(Exception):
    """The tier's breaker is open, or its throttle refused the call."""

    def __init__(self, *, throttled: bool, retry_at: float) -> None:
        super().__init__("throttled" if throttled else f"breaker open until {retry_at:.3f}")
        self.throttled = throttled
        self.retry_at = retry_at


class EmptyAnswer(Exception):
    """The upstream finished without a single token of text."""


@dataclass(frozen=True)
class Failure:
    kind: Kind
    error: str
    status: int | None = None
    retry_after_s: float | None = None

    @property
    def counts_for_tier(self) -> bool:
        """Auth failures open the key's breaker, not the tier's. A 429 counts for both: a tier
        only opens when nearly every call fails, i.e. when all its keys are refused."""
        return self.kind not in _NOT_CALLED and self.status not in (401, 403)

    @property
    def counts_for_key(self) -> bool:
        return self.kind not in _NOT_CALLED


# Refusals on our side: no upstream call was made, so no breaker counts them.
_NOT_CALLED = (Kind.OWN_LIMIT, Kind.KEYS_UNAVAILABLE, Kind.BREAKER_OPEN, Kind.THROTTLED)


def retry_after_s(headers: httpx.Headers) -> float | None:
    """Seconds from `retry-after-ms` (OpenAI) or `Retry-After` (seconds or an HTTP date)."""
    if value := headers.get("retry-after-ms"):
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def classify(exc: BaseException) -> Failure:
    name = type(exc).__name__
    if isinstance(exc, FirstTokenTimeout):
        return Failure(Kind.FIRST_TOKEN_TIMEOUT, name)
    if isinstance(exc, OwnRateLimited):
        return Failure(Kind.OWN_LIMIT, name, 429, exc.retry_after_s)
    if isinstance(exc, KeysUnavailable):
        return Failure(Kind.KEYS_UNAVAILABLE, name)
    if isinstance(exc, TierRefused):
        return Failure(Kind.THROTTLED if exc.throttled else Kind.BREAKER_OPEN, name)
    if isinstance(exc, EmptyAnswer):
        return Failure(Kind.EMPTY, name)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status == 429:
            return Failure(Kind.RATE_LIMITED, name, status, retry_after_s(exc.response.headers))
        if status == 408 or status >= 500:
            return Failure(Kind.TRANSIENT, name, status)
        return Failure(Kind.FATAL, name, status)
    if isinstance(exc, openai.APIError) and isinstance(exc.body, dict):
        # An error event inside an SSE stream: no HTTP status, the body says what it was.
        code = str(exc.body.get("code") or exc.body.get("type") or "")
        if "429" in code or "rate_limit" in code:
            return Failure(Kind.RATE_LIMITED, name, 429)
    if _refused(exc):
        return Failure(Kind.UNREACHABLE, name)
    transient = (openai.APIError, httpx.HTTPError, json.JSONDecodeError, TimeoutError, OSError)
    if isinstance(exc, transient):
        return Failure(Kind.TRANSIENT, name)
    return Failure(Kind.FATAL, name)


def _refused(exc: BaseException) -> bool:
    """A connection error caused by a refused connection (the SDK over aiohttp reports one as
    a connect timeout caused by ConnectionRefusedError); other errors are not followed."""
    seen: set[int] = set()
    current: BaseException | None = exc
    connection_errors = (openai.APIConnectionError, httpx.TransportError, OSError)
    while isinstance(current, connection_errors) and id(current) not in seen:
        if isinstance(current, ConnectionRefusedError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


@dataclass(frozen=True)
class RetryPolicy:
    max_per_message: int = 3
    base_s: float = 0.1  # first backoff is uniform in [0, base_s], doubling per attempt
    max_wait_s: float = 2.0  # longest backoff, and longest Retry-After we wait for
    budget_ratio: float = 0.7  # at most 1.7 calls per request
    budget_window_s: float = 10.0
    budget_min: int = 3  # retries always allowed per window, so a quiet site still retries


class RetryBudget:
    """Retries over a sliding window stay under `ratio` x requests (plus a small floor)."""

    def __init__(self, policy: RetryPolicy, clock: Clock = time.monotonic) -> None:
        self.policy = policy
        self.clock = clock
        self._requests: deque[float] = deque()
        self._retries: deque[float] = deque()

    def _trim(self, now: float) -> None:
        horizon = now - self.policy.budget_window_s
        for events in (self._requests, self._retries):
            while events and events[0] <= horizon:
                events.popleft()

    def note_request(self) -> None:
        self._requests.append(self.clock())

    def try_spend(self) -> bool:
        now = self.clock()
        self._trim(now)
        allowed = self.policy.budget_min + self.policy.budget_ratio * len(self._requests)
        if len(self._retries) + 1 > allowed:
            return False
        self._retries.append(now)
        return True


class MessageRetries:
    """One message's retries across every tier it tries."""

    def __init__(self, policy: RetryPolicy, budget: RetryBudget) -> None:
        self.policy = policy
        self.budget = budget
        self.used = 0

    def should_retry(self, failure: Failure) -> bool:
        if failure.kind == Kind.RATE_LIMITED:
            wait = failure.retry_after_s
            if wait is not None and wait > self.policy.max_wait_s:
                return False
        elif failure.kind != Kind.TRANSIENT:
            return False
        if self.used >= self.policy.max_per_message or not self.budget.try_spend():
            return False
        self.used += 1
        return True

    def wait_s(self, state: RetryCallState) -> float:
        """Retry-After when the upstream gave one, else full-jitter exponential backoff."""
        exc = state.outcome.exception() if state.outcome else None
        failure = classify(exc) if exc else None
        if failure and failure.retry_after_s is not None:
            return min(failure.retry_after_s, self.policy.max_wait_s)
        return wait_random_exponential(multiplier=self.policy.base_s, max=self.policy.max_wait_s)(
            state
        )

    def retrying(self, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> AsyncRetrying:
        return AsyncRetrying(
            retry=retry_if_exception(lambda exc: self.should_retry(classify(exc))),
            wait=self.wait_s,
            sleep=sleep,
            reraise=True,
        )
