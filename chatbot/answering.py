"""Answers one stored visitor message: runs the pipeline, streams its events to the
conversation's group, and stores the bot message with its trace.

It runs as its own task, not inside a consumer, so an answer is finished and stored even when
the visitor's socket drops half-way; `resume` then replays it."""

import asyncio
import logging
import time
import weakref
from collections.abc import Sequence
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from chatbot import copy, metrics, services
from chatbot.handoff import selectors as handoff_selectors
from chatbot.handoff import services as handoff
from chatbot.models import Conversation, Message
from chatbot.observability.logs import log_context, new_trace_id, redact
from chatbot.pipeline.base import DoneEvent, Stage, StatusEvent, TokenEvent
from chatbot.pipeline.orchestrator import run_pipeline
from chatbot.pipeline.registry import configured_stages
from chatbot.pipeline.trace import Trace
from chatbot.protocol import error_frame
from chatbot.shared_state import shared_state

logger = logging.getLogger(__name__)

CLAIM_TTL_S = 300.0
# While streaming, how often to check that the bot still holds the conversation (a handoff
# mid-answer cuts the answer off; see docs/console.md).
PAUSE_CHECK_INTERVAL_S = 0.25
_conversation_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
_running: set[asyncio.Task[None]] = set()


def group_name(public_id: str) -> str:
    return f"chat.{public_id}"


def partial_key(message_id: int) -> str:
    return f"partial:{message_id}"


def answering_key(message_id: int) -> str:
    return f"answering:{message_id}"


async def publish(public_id: str, frame: dict[str, Any]) -> None:
    await get_channel_layer().group_send(
        group_name(public_id), {"type": "chat.frame", "frame": frame}
    )


def start_answer(message_id: int, public_id: str, locale: str) -> asyncio.Task[None]:
    """Schedules the answer; keeps a reference so the task is not garbage-collected mid-way."""
    task = asyncio.create_task(answer_message(message_id, public_id, locale=locale))
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task


async def wait_for_running_answers() -> None:
    """Lets tests and shutdown wait for answers still being written."""
    while _running:
        await asyncio.gather(*list(_running), return_exceptions=True)


def _load(message_id: int) -> tuple[Message, bool]:
    message = Message.objects.select_related("conversation").get(pk=message_id)
    return message, services.message_has_reply(message_id=message_id)


async def answer_message(
    message_id: int, public_id: str, *, locale: str = "en", stages: Sequence[Stage] | None = None
) -> None:
    state = shared_state()
    if not await state.claim(answering_key(message_id), CLAIM_TTL_S):
        return  # another task or process is answering it
    lock = _conversation_locks.setdefault(public_id, asyncio.Lock())
    trace_id = new_trace_id()
    with log_context(conversation=public_id, trace=trace_id):
        try:
            async with lock:  # one answer at a time per conversation, in order
                message, answered = await database_sync_to_async(_load)(message_id)
                if answered or message.conversation.status != Conversation.Status.BOT:
                    return  # answered already, or a person has the conversation now
                stages = stages if stages is not None else configured_stages()
                await _answer(message, stages, trace_id)
        except Exception:
            logger.exception("answering message %s failed", message_id)
            frame = error_frame("internal", locale=locale)
            frame["reply_to"] = message_id
            await publish(public_id, frame)
        finally:
            await state.delete(partial_key(message_id))
            await state.release(answering_key(message_id))


async def _bot_holds(conversation_id: int) -> bool:
    status = await database_sync_to_async(handoff_selectors.conversation_status)(
        conversation_id=conversation_id
    )
    return status == Conversation.Status.BOT


async def _cancel(public_id: str, message_id: int) -> None:
    """Tells the conversation's sockets that the answer being written was dropped (handoff)."""
    await publish(public_id, {"type": "cancelled", "reply_to": message_id, "reason": "handoff"})


async def _answer(message: Message, stages: Sequence[Stage], trace_id: str) -> None:
    state = shared_state()
    conversation = message.conversation
    public_id = conversation.public_id
    turn = await database_sync_to_async(services.turn_build)(message=message)
    trace = Trace()
    offset = 0
    checked = time.monotonic()
    # Leaving the loop early abandons the pipeline; asyncio closes the generator.
    async for event in run_pipeline(turn, stages, trace):
        if time.monotonic() - checked >= PAUSE_CHECK_INTERVAL_S:
            checked = time.monotonic()
            if not await _bot_holds(conversation.pk):
                await _cancel(public_id, message.id)
                return
        if isinstance(event, StatusEvent):
            await publish(
                public_id,
                {
                    "type": "status",
                    "reply_to": message.id,
                    "stage": event.stage,
                    "text": copy.render(
                        copy.STAGE_STATUS.get(event.stage, copy.STAGE_STATUS["llm"]), turn.locale
                    ),
                },
            )
        elif isinstance(event, TokenEvent):
            await state.append(partial_key(message.id), event.text, CLAIM_TTL_S)
            await publish(
                public_id,
                {"type": "token", "reply_to": message.id, "offset": offset, "text": event.text},
            )
            offset += len(event.text)
        elif isinstance(event, DoneEvent):
            stored_trace = {**event.trace.to_dict(), "trace_id": trace_id}
            bot_message = await database_sync_to_async(handoff.bot_message_store_if_bot)(
                conversation_id=conversation.pk,
                reply_to_id=message.id,
                text=event.text,
                source=event.source,
                trace=stored_trace,
            )
            if bot_message is None:
                await _cancel(public_id, message.id)
                return
            metrics.answer_stored(event)
            logger.info(
                "answered message %s from %s",
                message.id,
                event.source,
                extra={
                    "event": "answer",
                    "message_id": message.id,
                    "source": event.source,
                    "ttft_ms": event.trace.ttft_ms,
                    "total_ms": event.trace.total_ms,
                    "question": redact(message.text),
                    "answer": redact(event.text),
                },
            )
            await publish(
                public_id,
                {
                    "type": "done",
                    "reply_to": message.id,
                    "message": services.message_payload(bot_message),
                    "source": event.source,
                    "trace": event.trace.summary(),
                },
            )
            await database_sync_to_async(handoff.handoff_after_bot_answer)(
                conversation_id=conversation.pk, trace=stored_trace
            )
