import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from knowledge.importing import ImportError_, import_faqs


class Command(BaseCommand):
    help = "Import FAQs from a JSON file (docs/faq-format.md). All or nothing; idempotent."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args, file: Path, **options) -> None:
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read {file}: {exc}") from exc
        try:
            result = import_faqs(data, created_by=f"import:{file.name}")
        except ImportError_ as exc:
            raise CommandError("Nothing was imported:\n  " + "\n  ".join(exc.errors)) from exc
        self.stdout.write(f"Imported {file}: {result.created} new, {result.updated} updated.")
