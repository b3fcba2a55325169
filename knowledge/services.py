"""Writes to the FAQ store. Admin actions, import and the management commands call these."""

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from knowledge.embeddings import Embedder, get_embedder
from knowledge.models import FAQ, AnswerVariant, Origin, Paraphrase

KNOWLEDGE_VERSION_KEY = "knowledge:version"


def knowledge_version() -> int:
    """Changes whenever FAQ content or rules change: indexes reload, cached answers expire."""
    version = cache.get(KNOWLEDGE_VERSION_KEY)
    if version is None:
        cache.add(KNOWLEDGE_VERSION_KEY, 1, timeout=None)
        version = cache.get(KNOWLEDGE_VERSION_KEY, 1)
    return int(version)


def knowledge_version_bump() -> None:
    try:
        cache.incr(KNOWLEDGE_VERSION_KEY)
    except ValueError:
        cache.set(KNOWLEDGE_VERSION_KEY, 2, timeout=None)


_batched: ContextVar[list[int] | None] = ContextVar("embeddings_batched", default=None)


def _enqueue_embeddings(paraphrase_ids: Sequence[int]) -> None:
    from knowledge.tasks import embed_paraphrases

    ids = list(paraphrase_ids)
    pending = _batched.get()
    if pending is not None:
        pending.extend(ids)
    elif ids:
        transaction.on_commit(lambda: embed_paraphrases.delay(ids))


@contextmanager
def embeddings_batched() -> Iterator[None]:
    """Paraphrases saved inside are embedded after the commit by one task per
    EMBEDDING_BATCH_SIZE of them (one forward pass each), not by one task per save: importing
    4,000 FAQs made 8,000 tasks, and as many log lines (docs/faq-format.md). Use inside the
    transaction that saves them; nothing is enqueued when the block raises."""
    from knowledge.tasks import embed_paraphrases

    pending: list[int] = []
    token = _batched.set(pending)
    try:
        yield
    finally:
        _batched.reset(token)
    size = settings.EMBEDDING_BATCH_SIZE
    for start in range(0, len(pending), size):
        transaction.on_commit(partial(embed_paraphrases.delay, pending[start : start + size]))


@transaction.atomic
def faq_save(
    *,
    faq: FAQ | None = None,
    question: str,
    answer: str,
    locale: str = "en",
    tags: Sequence[str] = (),
    active: bool = True,
    created_by: str = "",
) -> FAQ:
    """Creates or updates an FAQ, keeping its canonical paraphrase and canonical answer variant
    in step. A changed answer makes the generated rewordings stale until re-approved."""
    answer_changed = faq is None or faq.answer != answer
    if faq is None:
        faq = FAQ(question=question, answer=answer, locale=locale, tags=list(tags), active=active)
    else:
        faq.question, faq.answer, faq.locale, faq.tags, faq.active = (
            question, answer, locale, list(tags), active,
        )  # fmt: skip
    faq.save()
    faq_sync_canonical(faq=faq, answer_changed=answer_changed, created_by=created_by)
    return faq


def faq_sync_canonical(*, faq: FAQ, answer_changed: bool, created_by: str = "") -> None:
    """Called after an FAQ row is saved (by faq_save or the admin form)."""
    canonical_q = faq.paraphrases.filter(origin=Origin.CANONICAL).first()
    if canonical_q is None or canonical_q.text != faq.question:
        faq.paraphrases.filter(origin=Origin.CANONICAL).delete()
        paraphrase, _ = Paraphrase.objects.update_or_create(
            faq=faq, text=faq.question, defaults={"origin": Origin.CANONICAL, "approved": True}
        )
        _enqueue_embeddings([paraphrase.pk])
    if answer_changed:
        faq.variants.filter(origin=Origin.CANONICAL).delete()
        AnswerVariant.objects.create(
            faq=faq,
            text=faq.answer,
            status=AnswerVariant.Status.APPROVED,
            origin=Origin.CANONICAL,
            created_by=created_by,
        )
        faq.variants.exclude(origin=Origin.CANONICAL).filter(
            status__in=[AnswerVariant.Status.APPROVED, AnswerVariant.Status.DRAFT]
        ).update(status=AnswerVariant.Status.STALE, updated_at=timezone.now())
    transaction.on_commit(knowledge_version_bump)


def paraphrases_add(
    *, faq: FAQ, texts: Iterable[str], origin: str = Origin.HUMAN, approved: bool = True
) -> list[Paraphrase]:
    created = []
    for text in texts:
        text = text.strip()
        if not text:
            continue
        paraphrase, was_created = Paraphrase.objects.get_or_create(
            faq=faq, text=text, defaults={"origin": origin, "approved": approved}
        )
        if was_created:
            created.append(paraphrase)
    _enqueue_embeddings([p.pk for p in created])
    transaction.on_commit(knowledge_version_bump)
    return created


def paraphrases_set_approved(*, paraphrase_ids: Sequence[int], approved: bool) -> int:
    """Approves (or holds back) proposed paraphrases; approved ones not embedded yet (the task
    that embeds proposals had not run) are embedded after the commit."""
    updated = Paraphrase.objects.filter(pk__in=paraphrase_ids).update(approved=approved)
    if approved:
        _enqueue_embeddings(
            Paraphrase.objects.filter(pk__in=paraphrase_ids, embedding__isnull=True).values_list(
                "pk", flat=True
            )
        )
    transaction.on_commit(knowledge_version_bump)
    return updated


def variants_add(
    *, faq: FAQ, texts: Iterable[str], origin: str, status: str, created_by: str = ""
) -> list[AnswerVariant]:
    existing = set(faq.variants.values_list("text", flat=True))
    created = [
        AnswerVariant.objects.create(
            faq=faq, text=text.strip(), origin=origin, status=status, created_by=created_by
        )
        for text in texts
        if text.strip() and text.strip() not in existing
    ]
    transaction.on_commit(knowledge_version_bump)
    return created


def variants_set_status(*, variant_ids: Sequence[int], status: str) -> int:
    updated = AnswerVariant.objects.filter(pk__in=variant_ids).update(
        status=status, updated_at=timezone.now()
    )
    transaction.on_commit(knowledge_version_bump)
    return updated


@transaction.atomic
def faq_record_hit(*, faq_id: int, variant_id: int) -> None:
    FAQ.objects.filter(pk=faq_id).update(hit_count=F("hit_count") + 1, last_hit_at=timezone.now())
    AnswerVariant.objects.filter(pk=variant_id).update(served_count=F("served_count") + 1)


def embeddings_compute(*, paraphrase_ids: Sequence[int]) -> int:
    """Embeds the given paraphrases with the model of their FAQ's locale, one batch per model,
    recording which model made each vector. Returns how many were embedded."""
    by_locale: dict[str, list[Paraphrase]] = {}
    for paraphrase in Paraphrase.objects.filter(pk__in=paraphrase_ids).select_related("faq"):
        by_locale.setdefault(paraphrase.faq.locale, []).append(paraphrase)
    for locale, paraphrases in by_locale.items():
        _embed_with(get_embedder(locale), paraphrases)
    return sum(len(group) for group in by_locale.values())


def _embed_with(embedder: Embedder, paraphrases: list[Paraphrase]) -> None:
    """The model runs before the write transaction opens: on SQLite a transaction holds the
    database's write lock from its start."""
    vectors = embedder.embed([p.text for p in paraphrases])
    postgres = connection.vendor == "postgresql"
    with transaction.atomic():
        if postgres:
            # pgvector_index imports index, which imports this module.
            from knowledge.pgvector_index import ensure_model_index, store_vectors

            ensure_model_index(identity=embedder.identity, dimension=embedder.dimension)
            store_vectors(
                rows=[(p.pk, v) for p, v in zip(paraphrases, vectors, strict=True)],
                identity=embedder.identity,
            )
        else:
            for paraphrase, vector in zip(paraphrases, vectors, strict=True):
                paraphrase.embedding = vector.astype("float32").tobytes()
                paraphrase.embedding_model = embedder.identity
            Paraphrase.objects.bulk_update(paraphrases, ["embedding", "embedding_model"])
        transaction.on_commit(knowledge_version_bump)
    if postgres:
        from knowledge.pgvector_index import ensure_statistics  # see above: a cycle

        ensure_statistics(identity=embedder.identity)


@dataclass(frozen=True)
class ReembedProgress:
    done: int  # paraphrases re-embedded so far by this run
    total: int  # paraphrases that were not on the configured model when the run started


def paraphrases_pending_reembed() -> list[int]:
    """Ids of the paraphrases their locale's model did not embed (another model's, or none)."""
    identities: dict[str, str] = {}
    pending = []
    rows = Paraphrase.objects.order_by("pk").values_list("pk", "faq__locale", "embedding_model")
    for pk, locale, model in rows.iterator():
        if locale not in identities:
            identities[locale] = get_embedder(locale).identity
        if model != identities[locale]:
            pending.append(pk)
    return pending


def paraphrases_reembed(*, batch_size: int) -> Iterator[ReembedProgress]:
    """Embeds, `batch_size` at a time, every paraphrase its locale's model did not embed;
    yields after each batch. Resumable: rows already on their model are skipped, so a run that
    stopped halfway continues where it was."""
    pending = paraphrases_pending_reembed()
    done = 0
    for start in range(0, len(pending), batch_size):
        done += embeddings_compute(paraphrase_ids=pending[start : start + batch_size])
        yield ReembedProgress(done=done, total=len(pending))
    if done and connection.vendor == "postgresql":
        from knowledge.pgvector_index import statistics_refresh  # a cycle, as above

        statistics_refresh()
