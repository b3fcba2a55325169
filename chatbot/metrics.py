"""Prometheus metrics: definitions, the small recorders the hot path calls, and the collector
for what is read at scrape time (breaker states, the handoff queue).

Metrics are per process (prometheus-client's default registry); scrape every daphne process.
Names, labels and example queries: docs/operations.md."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from statestore import policy

if TYPE_CHECKING:  # a leaf module: anything may record a metric without an import cycle
    from chatbot.llm.breaker import BreakerState
    from chatbot.llm.retry import Failure
    from chatbot.pipeline.base import DoneEvent

# From a stored answer's first piece (5 ms) to a slow model's whole answer (30 s).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30)
# Time in the handoff queue: seconds to an hour.
WAIT_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600)
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}

ANSWERS = Counter("chatbot_answers", "Bot answers stored, by the stage that gave them.", ["source"])
ANSWER_FIRST_TOKEN = Histogram(
    "chatbot_answer_first_token_seconds",
    "From the visitor's message to the answer's first token, by source.",
    ["source"],
    buckets=LATENCY_BUCKETS,
)
ANSWER_DURATION = Histogram(
    "chatbot_answer_duration_seconds",
    "From the visitor's message to the answer's last token, by source.",
    ["source"],
    buckets=LATENCY_BUCKETS,
)
UPSTREAM_DURATION = Histogram(
    "chatbot_llm_upstream_request_duration_seconds",
    "One model call, from the request to its end or failure, by tier and status.",
    ["tier", "status"],
    buckets=LATENCY_BUCKETS,
)
UPSTREAM_ERRORS = Counter(
    "chatbot_llm_upstream_errors",
    "Failed model calls by tier, status (HTTP code or failure kind) and kind.",
    ["tier", "status", "kind"],
)
UPSTREAM_RETRIES = Counter("chatbot_llm_upstream_retries", "Model call retries by tier.", ["tier"])
# Defined with the store that counts it (statestore.policy: knowledge reaches Redis through it
# too, and never imports chatbot).
REDIS_FALLBACKS = policy.REDIS_FALLBACKS
LLM_TOKENS = Counter(
    "chatbot_llm_tokens", "Tokens by tier and kind (prompt, completion).", ["tier", "kind"]
)
LLM_COST = Counter("chatbot_llm_cost_usd", "Model spend in USD by tier.", ["tier"])
STAGE_FAILURES = Counter(
    "chatbot_stage_failures",
    "Pipeline stages that raised (the next stage answered), by stage and failure kind.",
    ["stage", "kind"],
)
UNGROUNDED_ANSWERS = Counter(
    "chatbot_ungrounded_answers",
    "Model answers given help-centre sources that cited none of them, by what became of them.",
    ["outcome"],
)
OUTPUT_BLOCKED = Counter(
    "chatbot_output_blocked",
    "Model answers the output filter stopped, by reason (rule kind, unknown_link, "
    "unknown_price, system_prompt).",
    ["reason"],
)
RETRIEVALS = Counter(
    "chatbot_retrievals",
    "Help-centre retrievals before a model answer, by outcome (retrieved, nothing_relevant, "
    "no_documents).",
    ["outcome"],
)
TIERS_NOT_GROUNDING = Counter(
    "chatbot_tiers_not_grounding",
    "Model tiers left out of a question with help-centre sources because their latest answers "
    "given sources were all ungrounded (their answer would have been replaced), by tier.",
    ["tier"],
)
MODEL_CALLS_REFUSED = Counter(
    "chatbot_model_calls_refused",
    "Model calls a limit refused (the rule templates answered), by limit.",
    ["limit"],
)
VISITOR_LIMITED = Counter(
    "chatbot_visitor_limited",
    "Visitor actions refused by a per-client limit, by action.",
    ["action"],
)
CACHE_HITS = Counter("chatbot_cache_hits", "Semantic cache lookups that answered.")
CACHE_MISSES = Counter(
    "chatbot_cache_misses",
    "Semantic cache lookups that did not answer, by reason (miss, below_threshold, bypass_*).",
    ["reason"],
)
WEBSOCKETS = Gauge("chatbot_websocket_connections", "Open websocket connections by kind.", ["kind"])
HANDOFF_WAIT = Histogram(
    "chatbot_handoff_wait_seconds",
    "Time from the handoff to an agent's claim, observed at the claim.",
    buckets=WAIT_BUCKETS,
)
for _kind in ("visitor", "agent"):
    WEBSOCKETS.labels(_kind)  # both series exist from the start, at 0


def answer_stored(done: DoneEvent) -> None:
    trace = done.trace
    ANSWERS.labels(done.source).inc()
    if trace.ttft_ms is not None:
        ANSWER_FIRST_TOKEN.labels(done.source).observe(trace.ttft_ms / 1000)
    if trace.total_ms is not None:
        ANSWER_DURATION.labels(done.source).observe(trace.total_ms / 1000)


def upstream_call(tier: str, failure: Failure | None, seconds: float) -> None:
    if failure is None:
        UPSTREAM_DURATION.labels(tier, "200").observe(seconds)
        return
    status = str(failure.status) if failure.status is not None else failure.kind.value
    UPSTREAM_DURATION.labels(tier, status).observe(seconds)
    UPSTREAM_ERRORS.labels(tier, status, failure.kind.value).inc()


def llm_usage(tier: str, prompt_tokens: int, completion_tokens: int, cost: float) -> None:
    LLM_TOKENS.labels(tier, "prompt").inc(prompt_tokens)
    LLM_TOKENS.labels(tier, "completion").inc(completion_tokens)
    LLM_COST.labels(tier).inc(cost)


def cache_lookup(*, hit: bool, decision: str) -> None:
    if hit:
        CACHE_HITS.inc()
    else:
        CACHE_MISSES.labels(decision).inc()


@dataclass(frozen=True)
class ScrapeState:
    """What is read fresh for each scrape; breakers None when their store did not answer."""

    breakers: Sequence[BreakerState] | None
    queue_length: int
    oldest_wait_s: float


class ScrapeCollector(Collector):
    """Turns one scrape's readings into gauges (built per scrape, never registered globally,
    so concurrent scrapes cannot see each other's readings)."""

    def __init__(self, state: ScrapeState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        if self.state.breakers is not None:
            tiers = GaugeMetricFamily(
                "chatbot_llm_tier_breaker_state",
                "Tier circuit breaker: 0 closed, 1 half-open, 2 open.",
                labels=["tier"],
            )
            keys = GaugeMetricFamily(
                "chatbot_llm_key_breaker_state",
                "Upstream key circuit breaker: 0 closed, 1 half-open, 2 open.",
                labels=["upstream"],
            )
            throttles = {
                "tier": GaugeMetricFamily(
                    "chatbot_llm_tier_throttle_ratio",
                    "Share of calls to the tier its throttle refuses now (0: none).",
                    labels=["tier"],
                ),
                "key": GaugeMetricFamily(
                    "chatbot_llm_key_throttle_ratio",
                    "Share of calls on the upstream key its throttle refuses now (0: none).",
                    labels=["upstream"],
                ),
            }
            for breaker in self.state.breakers:
                kind, _, name = breaker.name.partition(":")
                family = tiers if kind == "tier" else keys
                family.add_metric([name], BREAKER_STATES[breaker.state])
                throttles[kind].add_metric([name], breaker.throttle)
            yield tiers
            yield keys
            yield from throttles.values()
        yield GaugeMetricFamily(
            "chatbot_handoff_queue_length",
            "Conversations waiting for an agent.",
            value=self.state.queue_length,
        )
        yield GaugeMetricFamily(
            "chatbot_handoff_oldest_wait_seconds",
            "How long the longest-waiting queued conversation has waited (0 when none).",
            value=self.state.oldest_wait_s,
        )


def render(state: ScrapeState) -> bytes:
    """The exposition text: the process's metrics, then this scrape's readings."""
    scraped = CollectorRegistry(auto_describe=False)
    scraped.register(ScrapeCollector(state))
    return generate_latest(REGISTRY) + generate_latest(scraped)
