"""The knowledge version: a shared counter that every change to FAQ content, documents or rules
bumps, so per-process indexes reload and cached answers of older content expire.

A leaf of knowledge (Django's cache and settings only): the indexes, the per-process copies and
chatbot's answer cache read it, and the services bump it (docs/architecture.md, "Import map")."""

import logging
import time

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

KNOWLEDGE_VERSION_KEY = "knowledge:version"


# (version, time.monotonic() it was read): this process's last look at the shared counter.
_version_seen: tuple[int, float] | None = None


def knowledge_version() -> int:
    """Changes whenever FAQ content or rules change: indexes reload, cached answers expire.

    Read from the shared cache at most every FAQ_INDEX_RECHECK_S per process (the delay the
    in-memory FAQ index already allows a change): with Redis, a GET for every FAQ, cache and
    output-rule lookup was a third of the lookup lane's time under load (docs/deploy.md). A
    bump made by this process is seen at once."""
    global _version_seen
    seen = _version_seen
    if seen is not None and time.monotonic() - seen[1] < settings.FAQ_INDEX_RECHECK_S:
        return seen[0]
    version = cache.get(KNOWLEDGE_VERSION_KEY)
    if version is None:
        cache.add(KNOWLEDGE_VERSION_KEY, 1, timeout=None)
        version = cache.get(KNOWLEDGE_VERSION_KEY, 1)
    _version_seen = (int(version), time.monotonic())
    return int(version)


def knowledge_version_forget() -> None:
    """The next read asks the shared cache (after a bump, or when tests clear the cache)."""
    global _version_seen
    _version_seen = None


def knowledge_version_readable() -> int | None:
    """The knowledge version, or None when the shared cache (Redis) does not answer: per-process
    indexes then keep serving the copy they have (fail open; docs/operations.md)."""
    try:
        return knowledge_version()
    except Exception as exc:
        logger.warning("knowledge version unreadable (%s); serving this process's copy", exc)
        return None


def knowledge_version_bump() -> None:
    knowledge_version_forget()
    try:
        cache.incr(KNOWLEDGE_VERSION_KEY)
    except ValueError:
        cache.set(KNOWLEDGE_VERSION_KEY, 2, timeout=None)
