import json

from django.core.management.base import BaseCommand

from knowledge.importing import export_faqs, export_faqs_csv
from knowledge.models import FAQ


class Command(BaseCommand):
    help = "Write every FAQ as JSON or CSV (docs/faq-format.md) to stdout."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--locale", default=None)
        parser.add_argument("--format", choices=("json", "csv"), default="json")

    def handle(self, *args, locale: str | None, format: str, **options) -> None:
        faqs = FAQ.objects.prefetch_related("paraphrases", "variants")
        if locale:
            faqs = faqs.filter(locale=locale)
        if format == "csv":
            self.stdout.write(export_faqs_csv(faqs), ending="")
        else:
            self.stdout.write(json.dumps(export_faqs(faqs), ensure_ascii=False, indent=2))
