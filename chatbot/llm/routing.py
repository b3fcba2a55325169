"""Which tiers a question goes to, in which order.

The complexity decision is a handful of regexes and counts (microseconds, no model): a question
is hard when it is long, has several parts, compares things, asks for troubleshooting, or
sounds angry. Hard questions start at the strongest tier; simple ones at the cheap tier
(`LLM_ROUTE_SIMPLE_FROM`). Over the daily budget, every question routes as simple. The order
after the start is the fallback order (strong -> cheap -> local), then the rule templates."""

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from chatbot.llm.tiers import Tier

DEFAULT_SIGNALS: dict[str, str] = {
    "comparative": (
        r"\b(compare|comparison|versus|vs\.?|difference between|differences|better than|"
        r"which (one )?is (better|cheaper|faster)|pros and cons)\b|比较|区别|哪个更好|对比"
    ),
    "troubleshooting": (
        r"\b(not working|doesn'?t work|does not work|won'?t|can'?t|cannot|unable to|error|"
        r"broken|fails?|failed|failing|crash(es|ed)?|bug|troubleshoot|stuck|keeps? \w+ing)\b|"
        r"无法|不能|错误|故障|坏了|失败"
    ),
    "angry": (
        r"\b(ridiculous|unacceptable|terrible|worst|awful|furious|angry|disgusted|scam|"
        r"useless|complain|complaint|lawyer|never again)\b|!{2,}|投诉|太差|垃圾|气死"
    ),
    "multi_part": (
        r"\?[^?]+\?|\b(and then|additionally|secondly|second,)\b|^\s*\d[.)]\s|"
        r"\b(what|how|when|where|why|which|can|do|does|is|are)\b.+\b(and|also)\s+"
        r"(what|how|when|where|why|which|can|do|does|is|are)\b"
    ),
}


@dataclass(frozen=True)
class RoutingRules:
    long_chars: int = 280
    shouting_words: int = 3  # words in capitals that count as angry
    signals: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SIGNALS))


@dataclass(frozen=True)
class Complexity:
    hard: bool
    reasons: tuple[str, ...]

    @property
    def label(self) -> str:
        return "hard" if self.hard else "simple"


_compiled: dict[str, re.Pattern[str]] = {}


def _pattern(source: str) -> re.Pattern[str]:
    pattern = _compiled.get(source)
    if pattern is None:
        pattern = _compiled[source] = re.compile(source, re.IGNORECASE | re.MULTILINE)
    return pattern


def classify_complexity(text: str, rules: RoutingRules) -> Complexity:
    reasons = [name for name, source in rules.signals.items() if _pattern(source).search(text)]
    if len(text) > rules.long_chars:
        reasons.append("long")
    shouting = sum(1 for word in re.findall(r"\b[A-Z]{3,}\b", text))
    if shouting >= rules.shouting_words and "angry" not in reasons:
        reasons.append("angry")
    return Complexity(bool(reasons), tuple(reasons))


@dataclass(frozen=True)
class Route:
    complexity: Complexity
    tiers: tuple[Tier, ...]
    over_budget: bool

    def detail(self) -> dict[str, object]:
        return {
            "complexity": self.complexity.label,
            "reasons": list(self.complexity.reasons) or ["short single question"],
            "plan": [t.name for t in self.tiers],
            "over_budget": self.over_budget,
        }


def plan(
    tiers: Sequence[Tier], complexity: Complexity, *, simple_from: str, over_budget: bool
) -> Route:
    """Hard questions try every tier, strongest first; simple ones (and every question once the
    daily budget is spent) start at the `simple_from` tier when it is configured."""
    names = [t.name for t in tiers]
    start = 0
    if (over_budget or not complexity.hard) and simple_from in names:
        start = names.index(simple_from)
    return Route(complexity, tuple(tiers[start:]), over_budget)
