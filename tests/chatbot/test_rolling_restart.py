"""Rolling restart drill (docs/operations.md, "Rolling restarts"): two real daphne processes on
one Redis of the test's own and a shared database, visitors chatting with a slow upstream; each
process is stopped with SIGTERM in turn and started again. Every question is stored once and
answered once, and every visitor, moved to the other process, ends up with every stored message
of their conversation (nothing lost, nothing doubled, no gap)."""

import asyncio
import itertools
import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
import websockets

from chatbot.llm.simulator import UpstreamSimulator
from tests.chatbot.test_crash_drills import drill_env, run
from tests.servers import DaphneProcess, RedisServer, manage, migrated

VISITORS = 100
CLAIM_TTL_S = 10.0
TOKEN_DELAY_S = 0.1  # ~3 s per answer: several are mid-stream at each SIGTERM
THINK_S = (2.0, 6.0)  # a visitor reads the answer before asking again

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300), pytest.mark.own_stack]

STORED = """
import json
from chatbot.models import Message
rows = {}
for m in Message.objects.order_by("id").select_related("conversation"):
    rows.setdefault(m.conversation.public_id, []).append([m.id, m.role, m.reply_to_id])
print(json.dumps(rows))
"""


class Stalled(Exception):
    """30 s on an open socket without a frame while a question waits for its answer."""


@dataclass
class Chatter:
    """A visitor as the widget behaves: asks, waits for the answer, reads it, asks again; when
    the socket closes, reconnects to another process, resumes after the newest message shown
    and resends what was never acked."""

    index: int
    bases: list[str]
    conversation: str = ""
    token: str = ""
    shown: set[int] = field(default_factory=set)  # message ids on screen
    questions: dict[str, int | None] = field(default_factory=dict)  # client_id -> message id
    answers: dict[int, set[int]] = field(default_factory=dict)  # question id -> bot ids
    reconnects: int = 0
    stalls: int = 0
    restarted: int = 0
    moved_at: float = 0.0  # when the socket last closed under it
    restarted_after: list[float] = field(default_factory=list)  # s from moved_at
    frames: list[dict[str, Any]] = field(default_factory=list)

    @property
    def last_id(self) -> int:
        return max(self.shown, default=0)

    def see(self, frame: dict[str, Any]) -> None:
        self.frames.append(frame)
        kind = frame["type"]
        if kind == "ack":
            self.questions[frame["client_id"]] = frame["message_id"]
            self.shown.add(frame["message_id"])
        elif kind in ("done", "message"):
            message = frame["message"]
            self.shown.add(message["id"])
            if message["role"] == "bot" and message["reply_to"]:
                self.answers.setdefault(message["reply_to"], set()).add(message["id"])
            if message["role"] == "visitor" and message["client_id"] in self.questions:
                self.questions[message["client_id"]] = message["id"]
        elif kind == "restarted":
            self.restarted += 1
            self.restarted_after.append(time.monotonic() - self.moved_at)

    def waiting(self) -> list[str]:
        """Questions without an answer on screen (unacked ones included)."""
        return [
            client_id
            for client_id, message_id in self.questions.items()
            if message_id is None or message_id not in self.answers
        ]

    async def chat(self, stop: asyncio.Event) -> None:
        counter = itertools.count()
        base_index = self.index % len(self.bases)
        while True:
            try:
                await self._session(self.bases[base_index], stop, counter)
                return
            except Stalled:  # the widget would reconnect too
                self.stalls += 1
                self.reconnects += 1
            except (websockets.ConnectionClosed, OSError, TimeoutError):
                self.reconnects += 1
                self.moved_at = time.monotonic()
                base_index = (base_index + 1) % len(self.bases)
                await asyncio.sleep(0.1 + random.random() * 0.2)

    async def _session(self, base: str, stop: asyncio.Event, counter) -> None:
        query = f"?conversation={self.conversation}&token={self.token}" if self.token else ""
        url = base.replace("http://", "ws://") + "/ws/chat/" + query
        async with websockets.connect(url, origin=base, open_timeout=5) as ws:
            hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert hello["type"] == "hello", hello
            self.conversation, self.token = hello["conversation"], hello["token"]
            if self.shown:
                await ws.send(json.dumps({"type": "resume", "after": self.last_id}))
            for client_id, message_id in self.questions.items():
                if message_id is None:  # never acked: the widget sends it again
                    await self._ask(ws, client_id)
            while True:
                if not self.waiting():
                    if stop.is_set():
                        return
                    if self.answers:
                        await asyncio.sleep(random.uniform(*THINK_S))
                    client_id = f"v{self.index}-q{next(counter)}"
                    self.questions[client_id] = None
                    await self._ask(ws, client_id)
                try:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
                except TimeoutError as waited:
                    raise Stalled from waited
                self.see(frame)
                if frame["type"] == "error" and frame.get("code") == "rate_limited":
                    # Quick answers make quick askers: the widget resends once the wait is over.
                    await asyncio.sleep(frame["retry_after"])
                    await self._ask(ws, frame["client_id"])

    async def _ask(self, ws, client_id: str) -> None:
        text = f"Visitor {self.index} asks {client_id}: where is my parcel?"
        await ws.send(json.dumps({"type": "message", "client_id": client_id, "text": text}))


def restart(server: DaphneProcess) -> float:
    """SIGTERM, wait for the exit, start again on the same port; seconds the stop took."""
    assert server.process is not None
    began = time.monotonic()
    server.process.terminate()
    server.process.wait(timeout=30)
    stopped_in = time.monotonic() - began
    server.start()
    return stopped_in


@pytest.mark.redis
def test_rolling_restart_of_two_processes_loses_and_doubles_nothing(tmp_path):
    sim = UpstreamSimulator().start()
    sim.faults.token_delay_s = TOKEN_DELAY_S
    own = RedisServer().start()
    # Every visitor asks again as soon as answered: far past the default model brake
    # (120 calls a minute across visitors), whose rule answers would hand them to a person.
    env = drill_env(
        tmp_path / "shared.sqlite3", sim, REDIS_URL=own.url, LLM_MODEL_CALLS_PER_MINUTE="0"
    )
    # The default claim TTL: an answer restarted sooner than it was handed over at the
    # SIGTERM, not found after its claim lapsed.
    env["ANSWER_CLAIM_TTL_S"] = str(CLAIM_TTL_S)
    migrated(env)
    a = DaphneProcess(env, tmp_path / "a.log")
    b = DaphneProcess(env, tmp_path / "b.log")
    stops: list[float] = []

    async def drill() -> list[Chatter]:
        stop = asyncio.Event()
        chatters = [Chatter(i, [a.base, b.base]) for i in range(VISITORS)]
        tasks = [asyncio.create_task(c.chat(stop)) for c in chatters]
        try:
            for server in (a, b):
                await asyncio.sleep(4)  # answers mid-stream on both processes
                stops.append(await asyncio.to_thread(restart, server))
            await asyncio.sleep(2)
        finally:
            # Also when a restart fails: visitors left chatting would keep the loop (and the
            # test) from ending, since a cancel can be lost in Python 3.11's `wait_for`.
            stop.set()
            _, pending = await asyncio.wait(tasks, timeout=40)
            for task in pending:
                task.cancel()
        return chatters

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:  # both load their model at once
            list(pool.map(DaphneProcess.start, (a, b)))
        chatters = run(drill())
    finally:
        a.stop()
        b.stop()
        sim.stop()
        own.stop()
    out = manage(env, "shell", "-c", STORED)
    stored: dict[str, list[list[Any]]] = json.loads(out.strip().splitlines()[-1])
    questions = sum(len(c.questions) for c in chatters)
    stalled = [(c.index, c.waiting(), c.frames[-6:]) for c in chatters if c.waiting()]
    assert not stalled, stalled
    for chatter in chatters:
        rows = stored[chatter.conversation]
        visitor_ids = [row[0] for row in rows if row[1] == "visitor"]
        replies = [row[2] for row in rows if row[1] == "bot"]
        assert sorted(visitor_ids) == sorted(chatter.questions.values()), "each stored once"
        assert sorted(replies) == sorted(visitor_ids), "each answered exactly once"
        assert chatter.shown == {row[0] for row in rows}, "the visitor saw every message"
        assert all(len(ids) == 1 for ids in chatter.answers.values()), "no doubled answer"
    waits = [wait for c in chatters for wait in c.restarted_after]
    assert waits, "answers were being written at each SIGTERM"
    assert max(waits) < CLAIM_TTL_S, "handed over at the SIGTERM, not left to lapse"
    assert sum(c.stalls for c in chatters) == 0, "no visitor waited 30 s for a frame"
    moved = sum(c.reconnects for c in chatters)
    assert moved >= VISITORS, "every visitor was moved at least once"
    for log in (tmp_path / "a.log", tmp_path / "b.log"):
        assert "Unclosed client session" not in log.read_text(), "model clients closed at exit"
    print(
        f"\n{VISITORS} visitors, {questions} questions, {moved} reconnects, "
        f"{len(waits)} answers restarted (at most {max(waits):.1f} s after the visitor "
        f"moved), {sim.stats.requests} model calls; SIGTERM to exit: "
        + ", ".join(f"{s:.1f} s" for s in stops)
    )
