""" "Did you mean" questions on the zh-hans and English shop evaluation stores (bench/data, 45 FAQs
x 7 phrasings, the same questions in both languages): for each question the shipped matcher
declines, the distinct FAQs of its neighbours whose nearest phrasing's cosine reaches a floor
(at most FAQ_RELATED_MAX), as the app offers them under a reply that answers nothing. Per floor
and split: how many declined in-store questions get their own FAQ offered (one click from the
right answer), and how many near-miss and out-of-scope questions get any offer at all (noise:
an offer is not an answer, the visitor picks one or none). The shipped floor per model is the
lowest (in 0.05 steps) at which at most 3 of the 40 out-of-scope `val` questions get an offer.

    python -m bench.related_questions
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
django.setup()

import numpy as np  # noqa: E402
from django.conf import settings  # noqa: E402

from knowledge.embeddings import get_embedder  # noqa: E402
from knowledge.greetings import strip_greetings  # noqa: E402
from knowledge.matching import (  # noqa: E402
    DEFAULT_K,
    batch_top_k,
    candidate_features,
    lone_neighbours,
    related_faqs,
)
from knowledge.operating_points import operating_point  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SETS = {"en": ROOT / "bench/data/en_faq_eval.json", "zh-hans": ROOT / "bench/data/zh_faq_eval.json"}
FLOORS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75)


def rows(locale: str, path: Path) -> list[str]:
    data = json.loads(path.read_text())
    embedder = get_embedder(locale)
    faq_index = {faq["id"]: i for i, faq in enumerate(data["faqs"])}
    stored = [
        (text, i)
        for i, faq in enumerate(data["faqs"])
        for text in [faq["question"], *faq["paraphrases"]]
    ]
    matrix = embedder.embed([text for text, _ in stored])
    ids = np.array([i for _, i in stored])
    point = operating_point(locale)
    out = []
    for split in ("val", "test"):
        queries = [q for q in data["queries"] if q["split"] == split]
        vectors = embedder.embed([strip_greetings(q["text"]) for q in queries])
        top_ids, top_scores = batch_top_k(matrix, ids, vectors, DEFAULT_K)
        answered = point.match_policy().accept(
            candidate_features(top_ids, top_scores, lone_neighbours(top_ids, ids))
        )
        for floor in FLOORS:
            offered = {"in_store": 0, "near_miss": 0, "oos": 0}
            right = declined = 0
            for row, query in enumerate(queries):
                if answered[row]:
                    continue
                related = related_faqs(
                    top_ids[row], top_scores[row], floor, settings.FAQ_RELATED_MAX
                )
                offered[query["kind"]] += bool(related)
                if query["kind"] == "in_store":
                    declined += 1
                    right += faq_index[query["faq"]] in related
            kinds = [q["kind"] for q in queries]
            shipped = " (shipped)" if floor == point.faq_related_floor else ""
            out.append(
                f"| {locale} | {split} | {floor:.2f}{shipped} | {declined} | "
                f"{right} ({right / max(declined, 1):.0%}) | {offered['in_store']} | "
                f"{offered['near_miss']} / {kinds.count('near_miss')} | "
                f"{offered['oos']} / {kinds.count('oos')} |"
            )
    return out


def main() -> None:
    print(
        "| store | split | floor | in-store declined | their FAQ offered | in-store offered "
        "anything | near-miss offered | out-of-scope offered |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for locale, path in SETS.items():
        for line in rows(locale, path):
            print(line)


if __name__ == "__main__":
    main()
