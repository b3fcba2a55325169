"""Questions whose answer died with its process (kill -9, a crash, a restart mid-answer) are
answered again, once: when their visitor resumes (on any process), and by a sweep that every
daphne process with a socket open runs at its first socket and every
CHAT_ORPHAN_SWEEP_INTERVAL_S after, whichever comes first. The answering claim, renewed while an
answer runs and lapsing soon after its process dies, is what says "nobody is at it" and makes
sure only one process starts it again (docs/operations.md, "Crashes and restarts")."""

import asyncio
import datetime as dt
import logging

from channels.db import database_sync_to_async
from django.conf import settings
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from chatbot import answering
from chatbot.cancelling import cancel_and_wait
from chatbot.handoff.selectors import asks_for_human
from chatbot.models import Conversation, Message

logger = logging.getLogger(__name__)

_users = 0
_sweeper: asyncio.Task[None] | None = None
_rechecks: set[asyncio.Task[None]] = set()


def orphaned_messages(
    *, max_age_s: float, min_age_s: float = 0.0, conversation_id: int | None = None, limit: int = 50
) -> list[tuple[int, str, str]]:
    """(message id, conversation public id, locale) of visitor messages the bot should have
    answered and has not, oldest first: no reply, the bot holds the conversation and held it
    when the message came (one written while queued or to an agent was the person's, even once
    the bot has it back), no agent or system line came after it (a person answered, or the
    conversation was closed and reopened), it does not ask for a person nor carry a file, and
    it was asked between `max_age_s` and `min_age_s` ago.
    Whether an answer to it is being written right now is the claim's to say, not this."""
    now = timezone.now()
    person_after = Message.objects.filter(
        conversation_id=OuterRef("conversation_id"),
        id__gt=OuterRef("id"),
        role__in=(Message.Role.AGENT, Message.Role.SYSTEM),
    )
    rows = Message.objects.filter(
        role=Message.Role.VISITOR,
        reply__isnull=True,
        attachment__isnull=True,  # a file is never the bot's to answer
        conversation__status=Conversation.Status.BOT,
        created_at__gte=now - dt.timedelta(seconds=max_age_s),
        created_at__lte=now - dt.timedelta(seconds=min_age_s),
    ).exclude(Exists(person_after) | Q(conversation__bot_since__gt=F("created_at")))
    if conversation_id is not None:
        rows = rows.filter(conversation_id=conversation_id)
    found = rows.order_by("id").values_list(
        "id", "text", "conversation__public_id", "conversation__locale"
    )[:limit]
    return [
        (message_id, public_id, locale)
        for message_id, text, public_id, locale in found
        if not asks_for_human(text)
    ]


def answer_again(orphans: list[tuple[int, str, str]]) -> None:
    """Starts answering each message anew where no live claim says another task is at it. The
    claim fails closed here: while Redis does not answer, a later sweep does it."""
    for message_id, public_id, locale in orphans:
        answering.start_answer(message_id, public_id, locale, again=True, fail_open=False)


async def conversation_resumed(conversation_id: int) -> None:
    """A visitor resumed: their conversation's orphaned questions are answered again now."""
    orphans = await database_sync_to_async(orphaned_messages)(
        max_age_s=settings.CHAT_ORPHAN_MAX_AGE_S, conversation_id=conversation_id
    )
    answer_again(orphans)


def recheck_later(conversation_id: int) -> None:
    """Looks at the conversation's questions again once a claim seen alive now would have
    lapsed (its process may have died a moment ago), while this process's sweep runs."""
    if _sweeper is None or _sweeper.done():
        return

    async def recheck() -> None:
        await asyncio.sleep(settings.ANSWER_CLAIM_TTL_S * 1.2)
        try:
            await conversation_resumed(conversation_id)
        except Exception:
            logger.exception("looking again at conversation %s's questions failed", conversation_id)

    task = asyncio.create_task(recheck())
    _rechecks.add(task)
    task.add_done_callback(_rechecks.discard)


async def sweep_once() -> int:
    """Answers again what no live claim covers; messages younger than a claim's lifetime are
    left to the answer that may be just starting. Returns how many were looked at."""
    orphans = await database_sync_to_async(orphaned_messages)(
        max_age_s=settings.CHAT_ORPHAN_MAX_AGE_S, min_age_s=settings.ANSWER_CLAIM_TTL_S
    )
    answer_again(orphans)
    return len(orphans)


async def _sweep_forever() -> None:
    while True:
        try:
            found = await sweep_once()
        except Exception:
            logger.exception("orphaned-answer sweep failed")
        else:
            if found:
                logger.info("unanswered questions with no live answer: %d, answering again", found)
        await asyncio.sleep(settings.CHAT_ORPHAN_SWEEP_INTERVAL_S)


def sweeper_acquire() -> None:
    """A visitor socket opened in this process: make sure the sweep runs (its first pass at
    once, so a restarted process picks up what died with the one before it)."""
    global _users, _sweeper
    _users += 1
    if _sweeper is None or _sweeper.done():
        _sweeper = asyncio.create_task(_sweep_forever())


async def sweeper_release() -> None:
    """A visitor socket closed: stop the sweep when it was the last one."""
    global _users, _sweeper
    _users = max(0, _users - 1)
    if _users == 0 and _sweeper is not None:
        tasks, _sweeper = [_sweeper, *_rechecks], None
        await cancel_and_wait(tasks)
