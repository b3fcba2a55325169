"""Streaming chat completions from any OpenAI-compatible server through the openai SDK.

The SDK's own retries are off: retrying is the router's decision, so retries never multiply."""

import asyncio
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from openai import AsyncOpenAI

from chatbot.llm.tiers import Upstream


@dataclass
class StreamChunk:
    text: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


# One client (and connection pool) per upstream key and event loop: pools belong to their loop,
# and are dropped with it.
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Upstream, AsyncOpenAI]] = (
    weakref.WeakKeyDictionary()
)


def client_for(upstream: Upstream) -> AsyncOpenAI:
    clients = _clients.setdefault(asyncio.get_running_loop(), {})
    client = clients.get(upstream)
    if client is None:
        provider = upstream.provider
        timeout = httpx.Timeout(provider.total_timeout_s, connect=provider.connect_timeout_s)
        client = AsyncOpenAI(
            base_url=provider.base_url, api_key=upstream.api_key, max_retries=0, timeout=timeout
        )
        clients[upstream] = client
    return client


async def stream_chat(
    upstream: Upstream, messages: list[dict[str, str]]
) -> AsyncIterator[StreamChunk]:
    provider = upstream.provider
    stream = await client_for(upstream).chat.completions.create(
        model=provider.model,
        messages=messages,
        max_tokens=provider.max_tokens,
        temperature=provider.temperature,
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
