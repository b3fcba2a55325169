"""Partial failure is not an outage (issue 13): questions replayed through the answer pipeline
(`run_pipeline` with the LLM and fallback stages, the router as configured in settings) several at
a time, against upstream simulators (real HTTP servers on 127.0.0.1) whose calls fail before any
token, half with 500 and half with 429:

- `partial`: one tier, 40% of calls fail;
- `outage`: the same tier, every call fails;
- `failover`: two tiers, every call to the first fails, the second is healthy.

Each scenario is measured (answers by source and tier, upstream calls per question, time per
question, breaker states) and checked against its targets (`TARGETS`); the baseline is the
partial-failure scenario with the settings before issue 13 (`PREVIOUS`). Used by `make bench`
(bench/run.py's `partial_failure` section) and by tests/llm/test_partial_failure.py.

    python -m bench.partial_failure [--questions 1000] [--concurrency 10] [--out figures.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import django

# The benchmark measures the model tiers and stages, not the spend brake (docs/security.md).
os.environ.setdefault("LLM_MODEL_CALLS_PER_MINUTE", "0")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")
django.setup()

import numpy as np  # noqa: E402

from bench import verdicts as bench_verdicts  # noqa: E402
from bench.verdicts import Verdict  # noqa: E402
from chatbot.answer_trace import Trace  # noqa: E402
from chatbot.llm.breaker import BreakerPolicy, tier_breaker  # noqa: E402
from chatbot.llm.client import clients_close  # noqa: E402
from chatbot.llm.retry import RetryPolicy  # noqa: E402
from chatbot.llm.router import Router, RouterPolicy, router_policy  # noqa: E402
from chatbot.llm.simulator import Faults, UpstreamSimulator  # noqa: E402
from chatbot.llm.tiers import parse_tiers  # noqa: E402
from chatbot.pipeline.base import DoneEvent, Turn  # noqa: E402
from chatbot.pipeline.fallback_stage import FallbackStage, Template  # noqa: E402
from chatbot.pipeline.llm_stage import LLMStage  # noqa: E402
from chatbot.pipeline.orchestrator import run_pipeline  # noqa: E402
from chatbot.shared_state import reset_shared_state  # noqa: E402

QUESTIONS = 1000
CONCURRENCY = 10
LATENCY_S = 0.02  # the simulator's time to answer or fail, before any token
FAILURE_STATUSES = [500, 429]  # one picked at random per failed call: half and half
TEMPLATE = Template(1, "orders", ("order",), 10, "Your order status is under My orders.")


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    error_rates: tuple[float, ...]  # per tier, in route order


SCENARIOS = (
    Scenario("partial", "one tier, 40% of calls fail", (0.4,)),
    Scenario("outage", "one tier, every call fails", (1.0,)),
    Scenario("failover", "two tiers, every call to the first fails", (1.0, 0.0)),
)
TIER_NAMES = ("first", "second")  # neither is `LLM_ROUTE_SIMPLE_FROM`: every question starts first
# The breaker and retry settings before issue 13, on this code (its throttle included).
PREVIOUS = RouterPolicy(
    retry=RetryPolicy(max_per_message=2, budget_ratio=0.15),
    breaker=BreakerPolicy(failure_rate=0.15, half_open_probes=1),
)


@dataclass(frozen=True)
class Target:
    text: str
    measured: Callable[[dict[str, Any]], str]
    met: Callable[[dict[str, Any]], bool]


TARGETS: dict[str, tuple[Target, ...]] = {
    "partial": (
        Target(
            ">= 95% of questions answered by the model",
            lambda f: f"{f['model_share']:.1%}",
            lambda f: f["model_share"] >= 0.95,
        ),
        Target(
            "<= 1.7 upstream calls per question",
            lambda f: f"{f['calls_per_question']:.2f}",
            lambda f: f["calls_per_question"] <= 1.7,
        ),
        Target(
            "no question waits > 10 s",
            lambda f: f"slowest {f['seconds']['max']:.2f} s",
            lambda f: f["seconds"]["max"] <= 10,
        ),
    ),
    "outage": (
        Target(
            "every question gets the rule template",
            lambda f: f"{f['decisions'].get('rule_template', 0)} of {f['questions']}",
            lambda f: f["decisions"].get("rule_template", 0) == f["questions"],
        ),
        Target(
            "each within 1 s",
            lambda f: f"slowest {f['seconds']['max']:.2f} s",
            lambda f: f["seconds"]["max"] <= 1,
        ),
        Target(
            "the tier's breaker is open",
            lambda f: f["breakers"]["first"]["state"],
            lambda f: f["breakers"]["first"]["state"] == "open",
        ),
    ),
    "failover": (
        Target(
            "every question answered by the second tier's model",
            lambda f: f"{f['by_tier'].get('second', 0)} of {f['questions']}",
            lambda f: f["by_tier"].get("second", 0) == f["questions"],
        ),
        Target(
            "the first tier's breaker is open",
            lambda f: f["breakers"]["first"]["state"],
            lambda f: f["breakers"]["first"]["state"] == "open",
        ),
        Target(
            "no question waits > 10 s",
            lambda f: f"slowest {f['seconds']['max']:.2f} s",
            lambda f: f["seconds"]["max"] <= 10,
        ),
    ),
}


def verdicts(key: str, figures: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for each target of the scenario."""
    return [(t.text, t.measured(figures), t.met(figures)) for t in TARGETS[key]]


def _tiers(sims: Sequence[UpstreamSimulator]) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "providers": [{"name": name, "base_url": sim.base_url, "model": f"{name}-model"}],
        }
        for name, sim in zip(TIER_NAMES, sims, strict=False)
    ]


async def _templates(locale: str) -> list[Template]:
    return [TEMPLATE]


async def _ask(stages: list, index: int) -> tuple[DoneEvent, float]:
    turn = Turn(f"bench-{index % 97}", index, f"Where is my order {index}?")
    started = time.perf_counter()
    done = None
    async for event in run_pipeline(turn, stages, Trace()):
        if isinstance(event, DoneEvent):
            done = event
    assert done is not None
    return done, time.perf_counter() - started


async def replay(
    scenario: Scenario,
    sims: Sequence[UpstreamSimulator],
    *,
    questions: int = QUESTIONS,
    concurrency: int = CONCURRENCY,
    seed: int = 0,
    policy: RouterPolicy | None = None,
) -> dict[str, Any]:
    """Runs the scenario on the first simulators given (one per tier, faults set here) with router
    state wherever settings put it (fresh memory, or REDIS_URL under ROUTER_STATE_PREFIX) and
    the router policy from settings unless one is given."""
    reset_shared_state()
    sims = sims[: len(scenario.error_rates)]
    for index, (sim, rate) in enumerate(zip(sims, scenario.error_rates, strict=True)):
        sim.reset(
            Faults(
                error_rate=rate,
                error_statuses=FAILURE_STATUSES,
                latency_s=LATENCY_S,
                seed=seed + index,
            )
        )
    router = Router(
        parse_tiers(_tiers(sims)),
        policy or router_policy(),
        rng=random.Random(seed),
    )
    stages = [
        LLMStage(router, system_prompt="", history_budget=0, notify=None),
        FallbackStage(_templates, queue_unanswered=False),
    ]
    pending = iter(range(questions))
    results: list[tuple[DoneEvent, float]] = []

    async def worker() -> None:
        for index in pending:
            results.append(await _ask(stages, index))

    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await clients_close()
    elapsed = time.perf_counter() - started
    calls = sum(sim.stats.requests for sim in sims)
    return _figures(scenario, router, results, calls, elapsed, concurrency) | {
        "breakers": {
            name: vars(await router.breakers.snapshot(tier_breaker(name)))
            for name in TIER_NAMES[: len(scenario.error_rates)]
        }
    }


def _figures(
    scenario: Scenario,
    router: Router,
    results: list[tuple[DoneEvent, float]],
    calls: int,
    elapsed: float,
    concurrency: int,
) -> dict[str, Any]:
    seconds = np.array([s for _, s in results])
    sources = Counter(done.source for done, _ in results)
    by_tier: Counter[str] = Counter()
    decisions: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    for done, _ in results:
        for step in done.trace.steps:
            if step.decision in ("answered", "continued"):
                by_tier[step.detail["tier"]] += 1
            elif step.decision == "tier_skipped":
                skipped[step.detail["reason"]] += 1
            if step.stage == "fallback":
                decisions[step.decision] += 1
    p50, p99 = np.percentile(seconds, [50, 99])
    return {
        "scenario": scenario.title,
        "error_rates": list(scenario.error_rates),
        "questions": len(results),
        "concurrency": concurrency,
        "sources": dict(sources),
        "model_share": sources.get("llm", 0) / len(results),
        "by_tier": dict(by_tier),
        "decisions": dict(decisions),
        "tiers_skipped": dict(skipped),
        "upstream_calls": calls,
        "calls_per_question": calls / len(results),
        "seconds": {"p50": float(p50), "p99": float(p99), "max": float(seconds.max())},
        "elapsed_s": elapsed,
    }


def run(*, questions: int = QUESTIONS, concurrency: int = CONCURRENCY) -> dict[str, Any]:
    """Every scenario on simulators of its own, router state in memory."""
    from django.conf import settings

    settings.REDIS_URL = ""
    sims = [UpstreamSimulator(model=f"{name}-model").start() for name in TIER_NAMES]
    try:
        results = {
            s.key: asyncio.run(replay(s, sims, questions=questions, concurrency=concurrency))
            for s in SCENARIOS
        }
        baseline = replay(SCENARIOS[0], sims, questions=questions, policy=PREVIOUS)
        return results | {"previous": asyncio.run(baseline)}
    finally:
        for sim in sims:
            sim.stop()


def _detail_row(title: str, f: dict[str, Any]) -> str:
    t, b, skipped = f["seconds"], f["breakers"]["first"], f["tiers_skipped"]
    tiers = ", ".join(f"{name} {n}" for name, n in f["by_tier"].items()) or "none"
    return (
        f"| {title} | {f['sources'].get('llm', 0)} ({tiers}) "
        f"| {f['decisions'].get('rule_template', 0)} | {f['calls_per_question']:.2f} "
        f"| {t['p50']:.3f} / {t['p99']:.3f} / {t['max']:.3f} "
        f"| {skipped.get('breaker_open', 0)} / {skipped.get('throttled', 0)} "
        f"| {b['state']} (opened {b['opens']}x, throttling {b['throttle']:.0%}) |"
    )


def markdown(results: dict[str, Any]) -> str:
    first = results[SCENARIOS[0].key]
    rows = ["| scenario | target | measured | verdict |", "|---|---|---|---|"]
    for s in SCENARIOS:
        for target, measured, met in verdicts(s.key, results[s.key]):
            rows.append(f"| {s.title} | {target} | {measured} | **{'PASS' if met else 'FAIL'}** |")
    detail = [
        "| scenario | model answers (by tier) | rule templates | upstream calls / question "
        "| time per question p50 / p99 / max (s) | tiers skipped (breaker open / throttled) "
        "| first tier's breaker at the end |",
        "|---|---|---|---|---|---|---|",
    ]
    detail += [_detail_row(s.title, results[s.key]) for s in SCENARIOS]
    if "previous" in results:
        detail.append(
            _detail_row(
                f"baseline: {SCENARIOS[0].title}, settings before issue 13 (breaker opens at "
                "15% failures, one probe; 2 retries, 15% retry budget)",
                results["previous"],
            )
        )
    return "\n".join(
        [
            f"{first['questions']} questions per scenario, {first['concurrency']} at a time, "
            "through `run_pipeline` (LLM stage with the router as configured in settings, then "
            "the fallback stage with one rule template matching every question) against upstream "
            f"simulators on 127.0.0.1 that answer or fail after {LATENCY_S * 1000:.0f} ms; a "
            "failed call is a 500 or a 429 (half each, no Retry-After) before any token. Router "
            "state in memory, fresh per scenario. Time per question: pipeline start to its last "
            "event. `python -m bench.partial_failure`; the same scenarios run in "
            "tests/llm/test_partial_failure.py (slow).",
            "",
            "\n".join(rows),
            "",
            "\n".join(detail),
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=QUESTIONS)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    results = run(questions=args.questions, concurrency=args.concurrency)
    results["verdicts"] = bench_verdicts.dump(
        [
            Verdict(f"{s.title}: {target}", measured, met)
            for s in SCENARIOS
            for target, measured, met in verdicts(s.key, results[s.key])
        ]
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
    print(markdown(results))


if __name__ == "__main__":
    main()
