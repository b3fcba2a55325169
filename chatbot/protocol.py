"""Websocket protocol v1 (docs/protocol.md): client frames validated on the way in, server
frames built in one place so their shape is defined once."""

import json
import math
import unicodedata
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from django.utils.translation import gettext_lazy as _
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from chatbot.visitor_copy import render

PROTOCOL_VERSION = 1

ERROR_TEXTS = {
    "invalid_json": _("Sorry, that message could not be read. Please try again."),
    "binary_not_supported": _("Sorry, that message could not be read. Please try again."),
    "unknown_type": _("Sorry, that message could not be read. Please try again."),
    "invalid_frame": _("Sorry, that message could not be read. Please try again."),
    "too_long": _("That message is too long. Please shorten it and send it again."),
    "empty_message": _("Please type a message first."),
    "unsupported_version": _("Please reload the page to update the chat."),
    "not_found": _("That message could not be found."),
    "rate_limited": _("You are sending messages quickly. Please wait a moment and try again."),
    "too_many_requests": _(
        "There are too many chats from your network right now. Please wait a moment and try again."
    ),
    "handoff_limited": _(
        "You've asked for a person several times in a short while. Please wait a moment and try "
        "again."
    ),
    "forbidden": _("This conversation could not be opened. Please reload the page."),
    "internal": _("Something went wrong on our side. Your message is safe; please try again."),
    # The message itself could not be stored (the database restarting): the widget offers Retry.
    "not_stored": _("We couldn't save your message just now. Please send it again."),
    # The handoff's frames (chatbot.handoff.protocol).
    "invalid_email": _("Please enter a valid email address."),
    "not_closed": _("You can rate the conversation once it has ended."),
    "left_message_limit": _(
        "We already have your messages and will reply by email. Please wait for our answer."
    ),
    "transcript_limit": _("This conversation can't be emailed again right now."),
    "transcript_empty": _("There is nothing to email yet: ask us something first."),
}

ClientId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
]


class _Frame(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    v: Literal[1] | None = None


class MessageFrame(_Frame):
    type: Literal["message"]
    client_id: ClientId
    text: str


class ResumeFrame(_Frame):
    type: Literal["resume"]
    after: int = Field(ge=0)


class FeedbackFrame(_Frame):
    type: Literal["feedback"]
    message_id: int = Field(ge=1)
    value: Literal["up", "down"]
    comment: Annotated[str, StringConstraints(max_length=2000)] = ""


class RetryFrame(_Frame):
    """The visitor chose "try again" after a thumbs-down: the question `message_id` answered."""

    type: Literal["retry"]
    client_id: ClientId
    message_id: int = Field(ge=1)


class PingFrame(_Frame):
    """Is this socket still alive? Answered with `pong`. A socket can die without closing (a
    laptop asleep, a train tunnel, a proxy dropping traffic) and the browser learns it only
    when TCP gives up, minutes later: the widget asks when it has heard nothing for a while
    (a network walk's message sat at "Sending…" for 80 s with no word)."""

    type: Literal["ping"]


ClientFrame = MessageFrame | ResumeFrame | FeedbackFrame | RetryFrame | PingFrame
_client_frame = TypeAdapter(Annotated[ClientFrame, Field(discriminator="type")])
_CLIENT_TYPES = {"message", "resume", "feedback", "retry", "ping"}


@dataclass
class ProtocolError(Exception):
    code: str
    client_id: str | None = None


# Deeper JSON than any frame needs is refused before it is walked.
MAX_FRAME_DEPTH = 8


def load_frame(raw: str, *, max_bytes: int) -> dict[str, Any]:
    """The JSON object in one text frame, or ProtocolError (too long, not a JSON object,
    nested too deep, or text no database can store: lone surrogates). NUL characters, which
    PostgreSQL refuses in text, are dropped from every string."""
    if len(raw.encode("utf-8", "surrogatepass")) > max_bytes:
        raise ProtocolError("too_long")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise ProtocolError("invalid_json") from None
    if not isinstance(data, dict):
        raise ProtocolError("invalid_json")
    try:
        return _storable(data, depth=0)
    except ProtocolError as error:  # named, so the widget can mark that message failed
        client_id = data.get("client_id")
        storable = isinstance(client_id, str) and client_id.isascii()
        raise ProtocolError(error.code, client_id if storable else None) from None


def _storable(value: Any, *, depth: int) -> Any:
    if depth > MAX_FRAME_DEPTH:
        raise ProtocolError("invalid_frame")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ProtocolError("invalid_frame") from None
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {
            _storable(k, depth=depth + 1): _storable(v, depth=depth + 1) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_storable(item, depth=depth + 1) for item in value]
    return value


def frame_type(data: dict[str, Any]) -> str | None:
    """The frame's `type` when it is a string (a list or an object is no type)."""
    value = data.get("type")
    return value if isinstance(value, str) else None


def parse_client_frame(raw: str, *, max_bytes: int, max_chars: int) -> ClientFrame:
    """Turn one text frame into a typed frame, or raise ProtocolError with the code to send."""
    return client_frame_from(load_frame(raw, max_bytes=max_bytes), max_chars=max_chars)


def version_check(data: dict[str, Any], client_id: str | None = None) -> None:
    """ProtocolError `unsupported_version` unless the frame's `v`, when given, is 1 (the number:
    `true` equals 1 in Python)."""
    if "v" in data and (isinstance(data["v"], bool) or data["v"] != PROTOCOL_VERSION):
        raise ProtocolError("unsupported_version", client_id)


def client_frame_from(data: dict[str, Any], *, max_chars: int) -> ClientFrame:
    """Validates an already loaded frame object (see `load_frame`)."""
    client_id = data.get("client_id") if isinstance(data.get("client_id"), str) else None
    version_check(data, client_id)
    if frame_type(data) not in _CLIENT_TYPES:
        raise ProtocolError("unknown_type", client_id)
    try:
        frame = _client_frame.validate_python(data)
    except ValidationError:
        raise ProtocolError("invalid_frame", client_id) from None
    if isinstance(frame, MessageFrame):
        frame.text = frame.text.strip()
        if not any(_visible(c) for c in frame.text):  # "" or only zero-width / direction marks
            raise ProtocolError("empty_message", client_id)
        if len(frame.text) > max_chars:
            raise ProtocolError("too_long", client_id)
    return frame


def _visible(char: str) -> bool:
    return not char.isspace() and unicodedata.category(char) != "Cf"


def retry_after_s(seconds: float) -> float:
    """Up to the next tenth, never down: a client that waits this long is not refused again."""
    return math.ceil(seconds * 10) / 10


def error_frame(
    code: str, *, locale: str, client_id: str | None = None, retry_after: float | None = None
) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": "error",
        "code": code,
        "text": render(ERROR_TEXTS[code], locale),
    }
    if client_id is not None:
        frame["client_id"] = client_id
    if retry_after is not None:
        frame["retry_after"] = retry_after_s(retry_after)
    return frame
