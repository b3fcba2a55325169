"""Structured logs: the conversation and the answer run a line belongs to travel in context
variables, so every logger call (ours, Django's, a library's) carries them without passing
them around; a filter copies them onto the record and the JSON formatter writes one line each.

Visitor text stays out of the logs unless LOG_MESSAGE_TEXT is on: wrap it in `redact()`."""

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter
from redis.exceptions import ConnectionError as _RedisConnectionError
from redis.exceptions import TimeoutError as _RedisTimeoutError

conversation_id: ContextVar[str | None] = ContextVar("conversation_id", default=None)
trace_id: ContextVar[str | None] = ContextVar("trace_id", default=None)


def new_trace_id() -> str:
    return uuid.uuid4().hex


def set_conversation(public_id: str | None) -> None:
    """For a consumer: its task (and the tasks it starts) belongs to one conversation."""
    conversation_id.set(public_id)


@contextmanager
def log_context(*, conversation: str, trace: str) -> Iterator[None]:
    """Binds an answer run's ids for its duration and restores the caller's afterwards."""
    tokens = (conversation_id.set(conversation), trace_id.set(trace))
    try:
        yield
    finally:
        trace_id.reset(tokens[1])
        conversation_id.reset(tokens[0])


def redact(text: str) -> str:
    """Visitor or model text as it may appear in a log line."""
    if settings.LOG_MESSAGE_TEXT:
        return text
    return f"<{len(text)} chars>"


def describe_error(exc: BaseException) -> str:
    """An exception for a log line. A response body an upstream sent back can echo the request
    (a 422 often quotes the messages), so its text is redacted like visitor text."""
    if getattr(exc, "body", None) is not None:
        return f"{type(exc).__name__}: {redact(str(exc))}"
    return repr(exc)


class ContextFilter(logging.Filter):
    """Copies the known context ids onto each record (unknown ones are left off)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in (("conversation_id", conversation_id), ("trace_id", trace_id)):
            value = var.get()
            if value is not None and not hasattr(record, name):
                setattr(record, name, value)
        return True


class TaskArgumentsFilter(logging.Filter):
    """Shortens the task arguments Celery's lines carry (`args`, `kwargs`): a batch of 256 ids
    made each "succeeded" line of `make run` a screenful of numbers. Celery's own `argsrepr`
    would do it for a worker, but a task run in process (the embedded default) ignores it."""

    LIMIT = 120

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, dict):
            for key in ("args", "kwargs"):
                value = record.args.get(key)
                if isinstance(value, str) and len(value) > self.LIMIT:
                    # In place: Celery passes the same dict as the record's `data` field.
                    record.args[key] = f"{value[: self.LIMIT]}… ({len(value):,} chars)"
        return True


class RefusedHostFilter(logging.Filter):
    """A request for a host not in ALLOWED_HOSTS is a scanner or a misrouted name, refused with
    400: Django logs it as an ERROR with a full traceback, one screenful per probe. Here it is a
    one-line WARNING that still names the host."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info, record.exc_text = None, None
        return True


class ChannelLayerOutageFilter(logging.Filter):
    """channels_redis's receive loop logs "Unexpected exception in receive task" with a full
    traceback each second Redis is unreachable (an operator's walk: screenfuls per process per
    outage). A connection failure is one WARNING line naming it, once per REPEAT_S per process;
    anything else stays the library's ERROR with its traceback."""

    REPEAT_S = 60.0

    def __init__(self) -> None:
        super().__init__()
        self._last_shown = -float("inf")

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(
            error,
            (ConnectionError, TimeoutError, OSError, _RedisConnectionError, _RedisTimeoutError),
        ):
            return True
        if record.created - self._last_shown < self.REPEAT_S:
            return False
        self._last_shown = record.created
        record.msg = "channel layer: Redis unreachable (%s: %s); retrying"
        record.args = (type(error).__name__, error)
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info, record.exc_text = None, None
        return True


class JsonFormatter(_JsonFormatter):
    """One JSON object per line: timestamp, level, logger, message, the context ids when known,
    and any `extra=` fields."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", ["levelname", "name", "message"])
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", True)
        super().__init__(**kwargs)
