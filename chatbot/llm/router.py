"""The model router: picks tiers for a question, opens a stream on the first tier that yields a
first token in time (retrying, throttling, breaking circuits and rate limiting on the way), and
relays it, continuing on the next tier if it breaks mid-way. Framework-free apart from settings in
`router_policy()`; the pipeline stage (chatbot.pipeline.llm_stage) is a thin adapter, and
chatbot.pipeline.registry builds the configured router with its hooks."""

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from chatbot import metrics, visitor_copy
from chatbot.answer_trace import Trace, TraceStep
from chatbot.llm import router_state, spend
from chatbot.llm.breaker import (
    BreakerPolicy,
    Breakers,
    breaker_policy,
    key_breaker,
    tier_breaker,
)
from chatbot.llm.client import StreamChunk, stream_chat
from chatbot.llm.limits import Clock, per_minute, take
from chatbot.llm.prompt import continuation_messages, estimate_tokens
from chatbot.llm.retry import (
    EmptyAnswer,
    Failure,
    FirstTokenTimeout,
    KeysUnavailable,
    Kind,
    MessageRetries,
    OwnRateLimited,
    RetryBudget,
    RetryPolicy,
    TierRefused,
    classify,
)
from chatbot.llm.routing import Route, RoutingRules, classify_complexity, plan
from chatbot.llm.tiers import Tier, Upstream
from chatbot.observability.logs import describe_error
from chatbot.outcomes import Decision, Source

logger = logging.getLogger(__name__)

StreamFactory = Callable[[Upstream, list[dict[str, str]]], AsyncIterator[StreamChunk]]
Hook = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class RouterPolicy:
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    routing: RoutingRules = field(default_factory=RoutingRules)
    simple_from: str = "cheap"
    daily_budget_usd: float = 0.0


def router_policy() -> RouterPolicy:
    s = settings
    return RouterPolicy(
        retry=RetryPolicy(
            max_per_message=s.LLM_RETRY_MAX_PER_MESSAGE,
            base_s=s.LLM_RETRY_BASE_S,
            max_wait_s=s.LLM_RETRY_MAX_WAIT_S,
            budget_ratio=s.LLM_RETRY_BUDGET_RATIO,
            budget_window_s=s.LLM_RETRY_BUDGET_WINDOW_S,
            budget_min=s.LLM_RETRY_BUDGET_MIN,
        ),
        breaker=breaker_policy(),
        routing=RoutingRules(long_chars=s.LLM_ROUTE_LONG_CHARS, **s.LLM_ROUTE_RULES),
        simple_from=s.LLM_ROUTE_SIMPLE_FROM,
        daily_budget_usd=s.LLM_DAILY_BUDGET_USD,
    )


@dataclass
class Opened:
    """A stream that has produced its first token."""

    tier: Tier
    upstream: Upstream
    messages: list[dict[str, str]]
    stream: AsyncIterator[StreamChunk]
    first: StreamChunk | None
    started_ms: float
    deadline: float  # loop time by which the whole answer must be in
    attempts: int
    called_at: float  # loop time the upstream call began (for its duration metric)
    parts: list[str] = field(default_factory=list)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None

    async def next_text(self) -> str | None:
        """The next piece of text, None at the end; the total timeout bounds each read (not
        the consumer's time between reads)."""
        while True:
            if self.first is not None:
                chunk, self.first = self.first, None
            else:
                async with asyncio.timeout_at(self.deadline):
                    chunk = await anext(self.stream, None)
                if chunk is None:
                    return None
            if chunk.prompt_tokens is not None:
                self.prompt_tokens = chunk.prompt_tokens
                self.completion_tokens = chunk.completion_tokens
            if chunk.finish_reason is not None:
                self.finish_reason = chunk.finish_reason
            if chunk.text:
                self.parts.append(chunk.text)
                return chunk.text


class Router:
    def __init__(
        self,
        tiers: Sequence[Tier],
        policy: RouterPolicy,
        *,
        stream_factory: StreamFactory = stream_chat,
        retry_budget: RetryBudget | None = None,
        clock: Clock = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        on_recovery: Hook | None = None,
    ) -> None:
        self.tiers = list(tiers)
        self.policy = policy
        self.stream_factory = stream_factory
        self.retry_budget = retry_budget or RetryBudget(policy.retry)
        self.clock = clock
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.breakers = Breakers(policy.breaker, clock, self.rng.random)
        self.on_recovery = on_recovery

    def retries(self) -> MessageRetries:
        """A fresh per-message retry allowance drawing on the shared budget."""
        return MessageRetries(self.policy.retry, self.retry_budget)

    async def route(self, text: str) -> Route:
        over = await spend.over_budget(self.policy.daily_budget_usd)
        complexity = classify_complexity(text, self.policy.routing)
        return plan(self.tiers, complexity, simple_from=self.policy.simple_from, over_budget=over)

    async def open(
        self,
        tiers: Sequence[Tier],
        messages: list[dict[str, str]],
        trace: Trace,
        retries: MessageRetries,
        *,
        on_failover: Hook | None = None,
    ) -> Opened | None:
        """The first tier to stream a first token, trying them in order."""
        for index, tier in enumerate(tiers):
            opened = await self._open_tier(tier, messages, trace, retries)
            if opened is not None:
                return opened
            if on_failover is not None and index + 1 < len(tiers):
                await on_failover()
        return None

    async def _open_tier(
        self, tier: Tier, messages: list[dict[str, str]], trace: Trace, retries: MessageRetries
    ) -> Opened | None:
        started = trace.elapsed_ms()
        needed = sum(estimate_tokens(m["content"]) for m in messages)
        attempts = 0
        upstream: Upstream | None = None
        try:
            async for attempt in retries.retrying(self.sleep):
                with attempt:
                    # Every try, retries too, asks the tier's breaker: they count as requests.
                    permit = await self.breakers.allow(tier_breaker(tier.name))
                    if not permit.allowed:
                        raise TierRefused(throttled=permit.throttled, retry_at=permit.retry_at)
                    attempts += 1
                    if attempts > 1:
                        metrics.UPSTREAM_RETRIES.labels(tier.name).inc()
                    upstream = await self._pick(tier, needed, avoid=upstream)
                    return await self._call(tier, upstream, messages, started, attempts)
        except Exception as exc:
            failure = classify(exc)
            if isinstance(exc, TierRefused) and attempts == 0:
                reason = failure.kind.value
                skipped = {"tier": tier.name, "reason": reason, "retry_at": exc.retry_at}
                trace.add(TraceStep(Source.LLM, Decision.TIER_SKIPPED, 0.0, detail=skipped))
                return None
            self._log(tier, upstream, failure, exc)
            detail: dict[str, object] = {
                "tier": tier.name,
                "error": failure.error,
                "kind": failure.kind.value,
                "attempts": attempts,
            }
            if upstream is not None:
                detail |= {"provider": upstream.provider.name, "key": upstream.key_label}
            if failure.status is not None:
                detail["status"] = failure.status
            if failure.retry_after_s is not None:
                detail["retry_after_s"] = round(failure.retry_after_s, 3)
            prompt, cost = None, None
            if isinstance(exc, FirstTokenTimeout) and upstream is not None:
                # Given up on (a slow tier is not retried), the call had the prompt, and the
                # upstream may bill it: counted, estimated, rather than recorded at $0.
                prompt, cost = needed, upstream.provider.cost(needed, 0)
                detail["usage_estimated"] = True
                metrics.llm_usage(tier.name, prompt, 0, cost)
                await spend.add(cost)
            trace.add(
                TraceStep(
                    Source.LLM,
                    Decision.TIER_FAILED,
                    round(trace.elapsed_ms() - started, 2),
                    model=upstream.provider.model if upstream else None,
                    prompt_tokens=prompt,
                    cost=cost,
                    detail=detail,
                )
            )
        return None

    async def _pick(self, tier: Tier, tokens: int, *, avoid: Upstream | None) -> Upstream:
        """A key whose breaker allows a call and whose buckets have room, spreading load by
        provider weight; the key that just failed goes last."""
        wait: float | None = None
        for provider in tier.providers_by_weight(self.rng):
            upstreams = provider.upstreams()
            self.rng.shuffle(upstreams)
            upstreams.sort(key=lambda u: u == avoid)
            for upstream in upstreams:
                if not (await self.breakers.allow(key_breaker(upstream.id))).allowed:
                    continue
                buckets = []
                if provider.rpm:
                    buckets.append(per_minute(f"rpm:{upstream.id}", provider.rpm))
                if provider.tpm:
                    cost = tokens + provider.max_tokens
                    buckets.append(per_minute(f"tpm:{upstream.id}", provider.tpm, cost))
                verdict = await take(buckets, clock=self.clock)
                if verdict.allowed:
                    return upstream
                wait = min(wait or verdict.retry_after_s, verdict.retry_after_s)
        if wait is not None:
            raise OwnRateLimited(wait)
        raise KeysUnavailable(tier.name)

    async def _call(
        self,
        tier: Tier,
        upstream: Upstream,
        messages: list[dict[str, str]],
        started: float,
        attempts: int,
    ) -> Opened:
        if attempts == 1:
            self.retry_budget.note_request()
        provider = upstream.provider
        loop = asyncio.get_running_loop()
        called_at = loop.time()
        deadline = called_at + provider.total_timeout_s
        stream = aiter(self.stream_factory(upstream, messages))
        try:
            try:
                # `timeout`, not `wait_for`: Python 3.11's `wait_for` can lose a cancel (the
                # shutdown's hand-over) that arrives as the first token does.
                async with asyncio.timeout(provider.first_token_timeout_s):
                    first = await _first_text(stream)
            except TimeoutError as exc:
                raise FirstTokenTimeout(f"no token in {provider.first_token_timeout_s}s") from exc
            if first is None:
                raise EmptyAnswer(upstream.id)
        except Exception as exc:
            await close_stream(stream)
            await self._record(tier, upstream, classify(exc), called_at)
            raise
        return Opened(
            tier, upstream, messages, stream, first, started, deadline, attempts, called_at
        )

    async def _record(
        self, tier: Tier, upstream: Upstream, failure: Failure | None, called_at: float
    ) -> None:
        ok = failure is None
        metrics.upstream_call(tier.name, failure, asyncio.get_running_loop().time() - called_at)
        changes = []
        if ok or failure.counts_for_key:
            changes.append(
                (key_breaker(upstream.id), await self.breakers.record(key_breaker(upstream.id), ok))
            )
        if ok or failure.counts_for_tier:
            changes.append(
                (tier_breaker(tier.name), await self.breakers.record(tier_breaker(tier.name), ok))
            )
        if failure is not None and failure.kind == Kind.UNREACHABLE:
            changes += await self._trip_unreachable(tier, upstream)
        for name, change in changes:
            if change == "opened":
                logger.warning("circuit breaker %s opened", name)
            elif change == "tripped":
                logger.warning(
                    "circuit breaker %s opened: the upstream is not listening (connection "
                    "refused); probing it again in %g s",
                    name,
                    self.policy.breaker.unreachable_cooldown_s,
                )
            elif change == "closed":
                logger.info("circuit breaker %s closed", name)
        if any(change == "closed" for _, change in changes) and self.on_recovery is not None:
            await self.on_recovery()

    async def _trip_unreachable(self, tier: Tier, upstream: Upstream) -> list[tuple[str, str]]:
        """Nothing listens at the key's URL: its breaker opens now, and the tier's too once
        every key of the tier is open (a local model server that died)."""
        name = key_breaker(upstream.id)
        changes = [(name, "tripped" if await self.breakers.trip(name) else "")]
        states = [(await self.breakers.snapshot(key_breaker(u.id))).state for u in tier.upstreams()]
        if all(state == "open" for state in states):
            tripped = await self.breakers.trip(tier_breaker(tier.name))
            changes.append((tier_breaker(tier.name), "tripped" if tripped else ""))
        return changes

    def _log(self, tier: Tier, upstream: Upstream | None, failure: Failure, exc: Exception) -> None:
        where = upstream.id if upstream else tier.name
        if failure.kind == Kind.FATAL:
            logger.error(
                "LLM upstream %s (tier %s) refused the request with %s %s: not retried; "
                "check its model, URL and key. %s",
                where,
                tier.name,
                failure.status,
                failure.error,
                describe_error(exc),
            )
        else:
            logger.warning(
                "tier %s failed before the first token (%s): %s",
                where,
                failure.kind,
                describe_error(exc),
            )

    async def relay(
        self,
        opened: Opened,
        route: Route,
        trace: Trace,
        retries: MessageRetries,
        locale: str,
    ) -> AsyncIterator[str]:
        """Streams the answer. When the stream breaks, the next tier of the route is asked to
        continue what was shown (a continuation that starts over is trimmed), or the answer
        ends with a note; either way nothing shown is repeated. Closed before the end (the
        pipeline stopped reading: the output filter, an answer that cannot be grounded), the
        model's step is still recorded, with what it wrote and cost so far."""
        shown: list[str] = []
        cost = 0.0
        current = opened
        decision = Decision.ANSWERED
        restart_guard: _RestartGuard | None = None
        try:
            while True:
                try:
                    text = await current.next_text()
                except Exception as exc:
                    failure = classify(exc)
                    logger.warning(
                        "tier %s failed mid-stream: %s", current.upstream.id, describe_error(exc)
                    )
                    await close_stream(current.stream)
                    await self._record(current.tier, current.upstream, failure, current.called_at)
                    cost += self._step(trace, current, Decision.INTERRUPTED, failure)
                    so_far = "".join(shown)
                    later = route.tiers[route.tiers.index(current.tier) + 1 :]
                    following = await self.open(
                        later, continuation_messages(current.messages, so_far), trace, retries
                    )
                    if following is None:
                        note = visitor_copy.interrupted_note(so_far, locale)
                        shown.append(note)
                        yield note
                        break
                    current, decision = following, Decision.CONTINUED
                    restart_guard = _RestartGuard(so_far)
                    continue
                if text is None:
                    if restart_guard is not None:
                        restart_guard.finish()
                    if current.finish_reason == "length" and shown:
                        # Stopped by max_tokens, mid-sentence as often as not: said, as a
                        # broken stream is, rather than left to look like the whole answer.
                        note = visitor_copy.interrupted_note("".join(shown), locale)
                        shown.append(note)
                        yield note
                    await self._record(current.tier, current.upstream, None, current.called_at)
                    cost += self._step(trace, current, decision, None)
                    if self.on_recovery is not None:
                        await self.on_recovery()
                    break
                if restart_guard is not None:
                    text = restart_guard.feed(text)
                if text:
                    shown.append(text)
                    yield text
        except GeneratorExit:
            await self._record(current.tier, current.upstream, None, current.called_at)
            cost += self._step(trace, current, decision, None)
            raise
        finally:
            await close_stream(current.stream)
            await spend.add(cost)

    def _step(
        self, trace: Trace, opened: Opened, decision: Decision, failure: Failure | None
    ) -> float:
        provider = opened.upstream.provider
        prompt = opened.prompt_tokens or sum(estimate_tokens(m["content"]) for m in opened.messages)
        completion = opened.completion_tokens or estimate_tokens("".join(opened.parts))
        cost = provider.cost(prompt, completion)
        metrics.llm_usage(opened.tier.name, prompt, completion, cost)
        detail: dict[str, object] = {
            "tier": opened.tier.name,
            "provider": provider.name,
            "key": opened.upstream.key_label,
            "attempts": opened.attempts,
            "usage_estimated": opened.prompt_tokens is None,
        }
        if opened.finish_reason is not None:
            detail["finish_reason"] = opened.finish_reason
        if failure is not None:
            detail |= {"error": failure.error, "kind": failure.kind.value}
        trace.add(
            TraceStep(
                Source.LLM,
                decision,
                round(trace.elapsed_ms() - opened.started_ms, 2),
                model=provider.model,
                prompt_tokens=prompt,
                completion_tokens=completion,
                cost=cost,
                detail=detail,
            )
        )
        return cost


class _RestartGuard:
    """Drops the start of a continuation that repeats what the visitor already saw (models
    asked to continue sometimes start over)."""

    def __init__(self, shown: str) -> None:
        self.shown = shown
        self.buffer: str | None = ""

    def feed(self, text: str) -> str:
        if self.buffer is None:
            return text
        self.buffer += text
        if self.shown.startswith(self.buffer):
            return ""  # may still be a restart: hold it
        out = self.buffer
        if out.startswith(self.shown):
            out = out[len(self.shown) :]
        self.buffer = None
        return out

    def finish(self) -> None:
        """What is still held only repeated the shown text: it is dropped."""
        self.buffer = None


async def _first_text(stream: AsyncIterator[StreamChunk]) -> StreamChunk | None:
    usage: StreamChunk | None = None
    async for chunk in stream:
        if chunk.text:
            if usage:
                chunk.prompt_tokens = usage.prompt_tokens
                chunk.completion_tokens = usage.completion_tokens
            return chunk
        if chunk.prompt_tokens is not None:
            usage = chunk
    return None


async def close_stream(stream: AsyncIterator[Any]) -> None:
    """Ends a stream nobody will read further (a failed one, or one the pipeline stopped
    reading), so the upstream stops writing it; a stream that raises while closing is logged."""
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:
            logger.debug("closing a stream raised", exc_info=True)


def process_retry_budget(policy: RetryPolicy) -> RetryBudget:
    """This process's budget (it is per process by design, see chatbot.llm.retry)."""
    return router_state.memory("retry_budget").setdefault(policy, RetryBudget(policy))
