"""Which thread a database call of the answer pipeline runs on: `lookup` for the reads a visitor
waits on before the first word, `retrieval` for the help centre's passages (a model answer's,
5-20 ms: FAQ and cache lookups no longer queue behind it), `bookkeeping` for writes nobody waits
for, each one thread with its own connection. Everything else stays on Channels' thread, so a
conversation's writes keep their order. Why, with the figures: docs/architecture.md, "Database
lanes"."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.db import database_sync_to_async
from django.db import connections

_LOOKUP = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-lookup")
_RETRIEVAL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-retrieval")
_BOOKKEEPING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-bookkeeping")


def on_lookup_lane(func: Callable[..., Any]) -> Callable[..., Any]:
    return database_sync_to_async(func, thread_sensitive=False, executor=_LOOKUP)


def on_retrieval_lane(func: Callable[..., Any]) -> Callable[..., Any]:
    return database_sync_to_async(func, thread_sensitive=False, executor=_RETRIEVAL)


def on_bookkeeping_lane(func: Callable[..., Any]) -> Callable[..., Any]:
    return database_sync_to_async(func, thread_sensitive=False, executor=_BOOKKEEPING)


def lanes_close_connections() -> None:
    """Closes each lane's connection, on its own thread (Django connections belong to the
    thread that opened them): before a test database is dropped, or at shutdown."""
    for lane in (_LOOKUP, _RETRIEVAL, _BOOKKEEPING):
        lane.submit(connections.close_all).result()
