"""The knowledge version: a shared counter that every change to FAQ content, documents or rules
bumps, so per-process indexes reload and cached answers of older content expire.

A leaf of knowledge (settings and the shared state store only): the indexes, the per-process
copies and chatbot's answer cache read it, and the services bump it (docs/architecture.md,
"Import map"; failure policy: docs/operations.md, "When Redis does not answer")."""

import random
import threading
import time
from collections.abc import Callable

import redis
from django.conf import settings

from statestore.counters import counter_add
from statestore.policy import RedisUnavailable, key, memory, via_redis_sync

KNOWLEDGE_VERSION_KEY = "knowledge:version"  # under SHARED_STATE_PREFIX
UNSENT_BUMPS = "unsent_bumps"  # made while Redis did not answer: sent with the next call

# (version, time.monotonic() it was read): this process's last look at the shared counter.
_version_seen: tuple[int, float] | None = None
_version_lock = threading.Lock()


def knowledge_version() -> int:
    """Changes whenever FAQ content or rules change: indexes reload, cached answers expire.

    Read from the shared state store at most every FAQ_INDEX_RECHECK_S per process (the delay
    the in-memory FAQ index already allows a change): with Redis, a GET for every FAQ, cache and
    output-rule lookup was a third of the lookup lane's time under load (docs/deploy.md). A
    bump made by this process is seen at once. Raises RedisUnavailable when Redis does not
    answer (fails closed: a cache scope on a guessed version could serve retired content;
    docs/operations.md, "When Redis does not answer")."""
    global _version_seen
    seen = _version_seen
    if seen is not None and time.monotonic() - seen[1] < settings.FAQ_INDEX_RECHECK_S:
        return seen[0]
    version = _version_add(0)
    _version_seen = (version, time.monotonic())
    return version


def knowledge_version_forget() -> None:
    """The next read asks the shared store (after a bump, or when tests reset it)."""
    global _version_seen
    _version_seen = None


def knowledge_version_readable() -> int | None:
    """The knowledge version, or None when Redis does not answer: per-process indexes then keep
    serving the copy they have (fail open; docs/operations.md)."""
    try:
        return knowledge_version()
    except RedisUnavailable:
        return None


_bump_listeners: list[Callable[[], None]] = []


def on_bump(listener: Callable[[], None]) -> None:
    """Calls `listener` whenever this process moves the version (knowledge.process_copy: its
    copies look at the version again before their next answer)."""
    _bump_listeners.append(listener)


def knowledge_version_bump() -> None:
    """Moves the version on. While Redis does not answer the bump waits in this process and
    goes with its next call that reaches Redis (fails open: the change is committed already;
    other processes see it once Redis answers). One that timed out may have landed too and
    count twice: harmless, a version only has to differ."""
    knowledge_version_forget()
    for listener in _bump_listeners:
        listener()

    def unsent() -> None:
        with _version_lock:
            waiting = memory("knowledge")
            waiting[UNSENT_BUMPS] = waiting.get(UNSENT_BUMPS, 0) + 1

    _version_add(1, instead=unsent)


def _version_add(add: int, instead: Callable[[], None] | None = None) -> int | None:
    """Adds `add` (and any unsent bumps) to the shared counter; returns it.

    A missing counter (a Redis that restarted empty, a new deployment's key, a new database)
    starts at a random point below 2**30, not at 1: cached answers are stored
    under the version, so a count from 1 again would reach old entries' versions with other
    content (the column is a 31-bit integer: 2**30 bumps of headroom)."""
    if not settings.REDIS_URL:  # the embedded default: in its database, seen by every process
        return counter_add(KNOWLEDGE_VERSION_KEY, add, start=_version_start)

    def on_redis(client: redis.Redis) -> int:
        waiting = memory("knowledge")
        unsent = waiting.get(UNSENT_BUMPS, 0)
        name = key(KNOWLEDGE_VERSION_KEY)
        with client.pipeline(transaction=True) as pipe:
            pipe.set(name, _version_start(), nx=True)
            pipe.incrby(name, add + unsent)
            version = int(pipe.execute()[-1])
        with _version_lock:
            waiting[UNSENT_BUMPS] = waiting.get(UNSENT_BUMPS, 0) - unsent
        return version

    return via_redis_sync("knowledge_version", on_redis, instead)


def _version_start() -> int:
    return random.randrange(1, 2**30)
