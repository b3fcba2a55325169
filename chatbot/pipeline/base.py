"""Stage protocol and the events a pipeline run emits."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from chatbot.pipeline.trace import Trace


@dataclass(frozen=True)
class HistoryItem:
    role: str  # "visitor" | "bot" | "agent"
    text: str


@dataclass(frozen=True)
class Turn:
    """One visitor question with what a stage may need to answer it."""

    conversation_id: str
    message_id: int
    text: str
    locale: str = "en"
    history: tuple[HistoryItem, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class StatusEvent:
    stage: str


@dataclass(frozen=True)
class TokenEvent:
    text: str


@dataclass(frozen=True)
class DoneEvent:
    source: str
    text: str
    trace: Trace


Event = StatusEvent | TokenEvent | DoneEvent


@dataclass
class Answer:
    """A stage's commitment to answer: its tokens stream from `tokens`."""

    source: str
    tokens: AsyncIterator[str]


class Stage(Protocol):
    """A stage answers (returns an Answer) or passes (returns None).

    It returns only once it is sure it can answer, e.g. after the model's first token, so a
    stage that fails before that lets the next stage answer instead.
    """

    name: str

    async def attempt(self, turn: Turn, trace: Trace) -> Answer | None: ...
