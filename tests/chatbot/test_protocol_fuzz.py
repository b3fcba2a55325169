"""Property-based fuzzing of both socket protocols: whatever a client sends, parsing returns a
typed frame or raises ProtocolError with a code the client has copy for, never anything else
(anything else would close the socket with 1011)."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatbot.handoff.protocol import (
    AGENT_TYPES,
    parse_agent_frame,
    parse_visitor_frame,
)
from chatbot.protocol import ERROR_TEXTS, ProtocolError

MAX_BYTES = 16384
KNOWN_CODES = set(ERROR_TEXTS)
VISITOR_TYPES = ["message", "resume", "feedback", "handoff", "typing", "leave_message", "rating",
                 "transcript_email"]  # fmt: skip
FIELDS = ["client_id", "text", "after", "message_id", "value", "comment", "email", "score",
          "active", "conversation", "status", "reason", "query", "locale", "v",
          "left_message"]  # fmt: skip

# Text with the characters that broke the sockets before: lone surrogates, NUL, controls.
nasty_text = st.text(
    alphabet=st.characters(codec=None, exclude_categories=()), max_size=40
) | st.sampled_from(["\ud800", "a\x00b", "\udfff\x00", "  ", "x" * 5000, "邮件@例子.中国"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | nasty_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(nasty_text, inner, max_size=4),
    max_leaves=20,
)


def frames(types: list[str]):
    return st.fixed_dictionaries(
        {"type": st.sampled_from(types) | json_values},
        optional={name: json_values for name in FIELDS},
    )


def _parsed_or_known_error(parse, raw: str) -> None:
    try:
        parse(raw)
    except ProtocolError as err:
        assert err.code in KNOWN_CODES


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(frames(VISITOR_TYPES))
def test_any_visitor_frame_parses_or_gets_a_known_error(frame):
    raw = json.dumps(frame)
    _parsed_or_known_error(
        lambda r: parse_visitor_frame(r, max_bytes=MAX_BYTES, max_chars=4000), raw
    )


@FUZZ
@given(frames(sorted(AGENT_TYPES)))
def test_any_agent_frame_parses_or_gets_a_known_error(frame):
    _parsed_or_known_error(lambda r: parse_agent_frame(r, max_bytes=MAX_BYTES), json.dumps(frame))


@FUZZ
@given(st.text(max_size=200) | nasty_text)
def test_any_text_parses_or_gets_a_known_error(raw):
    _parsed_or_known_error(
        lambda r: parse_visitor_frame(r, max_bytes=MAX_BYTES, max_chars=4000), raw
    )
    _parsed_or_known_error(lambda r: parse_agent_frame(r, max_bytes=MAX_BYTES), raw)


@FUZZ
@given(frames(VISITOR_TYPES))
def test_what_parses_can_be_stored(frame):
    """Every string in a parsed frame encodes as UTF-8 without NUL (PostgreSQL takes it)."""
    try:
        parsed = parse_visitor_frame(json.dumps(frame), max_bytes=MAX_BYTES, max_chars=4000)
    except ProtocolError:
        return
    for value in parsed.model_dump().values():
        if isinstance(value, str):
            value.encode("utf-8")
            assert "\x00" not in value


@pytest.mark.parametrize("version", [True, 2, "1", 1.5])
@pytest.mark.parametrize(
    "frame",
    [
        {"type": "message", "client_id": "x", "text": "hi"},
        {"type": "handoff"},
        {"type": "ping"},
    ],
    ids=["chat", "handoff", "agent"],
)
def test_only_version_1_is_taken_by_every_parser(frame, version):
    """`"v": true` passed as version 1 (True == 1 in Python)."""
    parse = (
        (lambda r: parse_agent_frame(r, max_bytes=MAX_BYTES))
        if frame["type"] == "ping"
        else (lambda r: parse_visitor_frame(r, max_bytes=MAX_BYTES, max_chars=4000))
    )
    with pytest.raises(ProtocolError) as refused:
        parse(json.dumps({**frame, "v": version}))
    assert refused.value.code == "unsupported_version"
    assert parse(json.dumps({**frame, "v": 1})).type == frame["type"]
