"""Answers that repeat the visitor's own words are not shared: models restate the question ("I
will send it to 221b Baker Street"), so an answer echoing a span of the question that the
knowledge base does not hold may carry what the personal-data detector missed. Checked once per
answer worth storing, on the bookkeeping lane (docs/security.md, "Personal data and the answer
cache")."""

import re
from collections.abc import Iterable

import jieba
from django.db.models import Q

from knowledge.documents.lexical import CHINESE_STOPWORDS, CJK, ENGLISH_STOPWORDS, TOKEN
from knowledge.models import FAQ, AnswerVariant, Chunk, Paraphrase, RuleTemplate

MIN_RUN = 3  # consecutive question tokens repeated in the answer that make a span
_CANDIDATE_ROWS = 50  # rows holding a span's text looked at for it at word boundaries
_CJK_CHAR = re.compile(f"[{CJK}]")


def _tokens(text: str) -> list[str]:
    """Lowercase Latin/digit words and jieba words, in order, punctuation dropped."""
    tokens: list[str] = []
    for match in TOKEN.finditer(text.casefold()):
        tokens += jieba.lcut(match.group()) if match.lastgroup == "cjk" else [match.group()]
    return tokens


def _content(token: str) -> bool:
    return token not in ENGLISH_STOPWORDS and token not in CHINESE_STOPWORDS


def _trimmed(run: list[str]) -> list[str]:
    """Without the stop words at its ends: "are you open on 26 december" is held by a
    knowledge base that says "open on 26 December"."""
    start = next(i for i, t in enumerate(run) if _content(t))
    end = max(i for i, t in enumerate(run) if _content(t))
    return run[start : end + 1]


def _join(tokens: Iterable[str]) -> str:
    """Latin words space-separated, Chinese words run together, as they are written."""
    text = ""
    for token in tokens:
        if text and not _CJK_CHAR.match(token) and not _CJK_CHAR.match(text[-1]):
            text += " "
        text += token
    return text


def echoed_spans(question: str, answer: str) -> list[str]:
    """The question's text the answer repeats: every maximal run of at least MIN_RUN tokens
    with a content word in it (stop words at its ends trimmed), and every token holding a
    digit."""
    asked, answered = _tokens(question), _tokens(answer)
    spans: set[str] = {t for t in asked if any(ch.isdigit() for ch in t) and t in answered}
    previous = [0] * (len(answered) + 1)
    for i, token in enumerate(asked):
        current = [0] * (len(answered) + 1)
        for j, other in enumerate(answered):
            if token == other:
                current[j + 1] = previous[j] + 1
        for j, length in enumerate(current[1:]):
            continues = i + 1 < len(asked) and j + 1 < len(answered)
            if continues and asked[i + 1] == answered[j + 1]:
                continue  # not maximal: the run goes on
            run = asked[i - length + 1 : i + 1]
            if length >= MIN_RUN and any(_content(t) for t in run):
                spans.add(_join(_trimmed(run)))
        previous = current
    return sorted(spans)


def _bounded(span: str) -> re.Pattern[str]:
    """`span` not inside a longer word or number ("25" is not in "250")."""
    start = "" if _CJK_CHAR.match(span[0]) else r"(?<![0-9a-z])"
    end = "" if _CJK_CHAR.match(span[-1]) else r"(?![0-9a-z])"
    return re.compile(start + r"\s+".join(map(re.escape, span.split(" "))) + end, re.IGNORECASE)


def knowledge_holds(span: str) -> bool:
    """Some FAQ (question, paraphrase, answer, approved variant), rule template or help-centre
    chunk contains `span` (sync: a LIKE per table, then a word-boundary check)."""
    pattern = _bounded(span)
    sources = (
        FAQ.objects.filter(Q(answer__icontains=span) | Q(question__icontains=span)).values_list(
            "answer", "question"
        ),
        Paraphrase.objects.filter(text__icontains=span).values_list("text"),
        AnswerVariant.objects.filter(
            status=AnswerVariant.Status.APPROVED, text__icontains=span
        ).values_list("text"),
        RuleTemplate.objects.filter(text__icontains=span).values_list("text"),
        Chunk.objects.filter(text__icontains=span).values_list("text"),
    )
    return any(
        pattern.search(text) for rows in sources for row in rows[:_CANDIDATE_ROWS] for text in row
    )


def private_echoes(question: str, answer: str) -> list[str]:
    """The spans of the question the answer repeats that the knowledge base does not hold;
    an answer with any is not shared (sync)."""
    return [span for span in echoed_spans(question, answer) if not knowledge_holds(span)]
