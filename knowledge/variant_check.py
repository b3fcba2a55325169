"""Checks a model-written answer variant against its FAQ's canonical answer before a person
approves it. A rewording must keep the canonical answer's facts (numbers, amounts, links,
emails, names) and add none, say no or not where it does, and must read as an answer: a small
model once turned a warranty answer into "Sewage Repair Services:", and one bulk click put it
live. Flagged variants are left out of bulk approval; a person can still approve one after
reading it."""

import re
from dataclasses import dataclass

from django.utils.translation import gettext, gettext_lazy

from knowledge.documents.parsing import guess_locale

_URL = re.compile(r"https?://[^\s<>\"')\]]+|www\.[^\s<>\"')\]]+", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# 1,234.50 / 14.95 / 3-5 / 24/7 each count digit by digit group: "3-5 days" keeps 3 and 5.
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_CAPITALISED = re.compile(r"\b[A-Z][A-Za-z0-9]+\b")
_IDEOGRAPH = re.compile(r"[\u4e00-\u9fff]")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]+")
_SENTENCE_END = (".", "!", "?", ":", "。", "！", "？", "：", "\n", "-", "*")

# The problems' codes are their English; what a reader in another language sees.
_PROBLEMS = {
    "empty": gettext_lazy("empty"),
    "ends like a heading": gettext_lazy("ends like a heading"),
    "much shorter than the answer": gettext_lazy("much shorter than the answer"),
    "much longer than the answer": gettext_lazy("much longer than the answer"),
    "in another language": gettext_lazy("in another language"),
    "may say the opposite": gettext_lazy("may say the opposite (yes / no, not)"),
}

# A statement turned round. A small model rewrote "Yes, carbon hiking poles from $35" as "No,
# carbon hiking poles from $35": every fact kept, the answer reversed, and served once approved
# (an owner's walk). A rewording says no or not where its answer does (not as often: "No, we
# don't" may well become "we do not"), and does not open with yes where it opens with no.
_ENGLISH_WORD = re.compile(r"[a-z]+(?:['’][a-z]+)?")
_ENGLISH_NEGATIONS = frozenset(
    {"no", "not", "never", "neither", "nor", "cannot", "unable", "dont", "cant", "wont"}
    | {"isnt", "arent", "doesnt", "didnt"}
)
_YES, _NO = frozenset({"yes", "yeah", "yep", "sure"}), frozenset({"no", "nope"})
# One character each in Chinese; the words they open that negate nothing are taken out first.
_CHINESE_NEGATION = re.compile(r"[不没无未别非否]")
_CHINESE_NOT_NEGATING = re.compile(
    "不错|不过|不仅|不管|不断|不久|无论|非常|除非|别的|别人|否则|未来|无线|毫无疑问|没问题|不限|无限"
)

MIN_LENGTH_RATIO = 0.4
MAX_LENGTH_RATIO = 2.5


@dataclass(frozen=True)
class VariantCheck:
    """What differs between a variant and its canonical answer; empty when it may be
    approved in bulk."""

    missing: tuple[str, ...] = ()  # facts of the canonical answer the variant dropped
    added: tuple[str, ...] = ()  # facts in the variant that the canonical answer lacks
    problems: tuple[str, ...] = ()  # does not read as an answer (empty, a heading, wrong length)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.added or self.problems)

    def summary(self) -> str:
        """In the reader's language (the admin renders it per request)."""
        parts = []
        if self.missing:
            parts.append(gettext("missing %(facts)s") % {"facts": ", ".join(self.missing)})
        if self.added:
            parts.append(gettext("not in the answer: %(facts)s") % {"facts": ", ".join(self.added)})
        parts.extend(str(_PROBLEMS.get(problem, problem)) for problem in self.problems)
        return gettext("; ").join(parts)


def _numbers(text: str) -> set[str]:
    """Numbers without thousands separators or trailing zeros: "1,000" == "1000", "5.0" == "5"."""
    found = set()
    for raw in NUMBER.findall(_prose(text)):
        number = raw.replace(",", "") if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", raw) else raw
        number = number.replace(",", ".")
        if "." in number:
            number = number.rstrip("0").rstrip(".")
        found.add(number)
    return found


def _links(text: str) -> set[str]:
    return {
        url.rstrip(".,;:!?").lower().removeprefix("https://").removeprefix("http://")
        for url in _URL.findall(text)
    }


def _emails(text: str) -> set[str]:
    return {email.rstrip(".").lower() for email in _EMAIL.findall(text)}


def _prose(text: str) -> str:
    """Text without links and emails, so "acme" in support@acme.example is not the name Acme."""
    return _URL.sub(" ", _EMAIL.sub(" ", text))


def _names(text: str) -> set[str]:
    """Capitalised words that do not open a sentence ("Acme", "PayPal"); in Chinese text, Latin
    words of two or more letters (product and brand names)."""
    plain = _prose(text)
    if guess_locale([plain]) == "zh-hans":
        return {word.lower() for word in _LATIN_WORD.findall(plain)}
    return {
        match.group().lower()
        for match in _CAPITALISED.finditer(plain)
        if not plain[: match.start()].rstrip(" \t\"'(").endswith(_SENTENCE_END)
        and plain[: match.start()].strip()
    }


def says_no(text: str) -> bool:
    """Whether the text says no or not anywhere, in English or Chinese."""
    plain = _prose(text).lower()
    if any(
        word in _ENGLISH_NEGATIONS or word.endswith(("n't", "n’t"))
        for word in _ENGLISH_WORD.findall(plain)
    ):
        return True
    return bool(_CHINESE_NEGATION.search(_CHINESE_NOT_NEGATING.sub(" ", plain)))


def _opening(text: str) -> str:
    """ "yes" or "no" when the text opens with one, else ""."""
    words = _ENGLISH_WORD.findall(_prose(text).lower()[:20])
    first = words[0] if words else ""
    return "yes" if first in _YES else "no" if first in _NO else ""


def _reversed(canonical: str, variant: str) -> bool:
    openings = {_opening(canonical), _opening(variant)}
    return says_no(canonical) != says_no(variant) or openings == {"yes", "no"}


def variant_check(*, canonical: str, variant: str) -> VariantCheck:
    """Compares facts case-insensitively; a name the canonical answer opens a sentence with
    still counts when the variant uses it anywhere."""
    text = variant.strip()
    if not text:
        return VariantCheck(problems=("empty",))
    problems = []
    if text.endswith((":", "：")):
        problems.append("ends like a heading")
    ratio = len(text) / max(1, len(canonical.strip()))
    if ratio < MIN_LENGTH_RATIO:
        problems.append("much shorter than the answer")
    elif ratio > MAX_LENGTH_RATIO:
        problems.append("much longer than the answer")
    if bool(_IDEOGRAPH.search(text)) != bool(_IDEOGRAPH.search(canonical)):
        problems.append("in another language")
    if _reversed(canonical, text):
        problems.append("may say the opposite")

    canonical_lower, variant_lower = _prose(canonical).lower(), _prose(text).lower()
    missing: list[str] = []
    added: list[str] = []
    for extract in (_numbers, _links, _emails):
        want, have = extract(canonical), extract(text)
        missing += sorted(want - have)
        added += sorted(have - want)
    missing += sorted(name for name in _names(canonical) if name not in variant_lower)
    added += sorted(name for name in _names(text) if name not in canonical_lower)
    return VariantCheck(tuple(missing), tuple(added), tuple(problems))
