"""Follows the knowledge version on a thread of its own, so this process's FAQ and retrieval
copies start reloading within KNOWLEDGE_FOLLOW_S of a content change instead of when the first
question after it notices: a copy that loads behind (knowledge.process_copy) answers that
question from the content before the change (seen in a walk: the first question after a crawl
missed the page it had just added). One read of the shared version per interval; the loads are
the copies' own (docs/retrieval.md, "Content changes")."""

import logging
import threading

from django.conf import settings
from django.db import close_old_connections

from chatbot.observability.logs import describe_error
from knowledge.documents.indexing import get_chunk_index
from knowledge.index import get_index

logger = logging.getLogger(__name__)


def follow_once() -> None:
    """Each copy compares its version with the shared one and reloads (or starts reloading
    behind) when they differ."""
    for index in (get_index(), get_chunk_index()):
        refresh = getattr(index, "refresh", None)  # pgvector's FAQ index keeps no copy
        if refresh is not None:
            refresh()


def _follow(stop: threading.Event, interval_s: float) -> None:
    failing = False
    while not stop.wait(interval_s):
        try:
            close_old_connections()
            follow_once()
        except Exception as exc:
            if not failing:  # one line per outage, not one per interval
                logger.warning("following the knowledge version failed: %s", describe_error(exc))
            failing = True
        else:
            failing = False


def follow_in_background() -> threading.Event | None:
    """Starts the follower (none when KNOWLEDGE_FOLLOW_S is 0); set the returned event to stop
    it. A daemon thread: it holds nothing that must finish at exit."""
    interval_s = settings.KNOWLEDGE_FOLLOW_S
    if interval_s <= 0:
        return None
    stop = threading.Event()
    threading.Thread(
        target=_follow, args=(stop, interval_s), name="knowledge-follow", daemon=True
    ).start()
    return stop
