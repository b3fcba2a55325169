"""A process that ends while the embedding model is still loading exits cleanly."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
START_AND_LEAVE = (
    "import sys, time\n"
    "import django; django.setup()\n"
    "from chatbot.ops.warmup import warm_up_in_background\n"
    "warm_up_in_background()\n"
    "time.sleep(float(sys.argv[1]))\n"
)


@pytest.mark.slow
@pytest.mark.own_stack  # processes of its own, no database: the PostgreSQL pass would repeat it
def test_exiting_during_the_warm_up_does_not_abort_the_process():
    # As a daemon thread the warm-up died inside ONNX Runtime at exit, which aborted the
    # process (exit code 134) when it ended while the model session was being created, about
    # half a second after the start here. Several moments, since machines differ in speed.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "chatbot.settings", "WARM_UP_EMBEDDINGS": "1"}
    for leave_after_s in ("0.3", "0.5", "0.7", "0.9"):
        done = subprocess.run(
            [sys.executable, "-c", START_AND_LEAVE, leave_after_s],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]


def test_the_interpreter_waits_for_the_warm_up_at_exit(settings):
    from chatbot.ops.warmup import warm_up_in_background

    settings.WARM_UP_EMBEDDINGS = True
    thread = warm_up_in_background()
    assert thread is not None and not thread.daemon
    thread.join(timeout=120)
