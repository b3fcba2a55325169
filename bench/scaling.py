"""What one answer costs each part of the production shape, for docs/scaling.md: CPU per answer
by source (faq, cache, llm through the upstream simulator), Redis commands and bytes per answer,
PostgreSQL transactions and row writes per message, and connections per process.

    python -m bench.scaling [--answers 100] [--sessions 20] [--out scaling.json]

It starts `manage.py serve --prod --processes 1` (PostgreSQL + pgvector, its own Redis, one
daphne, Celery worker and beat, nginx, the demo data) with the simulator as the model, then runs
three phases one after the other, each `answers` visitors (`sessions` at a time) asking one
question straight at the daphne process: demo FAQ questions (faq), new product questions
(llm), and those same questions again from other visitors (cache). Between phases it reads
each process's CPU time (/proc), Redis `INFO commandstats` and `INFO stats`, and PostgreSQL
`pg_stat_database` / `pg_stat_user_tables`; the differences divided by the answers of the
phase are the figures. Not part of `make bench`: it takes a few minutes and the whole shape."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import psycopg
import redis
from websockets.asyncio.client import connect

from bench.loadtest import (
    ROOT,
    SERVER_START_TIMEOUT_S,
    Questions,
    _interrupt,
    cpu_seconds,
    faq_questions,
    free_port,
    prod_roles,
    server_env,
    upstream,
)


@dataclass
class Shape:
    daphne: str  # ws:// URL of the one daphne process, straight (not through nginx)
    redis_url: str
    database_url: str
    pids: dict[str, int]


@contextmanager
def production_shape(stages: str) -> Iterator[Shape]:
    from chatbot.ops import production

    tmp = Path(tempfile.mkdtemp(prefix="scaling-"))
    tmp.chmod(0o755)  # as root, PostgreSQL runs as another user, who must reach its folder
    with ExitStack() as stack:
        llm_url, llm_role, llm_pid = stack.enter_context(upstream(False, tmp))
        env = server_env(tmp, llm_url, stages)
        ports = production.Ports(
            http=free_port(),
            daphne=production.consecutive_free_ports(1),
            processes=1,
            redis=free_port(),
            postgres=free_port(),
        )
        layout = production.Layout(tmp / "prod")
        command = [
            sys.executable, "manage.py", "serve", "--prod", "--no-local-llm",
            "--processes", "1", "--port", str(ports.http),
            "--daphne-port", str(ports.daphne), "--redis-port", str(ports.redis),
            "--postgres-port", str(ports.postgres), "--var-dir", str(layout.root),
        ]  # fmt: skip
        log_path = tmp / "serve.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
        stack.callback(_interrupt, proc)
        deadline = time.monotonic() + 4 * SERVER_START_TIMEOUT_S
        while "Ctrl-C stops everything" not in log_path.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve --prod did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        secrets_ = production.secrets_load(layout)
        yield Shape(
            f"ws://127.0.0.1:{ports.daphne}/ws/chat/?locale=en",
            production.redis_url(secrets_, ports.redis),
            production.database_url(secrets_, ports.postgres),
            {**prod_roles(proc.pid), llm_role: llm_pid},
        )


# --- counters ---------------------------------------------------------------------------------


def redis_counters(client: redis.Redis) -> dict[str, int]:
    """Calls per command, and bytes in and out, since the server started."""
    out = {
        f"cmd:{name.removeprefix('cmdstat_')}": int(stats["calls"])
        for name, stats in client.info("commandstats").items()
    }
    stats = client.info("stats")
    out["bytes_in"] = int(stats["total_net_input_bytes"])
    out["bytes_out"] = int(stats["total_net_output_bytes"])
    return out


DATABASE_SQL = """
SELECT xact_commit, tup_inserted, tup_updated, tup_deleted, blks_hit, blks_read
FROM pg_stat_database WHERE datname = current_database()
"""
TABLES_SQL = """
SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables
"""


def postgres_counters(url: str) -> dict[str, int]:
    """Transactions and rows written since the statistics were reset, database-wide and per
    table (`pg_stat_*` are sent by backends when their transaction ends; a fresh connection and
    pg_stat_clear_snapshot make sure this reads the current ones)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(DATABASE_SQL).fetchone()
        out = dict(zip(("xact_commit", "tup_inserted", "tup_updated", "tup_deleted",
                        "blks_hit", "blks_read"), map(int, row), strict=True))  # fmt: skip
        for name, ins, upd, dele in conn.execute(TABLES_SQL).fetchall():
            if ins or upd or dele:
                out[f"table:{name}"] = int(ins) + int(upd) + int(dele)
    return out


def cpu_counters(pids: dict[str, int]) -> dict[str, float]:
    return {role: cpu_seconds(pid, tree=role == "postgres") for role, pid in pids.items()}


def milliseconds(seconds: dict[str, float]) -> dict[str, float]:
    return {k: v * 1000 for k, v in seconds.items()}


def connections(shape: Shape) -> dict[str, Any]:
    """Open TCP connections of each process to Redis and to PostgreSQL (psutil)."""
    redis_port = int(shape.redis_url.rsplit(":", 1)[1].split("/")[0])
    pg_port = int(shape.database_url.rsplit(":", 1)[1].split("/")[0])
    out: dict[str, Any] = {}
    for role, pid in shape.pids.items():
        try:
            conns = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.Error:
            continue
        peers = Counter(c.raddr.port for c in conns if c.raddr)
        out[role] = {"redis": peers[redis_port], "postgres": peers[pg_port]}
    return out


def delta(before: dict[str, float], after: dict[str, float], per: int) -> dict[str, float]:
    keys = sorted(set(before) | set(after))
    changes = {k: after.get(k, 0) - before.get(k, 0) for k in keys}
    return {k: round(v / per, 2) for k, v in changes.items() if v}


# --- visitors ---------------------------------------------------------------------------------


async def visitor(url: str, texts: list[str], sources: Counter, open_at: float) -> None:
    """Asks `texts` one after the other on one socket, each after the previous `done`."""
    origin = url.replace("ws://", "http://").split("/ws/", 1)[0]
    async with connect(url, origin=origin, open_timeout=30) as ws:
        await asyncio.wait_for(ws.recv(), 30)  # hello
        for text in texts:
            client_id = uuid.uuid4().hex
            await ws.send(json.dumps({"type": "message", "client_id": client_id, "text": text}))
            while True:
                try:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
                except TimeoutError:
                    sources["no answer in 60 s"] += 1
                    break
                if frame["type"] == "done":
                    sources[frame["source"]] += 1
                    break
                if frame["type"] in ("error", "handoff"):
                    sources[frame["type"]] += 1
                    break
        await asyncio.sleep(max(0.0, open_at - time.monotonic()))


def embedding_cpu_ms(texts: list[str]) -> dict[str, Any]:
    """CPU ms of embedding one question, as the faq and cache stages do for every question
    (in this process, with the configured embedder; the first call loads the model)."""
    import django

    django.setup()
    from knowledge.embeddings import get_embedder

    embedder = get_embedder("en")
    embedder.embed(texts[:2])
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for text in texts:
        embedder.embed([text])
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {
        "embedder": embedder.identity,
        "cpu_ms": round(cpu * 1000 / len(texts), 2),
        "wall_ms": round(wall * 1000 / len(texts), 2),
    }


def run_phase(url: str, texts: list[str], concurrency: int) -> Counter:
    """Each text from a visitor of its own (a new conversation), `concurrency` at a time."""
    sources: Counter = Counter()

    async def all_visitors() -> None:
        gate = asyncio.Semaphore(concurrency)
        open_at = time.monotonic() + 1.0

        async def one(text: str) -> None:
            async with gate:
                await visitor(url, [text], sources, open_at)

        await asyncio.gather(*(one(text) for text in texts))

    asyncio.run(all_visitors())
    return sources


def measure(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    questions = Questions(rng)
    faqs = faq_questions()
    llm = [questions.new() for _ in range(args.answers)]
    # Only a conversation's first question fills the cache (docs/cache.md): the llm phase's
    # questions, asked again by other visitors, are the cache phase.
    plan = {"faq": [rng.choice(faqs) for _ in range(args.answers)], "llm": llm, "cache": llm}
    figures: dict[str, Any] = {"answers_per_phase": args.answers, "concurrency": args.sessions}
    with production_shape(args.stages) as shape:
        client = redis.Redis.from_url(shape.redis_url)
        figures["idle_connections"] = connections(shape)
        figures["load_average_before"] = [round(x, 2) for x in psutil.getloadavg()]
        run_phase(shape.daphne, faqs[:2], 1)  # warm: first model use, first queries
        for phase, texts in plan.items():
            r0, p0 = redis_counters(client), postgres_counters(shape.database_url)
            c0 = cpu_counters(shape.pids)
            wall0 = time.monotonic()
            sources = run_phase(shape.daphne, texts, args.sessions)
            wall = time.monotonic() - wall0
            c1 = cpu_counters(shape.pids)
            time.sleep(1.5)  # Celery's follow-up work, PostgreSQL's statistics flush
            r1, p1 = redis_counters(client), postgres_counters(shape.database_url)
            answers = sum(n for source, n in sources.items() if not source.startswith("no "))
            # The visitor's message and the bot's answer: two messages per answer.
            figures[phase] = {
                "answers": answers,
                "sources": dict(sources),
                "wall_s": round(wall, 1),
                "cpu_ms_per_answer": delta(milliseconds(c0), milliseconds(c1), answers),
                "redis_per_answer": delta(r0, r1, answers),
                "postgres_per_message": delta(p0, p1, 2 * answers),
            }
            print(f"{phase}: {answers} answers {dict(sources)} in {wall:.1f} s", flush=True)
        figures["connections_after"] = connections(shape)
        figures["redis_clients"] = len(client.client_list())
        figures["load_average_after"] = [round(x, 2) for x in psutil.getloadavg()]
    figures["embedding_per_question"] = embedding_cpu_ms(plan["faq"])
    return figures


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings")
    os.environ.setdefault("SECRET_KEY", "bench-scaling")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=100, help="per phase")
    parser.add_argument("--sessions", type=int, default=20, help="visitors at a time")
    parser.add_argument(
        "--stages",
        default="faq,cache,llm,fallback",
        help="the server's pipeline stages (CHAT_PIPELINE_STAGES), as in bench.loadtest; the "
        "three phases run whatever it is, so without faq every phase's answers are the model's",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    figures = measure(args)
    text = json.dumps(figures, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
