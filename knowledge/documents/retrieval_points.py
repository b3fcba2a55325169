"""The retrieval settings measured by `python -m bench.retrieval` (docs/retrieval.md): the chunk
size and, per embedding model, the relevance floor that decides "nothing relevant".

Floors were tuned on the labelled questions of half the documents (help centre en + zh-hans,
PostgreSQL 15 manual; bench/data/retrieval_*.json) and of half the out-of-scope questions, for the
most out-of-scope questions declined with at most 5% of answerable ones declined, and reported on
the other half. Cosines mean different things per model, so a floor belongs to the model, not to
the help centre; a model never measured here gets MiniLM's floor until it is measured.
"""

from knowledge.documents.ranking import RelevanceFloor
from knowledge.embeddings import get_embedder

CHUNK_MAX_TOKENS = 200

MEASURED_FLOORS = {
    "all-MiniLM-L6-v2": RelevanceFloor(min_cosine=0.5, min_coverage=1.0, coverage_min_cosine=0.3),
    "use-multilingual-v3": RelevanceFloor(
        min_cosine=0.5, min_coverage=1.0, coverage_min_cosine=0.3
    ),
}
UNMEASURED = MEASURED_FLOORS["all-MiniLM-L6-v2"]


def relevance_floor(locale: str | None = None) -> RelevanceFloor:
    """The floor for the model that embeds `locale` (knowledge.embeddings.get_embedder)."""
    model = get_embedder(locale).identity.split("/", 1)[0]
    return MEASURED_FLOORS.get(model, UNMEASURED)
