"""Which conversation context a turn's answer depends on.

A follow-up ("and how long does that take?") means something only after the turns before it, so
its cache scope is a fingerprint of the chain of visitor questions back to the last standalone
one: it can only hit an entry made after the same questions. A standalone question (no pronoun,
no ellipsis) is looked up in the shared, context-free scope. An answer is stored context-free
only when the model saw no earlier turn (the first question of a conversation), because a model
that saw history may have used it even for a question that looks standalone."""

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from chatbot.history import HistoryItem

STANDALONE = ""
MAX_CHAIN = 3  # follow-ups of follow-ups beyond this are too specific to be worth caching

_FOLLOW_UP_START = re.compile(
    r"^\s*(?:and|also|but|so|then|or|plus|what about|how about|what if|why not|same|ok|okay"
    r"|yes|yeah|yep|no|nope|sure|thanks|thank you|great|cool|really|which one|the other)\b",
    re.IGNORECASE,
)
_ANAPHORA = re.compile(
    r"\b(?:it|its|it's|that|this|these|those|they|them|their|theirs|there|he|she|him|her|his"
    r"|hers|one|ones|same|other|others|instead|too|either|neither|else|former|latter|above"
    r"|previous|again)\b",
    re.IGNORECASE,
)
_ANAPHORA_ZH = re.compile(r"[它他她那这]|呢[?？]?$|还有|那么|然后|同样")
_WORD = re.compile(r"\w+")


def normalise(text: str) -> str:
    """Case, punctuation and spacing removed: the exact-repeat and single-flight key."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


def depends_on_context(text: str) -> bool:
    """Pronoun, continuation or ellipsis heuristics; errs towards yes (a bypass only costs a
    model call, a wrong context costs a wrong answer)."""
    if _FOLLOW_UP_START.search(text) or _ANAPHORA.search(text) or _ANAPHORA_ZH.search(text):
        return True
    words = _WORD.findall(text)
    cjk = any("\u4e00" <= ch <= "\u9fff" for ch in text)
    return len(text.strip()) < 6 if cjk else len(words) <= 2


@dataclass(frozen=True)
class CacheContext:
    lookup: str | None  # scope to look up in; None = bypass
    store: str | None  # scope to store the answer under; None = do not store
    reason: str = ""


def _fingerprint(parts: Sequence[str]) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def cache_context(text: str, history: Sequence[HistoryItem]) -> CacheContext:
    questions = [item.text for item in history if item.role == "visitor"]
    first_turn = not questions
    if not depends_on_context(text):
        return CacheContext(STANDALONE, STANDALONE if first_turn else None, "standalone")
    if first_turn:
        return CacheContext(STANDALONE, STANDALONE, "no_history")
    chain, complete = _questions_followed(questions)
    if not complete:
        return CacheContext(None, None, "context_too_deep")
    key = _fingerprint([normalise(question) for question in chain])
    return CacheContext(key, key, "follow_up")


def _questions_followed(questions: Sequence[str]) -> tuple[list[str], bool]:
    """The visitor's questions a follow-up continues, oldest first: back to the last standalone
    one, at most MAX_CHAIN; False when MAX_CHAIN follow-ups came before any standalone one."""
    chain: list[str] = []
    for question in reversed(questions):
        chain.append(question)
        if not depends_on_context(question):
            return chain[::-1], True
        if len(chain) >= MAX_CHAIN:
            return chain[::-1], False
    return chain[::-1], True


def question_in_context(text: str, history: Sequence[HistoryItem]) -> str:
    """What to search the help centre with: a follow-up ("and to Canada?") after the visitor's
    questions it continues, back to the last standalone one (at most MAX_CHAIN), else the
    question alone. "and to Canada?" finds nothing; "How long does delivery take? and to
    Canada?" finds the international shipping article (a walk: every follow-up got "I couldn't
    find that in our help centre")."""
    if not depends_on_context(text):
        return text
    chain, _complete = _questions_followed([i.text for i in history if i.role == "visitor"])
    return " ".join([*chain, text])
