"""Imports help-centre documents from a file, a folder or a zip, as the admin's upload does:

    python manage.py import_documents PATH [--locale zh-hans] [--visibility agents] [--tags a,b]

One line per file (created, updated, unchanged, or error with its message) and a summary; the
exit status is 1 when any file failed. Indexing follows as Celery tasks on commit (in this
process when Celery runs eagerly, the embedded default)."""

import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from knowledge import services
from knowledge.models import DocumentImport, Visibility


class Command(BaseCommand):
    help = "Import documents (Markdown, HTML, text, PDF) from a file, a folder or a zip."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path")
        parser.add_argument(
            "--locale",
            default="",
            choices=["", *(code for code, _ in settings.LANGUAGES)],
            help="the documents' language (default: guessed from each text)",
        )
        parser.add_argument("--visibility", default=Visibility.PUBLIC, choices=Visibility.values)
        parser.add_argument("--tags", default="", help="comma-separated")

    def handle(self, *args, path: str, locale: str, visibility: str, tags: str, **options):
        source = Path(path).resolve()
        if not source.exists():
            raise CommandError(f"{path}: no such file or folder.")
        document_import = DocumentImport.objects.create(
            kind=DocumentImport.Kind.FILES,
            source=str(source),
            options={
                "locale": locale,
                "visibility": visibility,
                "tags": [t.strip() for t in tags.split(",") if t.strip()],
            },
        )

        def report(item: services.ImportedItem) -> None:
            line = f"{item.outcome:9} {item.name}"
            self.stdout.write(f"{line}: {item.message}" if item.message else line)

        result = services.documents_import(import_id=document_import.pk, on_item=report)
        self.stdout.write(
            f"{result.seen} file(s): {result.created} created, {result.updated} updated, "
            f"{result.unchanged} unchanged, {result.failed} failed."
        )
        if result.failed:
            sys.exit(1)
