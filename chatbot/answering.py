"""Answers one stored visitor message: runs the pipeline, streams its events to the
conversation's group, and stores the bot message with its trace.

It runs as its own task, not inside a consumer, so an answer is finished and stored even when
the visitor's socket drops half-way; `resume` then replays it."""

import asyncio
import dataclasses
import logging
import math
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import IntegrityError

from chatbot import metrics, services, visitor_copy
from chatbot.answer_facts import offer_faq_ids
from chatbot.answer_trace import Trace
from chatbot.database_lanes import on_bookkeeping_lane, on_lookup_lane
from chatbot.handoff import selectors as handoff_selectors
from chatbot.handoff import services as handoff
from chatbot.models import Conversation
from chatbot.observability.logs import log_context, new_trace_id, redact
from chatbot.ops.shutdown import task_stack
from chatbot.outcomes import Source
from chatbot.pipeline.base import DoneEvent, Stage, StatusEvent, TokenEvent, Turn
from chatbot.pipeline.offers import offers_for
from chatbot.pipeline.orchestrator import run_pipeline
from chatbot.pipeline.registry import configured_stages
from chatbot.protocol import error_frame
from chatbot.realtime import publish
from chatbot.shared_state import claim_held, shared_state
from knowledge import services as knowledge_services
from statestore.policy import RedisUnavailable

logger = logging.getLogger(__name__)

# A partial answer's buffer outlives a pause of its model; it is replayed only while its writer's
# claim is alive (a dead writer's text is never shown again: docs/operations.md).
PARTIAL_TTL_S = 300.0
# "Try again" after a thumbs-down: the stored answers (an FAQ's, an earlier model answer) would
# be the disliked one again, so the retry goes to the model (docs/protocol.md, `retry`).
RETRY_SKIPPED_STAGES = frozenset({Source.FAQ, Source.CACHE})
# How long SIGTERM waits for this process's answers to stop before it exits without them.
HAND_OVER_TIMEOUT_S = 10.0
# Whether a person would take a conversation no model could answer (the fallback promises no
# answer of its own then).
AGENTS_ONLINE = database_sync_to_async(handoff_selectors.agents_online)
_conversation_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
_running: set[asyncio.Task[None]] = set()
# Set when the process starts handing its answers over (SIGTERM): it starts no more.
_handing_over = False
# Per conversation, the events of this process's answers to set when a handoff frame reaches
# the conversation's socket: the answer then checks the database before it goes on.
_hold_hints: dict[str, set[asyncio.Event]] = {}


def partial_key(message_id: int) -> str:
    return f"partial:{message_id}"


def answering_key(message_id: int) -> str:
    return f"answering:{message_id}"


def start_answer(
    message_id: int,
    public_id: str,
    locale: str,
    turn: services.AnswerTurn | None = None,
    client: str = "",
    *,
    skip: frozenset[str] = frozenset(),
    again: bool = False,
    fail_open: bool = True,
) -> asyncio.Task[None]:
    """Schedules the answer; keeps a reference so the task is not garbage-collected mid-way.
    `turn`: what the answer needs, when the caller read it already; `client`: who asked;
    `skip`: stages not to try, given for a retry only (the turn is marked so); `again` and
    `fail_open`: see answer_message."""
    task = asyncio.create_task(
        answer_message(
            message_id,
            public_id,
            locale=locale,
            turn=turn,
            client=client,
            skip=skip,
            again=again,
            fail_open=fail_open,
        )
    )
    if _handing_over:  # stopped before its first step: no claim taken, the next process answers
        task.cancel()
        logger.info("message %s left to the process the visitor resumes on", message_id)
        return task
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task


async def wait_for_running_answers() -> None:
    """Lets tests and shutdown wait for answers still being written."""
    while _running:
        await asyncio.gather(*list(_running), return_exceptions=True)


async def hand_over_running_answers(timeout_s: float = HAND_OVER_TIMEOUT_S) -> int:
    """Graceful shutdown (daphne on SIGTERM): stops the answers this process is writing, which
    releases their claims and drops their partial text, so the process a visitor resumes on
    answers again at once (announced by `restarted`) instead of once the claim has lapsed
    (`ANSWER_CLAIM_TTL_S`). The visitors' sockets close right after; nothing is stored half.
    Bounded: an answer still running after `timeout_s` is logged with where it waits and left
    to its claim's lapse, so a stuck answer never keeps the process from exiting."""
    global _handing_over
    _handing_over = True
    handed = 0
    deadline = asyncio.get_running_loop().time() + timeout_s
    while _running:  # answers a socket started while the others were being stopped go too
        tasks = list(_running)
        for task in tasks:
            task.cancel()
        left = deadline - asyncio.get_running_loop().time()
        done, pending = await asyncio.wait(tasks, timeout=max(left, 0.0))
        handed += len(done)
        if pending:
            for task in pending:
                logger.warning(
                    "shutdown: an answer did not stop within %.0f s",
                    timeout_s,
                    extra={"event": "hand_over_stuck", "stack": task_stack(task)},
                )
            break
    return handed


def hold_may_have_changed(public_id: str) -> None:
    """A handoff frame reached the conversation's socket in this process: answers being written
    here look at the conversation's status before their next frame (a push instead of polling
    the database while every answer streams)."""
    for hint in _hold_hints.get(public_id, ()):
        hint.set()


@contextmanager
def _watch_hold(public_id: str) -> Iterator[asyncio.Event]:
    hint = asyncio.Event()
    _hold_hints.setdefault(public_id, set()).add(hint)
    try:
        yield hint
    finally:
        hints = _hold_hints.get(public_id)
        if hints is not None:
            hints.discard(hint)
            if not hints:
                del _hold_hints[public_id]


async def answer_message(
    message_id: int,
    public_id: str,
    *,
    locale: str = "en",
    stages: Sequence[Stage] | None = None,
    turn: services.AnswerTurn | None = None,
    client: str = "",
    skip: frozenset[str] = frozenset(),
    again: bool = False,
    fail_open: bool = True,
) -> None:
    """Answers the message unless another task or process is at it (its claim is renewed while
    the answer runs and lapses soon after its process dies). A `turn` read when the message
    was stored is used only if no earlier answer of the conversation was still being written:
    otherwise its history would miss that answer, and it is read again.

    `again`: the message was stored before (a resend, a resume, the orphan sweep), so an
    earlier answer to it may have died with its process: its partial text is dropped and the
    conversation is told the answer starts over. `fail_open`: without Redis the claim is this
    process's own, so the answer still comes (the database keeps one bot answer per message;
    docs/operations.md); the orphan pickups pass False and leave it to a later sweep."""
    try:
        async with claim_held(
            answering_key(message_id),
            settings.ANSWER_CLAIM_TTL_S,
            fail_open=fail_open,
            drop=(partial_key(message_id),),  # the partial text goes with the claim
        ) as held:
            if held:
                await _answer_claimed(
                    message_id, public_id, locale, stages, turn, client, skip, again
                )
    except RedisUnavailable:
        logger.info("message %s waits for Redis before it is answered again", message_id)


async def _answer_claimed(
    message_id: int,
    public_id: str,
    locale: str,
    stages: Sequence[Stage] | None,
    turn: services.AnswerTurn | None,
    client: str,
    skip: frozenset[str],
    again: bool,
) -> None:
    state = shared_state()
    lock = _conversation_locks.setdefault(public_id, asyncio.Lock())
    trace_id = new_trace_id()
    with log_context(conversation=public_id, trace=trace_id), _watch_hold(public_id) as hint:
        try:
            if lock.locked():
                turn = None
            async with lock:  # one answer at a time per conversation, in order
                loaded = turn or await database_sync_to_async(services.answer_turn)(
                    message_id=message_id
                )
                if loaded is None:
                    return  # answered already, or a person has the conversation now
                if again:
                    await state.delete(partial_key(message_id))  # a dead writer's text
                    await publish(public_id, restarted_frame(message_id, loaded.turn.locale))
                if client or skip:
                    asked = dataclasses.replace(
                        loaded.turn, client=client or loaded.turn.client, retry=bool(skip)
                    )
                    loaded = dataclasses.replace(loaded, turn=asked)
                stages = (
                    stages if stages is not None else configured_stages(agents_online=AGENTS_ONLINE)
                )
                if skip:
                    stages = [stage for stage in stages if stage.name not in skip]
                await _answer(loaded, stages, trace_id, hint)
        except Exception:
            logger.exception("answering message %s failed", message_id)
            frame = error_frame("internal", locale=locale)
            frame["reply_to"] = message_id
            await publish(public_id, frame)


def restarted_frame(message_id: int, locale: str) -> dict[str, Any]:
    """The answer to `message_id` starts over: clients drop the text they have of it."""
    return {
        "type": "restarted",
        "reply_to": message_id,
        "text": visitor_copy.render(visitor_copy.ANSWER_RESTARTED, locale),
    }


async def _bot_holds(conversation_id: int) -> bool:
    status = await database_sync_to_async(handoff_selectors.conversation_status)(
        conversation_id=conversation_id
    )
    return status == Conversation.Status.BOT


async def _cancel(public_id: str, message_id: int) -> None:
    """Tells the conversation's sockets that the answer being written was dropped (handoff)."""
    await publish(public_id, {"type": "cancelled", "reply_to": message_id, "reason": "handoff"})


class TokenFrames:
    """An answer's text as `token` frames: the first piece at once, later pieces merged so that
    at most one frame goes out per `interval_s`.

    Frames are what streaming costs (a channel-layer publish, a socket write and a parse in the
    browser each); a fast model or a stored answer paced word by word would send dozens a second
    per visitor, more than anyone can read. Text waiting for its frame is flushed by a timer, so
    a model that pauses never holds back what it already wrote."""

    def __init__(self, public_id: str, message_id: int, interval_s: float) -> None:
        self.public_id = public_id
        self.message_id = message_id
        self.interval_s = interval_s
        self.offset = 0
        # Text sent is kept as the partial answer a resume replays, unless the answer came
        # whole (`add(keep=False)`): only `done` follows it, and the round trip was one of the
        # few before a stored answer's first word (docs/deploy.md).
        self._keep = True
        self._waiting: list[str] = []
        self._sent_at = -math.inf
        self._lock = asyncio.Lock()  # frames leave in offset order, whoever flushes
        self._timer: asyncio.TimerHandle | None = None
        self._flushes: set[asyncio.Task[None]] = set()

    async def add(self, text: str, *, keep: bool = True) -> None:
        self._keep = self._keep and keep
        self._waiting.append(text)
        loop = asyncio.get_running_loop()
        wait = self._sent_at + self.interval_s - loop.time()
        if wait <= 0:
            await self.flush()
        elif self._timer is None:
            self._timer = loop.call_later(wait, self._flush_on_timer)

    def _flush_on_timer(self) -> None:
        self._timer = None
        task = asyncio.ensure_future(self.flush())
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def flush(self) -> None:
        async with self._lock:
            self._stop_timer()
            if not self._waiting:
                return
            text = "".join(self._waiting)
            self._waiting.clear()
            self._sent_at = asyncio.get_running_loop().time()
            offset = self.offset
            self.offset += len(text)
            if self._keep:
                await shared_state().append(partial_key(self.message_id), text, PARTIAL_TTL_S)
            await publish(
                self.public_id,
                {"type": "token", "reply_to": self.message_id, "offset": offset, "text": text},
            )

    def discard(self) -> None:
        """Drops what has not gone out (the answer was cancelled)."""
        self._stop_timer()
        self._waiting.clear()
        for task in self._flushes:
            task.cancel()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class StatusFrames:
    """`status` frames for an answer that takes a while: the stage at work goes out once the
    answer has run `delay_s`, and every stage after that at once. An answer found at once (FAQ,
    cache, a fast model) sends none: the widget shows status text only after 600 ms anyway, and
    each frame costs a publish, a socket write (a system call of its own) and a parse."""

    def __init__(self, public_id: str, message_id: int, locale: str, delay_s: float) -> None:
        self.public_id = public_id
        self.message_id = message_id
        self.locale = locale
        self.deadline = asyncio.get_running_loop().time() + delay_s
        self._stage: str | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._sending: asyncio.Task[None] | None = None

    async def show(self, stage: str) -> None:
        self._stage = stage
        loop = asyncio.get_running_loop()
        if loop.time() >= self.deadline:
            await self._deadline_send_finished()  # statuses leave in order
            await self._publish_stage()
        elif self._timer is None:
            self._timer = loop.call_at(self.deadline, self._on_deadline)

    def _on_deadline(self) -> None:
        self._timer = None
        self._sending = asyncio.ensure_future(self._publish_stage())

    async def _publish_stage(self) -> None:
        stage, self._stage = self._stage, None
        if stage is None:
            return
        await publish(
            self.public_id,
            {
                "type": "status",
                "reply_to": self.message_id,
                "stage": stage,
                "text": visitor_copy.render(
                    visitor_copy.STAGE_STATUS.get(stage, visitor_copy.STAGE_STATUS[Source.LLM]),
                    self.locale,
                ),
            },
        )

    async def settle(self) -> None:
        """Before the answer's text: a status not sent yet never will be; one being sent goes
        out first, so no status follows a token."""
        self.discard()
        await self._deadline_send_finished()

    async def _deadline_send_finished(self) -> None:
        if self._sending is not None:
            sending, self._sending = self._sending, None
            await sending

    def discard(self) -> None:
        self._stage = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


async def _answer(
    loaded: services.AnswerTurn, stages: Sequence[Stage], trace_id: str, hint: asyncio.Event
) -> None:
    turn, conversation_id = loaded.turn, loaded.conversation_id
    public_id, message_id = turn.conversation_public_id, turn.message_id
    trace = Trace()
    statuses = StatusFrames(public_id, message_id, turn.locale, settings.CHAT_STATUS_DELAY_S)
    frames = TokenFrames(public_id, message_id, settings.CHAT_TOKEN_FRAME_INTERVAL_S)
    try:
        # Leaving the loop early abandons the pipeline; asyncio closes the generator.
        async for event in run_pipeline(turn, stages, trace):
            if hint.is_set():
                hint.clear()
                if not await _bot_holds(conversation_id):
                    await statuses.settle()  # a status being sent goes before `cancelled`
                    frames.discard()
                    await _cancel(public_id, message_id)
                    return
            if isinstance(event, StatusEvent):
                await statuses.show(event.stage)
            elif isinstance(event, TokenEvent):
                await statuses.settle()
                await frames.add(event.text, keep=not event.whole)
            elif isinstance(event, DoneEvent):
                await statuses.settle()
                await frames.flush()
                await _finish(turn, conversation_id, event, trace_id)
    finally:
        statuses.discard()
        frames.discard()


async def _finish(turn: Turn, conversation_id: int, event: DoneEvent, trace_id: str) -> None:
    """Stores the answer (unless a person took the conversation meanwhile) and sends `done`."""
    public_id, message_id = turn.conversation_public_id, turn.message_id
    stored_trace = {**event.trace.to_dict(), "trace_id": trace_id}
    if faq_ids := offer_faq_ids(stored_trace):
        stored_trace["offers"] = await on_lookup_lane(offers_for)(
            faq_ids=faq_ids, locale=turn.locale, asked=turn.text
        )
    try:
        bot_message = await database_sync_to_async(handoff.bot_message_store_if_bot)(
            conversation_id=conversation_id,
            reply_to_id=message_id,
            text=event.text,
            source=event.source,
            trace=stored_trace,
            citations=[citation.to_dict() for citation in event.citations],
        )
    except IntegrityError:
        # Another writer stored its answer first (this one's claim lapsed while it stalled, or
        # each process had a claim of its own while Redis was down): that one sends `done`.
        logger.info("message %s was answered by another writer first", message_id)
        return
    if bot_message is None:
        await _cancel(public_id, message_id)
        return
    metrics.answer_stored(event)
    for citations, suggested in ((event.answered_from, False), (event.suggested_from, True)):
        if citations:
            await on_bookkeeping_lane(knowledge_services.document_cited)(
                citations=citations,
                question=turn.text,
                conversation_id=conversation_id,
                message_id=bot_message.pk,
                suggested=suggested,
            )
    logger.info(
        "answered message %s from %s",
        message_id,
        event.source,
        extra={
            "event": "answer",
            "message_id": message_id,
            "source": event.source,
            "ttft_ms": event.trace.ttft_ms,
            "total_ms": event.trace.total_ms,
            "question": redact(turn.text),
            "answer": redact(event.text),
        },
    )
    await publish(
        public_id,
        {
            "type": "done",
            "reply_to": message_id,
            "message": services.message_payload(bot_message),
            "source": event.source,
            "trace": event.trace.summary(),
        },
    )
    if event.source == Source.FALLBACK:  # nothing else can lead to a handoff (see the service)
        await database_sync_to_async(handoff.handoff_after_bot_answer)(answer=bot_message)
