"""What an FAQ editor needs to keep matching right: which FAQs overlap, and which of an FAQ's own
phrasings the matcher would not answer with it (each asked with itself left out). A diagnostic,
not the store's wrong-answer rate: docs/faq-format.md, "Matching quality page"."""

from dataclasses import dataclass

import numpy as np

from knowledge.embeddings import get_embedder
from knowledge.matching import MatchPolicy, candidate_features, phrasing_counts
from knowledge.models import FAQ, Paraphrase
from knowledge.operating_points import OperatingPoint, operating_point

MAX_PHRASINGS = 5000  # per locale: leave-one-out is a (n x n) product, seconds at this size
CHUNK = 512


@dataclass(frozen=True)
class Overlap:
    """Two FAQs with phrasings this close: questions between them get no answer (ambiguous)."""

    faq_id: int
    question: str
    other_faq_id: int
    other_question: str
    similarity: float
    phrasing: str
    other_phrasing: str


@dataclass(frozen=True)
class Recognition:
    faq_id: int
    question: str
    phrasings: int
    recognised: int  # answered with their own FAQ when asked with themselves left out
    elsewhere: int  # answered with another FAQ
    declined: int
    # Its phrasings not answered with it, as written (a lead read "0 recognised" and could not
    # tell which wordings the matcher missed).
    missed: tuple[str, ...] = ()


@dataclass(frozen=True)
class LocaleQuality:
    locale: str
    model: str
    point: OperatingPoint
    phrasings: int
    too_large: bool
    recognition: list[Recognition]  # least recognised first
    overlaps: list[Overlap]  # closest first


def leave_one_out(
    vectors: np.ndarray, faq_ids: np.ndarray, policy: MatchPolicy, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """For each row asked against all others: (answered FAQ or -1, nearest other-FAQ row)."""
    n = len(faq_ids)
    phrasings = phrasing_counts(faq_ids)
    answered = np.full(n, -1, dtype=np.int64)
    nearest_other = np.full(n, -1, dtype=np.int64)
    for start in range(0, n, CHUNK):
        rows = np.arange(start, min(start + CHUNK, n))
        sims = vectors[rows] @ vectors.T
        sims[np.arange(len(rows)), rows] = -np.inf  # itself left out
        kk = min(k, n - 1)
        if kk < 1:
            break
        top = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        scores = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-scores, axis=1, kind="stable")
        top, scores = np.take_along_axis(top, order, axis=1), np.take_along_axis(scores, order, 1)
        # With the row left out, its own FAQ has one phrasing fewer.
        own = faq_ids[top] == faq_ids[rows][:, None]
        # As in the app: fewer than k others means they are the whole store.
        features = candidate_features(faq_ids[top], scores, phrasings[top] - own == 1, kk < k)
        answered[rows] = np.where(policy.accept(features), features.best_faq, -1)
        other = np.where(faq_ids[None, :] == faq_ids[rows][:, None], -np.inf, sims)
        nearest_other[rows] = np.argmax(other, axis=1)
    return answered, nearest_other


def locale_quality(*, locale: str, k: int = 20, limit: int = 30) -> LocaleQuality:
    """The report for one locale's approved phrasings of active FAQs (its model's vectors)."""
    embedder = get_embedder(locale)
    point = operating_point(locale)
    rows = list(
        Paraphrase.objects.filter(
            approved=True,
            faq__active=True,
            faq__locale=locale,
            embedding__isnull=False,
            embedding_model=embedder.identity,
        ).values_list("faq_id", "text", "embedding")
    )
    base = LocaleQuality(locale, embedder.identity, point, len(rows), False, [], [])
    if len(rows) > MAX_PHRASINGS:
        return LocaleQuality(**{**base.__dict__, "too_large": True})
    if len(rows) < 2:
        return base
    faq_ids = np.array([faq_id for faq_id, _, _ in rows], dtype=np.int64)
    texts = [text for _, text, _ in rows]
    vectors = np.stack([np.frombuffer(bytes(e), dtype=np.float32) for _, _, e in rows])
    policy = point.match_policy()
    answered, nearest_other = leave_one_out(vectors, faq_ids, policy, k)
    questions = dict(FAQ.objects.filter(pk__in=set(faq_ids.tolist())).values_list("pk", "question"))
    recognition = []
    for faq_id in np.unique(faq_ids):
        mine = faq_ids == faq_id
        recognition.append(
            Recognition(
                int(faq_id),
                questions[int(faq_id)],
                int(mine.sum()),
                int((answered[mine] == faq_id).sum()),
                int(((answered[mine] >= 0) & (answered[mine] != faq_id)).sum()),
                int((answered[mine] < 0).sum()),
                tuple(texts[i] for i in np.flatnonzero(mine & (answered != faq_id))),
            )
        )
    recognition.sort(key=lambda r: (r.recognised / r.phrasings, r.faq_id))
    return LocaleQuality(
        **{
            **base.__dict__,
            "recognition": recognition,
            "overlaps": _overlaps(vectors, faq_ids, texts, nearest_other, questions, point, limit),
        }
    )


def _overlaps(
    vectors: np.ndarray,
    faq_ids: np.ndarray,
    texts: list[str],
    nearest_other: np.ndarray,
    questions: dict[int, str],
    point: OperatingPoint,
    limit: int,
) -> list[Overlap]:
    """FAQ pairs whose closest phrasings reach the answering threshold, closest first."""
    best: dict[tuple[int, int], Overlap] = {}
    for row, other in enumerate(nearest_other):
        if other < 0:
            continue
        similarity = float(vectors[row] @ vectors[other])
        if similarity < point.faq_threshold:
            continue
        a, b = int(faq_ids[row]), int(faq_ids[other])
        key = (min(a, b), max(a, b))
        if key not in best or similarity > best[key].similarity:
            best[key] = Overlap(
                a, questions[a], b, questions[b], round(similarity, 3), texts[row], texts[other]
            )
    return sorted(best.values(), key=lambda o: -o.similarity)[:limit]
