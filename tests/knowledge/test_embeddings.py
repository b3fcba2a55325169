"""The ONNX Runtime embedder gives the reference model's vectors; the batcher shares forward
passes between concurrent questions and hands each caller its own vector."""

import asyncio
import threading

import numpy as np
import pytest

from knowledge.embeddings import (
    CachingEmbedder,
    EmbeddingBatcher,
    MiniLMEmbedder,
    TorchMiniLMEmbedder,
    embed_one_async,
)

TEXTS = [
    "How do I return an item I bought?",
    "我的订单什么时候到？",
    "Ça coûte combien, la livraison ?",
    "refund " * 400,  # longer than the model's 256 tokens: both truncate the same way
    "",
    "ok",
]


@pytest.mark.slow
def test_onnx_vectors_are_the_reference_models_vectors():
    onnx = MiniLMEmbedder().embed(TEXTS)
    reference = TorchMiniLMEmbedder().embed(TEXTS)
    assert onnx.shape == (len(TEXTS), 384) and onnx.dtype == np.float32
    assert np.allclose(np.linalg.norm(onnx, axis=1), 1.0, atol=1e-5)
    assert np.all(np.sum(onnx * reference, axis=1) > 0.9999)
    one_by_one = np.stack([MiniLMEmbedder().embed([text])[0] for text in TEXTS])
    assert np.all(np.sum(one_by_one * onnx, axis=1) > 0.9999), "padding must not move vectors"
    assert MiniLMEmbedder().embed([]).shape == (0, 384)


class SlowCountingEmbedder:
    """Records each batch and which thread ran it; the first batch is held until released."""

    dimension = 3
    identity = "slow-counting/3"

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.threads: set[str] = set()
        self.release = threading.Event()

    def embed(self, texts: list[str]) -> np.ndarray:
        if not self.batches:
            self.release.wait(5)
        self.batches.append(list(texts))
        self.threads.add(threading.current_thread().name)
        if "boom" in texts:
            raise RuntimeError("model failed")
        return np.array([[len(t), t.count("a"), 1.0] for t in texts], dtype=np.float32)


async def test_questions_arriving_during_a_pass_share_the_next_one():
    inner = SlowCountingEmbedder()
    batcher = EmbeddingBatcher(inner, max_batch=3)
    first = asyncio.create_task(batcher.embed("first"))
    await asyncio.sleep(0.05)  # the first pass is running, held by the embedder
    rest = [asyncio.create_task(batcher.embed(t)) for t in ("a", "banana", "cab", "aaaa")]
    await asyncio.sleep(0.05)
    inner.release.set()
    vectors = await asyncio.gather(first, *rest)
    assert inner.batches == [["first"], ["a", "banana", "cab"], ["aaaa"]]
    assert [v.tolist() for v in vectors] == [
        [5, 0, 1],
        [1, 1, 1],
        [6, 3, 1],
        [3, 1, 1],
        [4, 4, 1],
    ]
    assert inner.threads == {"embedding_0"}, "never on the event loop, always one thread"


async def test_a_failed_pass_fails_only_its_own_questions():
    inner = SlowCountingEmbedder()
    inner.release.set()
    batcher = EmbeddingBatcher(inner, max_batch=2)
    results = await asyncio.gather(
        batcher.embed("boom"),
        batcher.embed("x"),
        batcher.embed("after"),
        return_exceptions=True,
    )
    assert isinstance(results[0], RuntimeError) and isinstance(results[1], RuntimeError)
    assert results[2].tolist() == [5, 1, 1]


async def test_a_remembered_question_skips_the_embedding_thread(monkeypatch, swap_embedder):
    inner = SlowCountingEmbedder()
    inner.release.set()
    cached = CachingEmbedder(inner, size=8)
    swap_embedder(cached)
    first = await embed_one_async("where is my parcel")
    again = await embed_one_async("where is my parcel")
    assert np.array_equal(first, again)
    assert inner.batches == [["where is my parcel"]]
