import json

from django.core.management.base import BaseCommand

from knowledge.importing import export_faqs
from knowledge.models import FAQ


class Command(BaseCommand):
    help = "Write every FAQ as JSON (docs/faq-format.md) to stdout."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--locale", default=None)

    def handle(self, *args, locale: str | None, **options) -> None:
        faqs = FAQ.objects.prefetch_related("paraphrases", "variants")
        if locale:
            faqs = faqs.filter(locale=locale)
        self.stdout.write(json.dumps(export_faqs(faqs), ensure_ascii=False, indent=2))
