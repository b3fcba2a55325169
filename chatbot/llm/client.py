"""Streaming chat completions from any OpenAI-compatible server through the openai SDK.

The SDK's own retries are off: retrying is the router's decision, so retries never multiply."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from openai import AsyncOpenAI

from chatbot.llm.tiers import Tier


@dataclass
class StreamChunk:
    text: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


_clients: dict[tuple[Tier, int], AsyncOpenAI] = {}


def client_for(tier: Tier) -> AsyncOpenAI:
    """One client (and connection pool) per tier and event loop: pools belong to their loop."""
    key = (tier, id(asyncio.get_running_loop()))
    client = _clients.get(key)
    if client is None:
        timeout = httpx.Timeout(tier.total_timeout_s, connect=tier.connect_timeout_s)
        client = AsyncOpenAI(
            base_url=tier.base_url, api_key=tier.api_key, max_retries=0, timeout=timeout
        )
        _clients[key] = client
    return client


async def stream_chat(tier: Tier, messages: list[dict[str, str]]) -> AsyncIterator[StreamChunk]:
    stream = await client_for(tier).chat.completions.create(
        model=tier.model,
        messages=messages,
        max_tokens=tier.max_tokens,
        temperature=tier.temperature,
        stream=True,
        stream_options={"include_usage": True},
    )
    try:
        async for chunk in stream:
            usage = getattr(chunk, "usage", None)
            if usage is not None:
                yield StreamChunk(
                    prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens
                )
            for choice in chunk.choices:
                if choice.delta and choice.delta.content:
                    yield StreamChunk(text=choice.delta.content)
    finally:
        await stream.close()
