"""An OpenAI-compatible chat-completions server for tests and benchmarks that injects faults on
demand: latency, a slow first token, 429 with Retry-After, 5xx, hangs, streams cut mid-way,
malformed chunks, error events inside a stream; deterministic (`cut_after_tokens`) or as a share
of requests (`error_rate`, `cut_rate`, `stream_error_rate`, `slow_rate`: one roll per request, so
the shares add up). It understands the router's continuation request (chatbot.llm.prompt) and
streams the rest of the answer it would have given.

Run it in-process (`UpstreamSimulator().start()`) or as `python -m chatbot.llm.simulator`.
Faults are set on `simulator.faults` or, across processes, with POST /_faults (JSON)."""

import asyncio
import hashlib
import json
import random
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from chatbot.llm.prompt import CONTINUE_INSTRUCTION


@dataclass
class Faults:
    latency_s: float = 0.0  # before the response starts
    first_token_delay_s: float = 0.0  # after headers, before the first token
    token_delay_s: float = 0.0  # between tokens
    error_rate: float = 0.0  # share of requests failed with `error_status`
    error_status: int = 500
    retry_after_s: float | None = None  # sent with 429s
    hang: bool = False  # accept the request, never answer
    cut_after_tokens: int | None = None  # drop the connection after this many tokens
    malformed_after_tokens: int | None = None  # send a broken chunk after this many tokens
    error_statuses: list[int] = field(default_factory=list)  # failed requests pick one of these
    cut_rate: float = 0.0  # share of streams dropped after a random number of tokens
    stream_error_rate: float = 0.0  # share of streams that send an error event mid-way
    stream_error_status: int = 503
    slow_rate: float = 0.0  # share of requests whose first token waits `slow_first_token_s`
    slow_first_token_s: float = 0.0
    continue_restarts: bool = False  # a continuation starts the answer over
    fail_first: int = 0  # the first N requests fail with `error_status`
    bad_keys: list[str] = field(default_factory=list)  # API keys answered with 401
    # With help-centre sources in the prompt: "cite" (quote source 1 and cite it), "ignore"
    # (answer as without sources, no citation), "misquote" (cite [1] for text not in it),
    # "invalid" (cite a source number the prompt does not have).
    sources: str = "cite"
    # A model that obeys any instruction reaching it: when a message of the request (system,
    # sources, history or question) contains a key, the answer is its value, with "{system}"
    # replaced by the system prompt (the prompt-injection suite measures what gets through).
    obey: dict[str, str] = field(default_factory=dict)
    # False: answers without sources are written in words of their own instead of restating the
    # question, as a real model's mostly are; the answer cache declines to store answers that
    # echo a question's words (chatbot.cache.echo), so a load meant to reach the cache needs it.
    restate_question: bool = True
    report_usage: bool = True  # False: no usage chunk, as some OpenAI-compatible servers
    seed: int | None = None


@dataclass
class Stats:
    requests: int = 0
    failed: int = 0
    completed: int = 0
    cut: int = 0
    slow: int = 0
    continuations: int = 0
    questions: list[str] = field(default_factory=list)
    slowed: list[str] = field(default_factory=list)  # the questions of the `slow` streams
    keys: list[str] = field(default_factory=list)
    obeyed: int = 0  # requests answered with a `Faults.obey` output


_SOURCE_TEXT = re.compile(r"<source id=\"\d+\"[^\n]*\n(.*?)\n</source>", re.S)


def _first_sentence(text: str) -> str:
    match = re.match(r"(.+?[.!?。！？])(\s|$)", text.strip(), re.S)
    return (match.group(1) if match else text.strip()[:200]).strip()


def default_answer(question: str) -> str:
    return f"Thanks for asking. Here is what I know about: {question.strip()}"


_OWN_OPENINGS = (
    "Good news: our team checked the range this week and it is in stock.",
    "Sorry, that one is sold out until the spring delivery arrives.",
    "Yes, the current model has that, and it is covered by our standard warranty.",
    "No, only the older edition offered that option, and we no longer carry it.",
    "It depends on the size you pick, so please check the chart on its page.",
    "Our buyers recommend the lighter version, which most customers prefer.",
)
_OWN_CLOSINGS = (
    "Orders placed before noon leave our warehouse the same day.",
    "Members get free delivery on it within two to four working days.",
    "You can return it within thirty days if it does not suit you.",
    "Our shop staff can show you one in person at any branch.",
    "A restock alert on its page tells you the moment it is back.",
    "Price matching applies if you find it cheaper at a national retailer.",
)


def own_words_answer(question: str) -> str:
    """An answer of about the default's length that repeats none of the question's words; the
    same question always gets the same answer, two questions rarely the same one."""
    digest = hashlib.blake2b(question.strip().encode(), digest_size=4).digest()
    opening = _OWN_OPENINGS[digest[0] % len(_OWN_OPENINGS)]
    closing = _OWN_CLOSINGS[digest[1] % len(_OWN_CLOSINGS)]
    return f"{opening} {closing}"


class UpstreamSimulator:
    def __init__(
        self,
        *,
        answer: Callable[[str], str] = default_answer,
        faults: Faults | None = None,
        model: str = "sim-model",
    ) -> None:
        self.answer = answer
        self._initial_answer = answer
        self.faults = faults or Faults()
        self.model = model
        self.stats = Stats()
        self._random = random.Random(self.faults.seed)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/_faults", self._set_faults, methods=["POST"]),
                Route("/_stats", self._get_stats, methods=["GET"]),
            ]
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, port: int = 0) -> "UpstreamSimulator":
        """Serves on 127.0.0.1 in a background thread until `stop()`."""
        # IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY only on connections accepted
        # from a socket whose protocol says TCP. Without it, Nagle held each response's first
        # chunk until the client's delayed ACK of the headers (40 ms on a reused connection;
        # docs/llm.md, "Measured").
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)

    def reset(self, faults: Faults | None = None) -> None:
        """Faults, statistics and the answer function back to how the simulator started."""
        self.answer = self._initial_answer
        self.faults = faults or Faults()
        self._random = random.Random(self.faults.seed)
        self.stats = Stats()

    async def _models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": self.model, "object": "model"}]})

    async def _set_faults(self, request: Request) -> Response:
        self.reset(Faults(**await request.json()))
        return JSONResponse(asdict(self.faults))

    async def _get_stats(self, request: Request) -> Response:
        return JSONResponse(asdict(self.stats))

    async def _chat(self, request: Request) -> Response:
        faults = self.faults
        body = await request.json()
        self.stats.requests += 1
        question, text = self._reply(body.get("messages", []))
        self.stats.questions.append(question)
        key = request.headers.get("authorization", "").removeprefix("Bearer ")
        self.stats.keys.append(key)
        if key in faults.bad_keys:
            self.stats.failed += 1
            return JSONResponse(
                {"error": {"message": "invalid api key", "type": "invalid_request_error"}},
                status_code=401,
            )
        if faults.latency_s:
            await asyncio.sleep(faults.latency_s)
        if faults.hang:
            await asyncio.sleep(3600)
        roll = self._random.random()
        if roll < faults.error_rate or self.stats.requests <= faults.fail_first:
            self.stats.failed += 1
            status = self._random.choice(faults.error_statuses or [faults.error_status])
            headers = {}
            if status == 429 and faults.retry_after_s is not None:
                headers["Retry-After"] = str(faults.retry_after_s)
            return JSONResponse(
                {"error": {"message": "simulated failure", "type": "server_error"}},
                status_code=status,
                headers=headers,
            )
        tokens = [piece + " " for piece in text.split(" ")]
        tokens[-1] = tokens[-1].rstrip()
        if not body.get("stream"):
            self.stats.completed += 1
            return JSONResponse(self._completion(text, body, len(tokens)))
        roll -= faults.error_rate
        mode = "ok"
        for name, rate in (
            ("cut", faults.cut_rate),
            ("stream_error", faults.stream_error_rate),
            ("slow", faults.slow_rate),
        ):
            if 0 <= roll < rate:
                mode = name
                break
            roll -= rate
        if mode == "slow":
            self.stats.slowed.append(question)
        return StreamingResponse(self._stream(tokens, body, mode), media_type="text/event-stream")

    def _reply(self, messages: list[dict[str, Any]]) -> tuple[str, str]:
        """The question and the answer text to stream; for a continuation request, the rest of
        the answer after the part already given (or all of it with `continue_restarts`)."""
        users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
        if not users:
            return "", self.answer("")
        last = users[-1]
        if (
            messages[last].get("content") == CONTINUE_INSTRUCTION
            and last >= 1
            and messages[last - 1].get("role") == "assistant"
            and len(users) > 1
        ):
            self.stats.continuations += 1
            partial = messages[last - 1]["content"]
            question = messages[users[-2]]["content"]
            full = self.answer(question)
            if full.startswith(partial) and not self.faults.continue_restarts:
                return question, full[len(partial) :]
            return question, full
        question = messages[last].get("content", "")
        system = next((m.get("content", "") for m in messages if m.get("role") == "system"), "")
        for instruction, output in self.faults.obey.items():
            if any(instruction in str(m.get("content", "")) for m in messages):
                self.stats.obeyed += 1
                return question, output.replace("{system}", system)
        sources = _SOURCE_TEXT.findall(system or "")
        if sources and self.faults.sources != "ignore":
            return question, self._grounded_answer(sources)
        if not self.faults.restate_question:
            return question, own_words_answer(question)
        return question, self.answer(question)

    def _grounded_answer(self, sources: list[str]) -> str:
        if self.faults.sources == "misquote":
            return "Our team can refund any order within 365 days, no questions asked [1]."
        if self.faults.sources == "invalid":
            return f"{_first_sentence(sources[0])} [{len(sources) + 3}]"
        return f"{_first_sentence(sources[0])} [1]"

    async def _stream(
        self, tokens: list[str], body: dict[str, Any], mode: str = "ok"
    ) -> AsyncIterator[bytes]:
        faults = self.faults
        created = int(time.time())
        if faults.first_token_delay_s:
            await asyncio.sleep(faults.first_token_delay_s)
        if mode == "slow":
            self.stats.slow += 1
            await asyncio.sleep(faults.slow_first_token_s)
        limit = body.get("max_tokens")
        finish_reason = "stop"
        if isinstance(limit, int) and 0 < limit < len(tokens):
            tokens, finish_reason = tokens[:limit], "length"  # as a real server stops
        break_at = self._random.randint(1, max(1, len(tokens) - 1)) if mode != "ok" else None
        for index, token in enumerate(tokens):
            if index == break_at and mode == "cut":
                self.stats.cut += 1
                raise ConnectionResetError("simulated cut")
            if index == break_at and mode == "stream_error":
                self.stats.failed += 1
                error = {"message": "simulated", "code": faults.stream_error_status}
                yield f"data: {json.dumps({'error': error})}\n\n".encode()
                return
            if faults.cut_after_tokens is not None and index >= faults.cut_after_tokens:
                self.stats.cut += 1
                raise ConnectionResetError("simulated cut")
            if faults.malformed_after_tokens is not None and index >= faults.malformed_after_tokens:
                yield b"data: {not json\n\n"
                return
            chunk = {
                "id": "chatcmpl-sim",
                "object": "chat.completion.chunk",
                "created": created,
                "model": self.model,
                "choices": [{"index": 0, "delta": {"content": token}, "finish_reason": None}],
            }
            yield f"data: {json.dumps(chunk)}\n\n".encode()
            if faults.token_delay_s:
                await asyncio.sleep(faults.token_delay_s)
        final = {
            "id": "chatcmpl-sim",
            "object": "chat.completion.chunk",
            "created": created,
            "model": self.model,
            "choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason}],
        }
        yield f"data: {json.dumps(final)}\n\n".encode()
        if faults.report_usage and (body.get("stream_options") or {}).get("include_usage"):
            usage = {
                "id": "chatcmpl-sim",
                "object": "chat.completion.chunk",
                "created": created,
                "model": self.model,
                "choices": [],
                "usage": self._usage(body, len(tokens)),
            }
            yield f"data: {json.dumps(usage)}\n\n".encode()
        yield b"data: [DONE]\n\n"
        self.stats.completed += 1

    def _usage(self, body: dict[str, Any], completion_tokens: int) -> dict[str, int]:
        prompt_chars = sum(len(m.get("content", "")) for m in body.get("messages", []))
        prompt_tokens = prompt_chars // 4 + 1
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }

    def _completion(
        self, text: str, body: dict[str, Any], completion_tokens: int
    ) -> dict[str, Any]:
        return {
            "id": "chatcmpl-sim",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": self._usage(body, completion_tokens),
        }


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8799)
    args = parser.parse_args()
    sim = UpstreamSimulator().start(args.port)
    print(f"upstream simulator on {sim.base_url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sim.stop()
