"""Streaming chat completions from any OpenAI-compatible server through the openai SDK.

The SDK's own retries are off: retrying is the router's decision, so retries never multiply.
The SDK talks HTTP through aiohttp (the SDK's `aiohttp` extra) rather than its default httpx
stack: httpx parses HTTP/1.1 in pure Python (h11, httpcore, anyio), which was a fifth of the event
loop's time under `make loadtest`; aiohttp's parser is C. Timeouts and errors reach the router as
the same SDK exceptions."""

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import httpx
import openai
from openai import AsyncOpenAI, DefaultAioHttpClient

from chatbot.llm.tiers import Upstream


@dataclass
class StreamChunk:
    text: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None  # "stop", "length" (max_tokens reached), "content_filter"


# One client (and connection pool) per upstream key and event loop: pools belong to their loop.
# Nothing drops them when the loop ends (each client refers to its loop): a loop that ends before
# the process (asyncio.run, async_to_sync in a worker) calls clients_close() first.
_clients: dict[asyncio.AbstractEventLoop, dict[Upstream, AsyncOpenAI]] = {}


def client_for(upstream: Upstream) -> AsyncOpenAI:
    clients = _clients.setdefault(asyncio.get_running_loop(), {})
    client = clients.get(upstream)
    if client is None:
        provider = upstream.provider
        timeout = httpx.Timeout(provider.total_timeout_s, connect=provider.connect_timeout_s)
        client = AsyncOpenAI(
            base_url=provider.base_url,
            api_key=upstream.api_key,
            max_retries=0,
            timeout=timeout,
            http_client=DefaultAioHttpClient(timeout=timeout),
        )
        clients[upstream] = client
    return client


async def clients_close() -> None:
    """Closes the clients this event loop opened, with their pooled connections: call it before
    a loop of its own ends (a command's, a task's, a test's); the server's loop keeps its own."""
    for client in _clients.pop(asyncio.get_running_loop(), {}).values():
        await client.close()


async def stream_chat(
    upstream: Upstream, messages: list[dict[str, str]]
) -> AsyncIterator[StreamChunk]:
    """The answer's pieces as the upstream sends them.

    The SDK sends the request, authenticates and turns error statuses into its exceptions;
    the body goes through the client's `post` (the SDK's way to send a body of one's own)
    rather than the typed `create`, whose parameter transform walks every message of the
    history through its TypedDicts: 4.3 ms of event-loop CPU per request with 20 turns, for a
    body that is plain strings anyway. The server-sent events are read here rather than by the
    SDK's stream, which builds a pydantic model per chunk: a third of the SDK's time per
    streamed answer under load (py-spy, `make loadtest`), for fields we never read. Error
    events inside the stream raise `openai.APIError` as the SDK's stream does."""
    provider = upstream.provider
    body = {
        "model": provider.model,
        "messages": messages,
        "max_tokens": provider.max_tokens,
        "temperature": provider.temperature,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    try:
        response = await client_for(upstream).post(
            "/chat/completions", cast_to=httpx.Response, body=body, stream=True
        )
        try:
            async for data in _event_data(response.aiter_lines()):
                if data.startswith("[DONE]"):
                    break
                chunk = json.loads(data)
                if isinstance(chunk, dict) and chunk.get("error"):
                    raise _stream_error(chunk["error"], response.request)
                usage = chunk.get("usage")
                if usage:
                    yield StreamChunk(
                        prompt_tokens=usage.get("prompt_tokens"),
                        completion_tokens=usage.get("completion_tokens"),
                    )
                for choice in chunk.get("choices") or ():
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        yield StreamChunk(text=text)
                    if choice.get("finish_reason"):
                        yield StreamChunk(finish_reason=str(choice["finish_reason"]))
        finally:
            await response.aclose()
    except openai.APITimeoutError as exc:
        if _refused(exc):
            raise openai.APIConnectionError(request=exc.request) from exc
        raise


def _refused(exc: BaseException) -> bool:
    """True when a connection could not be made at all (refused, no route, unknown host).
    httpx-aiohttp 0.2 maps aiohttp's connector errors to httpx's ConnectTimeout, so the SDK
    reports them as APITimeoutError (openai/openai-python#3594); operators should see a
    connection error, as with the SDK's default transport."""
    cause = exc.__cause__
    while cause is not None:
        if isinstance(cause, aiohttp.ClientConnectorError):
            return not isinstance(cause.os_error, TimeoutError)
        cause = cause.__cause__
    return False


async def _event_data(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """The data of each server-sent event (its `data:` lines joined; comments and other
    fields skipped)."""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        yield "\n".join(data)


def _stream_error(error: object, request: httpx.Request) -> openai.APIError:
    message = error.get("message") if isinstance(error, dict) else None
    if not isinstance(message, str) or not message:
        message = "An error occurred during streaming"
    return openai.APIError(message=message, request=request, body=error)
