"""Which thread a database call of the answer pipeline runs on.

Channels runs every `database_sync_to_async` call of a process on one thread, in arrival order.
Under load that queue is what a visitor waits in: at 200 sessions the FAQ lookup before an
answer's first word (1 ms of work) waited 25 ms p50 / 137 ms p99 behind the bookkeeping of the
answers that had just finished (answer traces of `make loadtest`). So the pipeline uses two more
lanes, each one thread with its own database connection:

- `lookup`: the reads a visitor waits on before the first word (FAQ and cache lookups);
- `bookkeeping`: writes nobody waits for (hit counts, new cache entries, after the answer).

Everything else (storing messages and answers, handoffs) stays on Channels' thread, so the
order of a conversation's writes is unchanged. SQLite serves the lanes in WAL mode (readers
never wait for the writer; writers take turns, immediate transactions so none deadlocks on an
upgrade); PostgreSQL needs nothing special."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.db import database_sync_to_async
from django.db import connections

_LOOKUP = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-lookup")
_BOOKKEEPING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-bookkeeping")


def on_lookup_lane(func: Callable[..., Any]) -> Callable[..., Any]:
    return database_sync_to_async(func, thread_sensitive=False, executor=_LOOKUP)


def on_bookkeeping_lane(func: Callable[..., Any]) -> Callable[..., Any]:
    return database_sync_to_async(func, thread_sensitive=False, executor=_BOOKKEEPING)


def lanes_close_connections() -> None:
    """Closes each lane's connection, on its own thread (Django connections belong to the
    thread that opened them): before a test database is dropped, or at shutdown."""
    for lane in (_LOOKUP, _BOOKKEEPING):
        lane.submit(connections.close_all).result()
