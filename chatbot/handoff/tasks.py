"""Celery tasks that send the emails of left messages and transcripts (chatbot.handoff.mail),
enqueued on commit and never on the thread that asked (the "mail" thread does it). Refusals for
now are retried EMAIL_RETRY_MAX times with backoff, permanent ones (5xx) are not; why:
docs/operations.md, "Mail"."""

import asyncio
import logging
import smtplib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial
from typing import Any

from asgiref.sync import SyncToAsync, sync_to_async
from celery import Task, shared_task
from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from chatbot.handoff import mail

logger = logging.getLogger(__name__)

_MAIL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mail")
_pending: set[asyncio.Future[Any]] = set()
RETRY_MAX_DELAY_S = 3600.0


def is_transient(exc: BaseException) -> bool:
    """Whether a send failure may pass if tried again later."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    return isinstance(exc, smtplib.SMTPException | OSError)


def retry_delay_s(retries: int) -> float:
    return min(settings.EMAIL_RETRY_BACKOFF_S * 2**retries, RETRY_MAX_DELAY_S)


class EagerRetry(Exception):
    """Eager Celery retries at once, ignoring the countdown: the caller waits it out."""

    def __init__(self, delay_s: float) -> None:
        super().__init__(delay_s)
        self.delay_s = delay_s


class NotSent(Exception):
    """A failed send as Celery records and logs it: without the server's reply text."""


def describe(exc: BaseException) -> str:
    """A send failure for a log line. SMTP replies often quote the recipient's address, which
    stays out of the logs (docs/operations.md, "Personal data"): only the reply codes."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return f"{type(exc).__name__} {sorted(code for code, _ in exc.recipients.values())}"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{type(exc).__name__} {exc.smtp_code}"
    return type(exc).__name__ if isinstance(exc, smtplib.SMTPException) else repr(exc)


def _send(
    task: Task,
    what: str,
    send: Callable[[], bool],
    given_up: Callable[[str], None] | None = None,
) -> bool:
    """`given_up(error)` records a send that will not be tried again."""
    try:
        return send()
    except (smtplib.SMTPException, OSError) as exc:
        retries = task.request.retries or 0
        if not is_transient(exc) or retries >= settings.EMAIL_RETRY_MAX:
            logger.error("%s: not sent, giving up: %s", what, describe(exc))
            if given_up is not None:
                given_up(describe(exc))
            return False
        delay = retry_delay_s(retries)
        logger.warning("%s: not sent, retry in %ss: %s", what, delay, describe(exc))
        if task.request.is_eager:
            raise EagerRetry(delay) from None
        failure = NotSent(describe(exc))
        raise task.retry(
            exc=failure, countdown=delay, max_retries=settings.EMAIL_RETRY_MAX
        ) from None


_TASK = {"bind": True, "ignore_result": True, "throws": (EagerRetry,)}


@shared_task(name="chatbot.left_message_acknowledge", **_TASK)
def left_message_acknowledge(self: Task, left_message_id: int) -> bool:
    return _send(
        self,
        f"left message {left_message_id}",
        partial(mail.acknowledgement_send, left_message_id=left_message_id),
        partial(mail.left_message_undeliverable, left_message_id=left_message_id),
    )


@shared_task(name="chatbot.left_message_notify_team", **_TASK)
def left_message_notify_team(self: Task, left_message_id: int) -> bool:
    return _send(
        self,
        f"left message {left_message_id}",
        partial(mail.team_notification_send, left_message_id=left_message_id),
    )


@shared_task(name="chatbot.left_message_reply_email", **_TASK)
def left_message_reply_email(self: Task, left_message_id: int) -> bool:
    return _send(
        self,
        f"left message {left_message_id}",
        partial(mail.reply_send, left_message_id=left_message_id),
        partial(mail.left_message_undeliverable, left_message_id=left_message_id),
    )


@shared_task(name="chatbot.transcript_email", **_TASK)
def transcript_email(self: Task, transcript_email_id: int) -> bool:
    return _send(
        self,
        f"transcript email {transcript_email_id}",
        partial(mail.transcript_send, transcript_email_id=transcript_email_id),
    )


@shared_task(name="chatbot.transcript_confirmation", **_TASK)
def transcript_confirmation(self: Task, transcript_email_id: int) -> bool:
    return _send(
        self,
        f"transcript link {transcript_email_id}",
        partial(mail.transcript_confirmation_send, transcript_email_id=transcript_email_id),
    )


def unsent_resend(*, hours: float, settle_minutes: float) -> dict[str, int]:
    """Sends again (or enqueues, with a worker) the emails recorded in the last `hours` and not
    the last `settle_minutes` (whose retries may still run) that never went out; how many of
    each kind. Each still goes out at most once: a send finding it recorded does nothing."""
    now = timezone.now()
    found = mail.unsent(
        since=now - timedelta(hours=hours), until=now - timedelta(minutes=settle_minutes)
    )
    resend = {
        "acknowledgements": left_message_acknowledge,
        "replies": left_message_reply_email,
        "transcripts": transcript_email,
    }
    for kind, ids in found.items():
        for row_id in ids:
            send_or_enqueue(resend[kind], row_id)
    return {kind: len(ids) for kind, ids in found.items()}


@shared_task(name="chatbot.mail_resend", ignore_result=True)
def mail_resend(hours: float = 26.0, settle_minutes: float = 150.0) -> dict[str, int]:
    """`celery beat`'s daily pass (settings.CELERY_BEAT_SCHEDULE): the window overlaps the
    previous day's by two hours and settles longer than a send's own retries take (~2 h), so
    a row is looked at about once and a chain of retries still running is left alone."""
    return unsent_resend(hours=hours, settle_minutes=settle_minutes)


def enqueue_on_commit(task: Task, *args: Any) -> None:
    """Enqueues the task once the current transaction commits (call inside it)."""
    transaction.on_commit(partial(_enqueue, task, args))


def _enqueue(task: Task, args: tuple[Any, ...]) -> None:
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        _MAIL.submit(_publish, task, args)
        return
    # On a socket's database thread: run on the mail thread as a task of the socket's event loop,
    # so that what the task tells sockets (asgiref finds that loop) reaches them.
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if loop is not None and loop.is_running():
        loop.call_soon_threadsafe(_start_on_loop, task, args)
    else:
        _MAIL.submit(_run, task, args)


def send_or_enqueue(task: Task, *args: Any) -> None:
    """For a management command: eager, send here and now (retries included); with a worker,
    enqueue."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        _run(task, args)
    else:
        task.apply_async(args)


def _publish(task: Task, args: tuple[Any, ...]) -> None:
    try:
        task.apply_async(args)
    except Exception:
        logger.exception("could not enqueue %s%s", task.name, args)


def _start_on_loop(task: Task, args: tuple[Any, ...]) -> None:
    future = asyncio.ensure_future(_run_on_loop(task, args))
    _pending.add(future)
    future.add_done_callback(_pending.discard)


async def _run_on_loop(task: Task, args: tuple[Any, ...]) -> None:
    """Tries on the mail thread and waits out each retry's backoff on the event loop, so one
    address refused for now (greylisted, mailbox full) holds up no other email."""
    run_once = sync_to_async(_run_once, thread_sensitive=False, executor=_MAIL)
    retries = 0
    while (delay := await run_once(task, args, retries)) is not None:
        await asyncio.sleep(delay)
        retries += 1


def _run(task: Task, args: tuple[Any, ...]) -> None:
    """Without an event loop (a management command): the retries' backoff waits here."""
    retries = 0
    while (delay := _run_once(task, args, retries)) is not None:
        time.sleep(delay)
        retries += 1


def _run_once(task: Task, args: tuple[Any, ...], retries: int) -> float | None:
    """One eager attempt on the mail thread: the delay before the next, or None when done. The
    thread's database connection is closed after each."""
    try:
        result = task.apply(args, retries=retries, throw=False)
        if isinstance(result.result, EagerRetry):
            return result.result.delay_s
        if result.failed():
            logger.error("%s%s failed: %r", task.name, args, result.result)
        return None
    finally:
        connections.close_all()


async def wait_for_pending() -> None:
    """Waits for the eager sends started from this event loop (tests)."""
    while _pending:
        await asyncio.gather(*list(_pending), return_exceptions=True)
