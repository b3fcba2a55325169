"""Celery tasks of the conversation core: answering queued questions once a model is back, and
re-embedding after an embedding model change (`reembed`, chatbot.ops.reembedding). How a queued
question is kept, kicked and answered once: docs/llm.md, "Rule templates and queued answers"."""

import asyncio
import datetime as dt
import logging
from typing import Any

from asgiref.sync import async_to_sync
from celery import shared_task
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.dispatch import receiver
from django.utils import timezone
from redis.exceptions import RedisError

from chatbot import message_sql, services, visitor_copy
from chatbot.answer_trace import Trace
from chatbot.llm import queued_flag
from chatbot.llm.client import clients_close
from chatbot.llm.signals import model_recovered
from chatbot.models import Conversation, Message, QueuedQuestion
from chatbot.observability.logs import describe_error
from chatbot.ops.reembedding import embeddings_reembed
from chatbot.outcomes import Source
from chatbot.pipeline.base import DoneEvent, Turn
from chatbot.pipeline.fallback_stage import help_centre_has_nothing
from chatbot.pipeline.llm_stage import LLMStage
from chatbot.pipeline.orchestrator import NoStageAnswered, run_pipeline
from chatbot.pipeline.registry import queued_answers_stage
from chatbot.realtime import publish
from chatbot.shared_state import claim_held
from knowledge import services as knowledge_services

logger = logging.getLogger(__name__)

DRAIN_CLAIM = "queued-answers:drain"
_running: set[asyncio.Task[Any]] = set()


def queued_questions(*, max_age_h: float, limit: int = 20) -> list[tuple[int, str]]:
    """(visitor message id, conversation public id) of queued questions still unanswered, oldest
    first: the bot still holds the conversation (no bot message is stored while a person is on
    it, see chatbot.handoff), and no agent has replied since the question."""
    since = timezone.now() - dt.timedelta(hours=max_age_h)
    agent_replied = Message.objects.filter(
        conversation_id=OuterRef("message__conversation_id"),
        id__gt=OuterRef("message_id"),
        role=Message.Role.AGENT,
    )
    return list(
        QueuedQuestion.objects.filter(
            created_at__gte=since, message__conversation__status=Conversation.Status.BOT
        )
        .exclude(Exists(agent_replied))
        .order_by("id")
        .values_list("message_id", "message__conversation__public_id")[:limit]
    )


def queued_questions_expire(*, max_age_h: float) -> int:
    """Forgets queued questions too old to answer now (the promise lapsed); returns how many."""
    since = timezone.now() - dt.timedelta(hours=max_age_h)
    deleted, _ = QueuedQuestion.objects.filter(created_at__lt=since).delete()
    return deleted


def _turn(message_id: int) -> Turn:
    return services.turn_build(
        message=Message.objects.select_related("conversation").get(pk=message_id)
    )


@transaction.atomic
def _store(
    *,
    visitor_id: int,
    text: str,
    source: str,
    trace: dict,
    citations: list[dict],
    nothing_more: str,
) -> Message | None:
    """Stores the answer only while the bot holds the conversation (the conditional update
    locks the row first, as chatbot.handoff does) and the question is still queued (taking it
    off the queue in the same transaction answers it once); None otherwise. An answer that
    would only repeat the articles the first reply suggested is `nothing_more` instead: the
    visitor was promised an answer here, and a model-tiers walk saw that promise end in
    silence when the queue let such an answer go."""
    visitor = Message.objects.get(pk=visitor_id)
    held = Conversation.objects.filter(
        pk=visitor.conversation_id, status=Conversation.Status.BOT
    ).update(updated_at=timezone.now())
    if not held:
        return None  # it stays queued for when the bot holds the conversation again
    if not QueuedQuestion.objects.filter(message_id=visitor_id).delete()[0]:
        transaction.set_rollback(True)
        return None  # answered already
    stored_trace = {**trace, "queued_reply_to": visitor_id}
    if _repeats_the_suggestions(visitor_id, citations):
        text, source, citations = nothing_more, Source.FALLBACK, []
        # The trace names what was sent, as the message does (a walk read `fallback` on the
        # message and `llm` in its trace); the model's call stays in its steps.
        stored_trace["source"] = Source.FALLBACK
    return message_sql.message_store(
        conversation_id=visitor.conversation_id,
        role=Message.Role.BOT,
        text=text,
        source=source,
        trace=stored_trace,
        citations=citations,
        created_at=timezone.now(),
    )


def _repeats_the_suggestions(visitor_id: int, citations: list[dict]) -> bool:
    """The later answer is only the articles the first reply suggested, again (the model still
    cites nothing of them, as the local one rarely does): a second copy says nothing new."""
    if not citations or not all(citation.get("suggested") for citation in citations):
        return False
    first = Message.objects.filter(reply_to_id=visitor_id).values_list("citations", flat=True)
    suggested = {c.get("document_id") for c in first.first() or () if c.get("suggested")}
    return {citation.get("document_id") for citation in citations} <= suggested


async def _queued_answer(stage: LLMStage, turn: Turn) -> DoneEvent | None:
    """The answer finished as a live one is (output filter, grounding, citations; an answer
    citing nothing of its sources replaced as the stage says), or None while no model answers.
    A question the help centre has nothing on (any more) gets the not-found answer: waiting for
    a model would not change it, and would hold up the questions queued after it."""
    trace = Trace()
    done = None
    try:
        async for event in run_pipeline(turn, [stage], trace):
            if isinstance(event, DoneEvent):
                done = event
    except NoStageAnswered:
        pass
    if done is not None:
        return done
    if help_centre_has_nothing(trace):
        trace.finish(Source.FALLBACK)
        not_found = visitor_copy.render(visitor_copy.NOT_FOUND_ANSWER, turn.locale)
        return DoneEvent(Source.FALLBACK, not_found, trace)
    return None


async def answer_queued_questions(*, stage: LLMStage | None = None, limit: int = 20) -> int:
    """Answers queued questions in order until the model stage passes again; returns how many
    were answered. One drain at a time across processes (a claim renewed while it runs, so a
    drain that died with its process is not waited for long)."""
    try:
        async with claim_held(DRAIN_CLAIM, settings.ANSWER_CLAIM_TTL_S) as held:
            return await _drain(stage, limit) if held else 0
    except RedisError:
        # Fails closed: two drains would answer the same questions twice; the next recovery
        # or visitor question kicks the drain again.
        logger.warning("queued answers wait: Redis does not answer their drain's claim")
        return 0


async def _drain(stage: LLMStage | None, limit: int) -> int:
    answered = 0
    await queued_flag.clear()  # before the scan: questions queued meanwhile set it again
    max_age_h = settings.LLM_QUEUED_ANSWER_MAX_AGE_H
    await database_sync_to_async(queued_questions_expire)(max_age_h=max_age_h)
    questions = await database_sync_to_async(queued_questions)(max_age_h=max_age_h, limit=limit)
    stage = stage or queued_answers_stage()
    for index, (message_id, public_id) in enumerate(questions):
        turn = await database_sync_to_async(_turn)(message_id)
        done = await _queued_answer(stage, turn)
        if done is None:
            await queued_flag.mark()  # still no model: these wait for the next recovery
            logger.info("%d queued questions still wait for a model", len(questions) - index)
            break
        prefix = visitor_copy.render(visitor_copy.QUEUED_ANSWER_PREFIX, turn.locale) % {
            "question": _short(turn.text)
        }
        message = await database_sync_to_async(_store)(
            visitor_id=message_id,
            text=prefix + done.text,
            source=done.source,
            trace=done.trace.to_dict(),
            citations=[citation.to_dict() for citation in done.citations],
            nothing_more=prefix
            + visitor_copy.render(visitor_copy.QUEUED_NOTHING_MORE, turn.locale),
        )
        if message is None:
            continue
        for citations, suggested in ((done.answered_from, False), (done.suggested_from, True)):
            if citations:
                await database_sync_to_async(knowledge_services.document_cited)(
                    citations=citations,
                    question=turn.text,
                    conversation_id=message.conversation_id,
                    message_id=message.pk,
                    suggested=suggested,
                )
        await publish(public_id, {"type": "message", "message": services.message_payload(message)})
        answered += 1
    else:
        if len(questions) == limit:
            await queued_flag.mark()  # more may be waiting beyond this batch
    return answered


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


async def _answer_queued_on_own_loop() -> int:
    """The drain on the event loop async_to_sync makes for one task call: the model clients it
    opens are closed before that loop ends (left open, aiohttp reports them unclosed)."""
    try:
        return await answer_queued_questions()
    finally:
        await clients_close()


@shared_task(name="chatbot.answer_queued_questions", ignore_result=True)
def answer_queued() -> int:
    return async_to_sync(_answer_queued_on_own_loop)()


@shared_task(name="chatbot.reembed", autoretry_for=(OSError,), retry_backoff=True, max_retries=3)
def reembed() -> dict[str, int]:
    """`manage.py reembed --in-worker`. A worker that dies midway loses at most a batch: the
    retry (or the next run) skips what is on the configured model already."""
    result = embeddings_reembed(batch_size=settings.EMBEDDING_BATCH_SIZE)
    logger.info(
        "re-embedded %d paraphrases, dropped %d cached answers of another embedding model",
        result.paraphrases_reembedded,
        result.cache_entries_dropped,
    )
    return {
        "paraphrases_reembedded": result.paraphrases_reembedded,
        "cache_entries_dropped": result.cache_entries_dropped,
    }


async def kick_queued_answers() -> None:
    """Starts a drain when questions are waiting: a Celery task on real workers, a task on this
    event loop when Celery is eager (an eager task would block the loop it is called from)."""
    waiting = await queued_flag.marked()
    if waiting is None:  # a fresh process, or Redis lost the flag: the database knows
        waiting = await queued_flag.load()
    if not waiting:
        return
    if settings.CELERY_TASK_ALWAYS_EAGER:
        _track(asyncio.get_running_loop().create_task(answer_queued_questions()))
    else:
        await asyncio.to_thread(answer_queued.delay)


@receiver(model_recovered, dispatch_uid="queued-answers")
async def on_model_recovered(**_: object) -> None:
    """Questions queued while every model was down are answered now. Connected where this
    module is imported: the chat consumer and Celery's task discovery (importing it from
    AppConfig.ready instead made the rolling-restart drill stall a visitor for 30 s)."""
    await kick_queued_answers()


def kick_after_start() -> None:
    """Called when a visitor socket opens: a process's first one kicks a drain, so questions
    queued before a restart are answered even if no model answer comes to kick it. A task of
    its own, so the socket does not wait for the database. Where no Celery beat runs (the
    embedded default), it also starts this process's own kick every QUEUED_ANSWERS_EVERY_S."""
    if queued_flag.first_socket():
        loop = asyncio.get_running_loop()
        _track(loop.create_task(kick_queued_answers()))
        every_s = settings.QUEUED_ANSWERS_EVERY_S
        if settings.QUEUED_ANSWERS_IN_PROCESS and every_s > 0:
            _periodic.add(loop.create_task(_kick_every(every_s)))


async def _kick_every(every_s: float) -> None:
    """Beat's drain for a process without a worker: a visitor told "I've kept your question,
    I'll answer it here" waited for a recovery or another question that never came (a walk on
    `make run` whose model answered nothing for minutes without its breaker opening)."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await kick_queued_answers()
        except Exception as exc:  # the next interval tries again; one line, not a traceback
            logger.warning("the queued questions' drain did not start: %s", describe_error(exc))


_periodic: set[asyncio.Task[None]] = set()  # this process's own beat (kept from collection)


def _track(task: asyncio.Task[Any]) -> None:
    _running.add(task)
    task.add_done_callback(_running.discard)


async def wait_for_drains() -> None:
    """Lets tests and shutdown wait for drains started on this loop."""
    while _running:
        await asyncio.gather(*list(_running), return_exceptions=True)
