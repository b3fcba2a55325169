"""Model-router benchmarks, each beside its baseline in the same process (for `make bench`):

- `section_ttft`: time to first token through the whole answer pipeline (routing, breakers, rate
  limits, retries, trace) against the same upstream simulator called directly with the openai
  SDK, interleaved; router state in memory and, when reachable, in Redis.
- `section_cost`: model cost of a replayed mix of simple and hard questions as routed, against
  sending everything to the strong tier.

Each returns (markdown, figures). `python -m bench.router` prints both."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")
django.setup()

import redis  # noqa: E402
from django.conf import settings  # noqa: E402
from openai import AsyncOpenAI  # noqa: E402

from chatbot.llm.router import Router, RouterPolicy, router_policy  # noqa: E402
from chatbot.llm.simulator import UpstreamSimulator  # noqa: E402
from chatbot.llm.tiers import parse_tiers  # noqa: E402
from chatbot.pipeline.base import TokenEvent, Turn  # noqa: E402
from chatbot.pipeline.fallback_stage import FallbackStage  # noqa: E402
from chatbot.pipeline.llm_stage import LLMStage  # noqa: E402
from chatbot.pipeline.orchestrator import run_pipeline  # noqa: E402
from chatbot.pipeline.trace import Trace  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/0"
TARGET_ADDED_P50_MS = 5.0

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


async def _direct_ttft(client: AsyncOpenAI, model: str, question: str) -> float:
    started = time.perf_counter()
    stream = await client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": question}],
        stream=True,
        stream_options={"include_usage": True},
    )
    first = None
    async for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = (time.perf_counter() - started) * 1000
    return first or 0.0


async def _pipeline_ttft(stages: list, question: str, index: int) -> float:
    started = time.perf_counter()
    first = None
    async for event in run_pipeline(Turn("bench", index, question), stages, Trace()):
        if first is None and isinstance(event, TokenEvent):
            first = (time.perf_counter() - started) * 1000
    return first or 0.0


async def _ttft(sim: UpstreamSimulator, requests: int) -> dict[str, dict[str, float]]:
    router = Router(parse_tiers([_tier(sim, "local", 0, 0)]), router_policy())
    stages = [LLMStage(router, system_prompt="", history_budget=0, notify=None), FallbackStage()]
    client = AsyncOpenAI(base_url=sim.base_url, api_key="bench", max_retries=0)
    direct: list[float] = []
    routed: list[float] = []
    for index in range(requests + 20):  # 20 warm-up rounds, interleaved
        question = SIMPLE[index % len(SIMPLE)]
        d = await _direct_ttft(client, sim.model, question)
        r = await _pipeline_ttft(stages, question, index)
        if index >= 20:
            direct.append(d)
            routed.append(r)
    await client.close()
    added = [r - d for r, d in zip(routed, direct, strict=True)]
    return {
        "direct": _percentiles(direct),
        "pipeline": _percentiles(routed),
        "added": {"p50": round(statistics.median(added), 2)},
    }


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
    rows = [
        "| router state | direct SDK p50 / p99 (ms) | whole pipeline p50 / p99 (ms) "
        "| added p50 (ms) |",
        "|---|---|---|---|",
    ]
    for name in ("memory", "redis"):
        if name in figures:
            f = figures[name]
            rows.append(
                f"| {name} | {f['direct']['p50']} / {f['direct']['p99']} | "
                f"{f['pipeline']['p50']} / {f['pipeline']['p99']} | {f['added']['p50']} |"
            )
    markdown = (
        "### Model router: time to first token\n\n"
        f"{requests} requests each way, interleaved, against the upstream simulator on "
        "127.0.0.1 (no faults). *Direct*: the openai SDK streaming from it. *Whole pipeline*: "
        "`run_pipeline` with the LLM stage (routing, breaker checks, rate-limit buckets, retry "
        f"bookkeeping, trace) and the fallback stage. Target: at most {TARGET_ADDED_P50_MS} ms "
        "added at p50.\n\n" + "\n".join(rows) + "\n"
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
    for index, question in enumerate(questions):
        trace = Trace()
        answer = await stage.attempt(Turn("bench", index, question), trace)
        assert answer is not None
        async for _ in answer.tokens:
            pass
        total += sum(step.cost or 0.0 for step in trace.steps)
        strong_answers += trace.steps[-1].detail.get("tier") == "strong"
    return {
        "cost_usd": round(total, 6),
        "strong_answers": strong_answers,
        "answers": len(questions),
    }


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
    figures = {"routed": routed, "all_strong": all_strong, "saving": round(saving, 4)}
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
        f"Routing saves {saving:.0%}.\n"
    )
    return markdown, figures


if __name__ == "__main__":
    for section in (section_ttft, section_cost):
        print(section()[0])
