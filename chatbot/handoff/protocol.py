"""Frames the handoff adds to protocol v1 (docs/protocol.md, docs/console.md): the visitor's
new client frames and the agent console's frames. Parsing defers to chatbot.protocol for the
frames it already knows, and its error codes are in chatbot.protocol's one catalogue."""

from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from chatbot.protocol import (
    ClientFrame,
    ClientId,
    ProtocolError,
    client_frame_from,
    frame_type,
    load_frame,
    version_check,
)

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
PublicId = Annotated[str, StringConstraints(min_length=1, max_length=32)]


class _Frame(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    v: Literal[1] | None = None


# --- the visitor ----------------------------------------------------------------------------


class HandoffRequestFrame(_Frame):
    type: Literal["handoff"]
    # "negative_feedback": chosen in the question a thumbs-down asks (shown to agents).
    reason: Literal["visitor_request", "negative_feedback"] = "visitor_request"


class HandoffCancelFrame(_Frame):
    """The queued visitor goes back to the bot."""

    type: Literal["handoff_cancel"]


class VisitorTypingFrame(_Frame):
    type: Literal["typing"]
    active: bool = True


class VisitorReadFrame(_Frame):
    """The visitor has had the agent messages up to `up_to` on screen."""

    type: Literal["read"]
    up_to: int = Field(ge=1)


class LeaveMessageFrame(_Frame):
    type: Literal["leave_message"]
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)]
    text: Text


class RatingFrame(_Frame):
    type: Literal["rating"]
    score: int = Field(ge=1, le=5)
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = ""


class TranscriptEmailFrame(_Frame):
    """The visitor asks for the conversation so far by email."""

    type: Literal["transcript_email"]
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)]


class VisitorContextFrame(_Frame):
    """The embedding site's attributes (and the page) changed after the socket opened
    (chatbot.inbox.visitor cleans them)."""

    type: Literal["context"]
    attributes: dict[str, Any]
    page: Annotated[str, StringConstraints(max_length=2000)] | None = None


class TeamFrame(_Frame):
    """The widget asks again whether anyone is in (hello's `team`): an open panel does, now and
    then, so "no one is online" does not stay up after an agent signs in."""

    type: Literal["team"]


VisitorFrame = (
    HandoffRequestFrame
    | HandoffCancelFrame
    | VisitorTypingFrame
    | VisitorReadFrame
    | LeaveMessageFrame
    | RatingFrame
    | TranscriptEmailFrame
    | VisitorContextFrame
    | TeamFrame
)
_visitor = TypeAdapter(Annotated[VisitorFrame, Field(discriminator="type")])
_VISITOR_TYPES = {
    "handoff",
    "handoff_cancel",
    "typing",
    "read",
    "leave_message",
    "rating",
    "transcript_email",
    "context",
    "team",
}


def _load(raw: str, max_bytes: int) -> dict[str, Any]:
    data = load_frame(raw, max_bytes=max_bytes)
    version_check(data)
    return data


def parse_visitor_frame(raw: str, *, max_bytes: int, max_chars: int) -> ClientFrame | VisitorFrame:
    """chatbot.protocol's frames plus the handoff ones; raises ProtocolError like it."""
    data = load_frame(raw, max_bytes=max_bytes)
    if frame_type(data) not in _VISITOR_TYPES:
        return client_frame_from(data, max_chars=max_chars)
    version_check(data)
    try:
        frame = _visitor.validate_python(data)
    except ValidationError:
        raise ProtocolError("invalid_frame") from None
    if isinstance(frame, LeaveMessageFrame | TranscriptEmailFrame):
        try:
            validate_email(frame.email)
        except DjangoValidationError:
            raise ProtocolError("invalid_email") from None
        frame = frame.model_copy(update={"email": readable_address(frame.email)})
    return frame


def readable_address(email: str) -> str:
    """An address with an internationalised domain as people write it. Browsers hand an
    <input type=email>'s domain over in punycode (wei@xn--fsqu00a.xn--fiqs8s), which the
    visitor, the agents and the team's email then showed (a mail walk); Django's mail encodes
    it again to send."""
    local, _, domain = email.rpartition("@")
    if "xn--" not in domain.lower():
        return email
    try:
        return f"{local}@{domain.encode('ascii').decode('idna')}"
    except UnicodeError:
        return email


# --- the agent console ----------------------------------------------------------------------


class PresenceFrame(_Frame):
    type: Literal["presence"]
    status: Literal["online", "away"]


class PingFrame(_Frame):
    type: Literal["ping"]


class OpenFrame(_Frame):
    type: Literal["open"]
    conversation: PublicId


class HistoryFrame(_Frame):
    """Older messages of the open conversation: the page before message id `before`."""

    type: Literal["history"]
    conversation: PublicId
    before: Annotated[int, Field(ge=1)]


class LeaveFrame(_Frame):
    type: Literal["leave"]


class ClaimFrame(_Frame):
    type: Literal["claim"]
    conversation: PublicId


class SendFrame(_Frame):
    type: Literal["send"]
    conversation: PublicId
    client_id: ClientId
    text: Text


class AgentTypingFrame(_Frame):
    type: Literal["typing"]
    conversation: PublicId
    active: bool = True


class NoteFrame(_Frame):
    type: Literal["note"]
    conversation: PublicId
    text: Text


class ReturnFrame(_Frame):
    type: Literal["return_to_bot"]
    conversation: PublicId


class CloseFrame(_Frame):
    type: Literal["close"]
    conversation: PublicId
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class SearchFrame(_Frame):
    type: Literal["search"]
    query: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class CannedFrame(_Frame):
    type: Literal["canned"]
    query: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
    locale: Annotated[str, StringConstraints(max_length=16)] = ""


class QueuePageFrame(_Frame):
    """The queued conversations from `offset` (oldest handoff first), a page at a time."""

    type: Literal["queue_page"]
    offset: Annotated[int, Field(ge=0, le=1_000_000)] = 0


class LinkFaqFrame(_Frame):
    """The agent says the visitor's question (`message`, else their latest) was this FAQ."""

    type: Literal["link_faq"]
    conversation: PublicId
    faq: Annotated[int, Field(ge=1)]
    message: Annotated[int, Field(ge=1)] | None = None


class LeftReplyFrame(_Frame):
    """The agent answers a left message by email (and in its conversation)."""

    type: Literal["left_reply"]
    left_message: Annotated[int, Field(ge=1)]
    client_id: ClientId
    text: Text


class AssignFrame(_Frame):
    """Gives the conversation to an agent or a team (exactly one)."""

    type: Literal["assign"]
    conversation: PublicId
    agent: Annotated[int, Field(ge=1)] | None = None
    team: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _one_target(self) -> "AssignFrame":
        if (self.agent is None) == (self.team is None):
            raise ValueError("name an agent or a team")
        return self


class RosterFrame(_Frame):
    """Asks for every agent (online or not) and every team."""

    type: Literal["roster"]


class PreferencesFrame(_Frame):
    """The agent's notification preferences; a field left out stays as it is."""

    type: Literal["preferences"]
    sound: bool | None = None
    desktop: bool | None = None
    title: bool | None = None


AgentFrame = (
    PresenceFrame
    | PingFrame
    | OpenFrame
    | HistoryFrame
    | LeaveFrame
    | ClaimFrame
    | SendFrame
    | AgentTypingFrame
    | NoteFrame
    | ReturnFrame
    | CloseFrame
    | SearchFrame
    | CannedFrame
    | LinkFaqFrame
    | QueuePageFrame
    | LeftReplyFrame
    | AssignFrame
    | RosterFrame
    | PreferencesFrame
)
_agent = TypeAdapter(Annotated[AgentFrame, Field(discriminator="type")])
AGENT_TYPES = {
    "presence", "ping", "open", "history", "leave", "claim", "send", "typing", "note",
    "return_to_bot", "close", "search", "canned", "link_faq", "queue_page", "left_reply",
    "assign", "roster", "preferences",
}  # fmt: skip


def parse_agent_frame(raw: str, *, max_bytes: int) -> AgentFrame:
    data = _load(raw, max_bytes)
    if frame_type(data) not in AGENT_TYPES:
        raise ProtocolError("unknown_type")
    try:
        return _agent.validate_python(data)
    except ValidationError:
        raise ProtocolError("invalid_frame") from None
