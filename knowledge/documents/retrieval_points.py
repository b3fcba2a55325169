"""The retrieval settings measured by `python -m bench.retrieval`: the chunk size and, per
embedding model, the relevance floor that decides "nothing relevant"; a model never measured here
gets MiniLM's floor. How they were tuned, with the figures: docs/retrieval.md, "Chunk size" and
"Relevance floor"."""

from knowledge.documents.ranking import RelevanceFloor
from knowledge.embeddings import get_embedder

CHUNK_MAX_TOKENS = 200

MEASURED_FLOORS = {
    "all-MiniLM-L6-v2": RelevanceFloor(min_cosine=0.42),
    "use-multilingual-v3": RelevanceFloor(min_cosine=0.27),
}
UNMEASURED = MEASURED_FLOORS["all-MiniLM-L6-v2"]


def relevance_floor(locale: str | None = None) -> RelevanceFloor:
    """The floor for the model that embeds `locale` (knowledge.embeddings.get_embedder)."""
    model = get_embedder(locale).identity.split("/", 1)[0]
    return MEASURED_FLOORS.get(model, UNMEASURED)
