"""Moves every stored vector to the configured embedding model (EMBEDDING_BACKEND), after a
change of model: until then the FAQ stage searches only what that model embedded.

    python manage.py reembed [--batch-size 256] [--in-worker]

Paraphrases are embedded `--batch-size` at a time, with a progress line per batch; a run that
stops halfway is resumed by running it again (rows on the configured model are skipped). Cached
answers of another model are dropped, not re-embedded (chatbot.cache.services says why). Also
the step after `loaddata` (docs/deploy.md, "Moving from the embedded default"): on PostgreSQL
it fills the pgvector columns from the stored vectors, and running processes reload the store."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from chatbot.ops.reembedding import embeddings_reembed
from chatbot.tasks import reembed
from knowledge.embeddings import get_embedder
from knowledge.services import ReembedProgress


class Command(BaseCommand):
    help = (
        "Re-embed paraphrases another embedding model embedded; drop such cache entries; fill "
        "empty pgvector columns from the stored vectors (after loaddata); running processes "
        "reload the store."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--batch-size", type=int, default=settings.EMBEDDING_BATCH_SIZE)
        parser.add_argument(
            "--in-worker",
            action="store_true",
            help="hand the work to a Celery worker (the task chatbot.reembed) and return",
        )

    def handle(self, *args, batch_size: int, in_worker: bool, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        if in_worker:
            result = reembed.delay()
            self.stdout.write(f"Queued the re-embedding as Celery task {result.id}.")
            return
        self.stdout.write(f"Embedding model: {get_embedder().identity}")
        for locale in sorted(settings.EMBEDDING_BACKENDS):
            self.stdout.write(f"  for {locale}: {get_embedder(locale).identity}")
        started = time.monotonic()

        def report(progress: ReembedProgress) -> None:
            share = progress.done / progress.total if progress.total else 1.0
            self.stdout.write(
                f"  {progress.done}/{progress.total} paraphrases ({share:.0%}), "
                f"{time.monotonic() - started:.1f} s"
            )

        result = embeddings_reembed(batch_size=batch_size, on_batch=report)
        if result.paraphrase_columns_filled or result.chunk_columns_filled:
            self.stdout.write(
                f"Filled the PostgreSQL vector column of {result.paraphrase_columns_filled} "
                f"paraphrases and {result.chunk_columns_filled} chunks from their stored vectors."
            )
        self.stdout.write(
            f"Dropped {result.cache_entries_dropped} cached answers of another embedding model; "
            f"re-embedded {result.paraphrases_reembedded} paraphrases and the chunks of "
            f"{result.documents_reindexed} documents in "
            f"{time.monotonic() - started:.1f} s."
        )
