"""Loads the embedding model when the server starts, in a background thread, so the first
visitor does not wait seconds for it (the FAQ and cache stages embed every question).

It also imports the openai SDK's chat resources, which the SDK otherwise imports on the first
model call: a second of module loading on the event loop, stalling every open socket.

Then it freezes what start-up allocated (modules, models, settings) out of the garbage
collector's sight and makes collections rarer: a full collection over everything took 70-340 ms
of event-loop time under load (measured with gc.callbacks during `make loadtest`). Almost all
per-message garbage is freed by reference counting anyway."""

import gc
import logging
import threading

from django.conf import settings

from knowledge.embeddings import configured_embedders

logger = logging.getLogger(__name__)
embeddings_ready = threading.Event()
GC_YOUNG_THRESHOLD = 50_000  # allocations between young collections (CPython's default: 700)


def _warm_up() -> None:
    try:
        import openai.resources.chat  # noqa: F401

        for embedder in configured_embedders():
            embedder.embed(["warm up"])
    except Exception:
        logger.exception("embedding model warm-up failed")
    finally:
        settle_heap()
        embeddings_ready.set()


def settle_heap() -> None:
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 100)


def warm_up_in_background() -> threading.Thread | None:
    if not settings.WARM_UP_EMBEDDINGS:
        settle_heap()
        embeddings_ready.set()
        return None
    # Not a daemon: the interpreter waits for it at exit. A daemon thread still loading the model
    # when the process ends dies inside ONNX Runtime's C++ code, and that aborts the process
    # ("terminate called without an active exception", exit code 134), a short test run included.
    thread = threading.Thread(target=_warm_up, name="embedding-warm-up")
    thread.start()
    return thread
