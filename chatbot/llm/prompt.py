"""Builds the chat request: system prompt, as much recent history as the budget allows, the
question."""

from collections.abc import Sequence

from chatbot.history import HistoryItem

_ROLE = {"visitor": "user", "bot": "assistant", "agent": "assistant"}


def estimate_tokens(text: str) -> int:
    """Cheap estimate: ~4 characters per token for Latin text, ~1 per CJK character."""
    cjk = sum(1 for ch in text if "\u3000" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff")
    return cjk + (len(text) - cjk + 3) // 4 + 1


def build_messages(
    *, system_prompt: str, history: Sequence[HistoryItem], question: str, history_budget: int
) -> list[dict[str, str]]:
    kept: list[dict[str, str]] = []
    used = 0
    for item in reversed(history):
        role = _ROLE.get(item.role)
        if role is None:
            continue
        cost = estimate_tokens(item.text)
        if used + cost > history_budget:
            break
        used += cost
        kept.append({"role": role, "content": item.text})
    kept.reverse()
    return [
        {"role": "system", "content": system_prompt},
        *kept,
        {"role": "user", "content": question},
    ]


CONTINUE_INSTRUCTION = (
    "Your previous reply was cut off. Continue it from exactly where it stopped, "
    "without repeating anything already written."
)


def continuation_messages(messages: list[dict[str, str]], partial: str) -> list[dict[str, str]]:
    """Asks a model (any tier) to go on from what the visitor has already been shown."""
    return [
        *messages,
        {"role": "assistant", "content": partial},
        {"role": "user", "content": CONTINUE_INSTRUCTION},
    ]
