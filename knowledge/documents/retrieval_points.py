"""The retrieval settings measured by `python -m bench.retrieval` (docs/retrieval.md): the chunk
size and, per embedding model, the relevance floor that decides "nothing relevant".

Each floor is the cosine threshold that declined the most out-of-scope questions while declining
at most 5% of the answerable ones, tuned on the labelled questions of half the documents (help
centre en + zh-hans, PostgreSQL 15 manual; bench/data/retrieval_*.json) and half the out-of-scope
questions, and reported on the other half: MiniLM 40% of out-of-scope questions declined, 3.7%
of answerable ones; USE 36% and 4.8%. A rule adding the share of the question's tokens found in
a passage declined more on the tune half but 7.5-10% of answerable questions on the held-out
halves, over the budget, so it is off. Cosines mean different things per model, so a floor
belongs to the model, not to the help centre; a model never measured here gets MiniLM's floor.
"""

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
