"""Two real daphne processes sharing Redis (channels-redis, cache, shared state) and one SQLite
file: a visitor on one and agents on both. A claim race between processes has one winner that
both see, and the chat relays both ways across processes."""

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.servers import (
    JsonSocket,
    create_agent,
    daphne,
    login_cookie,
    migrated,
    server_env,
    ws_connect,
)

REDIS_URL = "redis://127.0.0.1:6379/3"

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.timeout(180)]


@pytest.fixture
def two_servers(tmp_path: Path):
    prefix = f"handoff-test-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()
    env = server_env(
        tmp_path / "shared.sqlite3",
        REDIS_URL=REDIS_URL,
        CHANNEL_LAYER_PREFIX=prefix,
        SHARED_STATE_PREFIX=f"{prefix}:state",
        CELERY_TASK_ALWAYS_EAGER="1",
    )
    migrated(env)
    for name in ("ann", "bob"):
        create_agent(env, name, f"pw-{name}-2817")
    try:
        with daphne(env, tmp_path / "a.log") as a, daphne(env, tmp_path / "b.log") as b:
            cookies = {name: login_cookie(a, name, f"pw-{name}-2817") for name in ("ann", "bob")}
            yield a, b, cookies
    finally:
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)


async def _scenario(a: str, b: str, cookies: dict[str, str]) -> dict[str, Any]:
    async with (
        ws_connect(a, "/ws/chat/") as v1_ws,
        ws_connect(b, "/ws/console/", cookies["ann"]) as ann_ws,
        ws_connect(a, "/ws/console/", cookies["bob"]) as bob_ws,
    ):
        visitor1, ann, bob = JsonSocket(v1_ws), JsonSocket(ann_ws), JsonSocket(bob_ws)
        conv1 = (await visitor1.until("hello"))["conversation"]
        await ann.until("hello")
        await bob.until("hello")
        await visitor1.send({"type": "handoff"})
        await visitor1.until("handoff")
        # The queue appears live on both processes.
        for agent in (ann, bob):
            await agent.until(
                lambda f: (
                    f["type"] == "conversations"
                    and any(i["conversation"] == conv1 for i in f["items"])
                )
            )
        await asyncio.gather(
            ann.send({"type": "claim", "conversation": conv1}),
            bob.send({"type": "claim", "conversation": conv1}),
        )
        results = await asyncio.gather(
            ann.until(lambda f: f["type"] in ("claimed", "error")),
            bob.until(lambda f: f["type"] in ("claimed", "error")),
        )
        for agent in (ann, bob):
            seen = await agent.until(
                lambda f: (
                    f["type"] == "conversations"
                    and any(
                        i["conversation"] == conv1 and i["status"] == "agent" for i in f["items"]
                    )
                )
            )
        told = await visitor1.until("conversation")

        # The winner talks with a visitor on the other process.
        winner_name = "ann" if results[0]["type"] == "claimed" else "bob"
        winner = ann if winner_name == "ann" else bob
        visitor_base = a if winner_name == "ann" else b
        async with ws_connect(visitor_base, "/ws/chat/") as v2_ws:
            visitor2 = JsonSocket(v2_ws)
            conv2 = (await visitor2.until("hello"))["conversation"]
            await visitor2.send({"type": "handoff"})
            await visitor2.until("handoff")
            await winner.send({"type": "open", "conversation": conv2})
            await winner.until("transcript")
            await winner.send({"type": "claim", "conversation": conv2})
            await winner.until("claimed")
            await winner.send(
                {"type": "send", "conversation": conv2, "client_id": "x-1", "text": "Hello there"}
            )
            to_visitor = await visitor2.until("message")
            await visitor2.send({"type": "message", "client_id": "v-1", "text": "Hi back"})
            to_agent = await winner.until(
                lambda f: f["type"] == "message" and f["message"]["role"] == "visitor"
            )
    return {
        "results": results,
        "winner": winner_name,
        "owner_seen": next(i for i in seen["items"] if i["conversation"] == conv1)["owner"],
        "told": told,
        "to_visitor": to_visitor,
        "to_agent": to_agent,
        "conv2": conv2,
    }


def test_claim_race_and_chat_across_two_daphne_processes(two_servers):
    a, b, cookies = two_servers
    # A thread of its own: Playwright's sync API may hold a running loop in this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        out = pool.submit(asyncio.run, _scenario(a, b, cookies)).result()
    assert sorted(r["type"] for r in out["results"]) == ["claimed", "error"]
    loser = next(r for r in out["results"] if r["type"] == "error")
    assert loser["code"] == "already_claimed" and loser["owner"] == out["winner"]
    assert out["owner_seen"]["name"] == out["winner"]
    assert out["told"] == {"type": "conversation", "status": "agent", "agent": out["winner"]}
    assert out["to_visitor"]["message"]["role"] == "agent"
    assert out["to_visitor"]["message"]["text"] == "Hello there"
    assert out["to_agent"]["conversation"] == out["conv2"]
    assert out["to_agent"]["message"]["text"] == "Hi back"
