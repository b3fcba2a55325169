"""A per-process copy of stored rows that follows the knowledge version."""

import logging
import sys
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import numpy as np
from django.conf import settings
from django.db import connections

from knowledge.content_version import knowledge_version_readable, on_bump
from knowledge.embeddings import embedding_models

logger = logging.getLogger(__name__)
T = TypeVar("T")

Version = tuple[int | None, tuple[str, ...]]

# While a copy loads behind, the interpreter hands the lock to another thread after this long
# rather than CPython's 5 ms: a load is pure Python for a second or more, and a lookup that
# releases the lock a few dozen times (each numpy call, each database call) would wait up to the
# interval each time to get it back (docs/retrieval.md, "Content changes").
SWITCH_INTERVAL_WHILE_LOADING_S = 0.001
# A loader also steps aside for LOAD_PAUSE_S after each LOAD_WORK_S of its loops (`pausing`):
# CPython hands the lock over on request only when its holder keeps it for a whole switch
# interval, and a loop of numpy calls on arrays of a few hundred items releases and retakes it
# every few microseconds, so a thread waiting for it can wait for the whole loop (measured: 70 ms
# in bm25s's scoring of 1,000 pages; docs/retrieval.md, "Content changes").
LOAD_WORK_S = 0.001
LOAD_PAUSE_S = 0.001
_loading_behind = threading.local()
# Rows a copy's load fetches at a time: a fetch builds its rows with the lock held.
FETCH_ROWS = 256
_loaders = 0
_loaders_lock = threading.Lock()
_interval_before = sys.getswitchinterval()


@contextmanager
def _short_switches() -> Iterator[None]:
    global _loaders, _interval_before
    with _loaders_lock:
        if _loaders == 0:
            _interval_before = sys.getswitchinterval()
            sys.setswitchinterval(SWITCH_INTERVAL_WHILE_LOADING_S)
        _loaders += 1
    try:
        yield
    finally:
        with _loaders_lock:
            _loaders -= 1
            if _loaders == 0:
                sys.setswitchinterval(_interval_before)


def pausing(items: Iterable[T]) -> Iterator[T]:
    """`items`, with the pauses of a load behind (no pause in any other thread)."""
    for item in items:
        deadline = getattr(_loading_behind, "deadline", None)
        if deadline is not None and time.perf_counter() >= deadline:
            time.sleep(LOAD_PAUSE_S)
            _loading_behind.deadline = time.perf_counter() + LOAD_WORK_S
        yield item


def stored_vectors(rows: Sequence[bytes]) -> np.ndarray:
    """The rows' stored float32 vectors as one matrix, read from one joined buffer: numpy
    stacks 10,000 row arrays with the interpreter lock held (28-33 ms)."""
    return np.frombuffer(b"".join(pausing(rows)), dtype=np.float32).reshape(len(rows), -1)


class PausingList(list[T]):
    """A list whose iteration pauses as `pausing` does: for a library's loops over it."""

    def __iter__(self) -> Iterator[T]:
        return pausing(super().__iter__())


@contextmanager
def _pauses() -> Iterator[None]:
    _loading_behind.deadline = time.perf_counter() + LOAD_WORK_S
    try:
        yield
    finally:
        _loading_behind.deadline = None


_copies: weakref.WeakSet["VersionedCopy"] = weakref.WeakSet()


def _look_again() -> None:
    """A change made in this process: every copy looks at the version before its next answer,
    not after FAQ_INDEX_RECHECK_S (a content walk had a disabled FAQ answer six more questions
    in the 0.3 s after the editor saved it, in the process that saved it)."""
    for copy in list(_copies):
        copy._checked_at = -float("inf")


on_bump(_look_again)


class VersionedCopy:
    """Reloaded (`_load`, one reload at a time) when the knowledge version or an embedding
    model changes. Without a readable version (Redis down) the copy this process has keeps
    serving, or one is loaded if there is none yet (fail open; docs/operations.md).

    A copy that may serve older content for a moment (`loads_behind`) and whose last load took
    longer than KNOWLEDGE_COPY_BACKGROUND_LOAD_MS is reloaded on a thread of its own while it
    keeps serving, `stale` meanwhile: a help centre of 10,000 chunks takes seconds to load, and
    the question that noticed the change would wait for it with every FAQ and cache lookup
    queued behind it on the same lane (docs/retrieval.md, "Content changes"). Small copies,
    and rules that must apply at once, reload in the caller, as before."""

    loads_behind = False

    def __init__(self) -> None:
        _copies.add(self)
        self._version: Version | None = None
        self._latest: Version | None = None  # the newest version a refresh has seen
        self._lock = threading.Lock()  # one load at a time
        self._loading_behind = threading.Lock()  # one background loader at a time
        self._load_s = 0.0
        self._checked_at = -float("inf")

    def _load(self) -> None:
        raise NotImplementedError

    @property
    def last_load_s(self) -> float:
        return self._load_s

    @property
    def stale(self) -> bool:
        """A newer version was seen and is being loaded: the copy serves the content it has."""
        return self._latest != self._version

    def is_fresh(self, max_age_s: float) -> bool:
        """Compared with the knowledge version less than `max_age_s` ago: usable without a
        cache read (the event-loop path of the FAQ stage)."""
        return time.monotonic() - self._checked_at <= max_age_s

    def refresh(self) -> None:
        self._follow_version()
        self._checked_at = time.monotonic()

    def _follow_version(self) -> None:
        current = knowledge_version_readable()
        if current is None and self._version is not None:
            return
        version = (current, embedding_models())
        if version == self._version:
            return
        self._latest = version
        slow = self._load_s * 1000 > settings.KNOWLEDGE_COPY_BACKGROUND_LOAD_MS
        if self.loads_behind and self._version is not None and slow:
            self._load_behind()
            return
        with self._lock:
            if version != self._version:
                self._timed_load(version)

    def _timed_load(self, version: Version) -> None:
        started = time.perf_counter()
        self._load()
        self._version = version
        self._load_s = time.perf_counter() - started

    def _load_behind(self) -> None:
        if not self._loading_behind.acquire(blocking=False):
            return  # the running loader takes the newest version when it is done
        thread = threading.Thread(
            target=self._load_latest, name=f"{type(self).__name__}-load", daemon=True
        )
        try:
            thread.start()
        except BaseException:
            self._loading_behind.release()
            raise

    def _load_latest(self) -> None:
        """Loads until the copy has the newest version seen (changes keep coming during a bulk
        import); a failure leaves the previous copy serving, and the next refresh tries again."""
        try:
            with _short_switches(), _pauses():
                while (version := self._latest) is not None and version != self._version:
                    with self._lock:
                        self._timed_load(version)
        except Exception:
            logger.exception("reloading %s failed; its previous copy serves", type(self).__name__)
        finally:
            self._loading_behind.release()
            connections.close_all()  # this thread's own connections
