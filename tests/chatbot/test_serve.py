"""`manage.py serve` as `make run` starts it: the real llama.cpp server, proven with a real
completion before the URL is announced, restarted when it dies while daphne keeps serving; a
model that does not answer stops serve with a clear message and a non-zero exit."""

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.servers import REPO, free_port, migrated, server_env

pytestmark = [pytest.mark.slow, pytest.mark.llm, pytest.mark.timeout(240), pytest.mark.own_stack]

METRICS_TOKEN = "serve-test-metrics-token"


def serve_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    llm_port = free_port()
    env = server_env(
        tmp_path / "db.sqlite3",
        LOCAL_LLM_PORT=str(llm_port),
        LOCAL_LLM_BASE_URL=f"http://127.0.0.1:{llm_port}/v1",
        LLM_MAX_TOKENS="12",
        **overrides,
    )
    migrated(env)
    return env


@contextmanager
def serving(env: dict[str, str], tmp_path: Path) -> Iterator[tuple[subprocess.Popen, Path, Path]]:
    out, err = tmp_path / "serve.out", tmp_path / "serve.err"
    command = [sys.executable, "manage.py", "serve", "--port", env["TEST_WEB_PORT"]]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [*command, "--log-dir", str(tmp_path)],
            cwd=REPO,
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
    try:
        yield process, out, err
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for(
    path: Path, pattern: str, process: subprocess.Popen, timeout_s: float = 120
) -> re.Match[str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = re.search(pattern, path.read_text(errors="replace"))
        if found:
            return found
        assert process.poll() is None, f"serve exited:\n{path.read_text(errors='replace')}"
        time.sleep(0.2)
    raise AssertionError(f"{pattern!r} not in {path}:\n{path.read_text(errors='replace')}")


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(child) for child in found.stdout.split()]


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for whoever adopted it to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def run_to_exit(env: dict[str, str], tmp_path: Path) -> tuple[int, str, str]:
    with serving(env, tmp_path) as (process, out, err):
        process.wait(timeout=180)
        return process.returncode, out.read_text(), err.read_text()


def test_a_database_behind_the_code_stops_serve_saying_to_migrate(tmp_path):
    """A pull with a new migration: serve started, then a background job failed every 5 s
    ("no such column") until someone ran migrate (a model-tiers walk)."""
    env = server_env(tmp_path / "db.sqlite3", TEST_WEB_PORT=str(free_port()))
    code, out, err = run_to_exit(env, tmp_path)
    assert code != 0
    assert "Demo store" not in out
    assert "migration(s) not applied" in err and "manage.py migrate" in err


def test_a_model_that_fails_its_test_completion_stops_serve_with_the_reason(tmp_path):
    """A context too small for any prompt: the server starts and lists its model, then every
    completion fails, as a build for another CPU's failed on its first one."""
    env = serve_env(tmp_path, LOCAL_LLM_CONTEXT="16", TEST_WEB_PORT=str(free_port()))
    code, out, err = run_to_exit(env, tmp_path)
    assert code != 0
    assert "Demo store" not in out, "no URL for a server that is not ready"
    assert "The local model server did not answer a test completion" in err
    assert "HTTP 500" in err and f"Last lines of {tmp_path / 'local-llm.log'}" in err
    assert "LLAMA_CMAKE_ARGS" in err, "says which build flags to try"


def test_a_model_server_that_dies_at_start_stops_serve_with_its_exit_status(tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + os.urandom(4096))
    env = serve_env(tmp_path, LOCAL_LLM_MODEL_FILE=str(broken), TEST_WEB_PORT=str(free_port()))
    code, out, err = run_to_exit(env, tmp_path)
    assert code != 0 and "Demo store" not in out
    assert re.search(r"it exited with code [1-9]", err), err
    assert "Last lines of" in err


class Visitor:
    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.count = 0

    async def frame(self, timeout: float) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def ask(self, text: str, timeout: float = 60) -> dict[str, Any]:
        """The `done` frame of the answer; no `error` frame may come before it."""
        self.count += 1
        await self.ws.send(
            json.dumps({"type": "message", "client_id": f"m{self.count}", "text": text})
        )
        while True:
            frame = await self.frame(timeout)
            assert frame["type"] != "error", frame
            if frame["type"] == "done":
                return frame


def model_state(base: str) -> dict[str, Any]:
    """What /readyz, /readyz/models and /metrics say about the model tier."""
    metrics = httpx.get(
        f"{base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    ).text
    gauge = re.search(r'chatbot_llm_tier_breaker_state\{tier="local"\} (\S+)', metrics)
    return {
        "readyz": httpx.get(f"{base}/readyz").status_code,
        "models": httpx.get(f"{base}/readyz/models").status_code,
        "breaker_gauge": float(gauge.group(1)) if gauge else None,
    }


async def conversation(base: str, kill_model, model_back) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    async with websockets.connect(base.replace("http", "ws") + "/ws/chat/", origin=base) as ws:
        visitor = Visitor(ws)
        assert (await visitor.frame(10))["type"] == "hello"
        seen["before"] = await visitor.ask("Hi! What can you help me with?")
        kill_model()
        seen["down"] = await visitor.ask("Can you tell me about your opening hours?")
        seen["while_down"] = await asyncio.to_thread(model_state, base)
        await asyncio.to_thread(model_back)
        answers = []
        for attempt in range(30):  # the breaker lets a probe through after its cooldown
            answers.append(await visitor.ask(f"Do you sell gift cards? ({attempt})"))
            if answers[-1]["source"] == "llm":
                break
            await asyncio.sleep(0.5)
        seen["after"] = answers
        # The question the model could not answer is answered here once it is back.
        async with asyncio.timeout(60):
            while True:
                frame = await visitor.frame(60)
                if frame["type"] == "message" and frame["message"]["role"] == "bot":
                    seen["queued"] = frame["message"]
                    return seen


def test_a_killed_model_server_is_restarted_while_daphne_keeps_answering(tmp_path):
    port = free_port()
    env = serve_env(
        tmp_path,
        TEST_WEB_PORT=str(port),
        METRICS_TOKEN=METRICS_TOKEN,
        HANDOFF_WHEN_MODELS_DOWN="0",
        HANDOFF_FALLBACK_STREAK="0",
    )
    with serving(env, tmp_path) as (process, out, err):
        pid = int(
            wait_for(
                out,
                r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d The local model answers \(pid (\d+)\)",
                process,
            ).group(1)
        )
        wait_for(out, "Demo store with the chat widget", process)

        def kill_model() -> None:
            os.kill(pid, signal.SIGKILL)

        def model_back() -> None:
            wait_for(err, r"the local model server is back \(pid \d+, restart 1\)", process, 120)

        seen = asyncio.run(conversation(f"http://127.0.0.1:{port}", kill_model, model_back))
        assert process.poll() is None, "serve and daphne kept running"
        children = _children(process.pid)
        assert len(children) >= 2, "daphne and the local model server"
        process.kill()  # an OOM kill or a stray `kill -9`: nobody stops the children in order
        process.wait()
        deadline = time.monotonic() + 30
        while (left := [pid for pid in children if _alive(pid)]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left, (
            "the children of a killed serve stop too (an operator walk found them running)"
        )
    errors = err.read_text()
    assert "the local model server was killed by SIGKILL (signal 9); restarting it in 1 s" in errors
    assert seen["before"]["source"] == "llm"
    assert seen["down"]["source"] == "fallback", "the visitor got the template, no raw error"
    assert seen["while_down"] == {"readyz": 200, "models": 503, "breaker_gauge": 2.0}, (
        "the tier's breaker opened: still in rotation, the model reported down"
    )
    assert "circuit breaker tier:local opened: the upstream is not listening" in errors
    assert seen["after"][-1]["source"] == "llm", "model answers are back without a restart"
    assert all(a["source"] == "fallback" for a in seen["after"][:-1])
    assert seen["queued"]["text"].startswith("About your earlier question")


def test_a_stopped_serve_says_so_with_the_time(tmp_path):
    """An operator walk could not tell a clean stop from the log (its last line still read
    "Ctrl-C stops everything.") nor match serve's lines with the children's (no times)."""
    env = serve_env(tmp_path, TEST_WEB_PORT=str(free_port()))
    command = [
        sys.executable,
        "manage.py",
        "serve",
        "--no-local-llm",
        "--port",
        env["TEST_WEB_PORT"],
    ]
    err = tmp_path / "serve.err"
    with err.open("wb") as stderr, (tmp_path / "serve.out").open("wb") as stdout:
        process = subprocess.Popen(
            [*command, "--log-dir", str(tmp_path)], cwd=REPO, env=env, stdout=stdout, stderr=stderr
        )
    try:
        wait_for(tmp_path / "serve.out", "Demo store with the chat widget", process)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    said = err.read_text()
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d Stopping…$", said, re.M), said
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d Stopped\.$", said, re.M), said
