"""Stage protocol and the events a pipeline run emits."""

from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from chatbot.answer_trace import Trace
from chatbot.history import HistoryItem
from knowledge.documents.types import Passage

if TYPE_CHECKING:  # the filter's module loads knowledge's models, which this one must not
    from chatbot.pipeline.output_filter import OutputCheck


@dataclass(frozen=True)
class Turn:
    """One visitor question with what a stage may need to answer it."""

    conversation_public_id: str
    message_id: int
    text: str
    locale: str = "en"
    history: tuple[HistoryItem, ...] = field(default_factory=tuple)
    # Who asked (chatbot.security.ratelimit.client_ip), for per-client model limits; "" when
    # unknown.
    client: str = ""
    # The visitor asked for another answer ("Try again" after a thumbs-down): the model stage
    # asks a model even when every tier lately cited nothing (chatbot.pipeline.ungrounded_tiers).
    retry: bool = False


@dataclass(frozen=True)
class StatusEvent:
    stage: str


@dataclass(frozen=True)
class TokenEvent:
    text: str
    # The answer's whole text, ready when it was found (a stored answer sent in one frame):
    # only `done` follows, so nobody resuming needs it kept as a partial answer.
    whole: bool = False


@dataclass(frozen=True)
class Citation:
    """A help-centre source an answer cites, as the widget links it."""

    number: int
    title: str
    url: str
    heading: str
    document_id: int
    document_version: int
    chunk_id: int | None = None  # None: the whole document (an FAQ answer's linked article)
    # A suggested article (LLM_UNGROUNDED=suggest): the answer was not given, the article may
    # have it; `excerpt` is its passage nearest the question, shown under the link.
    suggested: bool = False
    excerpt: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The frame's and the stored message's form; a cited source has no suggestion fields."""
        data = asdict(self)
        if not self.suggested:
            del data["suggested"], data["excerpt"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Citation":
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})


@dataclass(frozen=True)
class DoneEvent:
    source: str
    text: str
    trace: Trace
    citations: tuple[Citation, ...] = ()

    @property
    def answered_from(self) -> list[tuple[int, int]]:
        """(document id, version) of the articles the answer cited: an article only suggested
        ("not sure, these may help") answered nothing, so it is not counted as cited."""
        return [(c.document_id, c.document_version) for c in self.citations if not c.suggested]

    @property
    def suggested_from(self) -> list[tuple[int, int]]:
        """(document id, version) of the articles only suggested, counted apart for writers."""
        return [(c.document_id, c.document_version) for c in self.citations if c.suggested]


Event = StatusEvent | TokenEvent | DoneEvent


@dataclass
class Answer:
    """A stage's commitment to answer: its tokens stream from `tokens`."""

    source: str
    tokens: AsyncIterator[str]
    # The passages the model was given, numbered from 1: the answer's citations are checked
    # against them when it has streamed.
    sources: tuple[Passage, ...] = ()
    # Citations known before streaming (a cached answer keeps those it was stored with).
    citations: tuple[Citation, ...] = ()
    # Replaces an answer given sources that cites none of them (LLM_UNGROUNDED), with the
    # citations of the replacement.
    replace_ungrounded: str | None = None
    replacement_citations: tuple[Citation, ...] = ()
    # What the answer may not say (chatbot.pipeline.output_filter): checked while it streams,
    # and the text that replaces it when it says it.
    output_check: "OutputCheck | None" = None
    replace_blocked: str | None = None
    # Stream an answer given sources only as far as it is grounded (sentence by sentence).
    hold_ungrounded: bool = False
    # A held answer that can no longer be grounded is given up (LLM_STOP_UNGROUNDED).
    stop_ungrounded: bool = False
    # `tokens` yields the whole text at once (a stored answer not paced word by word).
    whole: bool = False


class Stage(Protocol):
    """A stage answers (returns an Answer) or passes (returns None).

    It returns only once it is sure it can answer, e.g. after the model's first token, so a
    stage that fails before that lets the next stage answer instead.
    """

    name: str

    async def attempt(self, turn: Turn, trace: Trace) -> Answer | None: ...
