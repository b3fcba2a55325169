"""An agent's reply made fit for an FAQ draft: greetings and the visitor's name out, personal
details out of the question and marked in the answer, for the agent to edit before saving.
"Save as FAQ draft" copied "Hi Alice, …" into an FAQ answer (issue 20). docs/console.md,
"Save as FAQ draft"."""

from __future__ import annotations

import re
from dataclasses import dataclass

from chatbot.cache import pii
from knowledge.greetings import strip_greetings

# The kinds an FAQ may never hold; "account" (a question about "my order") is how FAQ questions
# are worded, not a personal detail.
KEPT_KINDS = frozenset({"account"})
PLACEHOLDER = "[…]"
_NAME_KINDS = frozenset({"name", "name_capitalised", "name_zh", "name_zh_self"})
_SEP = r"[\s,.!?;:，。！？；：、~～]*"
_TITLE = r"(?:(?:mr|mrs|ms|miss|dr)\.?\s+)?"
# "Hi Alice,", "Hello Mr Brown!", "Dear Ann Lee:", "Good morning Sam -" (the name capitalised).
_GREETING_NAME_EN = re.compile(
    r"^\s*(?i:hi|hello|hey|dear|thanks|thank\s+you|good\s+(?:morning|afternoon|evening))\s+"
    rf"(?i:{_TITLE})[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)?\s*[,!.:;-]+\s*"
)
# "王女士，您好！", "您好，李先生：".
_GREETING_NAME_ZH = re.compile(
    rf"^\s*(?:(?:您好|你好)[，,！!\s]*)?[{pii.SURNAMES}][\u4e00-\u9fff]?(?:先生|女士|小姐|同学)"
    r"[，,！!。:：\s]*(?:(?:您好|你好)[，,！!。\s]*)?"
)
# "I'm Bob", "my name is Ann Lee", "this is Sam": the name given, to take out of the answer too.
_SELF_NAMED = re.compile(
    r"(?i:my\s+name\s+is|my\s+name's|i\s*am|i'm|this\s+is|call\s+me)\s+"
    rf"(?i:{_TITLE})([A-Z][a-z'-]+(?:\s+[A-Z][a-z'-]+)?)"
)
_SELF_NAMED_ZH = re.compile(rf"(?:我叫|我是|本人)\s*([{pii.SURNAMES}][\u4e00-\u9fff]{{1,2}})")


@dataclass(frozen=True)
class Draft:
    question: str
    answer: str
    removed: tuple[str, ...]  # the kinds of detail taken out or marked, for the agent to see


def _names(texts: list[str]) -> set[str]:
    """Names the visitor gave for themselves."""
    found: set[str] = set()
    for text in texts:
        found.update(m.group(1) for m in _SELF_NAMED.finditer(text))
        found.update(m.group(1) for m in _SELF_NAMED_ZH.finditer(text))
    return found


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


# A clause ends at , . ! ? ; followed by a space (not the dot in "example.com") or at a
# Chinese punctuation mark.
_CLAUSE = re.compile(r"[^,.!?;，。！？；]*?(?:[,.!?;]+(?=\s|$)|[，。！？；]+|$)\s*")


def _name_pattern(name: str) -> str:
    return rf"\b{re.escape(name)}\b" if name.isascii() else re.escape(name)


def _spans(text: str, names: set[str]) -> list[tuple[str, int, int]]:
    spans = []
    for kind, start, end in pii.personal_spans(text):
        if kind in KEPT_KINDS:
            continue
        if kind in _NAME_KINDS:  # "I'm Alice. How …" is a name, then a question
            stop = re.search(r"[,.!?;，。！？；]", text[start:end])
            end = start + stop.start() if stop else end
        spans.append((kind, start, end))
    for name in names:
        spans += [("name", m.start(), m.end()) for m in re.finditer(_name_pattern(name), text)]
    return spans


def _without_clauses(text: str, spans: list[tuple[str, int, int]]) -> str:
    """The clauses of a question that hold none of the spans ("my email is …," goes whole)."""
    kept = []
    for m in _CLAUSE.finditer(text):
        if m.start() == m.end():
            continue
        if not any(start < m.end() and end > m.start() for _, start, end in spans):
            kept.append(m.group())
    return "".join(kept)


def _marked(text: str, spans: list[tuple[str, int, int]]) -> str:
    """Names out (with the space before them), other details replaced with PLACEHOLDER."""
    for kind, start, end in sorted(spans, key=lambda s: -s[1]):
        if kind in _NAME_KINDS:
            while start > 0 and text[start - 1] in " \t":
                start -= 1
            text = text[:start] + text[end:]
        else:
            text = text[:start] + PLACEHOLDER + text[end:]
    return text


def _clean(text: str, *, names: set[str], drop: bool, removed: set[str]) -> str:
    """Leading greetings (with the name they address) off, then the clauses holding personal
    details or the visitor's name dropped (`drop`: a question; when nothing would be left, as
    for an answer) or, in an answer, names taken out and other details replaced with
    PLACEHOLDER."""
    core = text.strip()
    for pattern in (_GREETING_NAME_EN, _GREETING_NAME_ZH):
        shorter = pattern.sub("", core, count=1)
        if shorter != core and any(ch.isalnum() for ch in shorter):
            removed.add("greeting")
            core = shorter
    shorter = strip_greetings(core)
    if shorter != core:
        removed.add("greeting")
        core = shorter
    spans = _spans(core, names)
    removed.update("name" if kind in _NAME_KINDS else kind for kind, _, _ in spans)
    if spans:
        dropped = _without_clauses(core, spans) if drop else ""
        if any(ch.isalnum() for ch in dropped):
            core = dropped
        else:
            core = _marked(core, sorted(set(spans), key=lambda s: (s[1], -s[2])))
    core = re.sub(r"\s+([,.!?;:，。！？])", r"\1", core)
    core = re.sub(r"[,，]+([.!?;:。！？])", r"\1", core)  # "…euros, Sam." without the name
    core = re.sub(r"^[\s,.!?;:，。！？；：、]+", "", core)
    return _capitalised(re.sub(r"[ \t]{2,}", " ", core).strip())


def faq_draft_propose(*, question: str, answer: str, visitor_texts: list[str]) -> Draft:
    """The question and answer cleaned for an FAQ, with what was taken out."""
    removed: set[str] = set()
    names = _names([question, *visitor_texts])
    clean_question = _clean(question, names=names, drop=True, removed=removed)
    clean_answer = _clean(answer, names=names, drop=False, removed=removed)
    return Draft(
        question=clean_question or question.strip(),
        answer=clean_answer or answer.strip(),
        removed=tuple(sorted(removed)),
    )


def faq_draft_personal(text: str) -> list[str]:
    """The personal details still in an edited draft's text (saving is refused while any is)."""
    kinds = [kind for kind in pii.personal_kinds(text) if kind not in KEPT_KINDS]
    return kinds + (["placeholder"] if PLACEHOLDER in text else [])
