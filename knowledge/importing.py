"""FAQ import/export in the JSON format of docs/faq-format.md (import also takes CSV). Import
validates every row first and writes nothing if any row is bad; re-importing the same file
changes nothing."""

import csv
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext, gettext_lazy

from knowledge import services
from knowledge.documents.parsing import ErrorCode, decode_text, guess_locale
from knowledge.documents.types import DocumentError
from knowledge.models import FAQ, AnswerVariant, Origin
from knowledge.selectors import faqs_asking, one_line
from knowledge.variant_check import variant_check

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
    # New answer variants the file gave as approved that the fact check flagged: kept as drafts
    # for a person to read (a re-walk imported "No, we engrave watches" for "Yes, we engrave
    # watches", and the widget served it).
    held_back: int = 0


CSV_COLUMNS = ("question", "answer", "locale", "tags", "active", "paraphrases", "variants")
# A row's own key in its file (the benchmark sets carry one): accepted and not stored.
IGNORED_FIELDS = ("id",)
_CSV_LISTS = ("tags", "paraphrases", "variants")
# Column names a Chinese shop's spreadsheet has (a zh-shop walk's 问题,答案 was refused).
_COLUMN_ALIASES = {
    "问题": "question",
    "答案": "answer",
    "回答": "answer",
    "语言": "locale",
    "标签": "tags",
    "启用": "active",
    "问法": "paraphrases",
    "相似问法": "paraphrases",
    "相似问题": "paraphrases",
    "答案变体": "variants",
}
# Ways a locale is written in a file, in the store's spelling.
_LOCALE_ALIASES = {
    **dict.fromkeys(("en", "en-us", "en-gb", "english", "英文", "英语"), "en"),
    **dict.fromkeys(
        ("zh-hans", "zh", "zh-cn", "zh-sg", "zh-hans-cn", "chinese", "中文", "简体中文"),
        "zh-hans",
    ),
}


def _column(name: str) -> str:
    name = name.strip()
    return _COLUMN_ALIASES.get(name, name.lower())


_TRUE, _FALSE = {"", "1", "true", "yes", "y"}, {"0", "false", "no", "n"}
_LIST_SEPARATOR = re.compile(r"(?<!\\)\|")


# A cell starting with one of these is a formula to Excel and LibreOffice ("CSV injection"),
# and a Markdown list answer ("- …") would show as #NAME?: the export writes a quote before
# it, as spreadsheets do themselves, and the import takes that quote off again.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


# Written first in every CSV the product gives out: Excel reads the file as UTF-8 only after it
# (without it, Chinese text shows in the machine's code page).
SPREADSHEET_BOM = "\ufeff"


def spreadsheet_safe(cell: str) -> str:
    """A text cell a spreadsheet will not run: anyone's text may start like a formula (OWASP,
    "CSV injection")."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def _from_spreadsheet(cell: str) -> str:
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(_FORMULA_STARTS) else cell


def _csv_list(cell: str) -> list[str]:
    """A list cell's values: separated by `|`; a `|` inside a value is written `\\|`."""
    parts = (part.replace("\\|", "|").strip() for part in _LIST_SEPARATOR.split(cell))
    return [part for part in parts if part]


def _csv_list_cell(values: Iterable[str]) -> str:
    return " | ".join(value.replace("|", "\\|") for value in values)


def _csv_rows(text: str) -> dict[str, Any]:
    """A CSV with a header row (CSV_COLUMNS; question and answer required) as the JSON
    format's object: list cells are separated by `|`, `active` is true/false/yes/no/1/0. Read
    strictly: a quote left open took the rest of the file into one cell, and the owner read
    "answer must not be empty" for a row whose answer was there (a walk)."""
    reader = csv.DictReader(io.StringIO(text), strict=True)
    try:
        return _csv_read(reader)
    except csv.Error as exc:
        raise ImportError_([
            gettext("A quoted cell is never closed: a \" opens it and no \" ends it.")
            if "end of data" in str(exc)
            else gettext(
                "Line %(line)s is not valid CSV: a \" inside a quoted cell must be written twice "
                "(\"\")."
            ) % {"line": reader.line_num + 1}  # the line being read is not counted yet
        ]) from None  # fmt: skip


def _csv_read(reader: csv.DictReader) -> dict[str, Any]:
    header = [_column(h) for h in reader.fieldnames or []]
    unknown = [h for h in header if h not in CSV_COLUMNS + IGNORED_FIELDS]
    missing = [c for c in ("question", "answer") if c not in header]
    if missing or unknown:
        problems = []
        if missing:
            problems.append(gettext("missing %(columns)s") % {"columns": ", ".join(missing)})
        if unknown:
            problems.append(gettext("unknown %(columns)s") % {"columns": ", ".join(unknown)})
        raise ImportError_([
            gettext(
                "The CSV's first line must name its columns, from: %(columns)s "
                "(%(problems)s; found: %(found)s)."
            ) % {
                "columns": ", ".join(CSV_COLUMNS),
                "problems": gettext("; ").join(problems),
                "found": ", ".join(header) or gettext("nothing"),
            }
        ])  # fmt: skip
    faqs: list[Any] = []
    for raw in reader:
        row: dict[str, Any] = {}
        for key, value in raw.items():
            if key is None:  # more cells than columns
                row["_extra"] = value
                continue
            key, cell = _column(key), _from_spreadsheet((value or "").strip())
            if key in _CSV_LISTS:
                row[key] = _csv_list(cell)
            elif key == "active":
                row[key] = (
                    cell.lower() if cell.lower() not in _TRUE | _FALSE else (cell.lower() in _TRUE)
                )
            elif key == "locale" and not cell:
                continue  # guessed from the text (validate)
            else:
                row[key] = cell
        faqs.append(row)
    return {"version": FORMAT_VERSION, "faqs": faqs}


def parse_upload(name: str, content: bytes) -> Any:
    """The data of an uploaded file: CSV when its name ends in .csv, else JSON; raises
    ImportError_ saying what is wrong with the file itself (encoding, syntax, header). Read as
    documents are (UTF-8, GB18030/GBK, UTF-16 with a byte-order mark): Excel in Chinese saves
    CSV as GBK."""
    try:
        text = decode_text(content)
    except DocumentError as exc:
        raise ImportError_([
            gettext("The file holds binary data, not text.")
            if exc.code == ErrorCode.BINARY
            else gettext(
                "The file's text encoding is not supported: save it as UTF-8 (GB18030/GBK and "
                "UTF-16 with a byte-order mark are also read)."
            )
        ]) from None  # fmt: skip
    if name.lower().endswith(".csv"):
        return _csv_rows(text)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ImportError_([
            gettext(
                "Not valid JSON (line %(line)s, column %(column)s: %(problem)s). A CSV file "
                "needs a name ending in .csv."
            ) % {"line": exc.lineno, "column": exc.colno, "problem": _json_problem(exc.msg)}
        ]) from None  # fmt: skip


# The json module's own words for what it found, in the admin's language (its messages are
# fixed English strings; an unknown one is shown as it is).
_JSON_PROBLEMS = {
    "Expecting value": gettext_lazy("a value was expected"),
    "Expecting ':' delimiter": gettext_lazy("a colon (:) was expected"),
    "Expecting ',' delimiter": gettext_lazy("a comma (,) was expected"),
    "Expecting property name enclosed in double quotes": gettext_lazy(
        "a name in double quotes was expected (no comma after the last item)"
    ),
    "Unterminated string starting at": gettext_lazy("a text in quotes is not closed"),
    "Extra data": gettext_lazy("more data after the end of the JSON"),
    "Invalid \\escape": gettext_lazy("an invalid backslash escape"),
    "Invalid \\uXXXX escape": gettext_lazy("an invalid \\uXXXX escape"),
    "Invalid control character at": gettext_lazy(
        "a control character (a tab or line break) inside a text in quotes"
    ),
}


def _json_problem(message: str) -> str:
    return str(_JSON_PROBLEMS.get(message, message))


def _variant(raw: Any) -> dict[str, str] | None:
    if isinstance(raw, str):
        return {"text": raw, "status": AnswerVariant.Status.APPROVED}
    if isinstance(raw, dict) and isinstance(raw.get("text"), str):
        status = raw.get("status", AnswerVariant.Status.APPROVED)
        if status in VARIANT_STATUSES:
            return {"text": raw["text"], "status": status}
    return None


def _locale(given: Any, question: Any, answer: Any) -> str | None:
    """The row's locale in the store's spelling; when the row has none, the language of its
    text (a Chinese file without a locale column went in as English, where its own questions
    asked word for word in Chinese found nothing). None when it names another."""
    if given is None or given == "":
        texts = [t for t in (question, answer) if isinstance(t, str)]
        return guess_locale(texts)
    if isinstance(given, str):
        return _LOCALE_ALIASES.get(given.strip().lower().replace("_", "-"))
    return None


def validate(data: Any) -> list[dict[str, Any]]:
    """Returns clean rows or raises ImportError_ listing every problem with its row number."""
    if not isinstance(data, dict) or not isinstance(data.get("faqs"), list):
        raise ImportError_([gettext('The file must be a JSON object with a "faqs" list.')])
    if data.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        raise ImportError_([
            gettext("Unsupported format version %(version)r.") % {"version": data.get("version")}
        ])  # fmt: skip
    rows, errors, seen = [], [], set()
    for number, raw in enumerate(data["faqs"], start=1):
        problems = []
        if not isinstance(raw, dict):
            errors.append(gettext("Row %(number)s: must be an object.") % {"number": number})
            continue
        if "_extra" in raw:
            errors.append(
                gettext("Row %(number)s: more cells than the header has columns.")
                % {"number": number}
            )
            continue
        if not isinstance(raw.get("active", True), bool):
            problems.append(gettext('"active" must be true or false (yes/no, 1/0)'))
        question, answer = raw.get("question"), raw.get("answer")
        if not isinstance(question, str) or not question.strip():
            problems.append(gettext('"question" must be a non-empty string'))
        elif len(question) > 500:
            problems.append(gettext('"question" is longer than 500 characters'))
        if not isinstance(answer, str) or not answer.strip():
            problems.append(gettext('"answer" must be a non-empty string'))
        unknown = sorted(str(k) for k in raw if k not in CSV_COLUMNS + IGNORED_FIELDS)
        if unknown:  # a misspelt "paraphrase" or "Locale" was dropped without a word
            problems.append(
                gettext("unknown fields %(fields)s (the fields are: %(known)s)")
                % {"fields": ", ".join(unknown), "known": ", ".join(CSV_COLUMNS)}
            )
        locale = _locale(raw.get("locale"), question, answer)
        if locale is None:
            problems.append(
                gettext('"locale" must be "en" or "zh-hans", not %(locale)s')
                % {"locale": json.dumps(raw.get("locale"), ensure_ascii=False)}
            )
        paraphrases = raw.get("paraphrases", [])
        if not isinstance(paraphrases, list) or not all(isinstance(p, str) for p in paraphrases):
            problems.append(gettext('"paraphrases" must be a list of strings'))
        tags = raw.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            problems.append(gettext('"tags" must be a list of strings'))
        variants = (
            [_variant(v) for v in raw.get("variants", [])]
            if isinstance(raw.get("variants", []), list)
            else [None]
        )
        if any(v is None for v in variants):
            problems.append(gettext('"variants" must be strings or {"text", "status"} objects'))
        question = one_line(question) if isinstance(question, str) else question
        key = (locale, question.casefold() if isinstance(question, str) else None)
        if key in seen:
            problems.append(gettext("the same question appears twice in this file"))
        seen.add(key)
        if problems:
            errors.append(
                gettext("Row %(number)s: %(problems)s.")
                % {"number": number, "problems": gettext("; ").join(problems)}
            )
            continue
        rows.append({
            "question": question,
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
        faq = faqs_asking(locale=row["locale"], question=row["question"]).first()
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
        existing = set(faq.variants.values_list("text", flat=True))
        by_status: dict[str, list[str]] = {status: [] for status in VARIANT_STATUSES}
        for variant in row["variants"]:
            text, status = variant["text"], variant["status"]
            if text == row["answer"]:
                continue
            if (
                status == AnswerVariant.Status.APPROVED
                and text.strip() not in existing
                and not variant_check(canonical=row["answer"], variant=text).ok
            ):
                status = AnswerVariant.Status.DRAFT
                result.held_back += 1
            by_status[status].append(text)
        for status, texts in by_status.items():
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
            # Approved ones only: the format has no status for a phrasing, and a draft the
            # model proposed would come back approved.
            "paraphrases": [
                p.text for p in faq.paraphrases.all() if p.origin != Origin.CANONICAL and p.approved
            ],
            "variants": [
                {"text": v.text, "status": v.status}
                for v in faq.variants.all()
                if v.origin != Origin.CANONICAL
            ],
        })  # fmt: skip
    return {"version": FORMAT_VERSION, "faqs": out}


# The import page's example file: one FAQ per language, every column filled in as the import
# reads it (an owner's walk found only a pointer to docs/faq-format.md, a file they cannot see).
EXAMPLE_ROWS = (
    (
        "How long does delivery take?",
        "Delivery takes 3-5 working days within the country.",
        "en",
        "shipping",
        "yes",
        "When will my order arrive?|How many days is shipping?",
        "Your parcel arrives 3-5 working days after you order, within the country.",
    ),
    (
        "怎么开发票？",
        "下单时在“发票”一栏填写抬头和税号即可，电子发票会发到您的邮箱。",
        "zh-hans",
        "发票",
        "yes",
        "发票怎么开？|可以开发票吗？",
        "",
    ),
)


def example_csv() -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(EXAMPLE_ROWS)
    return SPREADSHEET_BOM + out.getvalue()


def export_faqs_csv(faqs: Iterable[FAQ]) -> str:
    """The CSV the import reads back: approved variants only (a CSV variant is imported as
    approved)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for faq in export_faqs(faqs)["faqs"]:
        approved = [
            v["text"] for v in faq["variants"] if v["status"] == AnswerVariant.Status.APPROVED
        ]
        cells = [
            faq["question"],
            faq["answer"],
            faq["locale"],
            _csv_list_cell(faq["tags"]),
            "yes" if faq["active"] else "no",
            _csv_list_cell(faq["paraphrases"]),
            _csv_list_cell(approved),
        ]
        writer.writerow([spreadsheet_safe(cell) for cell in cells])
    return SPREADSHEET_BOM + out.getvalue()
