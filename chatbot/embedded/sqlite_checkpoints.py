"""SQLite's WAL checkpoints on a thread of their own instead of inside a visitor's commit: the
serving process turns automatic checkpoints off on its connections and checkpoints every
SQLITE_CHECKPOINT_INTERVAL_S (0: SQLite's own). Why: docs/architecture.md, "Database lanes";
the paired runs: docs/loadtest.md, "Figures"."""

import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.backends.signals import connection_created

logger = logging.getLogger(__name__)


def _no_automatic_checkpoints(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_autocheckpoint=0")


def checkpoint(path: str, timeout_s: float) -> tuple[int, int, int]:
    """One passive checkpoint: (busy, frames in the log, frames copied)."""
    db = sqlite3.connect(path, timeout=timeout_s)
    try:
        return db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        db.close()


def run_checkpoints(
    interval_s: float, database_path: Callable[[], str], timeout_s: float, stop: threading.Event
) -> None:
    while not stop.wait(interval_s):
        path = database_path()
        if not Path(path).is_file():
            continue  # not created yet (or in memory): nothing to copy, and never create it
        try:
            checkpoint(path, timeout_s)
        except sqlite3.Error:
            logger.warning("WAL checkpoint of %s failed", path, exc_info=True)


def start_checkpointer() -> threading.Thread | None:
    """In the serving process, on SQLite with a file database; None otherwise."""
    interval_s = settings.SQLITE_CHECKPOINT_INTERVAL_S
    database = settings.DATABASES["default"]
    if interval_s <= 0 or database["ENGINE"] != "django.db.backends.sqlite3":
        return None
    connection_created.connect(_no_automatic_checkpoints, dispatch_uid="sqlite-checkpoints")
    thread = threading.Thread(
        target=run_checkpoints,
        args=(
            interval_s,
            # Read each time: a test run points the settings at its own database after start-up.
            lambda: str(settings.DATABASES["default"]["NAME"]),
            database["OPTIONS"]["timeout"],  # as long as the app's own connections wait
            threading.Event(),
        ),
        name="sqlite-checkpoint",
        daemon=True,
    )
    thread.start()
    return thread
