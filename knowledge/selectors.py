"""Reads for the answer pipeline: confident FAQ matching and variant rotation, and the passages
of the knowledge base a grounded answer cites."""

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db.models import QuerySet

from knowledge import services
from knowledge.chinese import simplified
from knowledge.documents.indexing import get_chunk_index, stored_chunks
from knowledge.documents.lexical import tokenize
from knowledge.documents.ranking import DOCUMENT_CANDIDATES, hybrid
from knowledge.documents.retrieval_points import relevance_floor
from knowledge.documents.types import DocumentLink, Passage, Retrieval, document_url
from knowledge.embeddings import get_embedder
from knowledge.faq_word_store import faq_word_store
from knowledge.faq_words import OTHER_FAQ_WORDS
from knowledge.greetings import strip_greetings
from knowledge.index import InMemoryIndex, faq_sources, get_index
from knowledge.matching import ANSWER, MatchPolicy, MatchResult, Neighbour, related_faqs
from knowledge.models import FAQ, AnswerVariant, Document
from knowledge.negative_store import negative_store
from knowledge.negatives import NEGATIVE_EXAMPLE, NegativeHit
from knowledge.operating_points import operating_point
from knowledge.same_wording import same_wording, wording

EXACT = "exact"
SAME_WORDING = "same_wording"  # a stored phrasing's words moved round (knowledge.same_wording)
# The decisions that answer with the matched FAQ.
ANSWERING = (ANSWER, EXACT, SAME_WORDING)


def one_line(text: str) -> str:
    """A question as stored: trimmed, every run of whitespace one space."""
    return " ".join(text.split())


def faqs_asking(*, locale: str, question: str) -> QuerySet[FAQ]:
    """The FAQs of `locale` for `question`, ignoring case and spacing: two such FAQs would split
    the question's matches, and neither would answer it."""
    return FAQ.objects.filter(locale=locale, question__iexact=one_line(question))


@dataclass
class FaqLookup:
    result: MatchResult
    decision: str
    variant_id: int | None = None
    text: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)
    negative: NegativeHit | None = None  # the confirmed negative that declined the match
    # The words of other FAQs' subjects that declined the match (knowledge/faq_words.py).
    foreign_words: tuple[str, ...] = ()
    source: DocumentLink | None = None  # the FAQ's linked document, cited with the answer
    # Declined: the FAQs near enough to offer as "Did you mean" questions, best first.
    related: tuple[int, ...] = ()

    @property
    def answered(self) -> bool:
        return self.variant_id is not None


def match_policy(locale: str | None = None) -> MatchPolicy:
    """MatchPolicy at the operating point of the model that embeds `locale`."""
    return operating_point(locale).match_policy()


def normalise_question(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", simplified(text).casefold()).split())


def repeated_faq(query: str, phrasings: Iterable[tuple[int, str]]) -> tuple[int, str] | None:
    """(FAQ id, decision) for the FAQ among `phrasings` ((FAQ id, text) pairs) whose stored
    wording is exactly the query (ignoring case, punctuation and leading greetings), EXACT, or
    else the query in the same words moved round, SAME_WORDING, when only one FAQ has that
    wording: a repeat of a known question never needs the model."""
    asked = strip_greetings(query)
    stored = [(faq_id, strip_greetings(text)) for faq_id, text in phrasings]
    wanted = normalise_question(asked)
    faqs = {faq_id for faq_id, text in stored if normalise_question(text) == wanted}
    if faqs:
        return (faqs.pop(), EXACT) if len(faqs) == 1 else None
    units = wording(asked)
    faqs = {faq_id for faq_id, text in stored if same_wording(units, wording(text))}
    return (faqs.pop(), SAME_WORDING) if len(faqs) == 1 else None


def faq_match(
    *, text: str, locale: str, vector: np.ndarray | None = None
) -> tuple[MatchResult, str, dict[str, float]]:
    """(the policy's result, the decision incl. exact repeats and negative vetoes, timings) for
    one question; pass `vector` when the question was embedded already (without its leading
    greetings, as here)."""
    matched = _match(text=text, locale=locale, vector=vector)
    return matched.result, matched.decision, matched.timings


@dataclass
class _Matched:
    """A question decided against the store: the policy's result and decision after the
    vetoes, the confirmed negative or the other FAQs' words that declined it, if any, and the
    neighbours it was decided on."""

    result: MatchResult
    decision: str
    timings: dict[str, float]
    negative: NegativeHit | None
    neighbours: list[Neighbour]
    foreign: tuple[str, ...]

    def lookup(self, locale: str) -> FaqLookup:
        found = FaqLookup(
            result=self.result,
            decision=self.decision,
            timings_ms=self.timings,
            negative=self.negative,
            foreign_words=self.foreign,
        )
        return _with_related(_with_variant(found), self.neighbours, locale)


def _match(*, text: str, locale: str, vector: np.ndarray | None) -> _Matched:
    started = time.perf_counter()
    if vector is None:
        vector = get_embedder(locale).embed([strip_greetings(text)])[0]
    embedded = time.perf_counter()
    neighbours = get_index().search(vector, locale=locale, k=settings.FAQ_MATCH_K)
    searched = time.perf_counter()
    negative_store().refresh()
    faq_word_store().refresh()
    result, decision, foreign = _decide(text, locale, neighbours)
    result, decision, negative = _negative_veto(result, decision, locale, vector)
    timings = {
        "embed_ms": round((embedded - started) * 1000, 2),
        "search_ms": round((searched - embedded) * 1000, 2),
        "decide_ms": round((time.perf_counter() - searched) * 1000, 2),
    }
    return _Matched(result, decision, timings, negative, neighbours, foreign)


def _negative_veto(
    result: MatchResult, decision: str, locale: str, vector: np.ndarray
) -> tuple[MatchResult, str, NegativeHit | None]:
    """Declines the match when the query is as close to a confirmed negative of the FAQ as to
    the FAQ itself (knowledge/negatives.py); the best FAQ and its scores stay in the result. A
    stored wording asked as written (EXACT) or moved round (SAME_WORDING) is the FAQ's by
    definition and is never vetoed."""
    if decision != ANSWER or result.faq_id is None:
        return result, decision, None
    negative = negative_store().veto(
        faq_id=result.faq_id, locale=locale, vector=vector, best_similarity=result.best_similarity
    )
    if negative is None:
        return result, decision, None
    declined = MatchResult(**{**result.__dict__, "faq_id": None, "decision": NEGATIVE_EXAMPLE})
    return declined, NEGATIVE_EXAMPLE, negative


def _decide(
    text: str, locale: str, neighbours: list[Neighbour]
) -> tuple[MatchResult, str, tuple[str, ...]]:
    ids = np.array([n.faq_id for n in neighbours], dtype=np.int64)
    scores = np.array([n.score for n in neighbours], dtype=np.float32)
    lone = np.array([n.lone for n in neighbours], dtype=bool)
    # Fewer than K from the exact in-memory search: the store has no more. pgvector's HNSW scan
    # may return fewer for other reasons (drafts and other locales filtered after the scan).
    exhaustive = isinstance(get_index(), InMemoryIndex) and len(neighbours) < settings.FAQ_MATCH_K
    result = match_policy(locale).decide(ids, scores, lone, exhaustive)
    decision = result.decision
    foreign: tuple[str, ...] = ()
    # An FAQ with a single phrasing has too few words of its own to call another word foreign.
    checked = decision == ANSWER and result.faq_id is not None and not result.lone
    if checked and settings.FAQ_WORD_CHECK:
        foreign = tuple(
            faq_word_store().foreign(
                question=strip_greetings(text),
                locale=locale,
                faq_id=result.faq_id,
                near_faq_ids=[n.faq_id for n in neighbours],
            )
        )
        if foreign:
            result = MatchResult(**{**result.__dict__, "faq_id": None, "decision": OTHER_FAQ_WORDS})
            decision = OTHER_FAQ_WORDS
    # A stored wording asked as written, or moved round, is its FAQ's, whatever the words say.
    repeated = (
        None if result.answered else repeated_faq(text, [(n.faq_id, n.text) for n in neighbours])
    )
    if repeated is not None:
        faq_id, decision = repeated
        result = MatchResult(**{**result.__dict__, "faq_id": faq_id, "decision": decision})
        foreign = ()
    return result, decision, foreign


def variant_pick(*, faq_id: int) -> AnswerVariant | None:
    """The approved variant served least so far, so repeat visitors see different wordings."""
    return (
        AnswerVariant.objects.filter(
            faq_id=faq_id, status=AnswerVariant.Status.APPROVED, faq__active=True
        )
        .order_by("served_count", "?")
        .first()
    )


def faq_find(*, text: str, locale: str, vector: np.ndarray | None = None) -> FaqLookup:
    """The confident match and the variant to serve, without writing anything: the answer
    pipeline records the hit after the answer went out (`faq_record_hit`)."""
    return _match(text=text, locale=locale, vector=vector).lookup(locale)


def faq_find_in_memory(*, text: str, locale: str, vector: np.ndarray) -> FaqLookup | None:
    """`faq_find` answered from this process's in-memory index, without the database, when
    that index was checked against the knowledge version within FAQ_INDEX_RECHECK_S and is
    small enough to search on the event loop; None when `faq_find` must run instead."""
    index = get_index()
    fresh = all(
        store.is_fresh(settings.FAQ_INDEX_RECHECK_S)
        for store in (negative_store(), faq_word_store())
    )
    if not isinstance(index, InMemoryIndex) or not fresh:
        return None
    started = time.perf_counter()
    neighbours = index.search_fresh(
        vector,
        locale=locale,
        k=settings.FAQ_MATCH_K,
        max_age_s=settings.FAQ_INDEX_RECHECK_S,
        max_rows=settings.FAQ_IN_MEMORY_MAX_ROWS,
    )
    if neighbours is None:
        return None
    searched = time.perf_counter()
    result, decision, foreign = _decide(text, locale, neighbours)
    result, decision, negative = _negative_veto(result, decision, locale, vector)
    timings = {
        "search_ms": round((searched - started) * 1000, 2),
        "decide_ms": round((time.perf_counter() - searched) * 1000, 2),
    }
    return _Matched(result, decision, timings, negative, neighbours, foreign).lookup(locale)


def _with_related(lookup: FaqLookup, neighbours: list[Neighbour], locale: str) -> FaqLookup:
    if lookup.answered or not neighbours:
        return lookup
    lookup.related = tuple(
        related_faqs(
            np.array([n.faq_id for n in neighbours], dtype=np.int64),
            np.array([n.score for n in neighbours], dtype=np.float32),
            operating_point(locale).faq_related_floor,
            settings.FAQ_RELATED_MAX,
        )
    )
    return lookup


def faq_questions(*, faq_ids: Sequence[int], locale: str) -> dict[int, str]:
    """The questions of the active FAQs among `faq_ids` in `locale` (offered to a visitor)."""
    return dict(
        FAQ.objects.filter(pk__in=faq_ids, locale=locale, active=True).values_list("pk", "question")
    )


def _with_variant(lookup: FaqLookup) -> FaqLookup:
    faq_id = lookup.result.faq_id
    if faq_id is None or lookup.decision not in ANSWERING:
        return lookup
    index = get_index()
    if isinstance(index, InMemoryIndex):
        picked = index.variant_pick(faq_id)
        source = index.faq_source(faq_id)
    else:
        variant = variant_pick(faq_id=faq_id)
        picked = (variant.pk, variant.text) if variant is not None else None
        source = faq_sources([faq_id]).get(faq_id)
    if picked is None:
        lookup.decision = "no_approved_variant"
        return lookup
    lookup.variant_id, lookup.text = picked
    lookup.source = source
    return lookup


def faq_lookup(*, text: str, locale: str, vector: np.ndarray | None = None) -> FaqLookup:
    """`faq_find` and the hit recorded at once (the evaluation command, tests, benchmarks)."""
    lookup = faq_find(text=text, locale=locale, vector=vector)
    if lookup.answered:
        assert lookup.result.faq_id is not None and lookup.variant_id is not None
        services.faq_record_hit(faq_id=lookup.result.faq_id, variant_id=lookup.variant_id)
    return lookup


def passages_retrieve(
    *,
    text: str,
    locale: str,
    k: int = 5,
    include_agents_only: bool = False,
    vector: np.ndarray | None = None,
) -> Retrieval:
    """The `k` best chunks for a question by hybrid retrieval: the nearest by vector and the
    best by words (Chinese segmented), fused (`ranking.fuse`), each raised by its page's own
    score (the document index, KNOWLEDGE_DOCUMENT_WEIGHT); `relevant` says whether they clear
    the relevance floor of the locale's embedding model. Only public documents unless
    `include_agents_only`. Pass `vector` when the question was embedded already (by the
    locale's model). Sync: the chatbot calls it off the event loop."""
    started = time.perf_counter()
    embedder = get_embedder(locale)
    if vector is None:
        vector = embedder.embed([text])[0]
    query_tokens = tokenize(text)
    index = get_chunk_index()
    document_weight = settings.KNOWLEDGE_DOCUMENT_WEIGHT
    candidates = index.candidates(
        vector=vector,
        tokens=query_tokens,
        locale=locale,
        include_agents_only=include_agents_only,
        n=max(k, settings.KNOWLEDGE_RETRIEVAL_CANDIDATES),
        documents=DOCUMENT_CANDIDATES if document_weight > 0 else 0,
    )
    result = hybrid(
        candidates.vector,
        candidates.lexical,
        query_tokens=query_tokens,
        tokens_of=candidates.tokens_of,
        floor=relevance_floor(locale),
        limit=k,
        documents=candidates.documents,
        document_weight=document_weight,
    )
    infos = stored_chunks(
        [ranked.chunk_id for ranked in result.ranked], include_agents_only=include_agents_only
    )
    passages = _distinct_texts(
        Passage(
            chunk_id=ranked.chunk_id,
            document_id=info.document_id,
            document_version=info.document_version,
            title=info.title,
            url=document_url(document_id=info.document_id, source_url=info.source_url),
            heading_path=info.heading_path,
            text=info.text,
            score=ranked.score,
            vector_score=ranked.vector_score,
            lexical_score=ranked.lexical_score,
        )
        for ranked in result.ranked
        if (info := infos.get(ranked.chunk_id)) is not None
    )
    return Retrieval(
        passages=passages,
        relevant=result.relevant and bool(passages),
        best_vector_score=result.best_cosine,
        best_lexical_score=result.best_lexical,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
        stale=candidates.stale,
        searched=bool(candidates.vector or candidates.lexical),
    )


def _distinct_texts(passages: Iterable[Passage]) -> tuple[Passage, ...]:
    """The best of passages with the same text: a page imported twice (another file name, a
    second URL) was suggested twice with the same lines, and took two of the model's sources."""
    seen: set[str] = set()
    distinct = []
    for passage in passages:
        key = " ".join(passage.text.split())
        if key not in seen:
            seen.add(key)
            distinct.append(passage)
    return tuple(distinct)


def documents_versions(ids: Iterable[int]) -> dict[int, int]:
    """Current version of each existing document among `ids` (a deleted one, or a crawled page
    gone from its site, is absent): the answer cache refuses an entry whose cited document moved
    on."""
    documents = Document.objects.filter(pk__in=set(ids)).exclude(status=Document.Status.GONE)
    return dict(documents.values_list("pk", "version"))


# FAQs checked against a document at most (an admin page waits for them: ~5 ms each).
FAQS_ON_DOCUMENT_MAX = 300


def faqs_on_document(document: Document) -> list[FAQ]:
    """Active FAQs of the document's language whose question the help centre answers from
    this document (a relevant passage of it among the top 3), linked ones first: what to review
    when the article changes. A writer changed "30 days" to "45 days" in the returns article
    while the returns FAQ went on answering "30 days", and nothing pointed at it."""
    faqs = list(
        FAQ.objects.filter(active=True, locale=document.locale).order_by("pk")[
            :FAQS_ON_DOCUMENT_MAX
        ]
    )
    near = []
    for faq in faqs:
        if faq.source_document_id == document.pk:
            near.append(faq)
            continue
        found = passages_retrieve(text=faq.question, locale=document.locale, k=3)
        if found.relevant and any(p.document_id == document.pk for p in found.passages):
            near.append(faq)
    return sorted(near, key=lambda f: (f.source_document_id != document.pk, f.pk))
