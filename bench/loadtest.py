"""`make loadtest`: many concurrent visitor websockets against one server, measured end to end.

Each session connects, reads `hello`, then sends messages one at a time with think time in
between, waiting for each answer's `done`: the first is a new question (the model answers and
the cache stores it), later ones a mix of demo FAQ questions/paraphrases (faq stage), repeats of
other sessions' answered first questions (cache) and new questions (model). It checks every
message got one `ack` and exactly one `done` whose token frames are contiguous and add up to the
stored text, and exits non-zero when a message was lost, answered twice or garbled.

    python -m bench.loadtest [--url ws://127.0.0.1:8000/ws/chat/ | --start-server | --start-prod N]
        [--sessions 200] [--duration 60] [--messages-per-session N] [--out loadtest.json]

`--start-prod N` runs the production shape (`manage.py serve --prod`, docs/deploy.md) with N
daphne processes behind nginx instead, with the same model and limits.

`--start-server` runs its own daphne (one process) on a temporary SQLite database with the demo
FAQs, the model pointed at an in-process upstream simulator (or the real local model with
`--local-model`) and the per-visitor rate limits raised (RAISED_RATE_LIMITS). See
docs/loadtest.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from chatbot.ops.production import free_port

ROOT = Path(__file__).resolve().parent.parent
DEMO_FAQS = ROOT / "knowledge" / "fixtures" / "demo_faqs.json"
# One visitor here sends far more than a person would; the default 10/min would reject most.
RAISED_RATE_LIMITS = {
    "CHAT_VISITOR_MESSAGES_PER_MINUTE": "6000",
    "CHAT_VISITOR_MESSAGE_BURST": "1000",
    # Every simulated visitor comes from 127.0.0.1: no per-client limits, no model-call brake.
    "CHAT_CLIENT_LIMITS": "connect=0/0,conversation=0/0,message=0/0,handoff=0/0,model=0/0",
    "LLM_MODEL_CALLS_PER_MINUTE": "0",
}
SIM_FIRST_TOKEN_S = 0.020
SIM_TOKEN_S = 0.005
ANSWER_TIMEOUT_S = 60.0  # one message's ack-to-done limit
DRAIN_TIMEOUT_S = 30.0  # after --duration, how long answers still in flight may take
SERVER_START_TIMEOUT_S = 180.0
DAPHNE = (sys.executable, "-m", "chatbot.ops.daphne_server", "-v", "0", "-b", "127.0.0.1")
LINGER_S = 0.5  # read on after the last answer, to catch a duplicated `done`
# After the first message (always new). FAQ questions come word for word (as a suggested
# question is sent) and reworded (as a visitor types one): a word-for-word FAQ phrasing skips
# the embedding model (its stored vector is known), a reworded one needs a forward pass.
KIND_WEIGHTS = {"faq": 0.3, "faq_reworded": 0.2, "repeat": 0.3, "new": 0.2}
ASKS_FOR_PERSON = re.compile(r"\b(person|someone|human|agent)\b", re.IGNORECASE)
STORED_SOURCES = ("faq", "cache")  # answers found, not written: the target's subject
# Messages sent this long after the ramp ended are summarised again on their own: during the
# ramp every session's first question is a new one (a model answer) and the sockets are opening,
# and the backlog that leaves can outlast it (docs/deploy.md, "Load against the production shape").
SETTLED_AFTER_RAMP_S = 5.0
TARGET_SESSIONS = 200
TARGET_STORED_TTFT_P99_MS = 50.0
# Issue 18: the production shape, 500 sessions, 2 daphne processes (bench/run.py, prod_loadtest).
PROD_STORED_TTFT_P99_MS = 100.0
JSON_KEYS = (
    "config",
    "sessions",
    "messages",
    "errors",
    "answers_per_s",
    "elapsed_s",
    "ack_ms",
    "by_source",
    "stored_by_kind",
    "mix",
    "load_average",
    "ok",
    "cpu",
    "host_cpu_percent",
)

# New questions: product questions outside the FAQs' topics, standalone (no pronoun, no
# follow-up opening, no digits) so the cache stores and serves them in the shared scope.
TEMPLATES = (
    "Does the {p} come with {a}?",
    "Is the {p} available with {a}?",
    "Could you tell me whether your {p} has {a}?",
    "I am looking for a {p} with {a}, do you stock any?",
    "Which {p} would you recommend for {u}?",
    "Is the {p} suitable for {u}?",
    "How heavy is the {p} you sell for {u}?",
    "What material is the {p} with {a} made of?",
)
PRODUCTS = (
    "hiking boot", "trail runner", "rain jacket", "down parka", "fleece hoodie", "camping stove",
    "sleeping bag", "trekking pole", "climbing harness", "bike helmet", "headlamp", "daypack",
    "dry bag", "camp chair", "water filter", "insulated bottle", "ski goggle", "snowshoe",
    "kayak paddle", "hammock", "merino base layer", "softshell glove", "gaiter", "bivy sack",
    "cooking pot set", "compass", "rope bag", "chalk bag", "sun hat", "wool sock",
)  # fmt: skip
FEATURES = (
    "a lifetime guarantee", "a detachable hood", "reflective trim", "a carbon frame",
    "a spare battery", "a storage pouch", "vegan materials", "a recycled shell", "a chest strap",
    "a magnetic buckle", "adjustable straps", "a hydration sleeve", "a windproof membrane",
    "a left handed fit", "wide sizing", "a quick release clip", "a repair kit", "glow trim",
)  # fmt: skip
USES = (
    "winter alpine climbing", "desert trekking", "a rainy music festival", "bikepacking",
    "coastal sea kayaking", "toddlers on day walks", "ultralight thru hiking", "ice fishing",
    "beginner bouldering", "tropical jungle travel", "night trail running", "dog walking",
)  # fmt: skip


# --- questions --------------------------------------------------------------------------------


def faq_questions(path: Path = DEMO_FAQS, locale: str = "en") -> list[str]:
    """The demo FAQs' questions and paraphrases: what the faq stage should answer. Phrasings
    that ask for a person are left out: by design they queue the conversation unanswered."""
    faqs = json.loads(path.read_text(encoding="utf-8"))["faqs"]
    texts = [q for f in faqs if f["locale"] == locale for q in [f["question"], *f["paraphrases"]]]
    return [q for q in texts if not ASKS_FOR_PERSON.search(q)]


class Questions:
    """Picks what a session asks next; remembers answered first questions for cache repeats."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.faq = faq_questions()
        self.answered: list[str] = []  # first questions answered by the model (now cached)
        self.used: set[str] = set()

    def new(self) -> str:
        """A product question not asked before in this run."""
        for _ in range(1000):
            template = self.rng.choice(TEMPLATES)
            text = template.format(
                p=self.rng.choice(PRODUCTS), a=self.rng.choice(FEATURES), u=self.rng.choice(USES)
            )
            if text not in self.used:
                self.used.add(text)
                return text
        return f"Do you sell gear from the {uuid.uuid4().hex[:8]} brand?"

    def reworded(self, question: str) -> str:
        """An FAQ phrasing as typed: in lower case and/or with another ending (none, "?",
        " ?", "??"), never the stored wording. (An opening greeting, "hi, …", leaves half of
        them below the FAQ stage's confidence bar: they would measure the model, not the FAQ
        path.)"""
        text = question.rstrip("?").rstrip()
        endings = ("", "?", " ?", "??")
        options = {start + end for start in (text, text.lower()) for end in endings} - {question}
        return self.rng.choice(sorted(options))

    def pick(self, first: bool) -> tuple[str, str]:
        """(kind, text): a new question first, then the weighted mix."""
        kind = "new" if first else self.rng.choices(*zip(*KIND_WEIGHTS.items(), strict=True))[0]
        if kind == "repeat" and not self.answered:
            kind = "new"
        if kind == "faq":
            return kind, self.rng.choice(self.faq)
        if kind == "faq_reworded":
            return kind, self.reworded(self.rng.choice(self.faq))
        if kind == "repeat":
            return kind, self.rng.choice(self.answered)
        return kind, self.new()


# --- one session ------------------------------------------------------------------------------


@dataclass
class Sent:
    """One visitor message and everything the server sent about it."""

    kind: str
    text: str
    client_id: str
    sent_at: float
    acked_at: float | None = None
    acks: int = 0
    message_id: int | None = None
    first_token_at: float | None = None
    done_at: float | None = None
    dones: int = 0
    source: str | None = None
    stored_text: str | None = None
    tokens: list[tuple[int, str]] = field(default_factory=list)
    error: str | None = None
    pipeline_ttft_s: float | None = None  # the server's own figure: pipeline start → first token

    @property
    def finished(self) -> bool:
        return self.dones > 0 or self.error is not None

    def stream_ok(self) -> bool:
        """Offsets contiguous from 0 and the pieces add up to the stored answer."""
        expected = 0
        for offset, text in self.tokens:
            if offset != expected:
                return False
            expected += len(text)
        return "".join(t for _, t in self.tokens) == self.stored_text


@dataclass
class SessionLog:
    sent: list[Sent] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    connected: bool = False
    dropped: bool = False
    handoff: bool = False
    stray_frames: int = 0  # frames about messages this session never sent


class Session:
    """One visitor: a websocket, the messages it sent, and the frames it got back."""

    def __init__(self, ws: ClientConnection, log: SessionLog) -> None:
        self.ws = ws
        self.log = log
        self.by_client: dict[str, Sent] = {}
        self.by_id: dict[int, Sent] = {}

    async def send(self, kind: str, text: str) -> Sent:
        record = Sent(kind, text, uuid.uuid4().hex, time.perf_counter())
        self.log.sent.append(record)
        self.by_client[record.client_id] = record
        await self.ws.send(
            json.dumps({"type": "message", "client_id": record.client_id, "text": text})
        )
        return record

    async def read_until(self, record: Sent | None, deadline: float) -> None:
        """Handles frames until `record` is finished (None: until the deadline)."""
        while record is None or not record.finished:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                async with asyncio.timeout(left):
                    raw = await self.ws.recv()
            except TimeoutError:
                return
            self.handle(json.loads(raw), time.perf_counter())

    def handle(self, frame: dict[str, Any], now: float) -> None:
        kind = frame.get("type")
        if kind == "ack":
            record = self.by_client.get(frame.get("client_id", ""))
            if record is None:
                self.log.stray_frames += 1
                return
            record.acks += 1
            if record.acked_at is None:
                record.acked_at, record.message_id = now, frame["message_id"]
                self.by_id[record.message_id] = record
        elif kind in ("token", "done", "cancelled"):
            record = self.by_id.get(frame.get("reply_to", -1))
            if record is None:
                self.log.stray_frames += 1
            elif kind == "token":
                record.first_token_at = record.first_token_at or now
                record.tokens.append((frame["offset"], frame["text"]))
            elif kind == "done":
                record.dones += 1
                if record.dones == 1:
                    record.done_at, record.source = now, frame["source"]
                    record.stored_text = frame["message"]["text"]
                    ttft_ms = (frame.get("trace") or {}).get("ttft_ms")
                    record.pipeline_ttft_s = None if ttft_ms is None else ttft_ms / 1000
            else:
                record.error = "cancelled"
        elif kind == "error":
            self.log.errors[frame.get("code", "?")] += 1
            record = self.by_client.get(frame.get("client_id") or "") or self.by_id.get(
                frame.get("reply_to", -1)
            )
            if record is not None:
                record.error = frame.get("code", "?")
        elif kind in ("handoff", "conversation"):
            self.log.handoff = True
            for record in self.by_client.values():
                if not record.finished:
                    record.error = "handoff"


@dataclass
class Plan:
    url: str
    origin: str
    sessions: int
    duration_s: float
    messages_per_session: int | None
    think_s: tuple[float, float]
    ramp_s: float
    seed: int


async def run_session(plan: Plan, index: int, questions: Questions, log: SessionLog) -> None:
    """Connect, hello, then ask until the duration is over; never outlives duration + drain."""
    start = time.monotonic()
    stop_sending = start + plan.duration_s
    hard_stop = stop_sending + DRAIN_TIMEOUT_S
    await asyncio.sleep(plan.ramp_s * index / max(1, plan.sessions))
    try:
        async with connect(
            plan.url, origin=plan.origin, open_timeout=30, ping_interval=None, max_size=2**20
        ) as ws:
            hello = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if hello.get("type") != "hello":
                raise ConnectionError(f"expected hello, got {hello.get('type')}")
            log.connected = True
            session = Session(ws, log)
            await session.read_until(None, time.monotonic() + questions.rng.uniform(*plan.think_s))
            while time.monotonic() < stop_sending and not log.handoff:
                if (
                    plan.messages_per_session is not None
                    and len(log.sent) >= plan.messages_per_session
                ):
                    break
                kind, text = questions.pick(first=not log.sent)
                record = await session.send(kind, text)
                deadline = min(time.monotonic() + ANSWER_TIMEOUT_S, hard_stop)
                await session.read_until(record, deadline)
                if kind == "new" and len(log.sent) == 1 and record.source == "llm":
                    questions.answered.append(text)
                think = questions.rng.uniform(*plan.think_s)
                await session.read_until(None, min(time.monotonic() + think, stop_sending))
            await session.read_until(None, time.monotonic() + LINGER_S)
    except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError, ConnectionError):
        log.dropped = log.connected
    except json.JSONDecodeError:
        log.errors["client_bad_json"] += 1


async def run_load(plan: Plan) -> list[SessionLog]:
    questions = Questions(random.Random(plan.seed))
    logs = [SessionLog() for _ in range(plan.sessions)]
    tasks = [run_session(plan, i, questions, log) for i, log in enumerate(logs)]
    limit = plan.ramp_s + plan.duration_s + DRAIN_TIMEOUT_S + 60
    await asyncio.wait_for(asyncio.gather(*tasks), limit)
    return logs


# --- figures ----------------------------------------------------------------------------------


def percentiles(samples: Sequence[float]) -> dict[str, float | None]:
    """p50/p99 in ms of samples in seconds (None when there are none)."""
    if not samples:
        return {"p50": None, "p99": None, "n": 0}
    p50, p99 = np.percentile(np.asarray(samples) * 1000, [50, 99])
    return {"p50": round(float(p50), 2), "p99": round(float(p99), 2), "n": len(samples)}


def outcome(record: Sent) -> str:
    """answered, failed (an error frame about it, or a handoff), duplicated, corrupt, or lost."""
    if record.dones > 1 or record.acks > 1:
        return "duplicated"
    if record.dones == 1:
        return "answered" if record.acks == 1 and record.stream_ok() else "corrupt"
    return "failed" if record.error is not None else "lost"


def first_token_figures(records: list[Sent]) -> dict[str, Any]:
    """How many answers, and their first token end to end and inside the pipeline."""
    return {
        "answers": len(records),
        "ttft_ms": percentiles([r.first_token_at - r.sent_at for r in records if r.first_token_at]),
        "pipeline_ttft_ms": percentiles(
            [r.pipeline_ttft_s for r in records if r.pipeline_ttft_s is not None]
        ),
    }


def summarise(logs: list[SessionLog], config: dict[str, Any], load: tuple[float, float]) -> dict:
    records = [r for log in logs for r in log.sent]
    outcomes = Counter(outcome(r) for r in records)
    answered = [r for r in records if outcome(r) == "answered"]
    by_source: dict[str, dict] = {}
    for source in sorted({r.source for r in answered}):
        mine = [r for r in answered if r.source == source]
        by_source[source] = {
            **first_token_figures(mine),
            "done_ms": percentiles([r.done_at - r.sent_at for r in mine]),
            "after_ack_ms": percentiles(
                [r.first_token_at - r.acked_at for r in mine if r.first_token_at and r.acked_at]
            ),
        }
    stored_answers = [r for r in answered if r.source in STORED_SOURCES and r.first_token_at]
    stored_by_kind = {
        kind: first_token_figures([r for r in stored_answers if r.kind == kind])
        for kind in sorted({r.kind for r in stored_answers})
    }
    mix: dict[str, Counter] = {}
    for r in records:
        mix.setdefault(r.kind, Counter())[r.source or outcome(r)] += 1
    window = max(r.done_at for r in answered) - min(r.sent_at for r in records) if answered else 0.0
    errors = Counter()
    for log in logs:
        errors.update(log.errors)
    settled = _settled(records, config.get("ramp_s", 0.0) + SETTLED_AFTER_RAMP_S)
    messages = {
        "sent": len(records),
        "acked": sum(r.acked_at is not None for r in records),
        **{k: outcomes.get(k, 0) for k in ("answered", "failed", "lost", "duplicated", "corrupt")},
        "stray_frames": sum(log.stray_frames for log in logs),
    }
    return {
        "config": config,
        "sessions": {
            "planned": len(logs),
            "connected": sum(log.connected for log in logs),
            "connect_failed": sum(not log.connected for log in logs),
            "dropped": sum(log.dropped for log in logs),
            "handoffs": sum(log.handoff for log in logs),
        },
        "messages": messages,
        "errors": dict(errors),
        "answers_per_s": round(len(answered) / window, 2) if window else 0.0,
        "elapsed_s": round(window, 2),
        "ack_ms": percentiles([r.acked_at - r.sent_at for r in records if r.acked_at]),
        "by_source": by_source,
        "stored_by_kind": stored_by_kind,
        "after_ramp": settled,
        "mix": {kind: dict(counts) for kind, counts in mix.items()},
        "load_average": [round(x, 2) for x in load],
        "ok": not (messages["lost"] or messages["duplicated"] or messages["corrupt"]),
    }


def _settled(records: list[Sent], from_s: float) -> dict[str, Any]:
    """Ack and first-token figures of the messages sent `from_s` after the first one."""
    if not records:
        return {"from_s": from_s}
    start = min(r.sent_at for r in records)
    late = [r for r in records if r.sent_at - start >= from_s]
    answered = [r for r in late if outcome(r) == "answered" and r.first_token_at]
    return {
        "from_s": from_s,
        "ack_ms": percentiles([r.acked_at - r.sent_at for r in late if r.acked_at]),
        "stored_ttft_ms": percentiles(
            [r.first_token_at - r.sent_at for r in answered if r.source in STORED_SOURCES]
        ),
        "llm_ttft_ms": percentiles(
            [r.first_token_at - r.sent_at for r in answered if r.source == "llm"]
        ),
    }


def sample_lines(logs: list[SessionLog]) -> Iterator[str]:
    """One JSON line per message, in send order: when the slow ones were sent tells a stall
    of the whole server (slow answers bunched together) from slow answers of one kind."""
    records = sorted((r for log in logs for r in log.sent), key=lambda r: r.sent_at)
    if not records:
        return
    start = records[0].sent_at

    def after_send(at: float | None, r: Sent) -> float | None:
        return None if at is None else round((at - r.sent_at) * 1000, 2)

    for r in records:
        yield json.dumps(
            {
                "sent_s": round(r.sent_at - start, 3),
                "kind": r.kind,
                "source": r.source,
                "outcome": outcome(r),
                "ack_ms": after_send(r.acked_at, r),
                "ttft_ms": after_send(r.first_token_at, r),
                "done_ms": after_send(r.done_at, r),
                "pipeline_ttft_ms": None
                if r.pipeline_ttft_s is None
                else round(r.pipeline_ttft_s * 1000, 2),
            }
        )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def report_text(figures: dict) -> str:
    s, m = figures["sessions"], figures["messages"]
    lines = [
        f"sessions: {s['connected']}/{s['planned']} connected, {s['connect_failed']} failed to "
        f"connect, {s['dropped']} dropped, {s['handoffs']} handed off",
        f"messages: {m['sent']} sent, {m['acked']} acked, {m['answered']} answered, "
        f"{m['failed']} failed, {m['lost']} lost, {m['duplicated']} duplicated, "
        f"{m['corrupt']} garbled",
        f"answers/s: {figures['answers_per_s']} over {figures['elapsed_s']} s; ack p50 "
        f"{_ms(figures['ack_ms']['p50'])} ms p99 {_ms(figures['ack_ms']['p99'])} ms",
        f"errors: {figures['errors'] or 'none'}",
    ]
    for source, f in figures["by_source"].items():
        t, d, p, a = f["ttft_ms"], f["done_ms"], f["pipeline_ttft_ms"], f["after_ack_ms"]
        lines.append(
            f"  {source:<8} {f['answers']:>6} answers  first token p50 {_ms(t['p50'])} ms "
            f"p99 {_ms(t['p99'])} ms (after the ack p50 {_ms(a['p50'])} p99 {_ms(a['p99'])}; "
            f"in the pipeline p50 {_ms(p['p50'])} p99 {_ms(p['p99'])})"
            f"  done p50 {_ms(d['p50'])} ms p99 {_ms(d['p99'])} ms"
        )
    for kind, f in figures["stored_by_kind"].items():
        t, p = f["ttft_ms"], f["pipeline_ttft_ms"]
        lines.append(
            f"  FAQ/cache answers to {kind:<12} {f['answers']:>5}: first token p50 "
            f"{_ms(t['p50'])} ms p99 {_ms(t['p99'])} ms (in the pipeline p50 {_ms(p['p50'])} "
            f"p99 {_ms(p['p99'])})"
        )
    settled = figures["after_ramp"]
    if "ack_ms" in settled:
        a, t, m = settled["ack_ms"], settled["stored_ttft_ms"], settled["llm_ttft_ms"]
        lines.append(
            f"sent from {settled['from_s']:.0f} s on (after the ramp): ack p50 {_ms(a['p50'])} "
            f"p99 {_ms(a['p99'])} ms; first token FAQ/cache p50 {_ms(t['p50'])} p99 "
            f"{_ms(t['p99'])} ms ({t['n']}), model p50 {_ms(m['p50'])} p99 {_ms(m['p99'])} ms"
        )
    lines.append(f"asked -> answered by: {figures['mix']}")
    for role, use in figures.get("cpu", {}).items():
        lines.append(
            f"cpu {role}: {use['cpu_s']} s ({use['cores']} cores), {use['ms_per_answer']} ms/answer"
        )
    lines.append(f"load average (1 min) start/end: {figures['load_average']}")
    if "host_cpu_percent" in figures:
        lines.append(f"machine CPU over the run (%): {figures['host_cpu_percent']}")
    lines.append("OK" if figures["ok"] else "FAILED: lost, duplicated or garbled answers")
    return "\n".join(lines)


# --- a server of its own ----------------------------------------------------------------------


@dataclass
class OwnServer:
    url: str
    pids: dict[str, int]  # role ("daphne", "simulator", "local model") -> process id


@contextmanager
def upstream(local_model: bool, log_dir: Path) -> Iterator[tuple[str, str, int]]:
    """(base URL, role, process id) of the model: the upstream simulator or the local model,
    each in a process of its own."""
    from chatbot.ops import localmodel

    if local_model:
        base_url = f"http://127.0.0.1:{(port := free_port())}/v1"
        server = localmodel.start_server(
            host="127.0.0.1", port=port, model_alias="local", log_path=log_dir / "local-llm.log"
        )
        try:
            localmodel.wait_until_answering(base_url, "local", process=server)
            yield base_url, "local model", server.pid
        finally:
            server.terminate()
            server.wait(timeout=10)
        return
    # Its own process: in ours it would share the interpreter lock with hundreds of sockets.
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    with (log_dir / "simulator.log").open("wb") as log:
        sim = subprocess.Popen(
            [sys.executable, "-m", "chatbot.llm.simulator", "--port", str(port)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        localmodel.wait_until_ready(base_url, timeout_s=30, process=sim)
        # Answers in the model's own words: an answer restating the question is one the cache
        # declines to store (chatbot.cache.echo), and the `repeat` questions would all reach the
        # model instead of measuring the cache.
        faults = {
            "first_token_delay_s": SIM_FIRST_TOKEN_S,
            "token_delay_s": SIM_TOKEN_S,
            "restate_question": False,
        }
        request = urllib.request.Request(
            base_url.removesuffix("/v1") + "/_faults",
            data=json.dumps(faults).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=5).close()
        yield base_url, "simulator", sim.pid
    finally:
        _stop(sim)


def server_env(tmp: Path, llm_url: str, stages: str) -> dict[str, str]:
    """Embedded defaults (SQLite, in-memory layer, eager Celery), demo-size limits raised."""
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(32),
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "REDIS_URL": "",
        "OPENAI_API_KEY": "",
        "OPENAI_BASE_URL": "",
        "LLM_TIERS_JSON": "",
        "LLM_TIERS_FILE": "",
        "LOCAL_LLM_BASE_URL": llm_url,
        "LOCAL_LLM_MODEL": "local",
        "CHAT_PIPELINE_STAGES": stages,
        # The generated product questions are outside the demo help centre: the model still
        # answers them (after the retrieval, which is measured with it) instead of the
        # not-found answer, so the model path carries the load it is meant to.
        "LLM_ANSWER_WITHOUT_SOURCES": "always",
        "LOG_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
        **RAISED_RATE_LIMITS,
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def prepare_database(env: dict[str, str]) -> None:
    """migrate + load_demo. The admin is created first so load_demo leaves the repository's
    var/admin-password.txt alone."""
    admin = {**env, "DJANGO_SUPERUSER_PASSWORD": secrets.token_urlsafe(16)}
    manage = [sys.executable, "manage.py"]
    for args in (
        ["migrate", "--noinput", "-v", "0"],
        ["createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com"],
        ["load_demo"],
    ):
        subprocess.run([*manage, *args], cwd=ROOT, env=admin, check=True, capture_output=True)


def wait_ready(base: str, proc: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daphne exited:\n{log_path.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    raise TimeoutError(f"daphne not ready:\n{log_path.read_text(errors='replace')[-3000:]}")


@contextmanager
def own_server(*, local_model: bool, stages: str) -> Iterator[OwnServer]:
    """One daphne process on a fresh demo database, and its model."""
    tmp = Path(tempfile.mkdtemp(prefix="loadtest-"))
    try:
        with ExitStack() as stack:
            llm_url, llm_role, llm_pid = stack.enter_context(upstream(local_model, tmp))
            env = server_env(tmp, llm_url, stages)
            prepare_database(env)
            port = free_port()
            log_path = tmp / "daphne.log"
            with log_path.open("wb") as log:
                proc = subprocess.Popen(
                    [*DAPHNE, "-p", str(port), "chatbot.asgi:application"],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            stack.callback(_stop, proc)
            wait_ready(f"http://127.0.0.1:{port}", proc, log_path)
            start_up = log_path.stat().st_size
            yield OwnServer(
                f"ws://127.0.0.1:{port}/ws/chat/?locale=en",
                {"daphne": proc.pid, llm_role: llm_pid},
            )
            _report_server_log(log_path, start_up)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def own_prod_shape(*, processes: int, stages: str) -> Iterator[OwnServer]:
    """`manage.py serve --prod` (docs/deploy.md): nginx in front of `processes` daphne
    processes, PostgreSQL, Redis, Celery worker and beat, the demo data; the simulator as the
    model; its files in a temporary folder. Every process of it is measured."""
    from chatbot.ops import production

    tmp = Path(tempfile.mkdtemp(prefix="loadtest-prod-"))
    tmp.chmod(0o755)  # as root, PostgreSQL runs as another user, who must reach its folder
    try:
        with ExitStack() as stack:
            llm_url, llm_role, llm_pid = stack.enter_context(upstream(False, tmp))
            env = server_env(tmp, llm_url, stages)
            port = free_port()
            command = [
                sys.executable, "manage.py", "serve", "--prod", "--no-local-llm",
                "--processes", str(processes), "--port", str(port),
                "--daphne-port", str(production.consecutive_free_ports(processes)),
                "--redis-port", str(free_port()), "--postgres-port", str(free_port()),
                "--var-dir", str(tmp / "prod"),
            ]  # fmt: skip
            log_path = tmp / "serve.log"
            with log_path.open("wb") as log:
                proc = subprocess.Popen(
                    command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
                )
            stack.callback(_interrupt, proc)
            deadline = time.monotonic() + 4 * SERVER_START_TIMEOUT_S
            while "Ctrl-C stops everything" not in log_path.read_text(errors="replace"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"serve --prod did not start:\n{log_path.read_text()[-3000:]}"
                    )
                time.sleep(0.5)
            yield OwnServer(
                f"ws://127.0.0.1:{port}/ws/chat/?locale=en",
                {**prod_roles(proc.pid), llm_role: llm_pid},
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def prod_roles(serve_pid: int) -> dict[str, int]:
    """Role -> pid of every process `serve --prod` started (nginx's workers included: they do
    the proxying, its master does not)."""
    roles: dict[str, int] = {}
    for pid in _children(serve_pid):
        argv = Path(f"/proc/{pid}/cmdline").read_text().split("\0")
        line = " ".join(argv)
        if "daphne" in line:
            roles[f"daphne :{argv[argv.index('-p') + 1]}"] = pid
        elif "nginx" in line:
            for index, worker in enumerate(_children(pid), start=1):
                roles[f"nginx worker {index}"] = worker
        elif "celery" in line:
            roles[f"celery {'beat' if ' beat ' in line else 'worker'}"] = pid
        elif "redis-server" in line:
            roles["redis"] = pid
        elif "postgres" in line:
            roles["postgres"] = pid
    return roles


def _interrupt(proc: subprocess.Popen) -> None:
    """Ctrl-C: serve --prod stops its children in order."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _report_server_log(log_path: Path, skip: int) -> None:
    """Warnings and tracebacks the server logged under load are part of the result."""
    with log_path.open("rb") as log:
        log.seek(skip)
        text = log.read().decode(errors="replace").strip()
    if text:
        print(f"server log (last lines of {log_path.name}):\n{text[-4000:]}", file=sys.stderr)


# --- main -------------------------------------------------------------------------------------


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return f"{scheme}://{parts.netloc}"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="ws://HOST:PORT/ws/chat/?locale=en of a running server")
    where.add_argument("--start-server", action="store_true", help="run a daphne of our own")
    where.add_argument(
        "--start-prod", type=int, metavar="N", help="run the production shape, N daphnes"
    )
    parser.add_argument("--local-model", action="store_true", help="with --start-server")
    parser.add_argument("--stages", default="faq,cache,llm,fallback", help="with --start-server")
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of sending")
    parser.add_argument("--messages-per-session", type=int, default=None)
    parser.add_argument("--think", type=float, nargs=2, default=(2.0, 8.0), metavar=("MIN", "MAX"))
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds to open all sockets")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    parser.add_argument(
        "--samples", type=Path, help="write one JSON line per message here (timings, outcome)"
    )
    return parser.parse_args(argv)


def cpu_seconds(pid: int, *, tree: bool = False) -> float:
    """User + system CPU time of a process so far (Linux /proc); with `tree`, its children's
    too, those still running and those it has reaped (PostgreSQL's backends)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if tree:
        ticks += int(fields[13]) + int(fields[14])
        seconds = sum(_alive_cpu(child) for child in _children(pid))
        return ticks / os.sysconf("SC_CLK_TCK") + seconds
    return ticks / os.sysconf("SC_CLK_TCK")


def _alive_cpu(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0.0  # exited between the listing and the read: its parent counts it


HOST_CPU_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def host_cpu() -> list[int]:
    """The machine's CPU time counters (Linux /proc/stat, first line)."""
    return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def host_cpu_shares(before: list[int], after: list[int]) -> dict[str, float]:
    """Percent of the machine's CPU time per kind over the run; `steal` is time the hypervisor
    gave to other machines, which slows everything here without showing as load."""
    spent = [b - a for a, b in zip(before, after, strict=True)]
    total = sum(spent) or 1
    return {name: round(100 * v / total, 1) for name, v in zip(HOST_CPU_FIELDS, spent, strict=True)}


# Roles whose CPU is their whole process tree's (PostgreSQL: a backend per connection).
TREE_ROLES = frozenset({"postgres"})


def process_cpu(pids: dict[str, int]) -> dict[str, float]:
    return {"load generator": time.process_time()} | {
        role: cpu_seconds(pid, tree=role in TREE_ROLES) for role, pid in pids.items()
    }


def cpu_use(before: dict[str, float], after: dict[str, float], answers: int, wall_s: float) -> dict:
    """Per process: CPU seconds over the run, share of one core, and CPU ms per answer."""
    return {
        role: {
            "cpu_s": round(after[role] - before[role], 2),
            "cores": round((after[role] - before[role]) / wall_s, 2) if wall_s else None,
            "ms_per_answer": round((after[role] - before[role]) * 1000 / answers, 2)
            if answers
            else None,
        }
        for role in before
    }


def run(args: argparse.Namespace) -> dict:
    with ExitStack() as stack:
        pids: dict[str, int] = {}
        if args.url:
            url = args.url
        elif args.start_prod:
            server = stack.enter_context(
                own_prod_shape(processes=args.start_prod, stages=args.stages)
            )
            url, pids = server.url, server.pids
        else:
            server = stack.enter_context(
                own_server(local_model=args.local_model, stages=args.stages)
            )
            url, pids = server.url, server.pids
        plan = Plan(
            url=url,
            origin=origin_of(url),
            sessions=args.sessions,
            duration_s=args.duration,
            messages_per_session=args.messages_per_session,
            think_s=tuple(args.think),
            ramp_s=args.ramp,
            seed=args.seed,
        )
        print(f"{plan.sessions} sessions for {plan.duration_s:g} s against {url}", flush=True)
        load0 = os.getloadavg()[0]
        cpu0, host0 = process_cpu(pids), host_cpu()
        wall0 = time.monotonic()
        logs = asyncio.run(run_load(plan))
        wall = time.monotonic() - wall0
        cpu1, host1 = process_cpu(pids), host_cpu()
        load1 = os.getloadavg()[0]
    own = args.start_server or bool(args.start_prod)
    config = {
        "url": (
            f"own production shape: nginx, {args.start_prod} daphne, PostgreSQL, Redis, Celery"
            if args.start_prod
            else "own server" if args.start_server else args.url
        ),
        "sessions": args.sessions,
        "duration_s": args.duration,
        "messages_per_session": args.messages_per_session,
        "think_s": list(args.think),
        "ramp_s": args.ramp,
        "stages": args.stages if own else "server's own",
        "upstream": (
            ("local model" if args.local_model else f"simulator {SIM_FIRST_TOKEN_S * 1000:g} ms "
             f"first token, {SIM_TOKEN_S * 1000:g} ms per token")
            if own
            else "server's own"
        ),
        "rate_limits": RAISED_RATE_LIMITS if own else "server's own",
        "nproc": len(os.sched_getaffinity(0)),
    }  # fmt: skip
    figures = summarise(logs, config, (load0, load1))
    figures["cpu"] = cpu_use(cpu0, cpu1, figures["messages"]["answered"], wall)
    figures["host_cpu_percent"] = host_cpu_shares(host0, host1)
    if args.samples:
        args.samples.parent.mkdir(parents=True, exist_ok=True)
        args.samples.write_text("".join(f"{line}\n" for line in sample_lines(logs)))
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    figures = run(args)
    print(report_text(figures))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2))
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
