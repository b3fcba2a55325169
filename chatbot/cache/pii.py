"""Detects personal details in a question or answer; such turns never enter or hit the cache,
because an answer about one visitor's order, card or name must not be served to another."""

import re

_PATTERNS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    # 7+ digits with the usual phone separators, e.g. +1 (555) 123-4567, 0171 1234567.
    "phone": re.compile(r"(?<![\w.])\+?\(?\d[\d\s().-]{5,}\d(?![\w.])"),
    # Order, account, card, invoice ... followed by an identifier with a digit in it.
    "reference": re.compile(
        r"\b(?:order|account|acct|card|invoice|tracking|ticket|reference|ref|customer|member"
        r"|booking|confirmation|iban|ssn|passport)\b(?:\s+(?:no|number|num|id|code))?\.?"
        r"\s*(?:is|was|:|#)?\s*#?\s*(?=[A-Z0-9-]*\d)[A-Z0-9-]{3,}",
        re.IGNORECASE,
    ),
    "long_number": re.compile(r"#\s*\d{3,}|\b\d{6,}\b"),
    "name": re.compile(
        r"\b(?i:my name is|my name's|call me|i am|i'm|im)\s+(?!(?i:a|an|the|not|so|very"
        r"|just|looking|trying|having|getting|going|interested|unable|able|here|new|from|in"
        r"|on|at|about|still|also|really|sure|sorry|wondering|curious|calling|writing)\b)"
        r"[A-Z][a-z]+",
    ),
    "name_explicit": re.compile(r"\b(?:my name is|my name's|call me)\s+\w+", re.IGNORECASE),
    "name_zh": re.compile(r"我叫|我的名字|我姓"),
}


def personal_kinds(text: str) -> list[str]:
    """The kinds of personal detail found in `text` (empty when none)."""
    return [kind for kind, pattern in _PATTERNS.items() if pattern.search(text)]


def is_personal(text: str) -> bool:
    return any(pattern.search(text) for pattern in _PATTERNS.values())
