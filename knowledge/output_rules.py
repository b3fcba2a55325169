"""The business's rules for model-written answers and the facts its own knowledge states (the
hosts its links and emails point to, the amounts it quotes), kept per process and reloaded when
the knowledge version moves. The output filter checks each model answer against them: a link or
a price the knowledge never gave is how an injected instruction or an invented policy shows."""

import re
from dataclasses import dataclass

from knowledge.models import FAQ, AnswerVariant, Chunk, Document, OutputRule
from knowledge.process_copy import VersionedCopy

_URL = re.compile(r"(?:https?://|www\.)([^\s/<>\"'()\[\]{}，。、；：！？]+)", re.IGNORECASE)
_EMAIL_DOMAIN = re.compile(r"[\w.+-]+@((?:[\w-]+\.)+[A-Za-z]{2,})")
# Hosts written without a scheme ("visit cheap-deals.shop"): only with a common top-level
# domain, so "invoice.pdf" or "v2.1" are not taken for one.
_BARE_HOST = re.compile(
    r"(?<![\w@./-])((?:[a-z0-9-]+\.)+(?:com|net|org|io|co|cn|uk|de|fr|jp|shop|store|info|biz"
    r"|xyz|app|me|ly|site|online|top|example))(?![\w-])",
    re.IGNORECASE,
)
_NUMBER = r"(\d[\d,]*(?:\.\d+)?)"
_CURRENCY_BEFORE = r"(?:[$€£¥￥]|\b(?:USD|EUR|GBP|CNY|RMB|US\$)\s?)\s?"
_CURRENCY_AFTER = (
    r"\s?(?:(?:dollars?|euros?|pounds?|yuan|USD|EUR|GBP|CNY|RMB)\b|元|美元|块|欧元|英镑)"
)
_AMOUNT = re.compile(_CURRENCY_BEFORE + _NUMBER + "|" + _NUMBER + _CURRENCY_AFTER, re.IGNORECASE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")


def hosts_in(text: str) -> set[str]:
    """Hosts of the links, emails and bare domain names in `text`, lower case, no port."""
    hosts = {match.lower().split(":")[0].rstrip(".") for match in _URL.findall(text)}
    hosts |= {domain.lower() for domain in _EMAIL_DOMAIN.findall(text)}
    hosts |= {host.lower() for host in _BARE_HOST.findall(text)}
    return {host.removeprefix("www.") for host in hosts if host}


def amounts_in(text: str) -> set[str]:
    """Money amounts in `text` as plain numbers: "$1,299.00" and "1299元" are both "1299"."""
    found = set()
    for before, after in _AMOUNT.findall(text):
        number = (before or after).replace(",", "")
        if "." in number:
            number = number.rstrip("0").rstrip(".")
        found.add(number)
    return found


def _terms_pattern(lines: list[str]) -> re.Pattern[str]:
    """Whole words for Latin terms; Chinese terms match anywhere (no spaces between words)."""
    parts = [
        re.escape(term) if _CJK.search(term) else rf"(?<!\w){re.escape(term)}(?!\w)"
        for term in lines
    ]
    return re.compile("|".join(parts), re.IGNORECASE)


@dataclass(frozen=True)
class CompiledRule:
    name: str
    kind: str
    locale: str  # "" for every locale
    pattern: re.Pattern[str]

    def applies_to(self, locale: str) -> bool:
        return not self.locale or self.locale == locale


def compile_rule(rule: OutputRule) -> CompiledRule | None:
    lines = [line.strip() for line in rule.lines.splitlines() if line.strip()]
    if not lines:
        return None
    if rule.kind == OutputRule.Kind.PATTERN:
        pattern = re.compile("|".join(f"(?:{line})" for line in lines), re.IGNORECASE)
    else:
        pattern = _terms_pattern(lines)
    return CompiledRule(rule.name, rule.kind, rule.locale, pattern)


@dataclass(frozen=True)
class OutputKnowledge:
    rules: tuple[CompiledRule, ...] = ()
    hosts: frozenset[str] = frozenset()  # hosts the FAQ answers and documents link to
    amounts: frozenset[str] = frozenset()  # amounts the FAQ answers and documents state


class _OutputKnowledgeCopy(VersionedCopy):
    def __init__(self) -> None:
        super().__init__()
        self.current = OutputKnowledge()

    def _load(self) -> None:
        rules = [compile_rule(rule) for rule in OutputRule.objects.filter(active=True)]
        hosts: set[str] = set()
        amounts: set[str] = set()
        texts = [
            *FAQ.objects.filter(active=True).values_list("answer", flat=True),
            *AnswerVariant.objects.filter(status=AnswerVariant.Status.APPROVED).values_list(
                "text", flat=True
            ),
        ]
        for text in [*texts, *Chunk.objects.values_list("text", flat=True).iterator()]:
            hosts |= hosts_in(text)
            amounts |= amounts_in(text)
        for url in Document.objects.exclude(source_url="").values_list("source_url", flat=True):
            hosts |= hosts_in(url)
        self.current = OutputKnowledge(
            tuple(rule for rule in rules if rule is not None), frozenset(hosts), frozenset(amounts)
        )


_copy = _OutputKnowledgeCopy()


def output_knowledge() -> OutputKnowledge:
    """This process's copy, reloaded first if the knowledge moved (runs queries: call from a
    thread, not the event loop)."""
    _copy.refresh()
    return _copy.current
