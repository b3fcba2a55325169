"""A real Celery worker on Redis killed with SIGKILL in the middle of a variant-generation task
(the model call, from a slow LLM simulator): the task runs again and finishes, and writes its
drafts once (docs/operations.md, "Crashes and restarts")."""

import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from chatbot.llm.simulator import UpstreamSimulator
from tests.servers import REPO, manage, migrated, server_env, sqlite_rows

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.timeout(240), pytest.mark.own_stack]

BROKER = "redis://127.0.0.1:6379/6"

QUEUE_JOB = """
from knowledge import generation, services
faq = services.faq_save(question="Can I pay with PayPal?", answer="Yes, we accept PayPal.")
generation.jobs_create(faq_ids=[faq.pk], answers=3, paraphrases=0, requested_by="drill")
"""

JOB_STATE = (
    "SELECT status, answers_created,"
    " (SELECT count(*) FROM knowledge_answervariant WHERE origin = 'generated')"
    " FROM knowledge_generationjob"
)


@pytest.fixture
def slow_model() -> Iterator[UpstreamSimulator]:
    """Answers after 4 s, with rewordings numbered by request (a second write would show)."""
    requests = itertools.count(1)

    def rewordings(_: str) -> str:
        n = next(requests)
        return "\n".join(f"{i}. Yes, PayPal works here (run {n}, wording {i})." for i in (1, 2, 3))

    sim = UpstreamSimulator(answer=rewordings).start()
    sim.faults.latency_s = 4.0
    yield sim
    sim.stop()


@pytest.fixture
def worker_env(tmp_path: Path, slow_model: UpstreamSimulator) -> Iterator[dict[str, str]]:
    own = f"crash-test-{uuid.uuid4().hex[:8]}"  # this test's queue and keys
    env = server_env(
        tmp_path / "db.sqlite3",
        REDIS_URL=BROKER,
        CELERY_BROKER_URL=BROKER,
        CHANNEL_LAYER_PREFIX=own,
        SHARED_STATE_PREFIX=f"{own}:state",
        CELERY_TASK_DEFAULT_QUEUE=own,
        CELERY_VISIBILITY_TIMEOUT_S="3",
        LOCAL_LLM_BASE_URL=slow_model.base_url,
        LOCAL_LLM_MODEL="sim-model",
    )
    migrated(env)
    yield env
    client = redis.Redis.from_url(BROKER)
    for key in client.scan_iter(match=f"*{own}*"):
        client.delete(key)


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "chatbot", "worker", "-l", "info", "-c", "1",
             "-Q", env["CELERY_TASK_DEFAULT_QUEUE"], "--without-gossip", "--without-mingle"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(line) for line in found.split()]


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def job_state(env: dict[str, str]) -> list[str]:
    (row,) = sqlite_rows(env, JOB_STATE)
    return [str(value) for value in row]


def stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def test_a_worker_child_killed_mid_task_hands_the_task_back_and_it_finishes(
    worker_env, slow_model, tmp_path
):
    """kill -9 of the pool process running the task (out of memory, a crash): the worker
    starts a new one, which runs the task again (acks_late + reject_on_worker_lost)."""
    log = tmp_path / "worker.log"
    manage(worker_env, "shell", "-c", QUEUE_JOB)
    worker = start_worker(worker_env, log)
    try:
        wait_for(lambda: slow_model.stats.requests >= 1, 90, "the task reached the model")
        (child,) = children(worker.pid)
        os.kill(child, signal.SIGKILL)
        wait_for(lambda: job_state(worker_env)[0] == "done", 60, log.read_text())
    finally:
        stop(worker)
    assert job_state(worker_env) == ["done", "3", "3"], "the drafts are written once"
    assert slow_model.stats.requests == 2, "one model call per run"


def test_a_whole_worker_killed_mid_task_leaves_it_for_the_next_worker(
    worker_env, slow_model, tmp_path
):
    """kill -9 of the worker and its pool (the machine's OOM killer, a lost container): the
    task is unacknowledged in Redis and the next worker gets it once the visibility timeout
    has passed (CELERY_VISIBILITY_TIMEOUT_S, 3 s here)."""
    log = tmp_path / "worker.log"
    manage(worker_env, "shell", "-c", QUEUE_JOB)
    worker = start_worker(worker_env, log)
    try:
        wait_for(lambda: slow_model.stats.requests >= 1, 90, "the task reached the model")
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        assert job_state(worker_env)[0] == "running", "killed mid-task"
        time.sleep(3.5)  # past the visibility timeout: the next worker restores it at start
        worker = start_worker(worker_env, log)
        wait_for(lambda: job_state(worker_env)[0] == "done", 90, log.read_text())
    finally:
        stop(worker)
    assert job_state(worker_env) == ["done", "3", "3"], "the drafts are written once"
    assert slow_model.stats.requests == 2, "one model call per run"
