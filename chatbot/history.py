"""An earlier message of a conversation as the answer stages, the prompt and the cache see it.

A leaf module, so the pipeline, the LLM plumbing and the cache share it without an import loop
(docs/architecture.md, "Import map")."""

from dataclasses import dataclass


@dataclass(frozen=True)
class HistoryItem:
    role: str  # "visitor" | "bot" | "agent"
    text: str
