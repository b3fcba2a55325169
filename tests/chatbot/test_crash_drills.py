"""Drills with real daphne processes killed with SIGKILL while answers stream from a slow
upstream (the LLM simulator): every question is answered exactly once afterwards, nothing
stored is lost, and no dead process's text is replayed once its claim has lapsed
(docs/operations.md, "Crashes and restarts")."""

import asyncio
import itertools
import json
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest
import redis
import websockets

from chatbot.llm.simulator import UpstreamSimulator, default_answer
from tests.servers import DaphneProcess, PostgresServer, RedisServer, manage, migrated, server_env

REDIS_URL = "redis://127.0.0.1:6379/6"
CLAIM_TTL_S = 2.0
VISITORS = 10

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300), pytest.mark.own_stack]


@pytest.fixture
def slow_upstream() -> Iterator[UpstreamSimulator]:
    """A model that takes seconds per answer, and numbers its answers: a dead answer's text
    and its replacement differ."""
    numbers = itertools.count(1)
    sim = UpstreamSimulator(
        answer=lambda q: f"Answer {next(numbers)}. {default_answer(q)} That is all for now."
    ).start()
    sim.faults.token_delay_s = 0.4
    yield sim
    sim.stop()


def drill_env(db_path: Path, upstream: UpstreamSimulator, **overrides: str) -> dict[str, str]:
    return server_env(
        db_path,
        LOCAL_LLM_BASE_URL=upstream.base_url,
        LOCAL_LLM_MODEL="sim-model",
        CHAT_PIPELINE_STAGES="llm,fallback",
        ANSWER_CLAIM_TTL_S=str(CLAIM_TTL_S),
        CHAT_ORPHAN_SWEEP_INTERVAL_S="2",
        CELERY_TASK_ALWAYS_EAGER="1",
        **overrides,
    )


@dataclass
class Visitor:
    conversation: str
    token: str
    message_id: int = 0
    dead: str = ""  # the start of the answer that died ("Answer 3.")
    frames: list[dict[str, Any]] = field(default_factory=list)  # after the resume

    def shown(self) -> str:
        """The answer as the widget shows it: text by offset, dropped on `restarted`."""
        chars: list[str] = []
        for frame in self.frames:
            if frame.get("reply_to") != self.message_id:
                continue
            if frame["type"] == "restarted":
                chars = []
            elif frame["type"] == "token" and frame["offset"] <= len(chars):
                piece = list(frame["text"])
                chars.extend(piece[len(chars) - frame["offset"] :])
        return "".join(chars)

    def stale(self) -> list[int]:
        """Where the resumed socket got the dead answer's text (by frame index)."""
        return [
            i
            for i, f in enumerate(self.frames)
            if f["type"] == "token" and f["offset"] == 0 and f["text"].startswith(self.dead)
        ]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [
            f for f in self.frames if f["type"] == kind and f.get("reply_to") == self.message_id
        ]


def _ws(base: str, query: str = ""):
    return websockets.connect(base.replace("http://", "ws://") + "/ws/chat/" + query, origin=base)


async def _recv(ws, timeout: float = 30) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def ask_and_see_it_stream(base: str, index: int) -> tuple[Visitor, Any]:
    """A visitor asks on `base` and waits until the answer's number has streamed; the socket
    is left open (it dies with its process)."""
    ws = await _ws(base)
    hello = await _recv(ws)
    visitor = Visitor(hello["conversation"], hello["token"])
    question = {"type": "message", "client_id": f"q{index}", "text": f"Where is parcel {index}?"}
    await ws.send(json.dumps(question))
    while True:
        frame = await _recv(ws)
        if frame["type"] == "ack":
            visitor.message_id = frame["message_id"]
        if frame["type"] == "token":
            visitor.dead += frame["text"]
            if re.match(r"Answer \d+\.", visitor.dead):
                visitor.dead = re.match(r"Answer \d+\.", visitor.dead).group(0)
                return visitor, ws


async def resume_until_answered(base: str, visitor: Visitor) -> None:
    """Reconnects to `base` as the widget does and resumes after the question; every frame
    until its `done` (and a moment after, for a second one) goes to `visitor.frames`."""
    query = f"?conversation={visitor.conversation}&token={visitor.token}"
    async with _ws(base, query) as ws:
        assert (await _recv(ws))["type"] == "hello"
        await ws.send(json.dumps({"type": "resume", "after": visitor.message_id}))
        while not visitor.of_type("done"):
            visitor.frames.append(await _recv(ws, timeout=60))
        try:
            while True:
                visitor.frames.append(await _recv(ws, timeout=1.5))
        except TimeoutError:
            pass


def stored_conversations(env: dict[str, str]) -> dict[str, list[tuple[str, int | None]]]:
    """Every stored message (role, reply_to), by conversation, read by a process of its own."""
    out = manage(
        env,
        "shell",
        "-c",
        "import json; from chatbot.models import Message; "
        "rows = {}\n"
        "for m in Message.objects.order_by('id').select_related('conversation'):\n"
        "    rows.setdefault(m.conversation.public_id, []).append((m.role, m.reply_to_id))\n"
        "print(json.dumps(rows))",
    )
    rows = json.loads(out.strip().splitlines()[-1])  # after the shell's own banner
    return {k: [tuple(r) for r in v] for k, v in rows.items()}


def run(coro) -> Any:
    """`asyncio.run` in a thread of its own (Playwright's sync API may hold a running loop in
    this one), a daemon one: a drill that never ends then fails at the test's timeout, where a
    pool's thread kept the test worker from exiting (asyncio.run waits for every task it
    cancels, and Python 3.11's `wait_for` can lose a cancel)."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(coro)
        except BaseException as error:  # handed to the test's thread below
            outcome["error"] = error

    thread = threading.Thread(target=target, name="drill", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def assert_answered_once(visitor: Visitor, stored: list[tuple[str, int | None]]) -> None:
    done = visitor.of_type("done")
    assert len(done) == 1, visitor.frames
    assert not done[0]["message"]["text"].startswith(visitor.dead), "answered again"
    assert visitor.shown() == done[0]["message"]["text"], "the bubble completes"
    restarts = [i for i, f in enumerate(visitor.frames) if f["type"] == "restarted"]
    for index in visitor.stale():
        assert any(r > index for r in restarts), "dead text is only ever shown until replaced"
    assert stored == [("visitor", None), ("bot", visitor.message_id)], "nothing lost or doubled"


@pytest.mark.redis
def test_kill_9_with_10_answers_streaming_they_are_finished_on_the_other_process(
    tmp_path, slow_upstream
):
    prefix = f"drill-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()
    env = drill_env(
        tmp_path / "shared.sqlite3",
        slow_upstream,
        REDIS_URL=REDIS_URL,
        CHANNEL_LAYER_PREFIX=prefix,
        SHARED_STATE_PREFIX=f"{prefix}:state",
        ROUTER_STATE_PREFIX=f"{prefix}:router",
    )
    migrated(env)
    a = DaphneProcess(env, tmp_path / "a.log")
    b = DaphneProcess(env, tmp_path / "b.log")

    async def drill() -> tuple[list[Visitor], float]:
        started = await asyncio.gather(*(ask_and_see_it_stream(a.base, i) for i in range(VISITORS)))
        a.kill()
        killed_at = time.monotonic()
        for _, ws in started:
            await ws.close()
        visitors = [visitor for visitor, _ in started]
        # Half come back at once (their answers' claims still look alive), half once the
        # claims have lapsed.
        early, late = visitors[: VISITORS // 2], visitors[VISITORS // 2 :]

        async def late_resume(visitor: Visitor) -> None:
            await asyncio.sleep(max(0.0, killed_at + CLAIM_TTL_S * 1.5 - time.monotonic()))
            await resume_until_answered(b.base, visitor)

        await asyncio.gather(
            *(resume_until_answered(b.base, v) for v in early), *(late_resume(v) for v in late)
        )
        return visitors, time.monotonic() - killed_at

    try:
        a.start()
        b.start()
        visitors, recovered_in = run(drill())
    finally:
        a.stop()
        b.stop()
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
    stored = stored_conversations(env)
    for visitor in visitors:
        assert_answered_once(visitor, stored[visitor.conversation])
    for visitor in visitors[VISITORS // 2 :]:
        assert visitor.stale() == [], "no dead writer's text once its claim lapsed"
    replayed = sum(bool(v.stale()) for v in visitors[: VISITORS // 2])
    assert slow_upstream.stats.requests == 2 * VISITORS, "one model call per question per life"
    print(
        f"\n{VISITORS} answers recovered {recovered_in:.1f} s after the kill; dead text shown "
        f"(then replaced) to {replayed} of {VISITORS // 2} visitors back within the claim TTL"
    )


def test_kill_9_of_the_embedded_default_and_a_restart_answer_the_question_once(
    tmp_path, slow_upstream
):
    """One process, SQLite, no Redis: the claims die with the process; the restarted one
    answers the question when its visitor resumes."""
    env = drill_env(tmp_path / "embedded.sqlite3", slow_upstream)
    migrated(env)
    server = DaphneProcess(env, tmp_path / "embedded.log")

    async def drill() -> Visitor:
        visitor, ws = await ask_and_see_it_stream(server.base, 0)
        server.kill()
        await ws.close()
        server.start()  # same port, as after a restart by systemd or Docker
        await resume_until_answered(server.base, visitor)
        return visitor

    try:
        server.start()
        visitor = run(drill())
    finally:
        server.stop()
    assert_answered_once(visitor, stored_conversations(env)[visitor.conversation])
    assert slow_upstream.stats.requests == 2


def readyz(base: str) -> int:
    try:
        with urllib.request.urlopen(base + "/readyz", timeout=3) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def wait_until(predicate, timeout: float, what: str) -> float:
    """Seconds until `predicate()` held."""
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout, what
        time.sleep(0.1)
    return time.monotonic() - start


class Store(Protocol):
    process: subprocess.Popen | None

    def start(self) -> object: ...

    def stop(self) -> None: ...


def restart_drill(store: Store, env: dict[str, str], log: Path) -> tuple[Visitor, dict[str, Any]]:
    """A visitor chats, `store` is stopped and started again: /readyz says not ready meanwhile,
    the process reconnects by itself, a question acked during the outage is answered once the
    store is back, and one that was not acked is resent by the visitor (as the widget does) and
    answered once. Returns the visitor and what happened during the outage."""
    server = DaphneProcess(env, log)
    question = {"type": "message", "client_id": "q2", "text": "Where is parcel 2?"}
    seen: dict[str, Any] = {}

    async def first_answer() -> Visitor:
        async with _ws(server.base) as ws:
            hello = await _recv(ws)
            visitor = Visitor(hello["conversation"], hello["token"])
            await ws.send(json.dumps({**question, "client_id": "q1", "text": "Parcel 1?"}))
            while (frame := await _recv(ws))["type"] != "done":
                pass
            seen["first_answer"] = frame["message"]["id"]
            return visitor

    async def ask_during_outage(visitor: Visitor) -> None:
        query = f"?conversation={visitor.conversation}&token={visitor.token}"
        try:
            async with _ws(server.base, query) as ws:
                await _recv(ws)
                await ws.send(json.dumps(question))
                while True:
                    frame = await _recv(ws, timeout=5)
                    seen.setdefault("frames_during_outage", []).append(frame["type"])
                    if frame["type"] == "ack":
                        seen["acked_during_outage"] = frame["message_id"]
        # Refused at the handshake (HTTP 500) is an outcome too: with Redis down the channel
        # layer's receive may fail before the consumer accepts (seen once in CI under load);
        # nothing is accepted then, and the widget reconnects and resends as `come_back` does.
        except (
            TimeoutError,
            websockets.ConnectionClosed,
            websockets.InvalidStatus,
            OSError,
        ) as exc:
            seen["socket_during_outage"] = type(exc).__name__

    async def come_back(visitor: Visitor) -> None:
        """As the widget after a reconnect: resume, then resend what was never acked."""
        query = f"?conversation={visitor.conversation}&token={visitor.token}"
        async with _ws(server.base, query) as ws:
            await _recv(ws)
            await ws.send(json.dumps({"type": "resume", "after": seen["first_answer"]}))
            while (frame := await _recv(ws))["type"] != "resumed":
                visitor.frames.append(frame)
            if "acked_during_outage" in seen:
                visitor.message_id = seen["acked_during_outage"]
            else:
                await ws.send(json.dumps(question))
            while not visitor.of_type("done"):
                frame = await _recv(ws, timeout=30)
                visitor.frames.append(frame)
                if frame["type"] == "ack":
                    visitor.message_id = frame["message_id"]

    try:
        store.start()
        migrated(env)
        server.start()
        visitor = run(first_answer())
        store.stop()
        seen["not_ready_s"] = wait_until(lambda: readyz(server.base) == 503, 15, "not ready")
        run(ask_during_outage(visitor))
        store.start()
        seen["ready_s"] = wait_until(lambda: readyz(server.base) == 200, 30, "ready again")
        run(come_back(visitor))
        stored = stored_conversations(env)[visitor.conversation]
    finally:
        server.stop()
        if store.process is not None and store.process.poll() is None:
            store.stop()
    assert stored == [
        stored[0],
        ("bot", 1),
        ("visitor", None),
        ("bot", visitor.message_id),
    ], "each question stored once and answered once"
    assert len(visitor.of_type("done")) == 1
    return visitor, seen


@pytest.mark.redis
def test_a_redis_restart_mid_chat_loses_nothing_accepted(tmp_path, slow_upstream):
    """The app's own redis-server (channel layer, cache, shared state) restarts mid-chat."""
    slow_upstream.faults.token_delay_s = 0.0
    own = RedisServer()
    env = drill_env(tmp_path / "redis-restart.sqlite3", slow_upstream, REDIS_URL=own.url)
    _, seen = restart_drill(own, env, tmp_path / "daphne.log")
    print(f"\nRedis restart: {seen}")


@pytest.mark.postgres
def test_a_postgresql_restart_mid_chat_loses_nothing_accepted(tmp_path, slow_upstream):
    """The app's own PostgreSQL (fast shutdown: every connection cut, as in a restart or a
    failover) restarts mid-chat; the process's kept connections (CONN_MAX_AGE) are found broken
    and replaced without a restart of daphne."""
    slow_upstream.faults.token_delay_s = 0.0
    own = PostgresServer()
    env = drill_env(tmp_path / "unused.sqlite3", slow_upstream, DATABASE_URL=own.url)
    try:
        _, seen = restart_drill(own, env, tmp_path / "daphne.log")
    finally:
        own.remove()
    print(f"\nPostgreSQL restart: {seen}")
