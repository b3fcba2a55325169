"""chatbot.ops.supervisor with real child processes (Python one-liners that run, crash or exit)
and a fake clock for the backoff."""

import subprocess
import sys
from pathlib import Path

import pytest

from chatbot.ops.supervisor import (
    Backoff,
    ChildDied,
    ChildSpec,
    Supervisor,
    describe_exit,
    log_tail,
)
from tests.llm.conftest import FakeClock

SEGFAULT = "import ctypes, sys; print('loading the model', flush=True); ctypes.string_at(0)"
RUNS = "import time; time.sleep(60)"


def python(code: str, log_path: Path | None = None) -> subprocess.Popen:
    if log_path is None:
        return subprocess.Popen([sys.executable, "-c", code])
    with log_path.open("ab") as log:
        return subprocess.Popen([sys.executable, "-c", code], stdout=log, stderr=subprocess.STDOUT)


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (-11, "was killed by SIGSEGV (signal 11)"),
        (-9, "was killed by SIGKILL (signal 9)"),
        (1, "exited with code 1"),
        (0, "exited with code 0"),
    ],
)
def test_describe_exit(code, text):
    assert describe_exit(code) == text


def test_log_tail_gives_the_last_lines(tmp_path):
    log = tmp_path / "child.log"
    log.write_text("".join(f"line {i}\n" for i in range(40)))
    tail = log_tail(log, count=3)
    assert tail == f"\nLast lines of {log}:\n  line 37\n  line 38\n  line 39"
    assert log_tail(tmp_path / "missing.log") == ""


def test_a_crashed_child_is_restarted_after_its_backoff_and_checked(tmp_path):
    log = tmp_path / "model.log"
    clock, events, checked = FakeClock(), [], []
    codes = iter([SEGFAULT, RUNS])
    spec = ChildSpec(
        "the model", lambda: python(next(codes), log), True, log, lambda p: checked.append(p.pid)
    )
    supervisor = Supervisor(backoff=Backoff(first_s=2), clock=clock, on_event=events.append)
    crashing = supervisor.start(spec)
    try:
        crashing.wait(timeout=30)
        supervisor.poll()
        assert len(events) == 1
        assert "the model was killed by SIGSEGV (signal 11); restarting it in 2 s" in events[0]
        assert "loading the model" in events[0], "the log's last lines say what it was doing"
        assert supervisor.processes()["the model"] is None

        clock.advance(1.9)
        supervisor.poll()
        assert supervisor.processes()["the model"] is None, "not before its backoff"
        clock.advance(0.2)
        supervisor.poll()
        restarted = supervisor.processes()["the model"]
        assert restarted is not None and restarted.poll() is None
        assert checked == [restarted.pid]
        assert supervisor.restarts("the model") == 1
        assert events[-1] == f"the model is back (pid {restarted.pid}, restart 1)."
    finally:
        supervisor.stop()
    assert restarted.poll() is not None, "stop() ends the children"


def test_a_child_stopped_from_outside_is_started_again_without_a_failure(tmp_path):
    """A rolling restart's SIGTERM (or a clean exit) is not "failure 1 in a row"."""
    clock, events = FakeClock(), []
    supervisor = Supervisor(backoff=Backoff(first_s=1), clock=clock, on_event=events.append)
    spec = ChildSpec("daphne", lambda: python(RUNS), True, None)
    try:
        for _ in range(3):
            process = supervisor.start(spec) if not events else supervisor.processes()["daphne"]
            process.terminate()
            process.wait()
            supervisor.poll()
            assert events[-1].endswith("stopped from outside; starting it again in 1 s."), events
            clock.advance(1)
            supervisor.poll()
        assert not any("failure" in event for event in events)
    finally:
        supervisor.stop()


def test_a_child_that_keeps_failing_backs_off_exponentially(tmp_path):
    clock, events = FakeClock(), []

    def not_ready(process: subprocess.Popen) -> None:
        raise RuntimeError("the test completion got HTTP 500")

    spec = ChildSpec("the model", lambda: python(RUNS), True, None, not_ready)
    supervisor = Supervisor(
        backoff=Backoff(first_s=1, max_s=4), clock=clock, on_event=events.append
    )
    first = supervisor.start(spec)
    first.kill()
    first.wait()
    supervisor.poll()
    delays = []
    for _ in range(4):
        clock.advance(10)
        supervisor.poll()  # restarts, the check fails, the process is stopped
        delays.append(events[-1])
    supervisor.stop()
    assert "restarting it in 1 s" in events[0]
    assert delays == [
        "retrying the model in 2 s",
        "retrying the model in 4 s",
        "retrying the model in 4 s",
        "retrying the model in 4 s",
    ]
    assert any("did not come back: the test completion got HTTP 500" in e for e in events)
    assert supervisor.restarts("the model") == 0


def test_a_child_that_may_not_be_restarted_stops_the_supervisor_with_its_reason(tmp_path):
    log = tmp_path / "web.log"
    supervisor = Supervisor(clock=FakeClock(), on_event=lambda text: None)
    other = supervisor.start(ChildSpec("the model", lambda: python(RUNS), restart=True))
    web = supervisor.start(
        ChildSpec("daphne", lambda: python("print('bye'); raise SystemExit(3)", log), False, log)
    )
    web.wait(timeout=30)
    with pytest.raises(ChildDied) as died:
        supervisor.poll()
    assert str(died.value) == "daphne exited with code 3"
    assert died.value.returncode == 3 and "bye" in died.value.tail
    supervisor.stop()
    assert other.poll() is not None
