"""Offline evaluation: how the FAQ store would answer each query, before a content change
goes live. JSONL in (`{"text": …}` per line), JSONL out, one decision per query with the best
candidate FAQ and its score whether answered or declined (how far a declined query was from an
answer); a summary on stderr at the end (answered / declined counts, score distribution)."""

import json
import sys
from collections import Counter
from itertools import pairwise

import numpy as np
from django.core.management.base import BaseCommand, CommandError

from knowledge.models import FAQ
from knowledge.selectors import ANSWERING, faq_match

EDGES = [round(0.5 + 0.05 * i, 2) for i in range(10)]  # histogram: < 0.50, 0.50-0.55, …, >= 0.95


class Command(BaseCommand):
    help = 'Read JSONL queries ({"text": ...}) on stdin; write one JSONL decision per query.'

    def add_arguments(self, parser) -> None:
        parser.add_argument("--locale", default="en")

    def handle(self, *args, locale: str, **options) -> None:
        questions: dict[int, str] = {}
        decisions: list[tuple[str, float]] = []
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
            for faq_id in (result.faq_id, result.best_faq_id):
                if faq_id is not None and faq_id not in questions:
                    questions[faq_id] = FAQ.objects.get(pk=faq_id).question
            decisions.append((decision, result.score))
            self.stdout.write(
                json.dumps(
                    {
                        "text": text,
                        "faq_id": result.faq_id,
                        "faq_question": questions.get(result.faq_id) if result.faq_id else None,
                        "score": round(result.score, 4),
                        "decision": decision,
                        "best_faq_id": result.best_faq_id,
                        "best_faq_question": questions.get(result.best_faq_id)
                        if result.best_faq_id
                        else None,
                        "margin": round(result.margin, 4),
                    },
                    ensure_ascii=False,
                )
            )
        self.stderr.write(summary(decisions))


def summary(decisions: list[tuple[str, float]]) -> str:
    """Counts per decision, and the best candidate's score for answered and declined queries:
    percentiles and a histogram (the threshold's neighbourhood is where content edits matter)."""
    answered = [score for decision, score in decisions if decision in ANSWERING]
    declined = [score for decision, score in decisions if decision not in ANSWERING]
    counts = Counter(decision for decision, _ in decisions)
    kinds = ", ".join(f"{decision} {count}" for decision, count in sorted(counts.items()))
    lines = [
        f"{len(decisions)} queries: {len(answered)} answered, {len(declined)} declined"
        f" ({kinds or 'none'})",
        "score of the best FAQ:   min    p25    p50    p75    max",
    ]
    for name, scores in (("answered", answered), ("declined", declined)):
        if scores:
            points = np.percentile(scores, [0, 25, 50, 75, 100])
            lines.append(f"  {name:<9} {len(scores):>5}  " + "  ".join(f"{p:.3f}" for p in points))
        else:
            lines.append(f"  {name:<9} {0:>5}")
    lines.append("histogram:            answered declined")
    bins = [(-np.inf, EDGES[0], f"< {EDGES[0]:.2f}")]
    bins += [(low, high, f"{low:.2f}-{high:.2f}") for low, high in pairwise(EDGES)]
    bins.append((EDGES[-1], np.inf, f">= {EDGES[-1]:.2f}"))
    for low, high, label in bins:
        inside = [sum(low <= s < high for s in scores) for scores in (answered, declined)]
        if any(inside):
            lines.append(f"  {label:<18} {inside[0]:>8} {inside[1]:>8}")
    return "\n".join(lines)
