"""Single flight: many visitors asking the same new question at once cause one model call, in
one process (memory or Redis claims) and across two processes sharing Redis and a database."""

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from channels.db import database_sync_to_async
from django.conf import settings as django_settings

from chatbot import answering, services
from chatbot.cache.models import CachedAnswer
from chatbot.llm.simulator import Faults
from chatbot.models import Message
from chatbot.shared_state import reset_shared_state
from tests.servers import migrated

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("settle")]

REDIS_URL = "redis://127.0.0.1:6379/0"
QUESTION = "Can I change the delivery address after ordering?"


@pytest.fixture
def on_redis(settings):
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()
    settings.REDIS_URL = REDIS_URL
    settings.SHARED_STATE_PREFIX = f"{prefix}:state"
    reset_shared_state()
    yield prefix
    reset_shared_state()
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


@database_sync_to_async
def new_questions(n: int, text: str) -> list[tuple[int, str]]:
    asked = []
    for i in range(n):
        conversation = services.conversation_start(locale="en")
        message, _ = services.visitor_message_store(
            conversation=conversation, client_id=f"s{i}", text=text
        )
        asked.append((message.pk, conversation.public_id))
    return asked


@database_sync_to_async
def answers() -> list[tuple[str, str]]:
    return list(
        Message.objects.filter(role=Message.Role.BOT).values_list("source", "text").order_by("id")
    )


async def answer_all(asked: list[tuple[int, str]]) -> None:
    await asyncio.gather(*(answering.answer_message(m, p) for m, p in asked))


@pytest.mark.parametrize("backend", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def test_fifty_identical_questions_make_one_model_call(upstream, request, backend):
    if backend == "redis":
        request.getfixturevalue("on_redis")
    upstream.faults = Faults(first_token_delay_s=0.5, token_delay_s=0.01)
    await answer_all(await new_questions(50, QUESTION))
    assert upstream.stats.requests == 1
    done = await answers()
    assert len(done) == 50
    assert sorted(source for source, _ in done) == ["cache"] * 49 + ["llm"]
    assert len({text for _, text in done}) == 1, "everyone gets the same answer"


async def test_waiters_ask_the_model_themselves_when_the_leader_fails(upstream, settings):
    # Every request fails: the leader ends with the fallback; the waiters must not sit out the
    # whole wait, and must try the model themselves.
    settings.ANSWER_CACHE_WAIT_S = 15.0
    upstream.faults = Faults(latency_s=0.3, error_rate=1.0, error_status=500)
    started = time.monotonic()
    await answer_all(await new_questions(5, QUESTION))
    assert time.monotonic() - started < 10
    assert [source for source, _ in await answers()] == ["fallback"] * 5
    assert upstream.stats.requests >= 5, "each waiter asked the model after the leader failed"
    assert await database_sync_to_async(CachedAnswer.objects.count)() == 0


async def test_a_waiter_stops_waiting_after_the_bound(upstream, settings):
    settings.ANSWER_CACHE_WAIT_S = 0.5
    upstream.faults = Faults(first_token_delay_s=2.0)
    started = time.monotonic()
    await answer_all(await new_questions(2, QUESTION))
    assert time.monotonic() - started < 6
    assert [source for source, _ in await answers()] == ["llm", "llm"]
    assert upstream.stats.requests == 2


def _replay_process(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "manage.py", "replay"],
        cwd=django_settings.BASE_DIR,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
@pytest.mark.redis
def test_two_processes_asking_at_once_make_one_model_call(upstream, on_redis, tmp_path: Path):
    """Two `manage.py replay` processes share Redis (claims, counters) and one SQLite file."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'shared.sqlite3'}",
        "REDIS_URL": REDIS_URL,
        "SHARED_STATE_PREFIX": f"{on_redis}:state",
        "ROUTER_STATE_PREFIX": f"{on_redis}:router",
        "LOCAL_LLM_BASE_URL": upstream.base_url,
        "LOCAL_LLM_MODEL": "sim-model",
        "OPENAI_API_KEY": "",
        "CHAT_STORED_ANSWER_TOKEN_DELAY_S": "0",
    }
    migrated(env)
    workers = [_replay_process(env) for _ in range(2)]
    try:
        for n, worker in enumerate(workers):  # warm up: load Django and the embedder
            assert worker.stdin and worker.stdout
            worker.stdin.write(json.dumps({"conversation": "w", "text": f"warm up {n}"}) + "\n")
            worker.stdin.flush()
        for worker in workers:
            assert json.loads(worker.stdout.readline())["source"] == "llm"
        upstream.faults = Faults(first_token_delay_s=1.5)
        for worker in workers:
            worker.stdin.write(json.dumps({"conversation": "q", "text": QUESTION}) + "\n")
            worker.stdin.flush()
        results = [json.loads(worker.stdout.readline()) for worker in workers]
    finally:
        for worker in workers:
            worker.stdin.close()
            worker.wait(timeout=30)
    assert upstream.stats.questions.count(QUESTION) == 1
    assert sorted(r["source"] for r in results) == ["cache", "llm"]
    assert results[0]["answer"] == results[1]["answer"]
