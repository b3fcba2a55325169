"""FAQ import/export in the JSON format of docs/faq-format.md. Import validates every row first
and writes nothing if any row is bad; re-importing the same file changes nothing."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from knowledge import services
from knowledge.models import FAQ, AnswerVariant, Origin

FORMAT_VERSION = 1
VARIANT_STATUSES = {s.value for s in AnswerVariant.Status}


class ImportError_(ValueError):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0


def _variant(raw: Any) -> dict[str, str] | None:
    if isinstance(raw, str):
        return {"text": raw, "status": AnswerVariant.Status.APPROVED}
    if isinstance(raw, dict) and isinstance(raw.get("text"), str):
        status = raw.get("status", AnswerVariant.Status.APPROVED)
        if status in VARIANT_STATUSES:
            return {"text": raw["text"], "status": status}
    return None


def validate(data: Any) -> list[dict[str, Any]]:
    """Returns clean rows or raises ImportError_ listing every problem with its row number."""
    if not isinstance(data, dict) or not isinstance(data.get("faqs"), list):
        raise ImportError_(['The file must be a JSON object with a "faqs" list.'])
    if data.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        raise ImportError_([f"Unsupported format version {data.get('version')!r}."])
    rows, errors, seen = [], [], set()
    for number, raw in enumerate(data["faqs"], start=1):
        problems = []
        if not isinstance(raw, dict):
            errors.append(f"Row {number}: must be an object.")
            continue
        question, answer = raw.get("question"), raw.get("answer")
        if not isinstance(question, str) or not question.strip():
            problems.append('"question" must be a non-empty string')
        elif len(question) > 500:
            problems.append('"question" is longer than 500 characters')
        if not isinstance(answer, str) or not answer.strip():
            problems.append('"answer" must be a non-empty string')
        locale = raw.get("locale", "en")
        if locale not in ("en", "zh-hans"):
            problems.append('"locale" must be "en" or "zh-hans"')
        paraphrases = raw.get("paraphrases", [])
        if not isinstance(paraphrases, list) or not all(isinstance(p, str) for p in paraphrases):
            problems.append('"paraphrases" must be a list of strings')
        tags = raw.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            problems.append('"tags" must be a list of strings')
        variants = (
            [_variant(v) for v in raw.get("variants", [])]
            if isinstance(raw.get("variants", []), list)
            else [None]
        )
        if any(v is None for v in variants):
            problems.append('"variants" must be strings or {"text", "status"} objects')
        key = (locale, question.strip() if isinstance(question, str) else None)
        if key in seen:
            problems.append("the same question appears twice in this file")
        seen.add(key)
        if problems:
            errors.append(f"Row {number}: " + "; ".join(problems) + ".")
            continue
        rows.append({
            "question": question.strip(),
            "answer": answer.strip(),
            "locale": locale,
            "tags": tags,
            "active": bool(raw.get("active", True)),
            "paraphrases": [p.strip() for p in paraphrases if p.strip()],
            "variants": variants,
        })  # fmt: skip
    if errors:
        raise ImportError_(errors)
    return rows


@transaction.atomic
@services.embeddings_batched()
def import_faqs(data: Any, *, created_by: str = "import") -> ImportResult:
    rows = validate(data)
    result = ImportResult()
    for row in rows:
        faq = FAQ.objects.filter(locale=row["locale"], question=row["question"]).first()
        if faq is None:
            result.created += 1
        elif (faq.answer, faq.tags, faq.active) != (row["answer"], row["tags"], row["active"]):
            result.updated += 1
        faq = services.faq_save(
            faq=faq,
            question=row["question"],
            answer=row["answer"],
            locale=row["locale"],
            tags=row["tags"],
            active=row["active"],
            created_by=created_by,
        )
        services.paraphrases_add(faq=faq, texts=row["paraphrases"])
        for status in VARIANT_STATUSES:
            texts = [
                v["text"]
                for v in row["variants"]
                if v["status"] == status and v["text"] != row["answer"]
            ]
            services.variants_add(
                faq=faq, texts=texts, origin=Origin.HUMAN, status=status, created_by=created_by
            )
    return result


def export_faqs(faqs: Iterable[FAQ]) -> dict[str, Any]:
    out = []
    for faq in faqs:
        out.append({
            "question": faq.question,
            "answer": faq.answer,
            "locale": faq.locale,
            "tags": faq.tags,
            "active": faq.active,
            "paraphrases": [p.text for p in faq.paraphrases.all() if p.origin != Origin.CANONICAL],
            "variants": [
                {"text": v.text, "status": v.status}
                for v in faq.variants.all()
                if v.origin != Origin.CANONICAL
            ],
        })  # fmt: skip
    return {"version": FORMAT_VERSION, "faqs": out}
