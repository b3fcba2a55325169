"""Loads the embedding model when the server starts, in a background thread, so the first
visitor does not wait seconds for it (the FAQ and cache stages embed every question).

It also imports the openai SDK's chat resources, which the SDK otherwise imports on the first
model call: a second of module loading on the event loop, stalling every open socket."""

import logging
import threading

from django.conf import settings

logger = logging.getLogger(__name__)
embeddings_ready = threading.Event()


def _warm_up() -> None:
    from knowledge.embeddings import get_embedder

    try:
        import openai.resources.chat  # noqa: F401

        get_embedder().embed(["warm up"])
    except Exception:
        logger.exception("embedding model warm-up failed")
    finally:
        embeddings_ready.set()


def warm_up_in_background() -> threading.Thread | None:
    if not settings.WARM_UP_EMBEDDINGS:
        embeddings_ready.set()
        return None
    thread = threading.Thread(target=_warm_up, name="embedding-warm-up", daemon=True)
    thread.start()
    return thread
