"""The serving process copies SQLite's WAL back into the database file on a thread of its own,
so no visitor's commit waits for a checkpoint."""

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from chatbot.embedded.sqlite_checkpoints import checkpoint, run_checkpoints, start_checkpointer

sqlite_only = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
    reason="SQLite's WAL",
)


def wal_database(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")
    db.execute("CREATE TABLE t (x TEXT)")
    return db


def test_a_checkpoint_copies_the_log_into_the_database_file(tmp_path):
    path = tmp_path / "db.sqlite3"
    db = wal_database(path)
    db.executemany("INSERT INTO t VALUES (?)", [("x" * 500,)] * 200)
    before = path.stat().st_size
    busy, logged, copied = checkpoint(str(path), timeout_s=5)
    assert busy == 0 and logged > 0 and copied == logged
    assert path.stat().st_size > before
    db.close()


def test_nothing_starts_when_turned_off(settings):
    settings.SQLITE_CHECKPOINT_INTERVAL_S = 0
    assert start_checkpointer() is None


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_the_servers_connections_leave_checkpoints_to_the_thread():
    assert any(t.name == "sqlite-checkpoint" for t in threading.enumerate())
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        assert cursor.fetchone()[0] == 0


def test_the_thread_copies_what_connections_without_checkpoints_leave_in_the_log(tmp_path):
    path = tmp_path / "db.sqlite3"
    db = wal_database(path)
    db.executemany("INSERT INTO t VALUES (?)", [("x" * 500,)] * 200)
    size = path.stat().st_size
    time.sleep(0.3)
    assert path.stat().st_size == size, "with automatic checkpoints off, the log keeps it all"
    stop = threading.Event()
    thread = threading.Thread(target=run_checkpoints, args=(0.05, lambda: str(path), 5, stop))
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while path.stat().st_size == size and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join()
    assert path.stat().st_size > size
    db.close()
