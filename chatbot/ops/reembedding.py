"""Moves every stored vector to the configured embedding model, after EMBEDDING_BACKEND changed:
FAQ paraphrases are embedded again, batch by batch, and documents with chunks of another model
are indexed again, one at a time; cached answers of another model are dropped
(`entries_drop_other_models` says why). Until then the FAQ stage searches only the paraphrases
the configured model embedded. Operators start it (`manage.py reembed`); in `chatbot`, not
`knowledge`, because it writes to the FAQ store and to the answer cache."""

from collections.abc import Callable
from dataclasses import dataclass

from chatbot.cache.services import entries_drop_other_models
from knowledge.content_version import knowledge_version_bump
from knowledge.negative_store import negatives_reembed
from knowledge.services import ReembedProgress, documents_reembed, paraphrases_reembed
from knowledge.vector_columns import vectors_fill_missing


@dataclass(frozen=True)
class ReembedResult:
    cache_entries_dropped: int
    paraphrases_reembedded: int
    documents_reindexed: int = 0
    negatives_reembedded: int = 0
    paraphrase_columns_filled: int = 0
    chunk_columns_filled: int = 0


def embeddings_reembed(
    *, batch_size: int, on_batch: Callable[[ReembedProgress], None] | None = None
) -> ReembedResult:
    """Drops other models' cache entries, then re-embeds the paraphrases of other models (or of
    none), `batch_size` per forward pass, calling `on_batch` after each, then the confirmed
    negative examples likewise and the documents' chunks. Safe to run again: what is on the
    configured model already is skipped. First, on PostgreSQL, the pgvector columns empty
    beside a stored vector are filled (rows `loaddata` wrote: docs/deploy.md, "Moving from the
    embedded default"); last, the knowledge version moves, so running processes load what
    changed under them (they had served the FAQ store from before a `loaddata`)."""
    filled = vectors_fill_missing()
    dropped = entries_drop_other_models()
    done = 0
    for progress in paraphrases_reembed(batch_size=batch_size):
        done = progress.done
        if on_batch is not None:
            on_batch(progress)
    negatives = 0
    for progress in negatives_reembed(batch_size=batch_size):
        negatives = progress.done
    documents = sum(1 for _ in documents_reembed())
    knowledge_version_bump()
    return ReembedResult(
        cache_entries_dropped=dropped,
        paraphrases_reembedded=done,
        documents_reindexed=documents,
        negatives_reembedded=negatives,
        paraphrase_columns_filled=filled.paraphrases,
        chunk_columns_filled=filled.chunks,
    )
