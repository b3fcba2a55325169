from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from knowledge.importing import ImportError_, import_faqs, parse_upload


class Command(BaseCommand):
    help = "Import FAQs from a JSON or CSV file (docs/faq-format.md). All or nothing; idempotent."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args, file: Path, **options) -> None:
        try:
            content = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc}") from exc
        try:
            result = import_faqs(parse_upload(file.name, content), created_by=f"import:{file.name}")
        except ImportError_ as exc:
            raise CommandError("Nothing was imported:\n  " + "\n  ".join(exc.errors)) from exc
        self.stdout.write(f"Imported {file}: {result.created} new, {result.updated} updated.")
        if result.held_back:
            self.stdout.write(
                f"{result.held_back} answer variant(s) the fact check flagged were kept as drafts."
            )
