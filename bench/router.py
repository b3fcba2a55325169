"""Model-router benchmarks, each beside its baseline in the same process (for `make bench`):

- `section_ttft`: time to first token through the whole answer pipeline (routing, breakers, rate
  limits, retries, trace) against the openai SDK calling the same upstream simulator directly
  over the app's HTTP stack (aiohttp), interleaved with the app's client alone and the SDK on its
  default httpx stack; router state in memory and, when reachable, in Redis.
- `section_cost`: model cost of a replayed mix of simple and hard questions as routed, against
  sending everything to the strong tier.

Each returns (markdown, figures); the figures carry the section's verdicts (bench/verdicts.py).

    python -m bench.router [--only ttft cost] [--requests 300] [--out router.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import django

# The benchmark measures the model tiers and stages, not the spend brake (docs/security.md).
os.environ.setdefault("LLM_MODEL_CALLS_PER_MINUTE", "0")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")
django.setup()

import redis  # noqa: E402
from django.conf import settings  # noqa: E402
from openai import AsyncOpenAI, DefaultAioHttpClient  # noqa: E402

from bench.verdicts import Verdict, dump  # noqa: E402
from bench.verdicts import markdown as verdict_lines  # noqa: E402
from chatbot.answer_trace import Trace  # noqa: E402
from chatbot.llm.client import clients_close, stream_chat  # noqa: E402
from chatbot.llm.prompt import build_messages  # noqa: E402
from chatbot.llm.router import Router, RouterPolicy, router_policy  # noqa: E402
from chatbot.llm.simulator import UpstreamSimulator  # noqa: E402
from chatbot.llm.tiers import Upstream, parse_tiers  # noqa: E402
from chatbot.pipeline.base import TokenEvent, Turn  # noqa: E402
from chatbot.pipeline.fallback_stage import FallbackStage  # noqa: E402
from chatbot.pipeline.llm_stage import LLMStage  # noqa: E402
from chatbot.pipeline.orchestrator import run_pipeline  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/0"
TARGET_ADDED_P50_MS = 5.0
# Simple questions start on the cheap tier (6% of the strong tier's price by default): with 80%
# of the mix simple, routing saves ~75% at equal token counts; the target leaves room for the
# hard questions' longer prompts.
TARGET_SAVING = 0.5
WARMUP = 20
ROUTER_STATES = ("memory", "redis")
CALLS = {  # first-token paths compared, baseline first
    "sdk_aiohttp": "openai SDK over aiohttp, the app's HTTP stack (baseline)",
    "sdk_httpx": "openai SDK over httpx, its default stack (second baseline)",
    "client": "the app's client alone (`stream_chat`)",
    "pipeline": "whole pipeline",
}

SIMPLE = [
    "Where is my parcel?",
    "Do you ship to Canada?",
    "What are your opening hours?",
    "Can I pay with PayPal?",
    "How long does delivery take?",
    "Do you have gift cards?",
    "Can I change my delivery address?",
    "Is there a student discount?",
    "How do I reset my password?",
    "Do you sell refurbished phones?",
    "What sizes does the jacket come in?",
    "Can I pick up my order in store?",
]
HARD = [
    "What is the difference between the Pro and the Air, and which is better for video?",
    "My order arrived broken and the replacement doesn't work either, this is ridiculous!!",
    "The checkout keeps failing with error 502 when I pay by card, what can I do?",
    "Compare your standard and express shipping for a parcel to Norway.",
]


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": round(statistics.median(ordered), 2),
        "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
    }


def _tier(sim: UpstreamSimulator, name: str, price_in: float, price_out: float) -> dict:
    return {
        "name": name,
        "providers": [
            {
                "name": name,
                "base_url": sim.base_url,
                "model": sim.model,
                "price_in_per_1k": price_in,
                "price_out_per_1k": price_out,
            }
        ],
    }


def _messages(question: str) -> list[dict[str, str]]:
    """What the pipeline's LLM stage sends (no system prompt, no history), for every path."""
    return build_messages(system_prompt="", history=(), question=question, history_budget=0)


async def _sdk_ttft(client: AsyncOpenAI, upstream: Upstream, question: str) -> float:
    provider = upstream.provider
    started = time.perf_counter()
    stream = await client.chat.completions.create(
        model=provider.model,
        messages=_messages(question),
        max_tokens=provider.max_tokens,
        temperature=provider.temperature,
        stream=True,
        stream_options={"include_usage": True},
    )
    first = None
    async for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = (time.perf_counter() - started) * 1000
    return first or 0.0


async def _client_ttft(upstream: Upstream, question: str) -> float:
    started = time.perf_counter()
    first = None
    async for chunk in stream_chat(upstream, _messages(question)):
        if first is None and chunk.text:
            first = (time.perf_counter() - started) * 1000
    return first or 0.0


async def _pipeline_ttft(stages: list, question: str, index: int) -> float:
    started = time.perf_counter()
    first = None
    async for event in run_pipeline(Turn("bench", index, question), stages, Trace()):
        if first is None and isinstance(event, TokenEvent):
            first = (time.perf_counter() - started) * 1000
    return first or 0.0


def _added_p50(pipeline: list[float], other: list[float]) -> float:
    """Median over rounds of the pipeline's first token minus the other path's in that round."""
    return round(statistics.median(p - o for p, o in zip(pipeline, other, strict=True)), 2)


async def _ttft(sim: UpstreamSimulator, requests: int) -> dict[str, Any]:
    tiers = parse_tiers([_tier(sim, "local", 0, 0)])
    [upstream] = tiers[0].upstreams()
    router = Router(tiers, router_policy())
    stages = [LLMStage(router, system_prompt="", history_budget=0, notify=None), FallbackStage()]
    sdk = {
        "sdk_aiohttp": AsyncOpenAI(
            base_url=sim.base_url,
            api_key="bench",
            max_retries=0,
            http_client=DefaultAioHttpClient(),
        ),
        "sdk_httpx": AsyncOpenAI(base_url=sim.base_url, api_key="bench", max_retries=0),
    }
    paths: dict[str, Callable[[str, int], Awaitable[float]]] = {
        "sdk_aiohttp": lambda q, _: _sdk_ttft(sdk["sdk_aiohttp"], upstream, q),
        "sdk_httpx": lambda q, _: _sdk_ttft(sdk["sdk_httpx"], upstream, q),
        "client": lambda q, _: _client_ttft(upstream, q),
        "pipeline": lambda q, i: _pipeline_ttft(stages, q, i),
    }
    samples: dict[str, list[float]] = {name: [] for name in CALLS}
    names = list(CALLS)
    try:
        for index in range(WARMUP + requests):
            question = SIMPLE[index % len(SIMPLE)]
            turn = index % len(names)
            for name in names[turn:] + names[:turn]:  # each path goes first in turn
                took = await paths[name](question, index)
                if index >= WARMUP:
                    samples[name].append(took)
    finally:
        for client in sdk.values():
            await client.close()
        await clients_close()
    pipeline = samples["pipeline"]
    return {
        "calls": {name: _percentiles(samples[name]) for name in CALLS},
        "added_p50_ms": {
            name: _added_p50(pipeline, samples[name]) for name in CALLS if name != "pipeline"
        },
    }


def ttft_verdicts(figures: dict[str, Any]) -> list[Verdict]:
    """Per router state measured, the pipeline's first token against the SDK's on the app's
    HTTP stack (like with like) and on its default one: the SDK over httpx opens a new connection
    per streamed request, so a delay that only reused connections pay still shows against it
    (docs/llm.md, the 40 ms)."""
    verdicts = []
    for state in ROUTER_STATES:
        if state not in figures:
            continue
        for baseline, stack in (
            ("sdk_aiohttp", "aiohttp, the app's stack"),
            ("sdk_httpx", "httpx"),
        ):
            added = figures[state]["added_p50_ms"][baseline]
            verdicts.append(
                Verdict(
                    f"whole pipeline adds at most {TARGET_ADDED_P50_MS:g} ms at p50 to the first "
                    f"token of the SDK over {stack} (router state in {state})",
                    f"{added:.2f} ms",
                    added <= TARGET_ADDED_P50_MS,
                )
            )
    return verdicts


def _redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def section_ttft(requests: int = 300) -> tuple[str, dict[str, Any]]:
    sim = UpstreamSimulator().start()
    figures: dict[str, Any] = {"requests": requests}
    try:
        backends = {"memory": ""} | ({"redis": REDIS_URL} if _redis_up() else {})
        for name, url in backends.items():
            settings.REDIS_URL = url
            settings.ROUTER_STATE_PREFIX = f"bench-router-{os.getpid()}"
            figures[name] = asyncio.run(_ttft(sim, requests))
    finally:
        settings.REDIS_URL = ""
        sim.stop()
    verdicts = ttft_verdicts(figures)
    figures["verdicts"] = dump(verdicts)
    rows = [
        "| router state | call | first token p50 / p99 (ms) | whole pipeline adds, p50 (ms) |",
        "|---|---|---|---|",
    ]
    for state in ROUTER_STATES:
        if state in figures:
            f = figures[state]
            for name, label in CALLS.items():
                calls, added = f["calls"][name], f["added_p50_ms"].get(name)
                rows.append(
                    f"| {state} | {label} | {calls['p50']} / {calls['p99']} | "
                    f"{'' if added is None else added} |"
                )
    markdown = (
        "### Model router: time to first token\n\n"
        f"{requests} rounds (after {WARMUP} warm-up) against the upstream simulator on 127.0.0.1 "
        "(no faults: the first chunk follows the headers at once), each asking one question "
        "four ways in rotating order, with the same messages, max_tokens and temperature: the "
        "*whole pipeline* (`run_pipeline` with the LLM stage: routing, breaker checks, "
        "rate-limit buckets, retry bookkeeping, trace; and the fallback stage); *the app's "
        "client alone* (`chatbot.llm.client.stream_chat`, the same request without the router); "
        "the openai SDK's `chat.completions.create` streaming over aiohttp "
        "(`DefaultAioHttpClient`), the HTTP stack the app's client runs on, which makes it the "
        "baseline (same transport, so the difference is our code); and the SDK over httpx, its "
        "default stack, kept as a second baseline: it opens a new connection per streamed "
        "request, so a delay that only reused connections pay shows against it (docs/llm.md). "
        "*Adds* is the median over rounds of the pipeline's first token minus the other call's "
        f"in the same round. Target: at most {TARGET_ADDED_P50_MS:g} ms added at p50 to either "
        "SDK path.\n\n" + "\n".join(rows) + "\n\n" + verdict_lines(verdicts) + "\n"
    )
    return markdown, figures


async def _replay(sims: dict[str, UpstreamSimulator], simple_from: str) -> dict[str, float]:
    tiers = parse_tiers(
        [
            _tier(
                sims["strong"],
                "strong",
                settings.OPENAI_STRONG_PRICE_IN_PER_1K,
                settings.OPENAI_STRONG_PRICE_OUT_PER_1K,
            ),
            _tier(
                sims["cheap"],
                "cheap",
                settings.OPENAI_PRICE_IN_PER_1K,
                settings.OPENAI_PRICE_OUT_PER_1K,
            ),
        ]
    )
    router = Router(tiers, RouterPolicy(simple_from=simple_from))
    stage = LLMStage(
        router, system_prompt=settings.LLM_SYSTEM_PROMPT, history_budget=0, notify=None
    )
    total, strong_answers = 0.0, 0
    questions = SIMPLE * 4 + HARD * 3  # 48 simple, 12 hard: 80/20
    try:
        for index, question in enumerate(questions):
            trace = Trace()
            answer = await stage.attempt(Turn("bench", index, question), trace)
            assert answer is not None
            async for _ in answer.tokens:
                pass
            total += sum(step.cost or 0.0 for step in trace.steps)
            strong_answers += trace.steps[-1].detail.get("tier") == "strong"
    finally:
        await clients_close()
    return {
        "cost_usd": round(total, 6),
        "strong_answers": strong_answers,
        "answers": len(questions),
        "hard": len(HARD) * 3,
    }


def cost_verdicts(figures: dict[str, Any]) -> list[Verdict]:
    """Hard questions, and only they, go to the strong tier, which saves most of the cost."""
    routed = figures["routed"]
    return [
        Verdict(
            "the strong tier answers exactly the hard questions",
            f"{routed['strong_answers']} strong-tier answers for {routed['hard']} hard "
            f"questions of {routed['answers']}",
            routed["strong_answers"] == routed["hard"],
        ),
        Verdict(
            f"routing by complexity saves at least {TARGET_SAVING:.0%} of the cost of sending "
            "everything to the strong tier",
            f"{figures['saving']:.0%}",
            figures["saving"] >= TARGET_SAVING,
        ),
    ]


def section_cost() -> tuple[str, dict[str, Any]]:
    sims = {name: UpstreamSimulator(model=f"{name}-model").start() for name in ("strong", "cheap")}
    try:
        settings.REDIS_URL = ""
        routed = asyncio.run(_replay(sims, simple_from="cheap"))
        all_strong = asyncio.run(_replay(sims, simple_from="strong"))
    finally:
        for sim in sims.values():
            sim.stop()
    saving = 1 - routed["cost_usd"] / all_strong["cost_usd"]
    figures: dict[str, Any] = {
        "routed": routed,
        "all_strong": all_strong,
        "saving": round(saving, 4),
    }
    verdicts = cost_verdicts(figures)
    figures["verdicts"] = dump(verdicts)
    markdown = (
        "### Model router: cost of a question mix\n\n"
        f"{routed['answers']} questions (80% simple, 20% hard: long, multi-part, comparative, "
        "troubleshooting, angry) replayed through the router against two simulators priced as "
        f"the default strong ({settings.OPENAI_STRONG_MODEL}) and cheap ({settings.OPENAI_MODEL}) "
        "tiers; token counts are the simulator's usage (same answer length on both tiers).\n\n"
        "| routing | strong-tier answers | cost (USD) |\n|---|---|---|\n"
        f"| by complexity | {routed['strong_answers']} | {routed['cost_usd']:.6f} |\n"
        f"| everything to strong | {all_strong['strong_answers']} | "
        f"{all_strong['cost_usd']:.6f} |\n\n"
        f"Routing saves {saving:.0%}.\n\n" + verdict_lines(verdicts) + "\n"
    )
    return markdown, figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=("ttft", "cost"), default=["ttft", "cost"])
    parser.add_argument("--requests", type=int, default=300, help="first-token rounds")
    parser.add_argument("--out", type=Path, help="write the figures and verdicts as JSON here")
    args = parser.parse_args(argv)
    sections = {"ttft": lambda: section_ttft(args.requests), "cost": section_cost}
    figures = {}
    for name in args.only:
        markdown, figures[name] = sections[name]()
        print(markdown, flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
