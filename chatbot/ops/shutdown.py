"""A SIGTERM'd web process that does not exit: where it waits, and a bounded way out. Daphne
waits for every consumer and for the answers' hand-over (chatbot/asgi.py) before it stops;
one task that never ends would keep the process alive, listening but serving nobody, until a
SIGKILL (seen once in the rolling-restart drill, docs/operations.md, "Rolling restarts")."""

import asyncio
import io
import logging
import os

logger = logging.getLogger(__name__)


def task_stack(task: asyncio.Task[object]) -> str:
    """Where a task waits, innermost call last."""
    out = io.StringIO()
    task.print_stack(file=out)
    return out.getvalue()


def exit_stuck_shutdown(deadline_s: float) -> None:
    """Called `deadline_s` after SIGTERM if the process still runs: logs where every task waits
    and exits with status 1. Answers not finished are left to their claims' lapse, as after a
    crash (docs/operations.md, "Crashes and restarts")."""
    for task in asyncio.all_tasks():
        logger.warning(
            "shutdown: still waiting for a task",
            extra={"event": "shutdown_stuck", "stack": task_stack(task)},
        )
    logger.error("shutdown: not done %.0f s after SIGTERM, exiting", deadline_s)
    logging.shutdown()
    os._exit(1)
