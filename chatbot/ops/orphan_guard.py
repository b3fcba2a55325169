"""Children that stop when `serve` dies. An operator walk found that a `serve` killed with SIGKILL
(an OOM kill, a stray `kill -9`) left PostgreSQL, Redis, the daphnes, Celery and nginx running
with nobody supervising them, and the next start refused their ports. Each child is started with
Linux's parent-death signal (prctl PR_SET_PDEATHSIG): SIGTERM, the signal `serve` stops them with.

It is set in `preexec_fn`, in the child between fork and exec, after Popen's own `user=` switch
(PostgreSQL runs as another user when `serve` runs as root, and a credential change would clear
the signal): a wrapper program would have to be one that user may run, and the venv's interpreter
often is not. Python warns that `preexec_fn` may deadlock when other threads hold locks at the
fork; the function resolved here beforehand makes one system call and takes no lock. Elsewhere
than Linux children start as before."""

import ctypes
import functools
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

_PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def _stop_with(parent: int) -> None:
    if _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0 or os.getppid() != parent:
        os._exit(1)  # could not be guarded, or the parent ended before the signal was set


def stopped_with_parent() -> dict[str, Callable[[], Any]]:
    """Popen options for a child that gets SIGTERM when this process ends. Start it from the
    thread that outlives it (the main thread): the signal follows the starting thread."""
    if _prctl is None:
        return {}
    return {"preexec_fn": functools.partial(_stop_with, os.getpid())}
