"""Keeps `manage.py serve`'s child processes running: a restartable child (the local model
server) comes back with backoff and must pass its readiness check; when one that may not be
restarted (daphne) dies, everything stops. Behaviour and why not supervisord:
docs/operations.md, "Health and processes"."""

import logging
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass(frozen=True)
class Backoff:
    first_s: float = 1.0
    max_s: float = 30.0
    # A child that stayed up this long starts its backoff over on its next death.
    reset_after_s: float = 60.0

    def delay_s(self, failures: int) -> float:
        return min(self.max_s, self.first_s * 2 ** max(0, failures - 1))


@dataclass
class ChildSpec:
    name: str
    start: Callable[[], subprocess.Popen]
    restart: bool = False
    log_path: Path | None = None
    # Called after a restart; raises when the child is not ready (it is then killed and
    # restarted again, after the next backoff).
    check_ready: Callable[[subprocess.Popen], object] | None = None


class ChildDied(RuntimeError):
    """A child that may not be restarted exited; `tail` is the end of its log, if it has one."""

    def __init__(self, name: str, returncode: int, tail: str = "") -> None:
        super().__init__(f"{name} {describe_exit(returncode)}")
        self.name = name
        self.returncode = returncode
        self.tail = tail


def describe_exit(returncode: int) -> str:
    """`exited with code 1`, or `was killed by SIGSEGV (signal 11)` for a negative code."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "an unknown signal"
        return f"was killed by {name} (signal {-returncode})"
    return f"exited with code {returncode}"


def log_tail(path: Path | None, count: int = 15) -> str:
    """The last lines of a child's log as a paragraph for the message that says why it died
    ("" without a log)."""
    if path is None or not path.exists():
        return ""
    with path.open("rb") as log:
        log.seek(0, 2)
        log.seek(max(0, log.tell() - 16384))
        text = log.read().decode(errors="replace")
    lines = [line for line in text.splitlines() if line.strip()][-count:]
    return f"\nLast lines of {path}:\n  " + "\n  ".join(lines) if lines else ""


@dataclass
class _Running:
    spec: ChildSpec
    process: subprocess.Popen | None
    started_at: float
    failures: int = 0
    restart_at: float | None = None
    restarts: int = 0


class Supervisor:
    """Call `poll()` every fraction of a second from the serving process's main loop."""

    def __init__(
        self,
        *,
        backoff: Backoff | None = None,
        clock: Clock = time.monotonic,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.backoff = backoff or Backoff()
        self.clock = clock
        self.on_event = on_event or logger.warning
        self._children: list[_Running] = []

    def adopt(self, spec: ChildSpec, process: subprocess.Popen) -> None:
        """Watches a child the caller started (and checked) itself."""
        self._children.append(_Running(spec, process, self.clock()))

    def start(self, spec: ChildSpec) -> subprocess.Popen:
        process = spec.start()
        self.adopt(spec, process)
        return process

    def processes(self) -> dict[str, subprocess.Popen | None]:
        return {child.spec.name: child.process for child in self._children}

    def restarts(self, name: str) -> int:
        return next(c.restarts for c in self._children if c.spec.name == name)

    def poll(self) -> None:
        """Restarts what may be restarted; raises ChildDied for a child that may not."""
        now = self.clock()
        for child in self._children:
            if child.process is None:
                if child.restart_at is not None and now >= child.restart_at:
                    self._restart(child)
                continue
            code = child.process.poll()
            if code is None:
                continue
            tail = log_tail(child.spec.log_path)
            if not child.spec.restart:
                raise ChildDied(child.spec.name, code, tail)
            if now - child.started_at >= self.backoff.reset_after_s:
                child.failures = 0
            # Exit 0 or SIGTERM: someone stopped it (a rolling restart), not a failure: an
            # operator walk read "failure 1 in a row" for a daphne they had restarted.
            stopped = code in (0, -signal.SIGTERM)
            if not stopped:
                child.failures += 1
            delay = self.backoff.delay_s(max(child.failures, 1))
            child.process, child.restart_at = None, now + delay
            if stopped:
                self.on_event(
                    f"{child.spec.name} {describe_exit(code)}, stopped from outside; "
                    f"starting it again in {delay:g} s."
                )
            else:
                self.on_event(
                    f"{child.spec.name} {describe_exit(code)}; restarting it in {delay:g} s "
                    f"(failure {child.failures} in a row).{tail}"
                )

    def _restart(self, child: _Running) -> None:
        child.restart_at = None
        process = child.spec.start()
        child.process, child.started_at = process, self.clock()
        try:
            if child.spec.check_ready is not None:
                child.spec.check_ready(process)
        except Exception as exc:
            self.on_event(f"{child.spec.name} did not come back: {exc}")
            _stop(process)
            child.failures += 1
            delay = self.backoff.delay_s(child.failures)
            child.process, child.restart_at = None, self.clock() + delay
            self.on_event(f"retrying {child.spec.name} in {delay:g} s")
            return
        child.restarts += 1
        self.on_event(f"{child.spec.name} is back (pid {process.pid}, restart {child.restarts}).")

    def stop(self) -> None:
        """Stops every child, last started first."""
        for child in reversed(self._children):
            if child.process is not None and child.process.poll() is None:
                child.process.terminate()
        for child in self._children:
            if child.process is not None:
                _stop(child.process)


def _stop(process: subprocess.Popen, timeout_s: float = 10.0) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
