"""The output filter: what a model-written answer may not say, checked while it streams.

An answer is blocked when it breaks one of the business's rules (blocked terms and patterns,
topics to refuse: `knowledge.models.OutputRule`), links to a host that neither this site nor its
knowledge links to, quotes an amount of money its knowledge never states, or repeats the system
prompt. These are the visible ends of a prompt injection or an invented policy: the check looks
at what the model wrote, whatever reached it. The orchestrator streams only settled text (up to
the last space or Chinese character), so a blocked word is caught before the visitor sees it."""

import re
from dataclasses import dataclass
from functools import cached_property

from knowledge.output_rules import OutputKnowledge, amounts_in, hosts_in

# Eight words in a row from the system prompt: longer than any phrase an answer shares with it
# by chance ("connect you with a human agent" is six).
LEAK_WORDS = 8
_WORD = re.compile(r"\w+")
_SETTLED_END = re.compile(r"[\s\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")


def settled(text: str) -> str:
    """The part of a streaming answer that the next token cannot change into another word:
    up to the last whitespace, Chinese character or full-width punctuation."""
    for index in range(len(text) - 1, -1, -1):
        if _SETTLED_END.match(text[index]):
            return text[: index + 1]
    return ""


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i : i + LEAK_WORDS]) for i in range(len(words) - LEAK_WORDS + 1)}


def _allowed(host: str, known: frozenset[str]) -> bool:
    return any(host == k or host.endswith("." + k) for k in known)


@dataclass(frozen=True)
class OutputCheck:
    knowledge: OutputKnowledge
    locale: str
    question: str
    sources_text: str = ""  # the passages this answer was given
    own_hosts: frozenset[str] = frozenset()  # this site's hosts (ALLOWED_HOSTS, embedding sites)
    system_prompt: str = ""
    check_links: bool = True
    check_prices: bool = True

    def refused_topic(self) -> str | None:
        """A topic rule the question itself touches: refused before any model is asked."""
        for rule in self.knowledge.rules:
            topic = rule.kind == "topic" and rule.applies_to(self.locale)
            if topic and rule.pattern.search(self.question):
                return f"topic:{rule.name}"
        return None

    def blocked(self, text: str) -> str | None:
        """Why `text` may not be sent (a short code for the trace), or None."""
        for rule in self.knowledge.rules:
            if rule.applies_to(self.locale) and rule.pattern.search(text):
                return f"{rule.kind}:{rule.name}"
        if self.check_links:
            for host in sorted(hosts_in(text)):
                if not _allowed(host, self._known_hosts):
                    return f"unknown_link:{host}"
        if self.check_prices:
            for amount in sorted(amounts_in(text)):
                if amount not in self._known_amounts:
                    return f"unknown_price:{amount}"
        if self._prompt_shingles and _shingles(text) & self._prompt_shingles:
            return "system_prompt"
        return None

    # Read once per answer: `blocked` runs on every token, the sources and the prompt do not change.
    @cached_property
    def _known_hosts(self) -> frozenset[str]:
        return self.own_hosts | self.knowledge.hosts | hosts_in(self.sources_text)

    @cached_property
    def _known_amounts(self) -> frozenset[str]:
        return self.knowledge.amounts | amounts_in(self.sources_text)

    @cached_property
    def _prompt_shingles(self) -> set[tuple[str, ...]]:
        return _shingles(self.system_prompt)
