"""Writes to the FAQ store and the knowledge base's documents. Admin actions, imports, tasks and
the management commands call these."""

import hashlib
import logging
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from knowledge.content_version import knowledge_version_bump
from knowledge.documents.chunking import chunk_document, chunk_search_text, estimate_tokens
from knowledge.documents.crawler import CrawledPage, CrawlLimits, PageStatus, PreviousFetch, crawl
from knowledge.documents.files import SourceFile, iter_source_files, iter_upload
from knowledge.documents.indexing import ensure_chunk_model_index, store_chunk_vectors
from knowledge.documents.lexical import DEFAULT_TOKENIZER, search_tokens
from knowledge.documents.parsing import parse_document
from knowledge.documents.types import Block, BlockKind, DocumentError, ParsedDocument
from knowledge.embeddings import Embedder, get_embedder
from knowledge.models import (
    FAQ,
    AnswerVariant,
    Chunk,
    Document,
    DocumentCitation,
    DocumentImport,
    Origin,
    Paraphrase,
    Visibility,
)
from knowledge.pgvector_index import (
    ensure_model_index,
    ensure_statistics,
    statistics_refresh,
    store_vectors,
)
from knowledge.task_queue import enqueue_after_commit

logger = logging.getLogger(__name__)

_batched: ContextVar[list[int] | None] = ContextVar("embeddings_batched", default=None)


def _enqueue_embeddings(paraphrase_ids: Sequence[int]) -> None:
    ids = list(paraphrase_ids)
    pending = _batched.get()
    if pending is not None:
        pending.extend(ids)
    elif ids:
        enqueue_after_commit("embed_paraphrases", ids)


@contextmanager
def embeddings_batched() -> Iterator[None]:
    """Paraphrases saved inside are embedded after the commit by one task per
    EMBEDDING_BATCH_SIZE of them (one forward pass each), not by one task per save: importing
    4,000 FAQs made 8,000 tasks, and as many log lines (docs/faq-format.md). Use inside the
    transaction that saves them; nothing is enqueued when the block raises."""
    pending: list[int] = []
    token = _batched.set(pending)
    try:
        yield
    finally:
        _batched.reset(token)
    size = settings.EMBEDDING_BATCH_SIZE
    for start in range(0, len(pending), size):
        enqueue_after_commit("embed_paraphrases", pending[start : start + size])


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
        statistics_refresh()


# --- Documents ------------------------------------------------------------------------------


class UpsertOutcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class DocumentUpsert:
    document: Document
    outcome: UpsertOutcome


def content_hash(parsed: ParsedDocument) -> str:
    """sha256 of the title and the blocks, Unicode-normalised (NFKC) with whitespace collapsed:
    a re-export that only re-wraps lines is not a change, and is not embedded again."""
    parts = [parsed.title, *(_block_key(b) for b in parsed.blocks)]
    normalised = "\n".join(" ".join(unicodedata.normalize("NFKC", p).split()) for p in parts)
    return hashlib.sha256(normalised.encode()).hexdigest()


def _block_key(block: Block) -> str:
    """A block as hashed; its links only when it has some, so a document without links keeps
    the hash it had before blocks kept them (and is not embedded again)."""
    key = f"{block.kind}:{block.level}:{block.text}"
    return key + "".join(f":{text}<{url}>" for text, url in block.links)


def blocks_to_json(blocks: Sequence[Block]) -> list[dict[str, Any]]:
    return [
        {"kind": str(b.kind), "text": b.text, "level": b.level}
        | ({"links": [list(link) for link in b.links]} if b.links else {})
        for b in blocks
    ]


def blocks_from_json(data: Sequence[dict[str, Any]]) -> tuple[Block, ...]:
    return tuple(
        Block(
            BlockKind(b["kind"]),
            b["text"],
            int(b.get("level", 0)),
            tuple((text, url) for text, url in b.get("links", ())),
        )
        for b in data
    )


def document_upsert(
    *,
    parsed: ParsedDocument,
    source_key: str,
    source_url: str = "",
    visibility: str = Visibility.PUBLIC,
    tags: Sequence[str] = (),
    etag: str = "",
    last_modified: str = "",
    links: Sequence[str] | None = None,
    source_import: DocumentImport | None = None,
    index_inline: bool = False,
) -> DocumentUpsert:
    """Creates or updates the document at `source_key`. New or changed content (another content
    hash or locale) gets version + 1 and is indexed by the `document_index` task after the
    commit, or in this process right after it when `index_inline`; unchanged content keeps its
    chunks and vectors (only visibility, tags and the HTTP validators are updated)."""
    with transaction.atomic():
        document = Document.objects.select_for_update().filter(source_key=source_key).first()
        digest = content_hash(parsed)
        if document is not None and (document.content_hash, document.locale) == (
            digest,
            parsed.locale,
        ):
            outcome = UpsertOutcome.UNCHANGED
            audience_changed = document.visibility != visibility
            document.visibility, document.tags = visibility, list(tags)
            document.etag, document.last_modified = etag, last_modified
            document.links = None if links is None else list(links)
            document.save(update_fields=["visibility", "tags", "etag", "last_modified", "links"])
            if audience_changed:
                transaction.on_commit(knowledge_version_bump)
        else:
            outcome = UpsertOutcome.CREATED if document is None else UpsertOutcome.UPDATED
            document = document or Document(source_key=source_key, version=0)
            document.title = parsed.title[:500]
            document.source_url, document.locale = source_url, parsed.locale
            document.visibility, document.tags = visibility, list(tags)
            document.etag, document.last_modified = etag, last_modified
            document.links = None if links is None else list(links)
            document.content_hash, document.blocks = digest, blocks_to_json(parsed.blocks)
            document.version += 1
            document.status, document.error = Document.Status.PENDING, ""
            document.source_import = source_import
            document.save()
            if not index_inline:
                _enqueue_index(document.pk)
    if index_inline and outcome != UpsertOutcome.UNCHANGED:
        document_index(document_id=document.pk)
        document.refresh_from_db()
    return DocumentUpsert(document=document, outcome=outcome)


def document_write(
    *,
    title: str,
    text: str,
    locale: str,
    visibility: str = Visibility.PUBLIC,
    tags: Sequence[str] = (),
    document: Document | None = None,
    index_inline: bool = False,
) -> DocumentUpsert:
    """Stores an article written in the admin (Markdown under its title), new or `document`
    edited, indexed like an imported file's. A help-centre writer could only import files: to
    change one number they had to find the original file and upload it under the same name."""
    markdown = f"# {' '.join(title.split())}\n\n{text.strip()}\n"
    key = (
        document.source_key
        if document is not None
        else f"{Document.WRITTEN_PREFIX}{uuid.uuid4().hex}.md"
    )
    parsed = parse_document(
        markdown.encode(), filename=key.rsplit("/", 1)[-1], locale=locale or None
    )
    with transaction.atomic():
        result = document_upsert(
            parsed=parsed,
            source_key=key,
            visibility=visibility,
            tags=tags,
            index_inline=index_inline,
        )
        Document.objects.filter(pk=result.document.pk).update(written_text=text.strip())
    result.document.written_text = text.strip()
    return result


def _enqueue_index(document_id: int) -> None:
    enqueue_after_commit("document_index", document_id)


def document_index(*, document_id: int) -> int:
    """Chunks the document's stored blocks, embeds the chunks with its locale's model in
    batches of EMBEDDING_BATCH_SIZE (before the write transaction: on SQLite a transaction holds
    the write lock from its start), then replaces its chunks in one transaction and moves the
    knowledge version. A document edited meanwhile is left to the task its edit enqueued.
    Returns the number of chunks (0 for a document deleted before its task ran)."""
    document = Document.objects.filter(pk=document_id).first()
    if document is None:
        return 0
    embedder = get_embedder(document.locale)
    try:
        parsed = ParsedDocument(
            title=document.title,
            blocks=blocks_from_json(document.blocks),
            locale=document.locale,
        )
        drafts = chunk_document(parsed, max_tokens=settings.KNOWLEDGE_CHUNK_MAX_TOKENS)
        search_texts = [
            chunk_search_text(document.title, draft.heading_path, draft.text) for draft in drafts
        ]
        vectors = _embed_in_batches(embedder, search_texts)
    except Exception as exc:
        Document.objects.filter(pk=document_id, version=document.version).update(
            status=Document.Status.FAILED, error=f"{type(exc).__name__}: {exc}"
        )
        raise
    postgres = connection.vendor == "postgresql"
    if postgres:
        ensure_chunk_model_index(identity=embedder.identity, dimension=embedder.dimension)
    with transaction.atomic():
        locked = Document.objects.select_for_update().filter(pk=document_id).first()
        if locked is None or locked.version != document.version:
            return 0
        locked.chunks.all().delete()
        chunks = Chunk.objects.bulk_create(
            Chunk(
                document=locked,
                position=position,
                heading_path=list(draft.heading_path),
                text=draft.text,
                search_tokens=search_tokens(search_text),
                tokenizer_version=DEFAULT_TOKENIZER.version,
                token_count=estimate_tokens(draft.text),
                embedding=vector.astype(np.float32).tobytes(),
                embedding_model=embedder.identity,
            )
            for position, (draft, search_text, vector) in enumerate(
                zip(drafts, search_texts, vectors, strict=True)
            )
        )
        if postgres:
            # bulk_create set the ids: PostgreSQL returns them.
            store_chunk_vectors(rows=[(c.pk, v) for c, v in zip(chunks, vectors, strict=True)])
        locked.status, locked.error, locked.indexed_at = Document.Status.INDEXED, "", timezone.now()
        locked.save(update_fields=["status", "error", "indexed_at"])
        transaction.on_commit(knowledge_version_bump)
    return len(chunks)


def _embed_in_batches(embedder: Embedder, texts: list[str]) -> np.ndarray:
    size = settings.EMBEDDING_BATCH_SIZE
    batches = [embedder.embed(texts[i : i + size]) for i in range(0, len(texts), size)]
    if not batches:
        return np.zeros((0, embedder.dimension), dtype=np.float32)
    return np.concatenate(batches)


@transaction.atomic
def document_delete(*, document: Document) -> None:
    """Deletes the document with its chunks; retrieval and cached answers move on."""
    document.delete()
    transaction.on_commit(knowledge_version_bump)


@transaction.atomic
def documents_reindex(*, document_ids: Sequence[int] | None = None) -> int:
    """Marks the documents (all when None) pending and enqueues their re-chunking and
    embedding after the commit; their current chunks stay searchable until replaced."""
    documents = (
        Document.objects.all()
        if document_ids is None
        else Document.objects.filter(pk__in=document_ids)
    )
    ids = list(documents.values_list("pk", flat=True))
    Document.objects.filter(pk__in=ids).update(status=Document.Status.PENDING, error="")
    for document_id in ids:
        _enqueue_index(document_id)
    return len(ids)


def documents_pending_reembed() -> list[int]:
    """Ids of documents with a chunk their locale's model did not embed, or whose search tokens
    another tokenizer made (a jieba or PyStemmer upgrade, changed stop lists)."""
    identities: dict[str, str] = {}
    pending: set[int] = set(documents_pending_retokenize())
    rows = Chunk.objects.values_list("document_id", "document__locale", "embedding_model")
    for document_id, locale, model in rows.iterator():
        if locale not in identities:
            identities[locale] = get_embedder(locale).identity
        if model != identities[locale]:
            pending.add(document_id)
    return sorted(pending)


def documents_pending_retokenize() -> list[int]:
    """Ids of documents with a chunk whose search tokens another tokenizer version made."""
    stale = Chunk.objects.exclude(tokenizer_version=DEFAULT_TOKENIZER.version)
    return sorted(set(stale.values_list("document_id", flat=True)))


def documents_reindex_retokenized() -> int:
    """Re-indexes (in the task, after the commit) the documents whose chunks another tokenizer
    version tokenized; run after every `migrate` (knowledge.apps), so a deploy that upgrades
    jieba or PyStemmer or changes the stop lists re-indexes without anyone asking."""
    pending = documents_pending_retokenize()
    return documents_reindex(document_ids=pending) if pending else 0


def documents_reembed() -> Iterator[ReembedProgress]:
    """Indexes again, one document at a time, every document with chunks of another model;
    yields after each. Resumable as `paraphrases_reembed` is."""
    pending = documents_pending_reembed()
    for done, document_id in enumerate(pending, start=1):
        document_index(document_id=document_id)
        yield ReembedProgress(done=done, total=len(pending))


@transaction.atomic
def document_cited(
    *,
    citations: Sequence[tuple[int, int]],
    question: str,
    conversation_id: int,
    message_id: int,
    suggested: bool = False,
) -> None:
    """Counts an answer that cited these (document id, version) pairs, each document once per
    answer, and keeps the question it answered for the document's admin page; `suggested`:
    the answer only offered them as articles that may help."""
    versions = dict(citations)
    existing = set(Document.objects.filter(pk__in=versions).values_list("pk", flat=True))
    counted = (
        {"suggested_count": F("suggested_count") + 1}
        if suggested
        else {"cited_count": F("cited_count") + 1, "last_cited_at": timezone.now()}
    )
    Document.objects.filter(pk__in=existing).update(**counted)
    DocumentCitation.objects.bulk_create(
        [
            DocumentCitation(
                document_id=document_id,
                question=question,
                conversation_id=conversation_id,
                message_id=message_id,
                document_version=versions[document_id],
                suggested=suggested,
            )
            for document_id in sorted(existing)
        ],
        ignore_conflicts=True,
    )


# --- Imports and crawls ---------------------------------------------------------------------


@dataclass(frozen=True)
class ImportedItem:
    """One file or page of an import, as the command prints it."""

    name: str
    outcome: str  # an UpsertOutcome, or "error"
    message: str = ""


ERROR = "error"
SKIPPED = "skipped"  # listed with the errors, not counted as failed (robots.txt, not a document)


@transaction.atomic
def document_import_start(
    *,
    kind: str,
    source: str,
    options: dict[str, Any],
    upload: bytes | None = None,
    created_by: Any = None,
) -> DocumentImport:
    """Records an import or crawl and enqueues it after the commit."""
    document_import = DocumentImport.objects.create(
        kind=kind, source=source, options=options, upload=upload, created_by=created_by
    )
    task = "documents_crawl" if kind == DocumentImport.Kind.CRAWL else "documents_import"
    enqueue_after_commit(task, document_import.pk)
    return document_import


def _import_begin(import_id: int) -> DocumentImport:
    document_import = DocumentImport.objects.get(pk=import_id)
    document_import.status, document_import.started_at = (
        DocumentImport.Status.RUNNING,
        timezone.now(),
    )
    document_import.save(update_fields=["status", "started_at"])
    return document_import


def _import_record(
    document_import: DocumentImport, item: ImportedItem, code: str = ""
) -> ImportedItem:
    """Counts one file or page and saves the progress at once, for the admin to show."""
    document_import.seen += 1
    if item.outcome == SKIPPED:
        document_import.errors.append({"name": item.name, "code": code, "message": item.message})
    elif item.outcome == ERROR:
        document_import.failed += 1
        document_import.errors.append({"name": item.name, "code": code, "message": item.message})
    else:
        counter = UpsertOutcome(item.outcome).value  # the field of the same name
        setattr(document_import, counter, getattr(document_import, counter) + 1)
        if item.message:  # stored, with a notice for the editor (SAME_TITLE)
            document_import.errors.append(
                {"name": item.name, "code": code, "message": item.message}
            )
    document_import.save(
        update_fields=["seen", "created", "updated", "unchanged", "failed", "errors"]
    )
    return item


def _import_end(document_import: DocumentImport, status: str, error: str = "") -> None:
    """A run that stored nothing and reported problems failed: "Done, 0 failed" read as success
    in the list while every page had been skipped (a private address, robots.txt)."""
    stored = document_import.created + document_import.updated + document_import.unchanged
    if status == DocumentImport.Status.DONE and not stored and document_import.errors:
        status = DocumentImport.Status.FAILED
    if error:
        document_import.errors.append({"name": document_import.source, "code": "failed",
                                       "message": error})  # fmt: skip
    document_import.status, document_import.finished_at = status, timezone.now()
    document_import.upload = None
    document_import.save(update_fields=["status", "finished_at", "upload", "errors"])


def documents_import(
    *,
    import_id: int,
    index_inline: bool = False,
    on_item: Callable[[ImportedItem], None] | None = None,
) -> DocumentImport:
    """Imports the files of a files or upload import: each file is parsed and stored in its own
    transaction, so a bad file imports nothing and the others proceed; its error is recorded
    with the import. `on_item` hears of every file (the command prints them)."""
    document_import = _import_begin(import_id)
    options = document_import.options
    try:
        if document_import.kind == DocumentImport.Kind.UPLOAD:
            files = iter_upload(
                document_import.source,
                bytes(document_import.upload or b""),
                max_bytes=settings.KNOWLEDGE_MAX_FILE_BYTES,
            )
        else:
            files = iter_source_files(
                Path(document_import.source), max_bytes=settings.KNOWLEDGE_MAX_FILE_BYTES
            )
        for source_file in files:
            item, code = _import_one(document_import, source_file, options, index_inline)
            _import_record(document_import, item, code)
            if on_item is not None:
                on_item(item)
    except Exception as exc:
        _import_end(document_import, DocumentImport.Status.FAILED, f"{exc}")
        raise
    _import_end(document_import, DocumentImport.Status.DONE)
    return document_import


def _import_one(
    document_import: DocumentImport,
    source_file: SourceFile,
    options: dict[str, Any],
    index_inline: bool,
) -> tuple[ImportedItem, str]:
    if source_file.error is not None:
        return ImportedItem(
            source_file.name, ERROR, source_file.error.message
        ), source_file.error.code
    try:
        parsed = parse_document(
            source_file.data,
            filename=source_file.name,
            locale=options.get("locale") or None,
            max_bytes=settings.KNOWLEDGE_MAX_FILE_BYTES,
        )
        result = document_upsert(
            parsed=parsed,
            source_key=_file_source_key(options.get("key_prefix", ""), source_file.name, parsed),
            visibility=options.get("visibility", Visibility.PUBLIC),
            tags=options.get("tags", []),
            source_import=document_import,
            index_inline=index_inline,
        )
    except DocumentError as exc:
        return ImportedItem(source_file.name, ERROR, exc.message), exc.code
    if result.outcome == UpsertOutcome.CREATED:
        twin = document_same_title(result.document)
        if twin is not None:
            message = (
                f"Imported, with the same title as {document_source(twin)}: visitors are shown "
                "both; delete one if this replaces it."
            )
            return ImportedItem(source_file.name, result.outcome, message), SAME_TITLE
    return ImportedItem(source_file.name, result.outcome), ""


SAME_TITLE = "same_title"


def document_source(document: Document) -> str:
    """Where a document comes from, as an editor tells two of one title apart: its page, its
    file, or its number when written in the admin (a notice named "written/7d50….md")."""
    if document.written_in_admin:
        return f"document {document.pk}, written in the admin"
    return document.source_url or document.source_key


def document_same_title(document: Document) -> Document | None:
    """Another visitor-facing document of the same title and language. A writer saved a new
    version of an article under a new file name; both prices were cited side by side."""
    return (
        Document.objects.filter(
            title__iexact=document.title.strip(),
            locale=document.locale,
            visibility=Visibility.PUBLIC,
        )
        .exclude(pk=document.pk)
        .order_by("pk")
        .first()
    )


def _file_source_key(prefix: str, name: str, parsed: ParsedDocument) -> str:
    """The key a file is stored under: its path in the import. A lone file (an upload, one
    file on the command line) whose name is that of exactly one document imported from a
    folder, in the same language, updates that document: uploading a corrected
    returns-and-refunds.md once stored a second article beside en/returns-and-refunds.md, and
    the bot answered from the old and the new (a content walk)."""
    key = prefix + name
    if prefix or "/" in name or Document.objects.filter(source_key=key).exists():
        return key
    same_name = list(
        Document.objects.filter(
            source_key__endswith="/" + name, source_url="", locale=parsed.locale
        ).values_list("source_key", flat=True)[:2]
    )
    return same_name[0] if len(same_name) == 1 else key


def documents_crawl(*, import_id: int, index_inline: bool = False) -> DocumentImport:
    """Crawls the import's start URL within its limits, sending each page's stored ETag,
    Last-Modified and links, so an unchanged page costs a 304 and the crawl still goes on past
    it. Pages are parsed and stored one transaction each; page errors are recorded. A page an
    earlier crawl stored that now answers 404 or 410 is reported (code "gone") and its document
    marked gone with the error: never cited while gone (its link is dead), but not deleted, so
    a page back on a later crawl is cited again and deleting stays an editor's decision."""
    document_import = _import_begin(import_id)
    options = document_import.options
    origin = _origin(document_import.source)
    known = {
        d.source_url: d
        for d in Document.objects.filter(source_url__startswith=origin + "/")
        if _origin(d.source_url) == origin
    }
    previous = {
        url: PreviousFetch(
            etag=d.etag or None,
            last_modified=d.last_modified or None,
            links=None if d.links is None else tuple(d.links),
        )
        for url, d in known.items()
    }
    limits = CrawlLimits(**options.get("limits", {}))
    stored_here: dict[str, str] = {}  # content hash -> the URL this crawl stored it from
    try:
        for page in crawl(
            document_import.source,
            limits=limits,
            previous=previous,
            private_networks=settings.KNOWLEDGE_CRAWL_PRIVATE_NETWORKS,
        ):
            item, code = _crawl_one(
                document_import, page, options, known, index_inline, stored_here
            )
            _import_record(document_import, item, code)
    except ValueError as exc:  # not a start URL the crawler takes: nothing to retry
        _import_end(document_import, DocumentImport.Status.FAILED, f"{exc}")
        return document_import
    except Exception as exc:
        _import_end(document_import, DocumentImport.Status.FAILED, f"{exc}")
        raise
    _import_end(document_import, DocumentImport.Status.DONE)
    return document_import


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


GONE = (404, 410)


def _crawl_one(
    document_import: DocumentImport,
    page: CrawledPage,
    options: dict[str, Any],
    known: dict[str, Document],
    index_inline: bool,
    stored_here: dict[str, str],
) -> tuple[ImportedItem, str]:
    document = known.get(page.url)
    if page.status == PageStatus.NOT_MODIFIED:
        if document is not None:
            Document.objects.filter(pk=document.pk).update(error="")
            _back_from_gone(document)
        return ImportedItem(page.url, UpsertOutcome.UNCHANGED), ""
    if page.status == PageStatus.SKIPPED:
        return ImportedItem(page.url, SKIPPED, page.error or ""), "skipped"
    if page.status == PageStatus.ERROR:
        message = page.error or "The page could not be fetched."
        if document is not None and page.http_status in GONE:
            message = f"{message}: its document is kept; delete it if the page was retired."
            Document.objects.filter(pk=document.pk).update(
                error=message, status=Document.Status.GONE
            )
            if document.status != Document.Status.GONE:
                transaction.on_commit(knowledge_version_bump)
            return ImportedItem(page.url, ERROR, message), "gone"
        return ImportedItem(page.url, ERROR, message), "fetch"
    try:
        parsed = parse_document(
            page.body,
            filename=urlsplit(page.url).path.rsplit("/", 1)[-1] or "index.html",
            content_type=page.content_type,
            locale=options.get("locale") or None,
            max_bytes=settings.KNOWLEDGE_MAX_FILE_BYTES,
        )
        digest = content_hash(parsed)
        if document is None and digest in stored_here:
            # One page under two addresses (`/help/` and `/help/index.html`): a walk's crawl
            # stored it twice, and both were suggested side by side.
            message = f"same content as {stored_here[digest]}: not stored again"
            return ImportedItem(page.url, SKIPPED, message), "duplicate"
        stored_here.setdefault(digest, page.url)
        result = document_upsert(
            parsed=parsed,
            source_key=page.url,
            source_url=page.url,
            visibility=options.get("visibility", Visibility.PUBLIC),
            tags=options.get("tags", []),
            etag=page.etag or "",
            last_modified=page.last_modified or "",
            links=page.links,
            source_import=document_import,
            index_inline=index_inline,
        )
    except DocumentError as exc:
        return ImportedItem(page.url, ERROR, exc.message), exc.code
    if document is not None and document.error:
        Document.objects.filter(pk=document.pk).update(error="")
    if document is not None and result.outcome == UpsertOutcome.UNCHANGED:
        _back_from_gone(document)
    return ImportedItem(page.url, result.outcome), ""


def _back_from_gone(document: Document) -> None:
    """A page that answered 404 on an earlier crawl and is back, unchanged: cited again."""
    if document.status == Document.Status.GONE:
        Document.objects.filter(pk=document.pk, status=Document.Status.GONE).update(
            status=Document.Status.INDEXED
        )
        transaction.on_commit(knowledge_version_bump)
