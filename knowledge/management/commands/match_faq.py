"""Offline evaluation: how the FAQ store would answer each query, before a content change
goes live. JSONL in (`{"text": …}` per line), JSONL out."""

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from knowledge.models import FAQ
from knowledge.selectors import faq_match


class Command(BaseCommand):
    help = 'Read JSONL queries ({"text": ...}) on stdin; write one JSONL decision per query.'

    def add_arguments(self, parser) -> None:
        parser.add_argument("--locale", default="en")

    def handle(self, *args, locale: str, **options) -> None:
        questions: dict[int, str] = {}
        for number, line in enumerate(sys.stdin, start=1):
            if not line.strip():
                continue
            try:
                text = json.loads(line)["text"]
                if not isinstance(text, str):
                    raise TypeError
            except (ValueError, KeyError, TypeError):
                raise CommandError(
                    f'Line {number}: expected a JSON object with a "text" string.'
                ) from None
            result, decision, _ = faq_match(text=text, locale=locale)
            if result.faq_id is not None and result.faq_id not in questions:
                questions[result.faq_id] = FAQ.objects.get(pk=result.faq_id).question
            self.stdout.write(
                json.dumps(
                    {
                        "text": text,
                        "faq_id": result.faq_id,
                        "faq_question": questions.get(result.faq_id) if result.faq_id else None,
                        "score": round(result.score, 4),
                        "decision": decision,
                    },
                    ensure_ascii=False,
                )
            )
