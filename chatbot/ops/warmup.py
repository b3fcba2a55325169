"""Loads the embedding model (and the openai SDK's chat resources) in a background thread at
start-up, so the first visitor does not wait for them, builds this process's retrieval copies
(the chunk index or PostgreSQL's word copy, with the document index and jieba's dictionary), then
freezes the start-up heap and makes garbage collections rarer; `embeddings_ready` is set when
done. Why, with the figures: docs/architecture.md, "Start-up"."""

import gc
import logging
import threading

from django.conf import settings
from django.db import connections

from knowledge.documents.indexing import get_chunk_index
from knowledge.embeddings import configured_embedders
from knowledge.faq_word_store import faq_word_store

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
    try:
        if settings.WARM_UP_RETRIEVAL:
            retrieval_warm_up()
    finally:
        settle_heap()
        embeddings_ready.set()


def retrieval_warm_up() -> None:
    """Builds the retrieval copies the first question would otherwise build (0.7-1.4 s for the
    PostgreSQL manual's 11,395 chunks) and the FAQ stage's word copy (segmenting every FAQ's
    texts); a failure (no table yet, database down) is logged and left to that question. Closes
    this thread's database connections."""
    try:
        get_chunk_index().refresh()
        faq_word_store().refresh()
    except Exception:
        logger.exception("retrieval warm-up failed")
    finally:
        connections.close_all()


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
