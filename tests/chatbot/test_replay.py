"""`manage.py replay` in a process of its own, as it is run: it answers through the model and
ends cleanly, with nothing it opened left open (aiohttp reports an unclosed session or connector
when the event loop that owned it is collected)."""

import json
import os
import subprocess
import sys

import pytest

from tests.servers import REPO, migrated


@pytest.mark.slow
@pytest.mark.own_stack
def test_replay_answers_and_leaves_no_session_or_socket_open(upstream, tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'replay.sqlite3'}",
        "REDIS_URL": "",
        "LOCAL_LLM_BASE_URL": upstream.base_url,
        "LOCAL_LLM_MODEL": "sim-model",
        "OPENAI_API_KEY": "",
        "PYTHONASYNCIODEBUG": "1",
        "PYTHONWARNINGS": "always::ResourceWarning",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    manage = [sys.executable, "manage.py"]
    migrated(env)
    turns = [
        {"conversation": "a", "text": "Where is my parcel?"},
        {"conversation": "a", "text": "And can I change the delivery address?"},
    ]
    done = subprocess.run(
        [*manage, "replay"],
        cwd=REPO,
        env=env,
        input="".join(json.dumps(t) + "\n" for t in turns),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["source"] for r in results] == ["llm", "llm"], "the model client was used"
    assert upstream.stats.requests == 2
    assert "unclosed" not in done.stderr.lower(), done.stderr[-3000:]
