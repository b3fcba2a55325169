"""A per-process copy of stored rows that follows the knowledge version."""

import threading

from knowledge.content_version import knowledge_version_readable
from knowledge.embeddings import embedding_models


class VersionedCopy:
    """Reloaded (`_load`, one reload at a time) when the knowledge version or an embedding
    model changes. Without a readable version (Redis down) the copy this process has keeps
    serving, or one is loaded if there is none yet (fail open; docs/operations.md)."""

    def __init__(self) -> None:
        self._version: tuple[int | None, tuple[str, ...]] | None = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        raise NotImplementedError

    def refresh(self) -> None:
        current = knowledge_version_readable()
        if current is None and self._version is not None:
            return
        version = (current, embedding_models())
        if version != self._version:
            with self._lock:
                if version != self._version:
                    self._load()
                    self._version = version
