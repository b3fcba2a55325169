"""Log lines: JSON with the conversation and trace ids of the answer they belong to, and no
visitor text unless LOG_MESSAGE_TEXT is on."""

import io
import json
import logging
from collections.abc import Iterator

import httpx
import openai
import pytest
from channels.db import database_sync_to_async

from chatbot.models import Message
from chatbot.observability.logs import (
    ContextFilter,
    JsonFormatter,
    TaskArgumentsFilter,
    describe_error,
)
from tests.conftest import chat_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("settle")]

QUESTION = "I am Jane Roe, jane.roe@example.com: where is my parcel?"


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What the JSON handler of LOG_FORMAT=json writes, for records from the root logger."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def answer_events(stream: io.StringIO) -> list[dict]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in lines if line.get("event") == "answer"]


async def bot_trace(conversation: str) -> dict:
    return await database_sync_to_async(
        lambda: Message.objects.get(conversation__public_id=conversation, role="bot").trace
    )()


async def test_an_answer_logs_json_with_its_conversation_and_trace_ids(upstream, log_lines):
    async with chat_socket() as client:
        await client.say(QUESTION, "m-1")
    conversation = client.hello["conversation"]

    [event] = answer_events(log_lines)
    trace = await bot_trace(conversation)
    assert event["conversation_id"] == conversation
    assert event["trace_id"] == trace["trace_id"] and len(trace["trace_id"]) == 32
    assert {"timestamp", "level", "logger", "message"} <= event.keys()
    assert (event["level"], event["logger"], event["source"]) == (
        "INFO",
        "chatbot.answering",
        "llm",
    )
    output = log_lines.getvalue()
    for private in ("Jane", "jane.roe@example.com", "parcel"):
        assert private not in output, "visitor text reached the logs"


async def test_message_text_is_logged_only_when_enabled(upstream, log_lines, settings):
    settings.LOG_MESSAGE_TEXT = True
    async with chat_socket() as client:
        await client.say(QUESTION, "m-1")
    [event] = answer_events(log_lines)
    assert event["question"] == QUESTION


async def test_each_answer_run_gets_its_own_trace_id(upstream, log_lines):
    async with chat_socket() as client:
        await client.say("Where is my parcel?", "m-1")
        await client.say("And my refund?", "m-2")
    first, second = answer_events(log_lines)
    assert first["conversation_id"] == second["conversation_id"] == client.hello["conversation"]
    assert first["trace_id"] != second["trace_id"]


def test_upstream_error_bodies_are_redacted_unless_enabled(settings):
    body = {"detail": [{"msg": "invalid", "input": QUESTION}]}
    response = httpx.Response(422, request=httpx.Request("POST", "http://sim/v1"), json=body)
    exc = openai.UnprocessableEntityError(f"Error code: 422 - {body}", response=response, body=body)
    assert describe_error(exc).startswith("UnprocessableEntityError: <")
    assert "Jane" not in describe_error(exc)
    settings.LOG_MESSAGE_TEXT = True
    assert QUESTION in describe_error(exc)
    assert describe_error(TimeoutError("no token in 15s")) == "TimeoutError('no token in 15s')"


def test_a_tasks_long_arguments_are_shortened_in_its_log_lines(settings):
    from knowledge.task_queue import enqueue_after_commit

    assert "task_arguments" in settings.LOGGING["handlers"]["console"]["filters"]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(TaskArgumentsFilter())
    trace_logger = logging.getLogger("celery.app.trace")
    trace_logger.addHandler(handler)
    try:
        enqueue_after_commit("embed_paraphrases", list(range(100_000, 100_300)))  # no transaction
    finally:
        trace_logger.removeHandler(handler)
    (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert "succeeded" in line["message"]
    assert line["data"]["args"].startswith("[[100000, 100001, ")
    assert line["data"]["args"].endswith("… (2,402 chars)")
    assert len(line["data"]["args"]) < 150


def test_a_channel_layer_outage_is_one_warning_a_minute_not_a_traceback_a_second(caplog):
    """channels_redis's receive loop logs each second Redis is down, with a traceback (an
    operator's walk); other errors keep theirs."""
    import redis

    library = logging.getLogger("channels_redis.pubsub")
    for outage_filter in library.filters:
        outage_filter._last_shown = -float("inf")  # another test's outage in this process

    def receive_fails(error: BaseException) -> None:
        try:
            raise error
        except BaseException:
            library.exception("Unexpected exception in receive task")  # as the library does

    with caplog.at_level(logging.INFO, logger="channels_redis.pubsub"):
        for _ in range(5):
            receive_fails(redis.ConnectionError("Error 111 connecting to 127.0.0.1:6393."))
        receive_fails(KeyError("a bug"))
    records = [r for r in caplog.records if r.name == "channels_redis.pubsub"]
    assert [(r.levelname, r.exc_info is None) for r in records] == [
        ("WARNING", True),
        ("ERROR", False),
    ]
    assert records[0].getMessage() == (
        "channel layer: Redis unreachable (ConnectionError: Error 111 connecting to "
        "127.0.0.1:6393.); retrying"
    )
