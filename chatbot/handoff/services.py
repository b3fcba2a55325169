"""Writes for the handoff. Every status change is one conditional UPDATE (… WHERE status = the
expected one), so two agents, two processes or an agent and the bot can race safely: exactly
one wins and the others learn it from the row count. Sockets are told on commit."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from chatbot import message_sql, metrics
from chatbot.audit.services import Action as AuditAction
from chatbot.audit.services import audit_record
from chatbot.handoff import assignment, faq_draft, hours, notify, phrasings, selectors, tasks
from chatbot.handoff.errors import HandoffError
from chatbot.handoff.models import (
    AgentNote,
    AgentPresence,
    AssignmentEvent,
    LeftMessage,
    TranscriptEmail,
)
from chatbot.models import Attachment, Conversation, HandoffReason, Message
from chatbot.outcomes import Source
from chatbot.services import (
    AnswerTurn,
    bot_message_insert,
    message_has_reply,
    message_payload,
    turn_build,
    visitor_facing_agent_name,
    visitor_message_insert,
)
from chatbot.visitor_copy import render
from knowledge import services as knowledge
from knowledge.greetings import is_affirmative
from knowledge.models import FAQ, AnswerVariant, Origin
from knowledge.selectors import faqs_asking

Status = Conversation.Status

# The system line a visitor sees when writing to a closed conversation reopens it.
REOPENED_TO_BOT = _("This conversation is open again. Our assistant will answer you.")
REOPENED_TO_QUEUE = _("This conversation is open again. We're connecting you with our team.")


@dataclass(frozen=True)
class ClaimResult:
    won: bool
    owner: str


def _on_commit_queue_changed() -> None:
    transaction.on_commit(notify.queue_changed)


def _tell_visitor(conversation: Conversation, frame: dict[str, Any]) -> None:
    public_id = conversation.public_id
    transaction.on_commit(lambda: notify.to_visitor(public_id, frame))


def _tell_agent_message(conversation: Conversation, message: Message) -> None:
    """An agent's message to the visitor; the consoles viewing read its author by the name the
    team knows them by, as after a reload (live it said "Agent" for an account without a name)."""
    public_id = conversation.public_id
    frame = {"type": "message", "message": message_payload(message)}
    team_author = selectors.agent_name(message.author)
    transaction.on_commit(lambda: notify.to_visitor(public_id, frame, team_author=team_author))


# --- into the queue -------------------------------------------------------------------------


@transaction.atomic
def conversation_handoff(*, conversation_id: int, reason: str) -> bool:
    """Queues a conversation the bot holds. False when it is not with the bot (already queued,
    with an agent, or closed): the caller then reports the current state instead."""
    now = timezone.now()
    moved = Conversation.objects.filter(pk=conversation_id, status=Status.BOT).update(
        status=Status.QUEUED,
        handoff_reason=reason,
        queued_at=now,
        visitor_seen_at=now,
        assigned_to=None,
        claimed_at=None,
        first_agent_reply_at=None,
        team=None,
        expired_owner=None,
        updated_at=now,
    )
    if moved:
        # The visitor's place at once (their sockets and answers being written hear of the
        # handoff now); everyone else's in the next coalesced wave.
        transaction.on_commit(lambda: notify.visitor_queued(conversation_id))
        _on_commit_queue_changed()
        assignment.conversation_auto_assign(conversation_id=conversation_id, now=now)
    return bool(moved)


def _bot_since(conversation_id: int, now: datetime) -> datetime:
    """When the bot takes the conversation back: the questions the visitor wrote after the last
    reply (a person's, the bot's or a system line) and nobody answered are asked of the bot too,
    so its `bot_since` goes back to the first of them and the caller has them answered now (they
    are the newest messages, so in order). Before, they were never answered: a visitor who asked
    while queued and then went back to the assistant, or whose agent handed back without a reply,
    waited for nothing (a support-shift walk)."""
    last_reply = (
        Message.objects.filter(conversation_id=conversation_id)
        .exclude(role=Message.Role.VISITOR)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    first_unanswered = (
        Message.objects.filter(
            conversation_id=conversation_id,
            role=Message.Role.VISITOR,
            id__gt=last_reply or 0,
            reply__isnull=True,
        )
        .order_by("id")
        .values_list("created_at", flat=True)
        .first()
    )
    return min(first_unanswered, now) if first_unanswered else now


@transaction.atomic
def conversation_handoff_cancel(*, conversation_id: int) -> bool:
    """The queued visitor goes back to the bot: the conversation leaves the queue (agents see
    it go) and its sockets hear `conversation` `bot`. False when it was not queued (an agent
    claimed it meanwhile, or it was never queued): the caller reports the current state. The
    handoff reason stays: the visitor asked for a person, so the conversation counts as a
    handoff, not as one the bot handled alone (analytics' deflection)."""
    now = timezone.now()
    moved = Conversation.objects.filter(pk=conversation_id, status=Status.QUEUED).update(
        status=Status.BOT,
        queued_at=None,
        bot_since=_bot_since(conversation_id, now),
        updated_at=now,
    )
    if moved:
        public_id = Conversation.objects.values_list("public_id", flat=True).get(pk=conversation_id)
        frame = {"type": "conversation", "status": Status.BOT.value}
        transaction.on_commit(lambda: notify.to_visitor(public_id, frame))
        _on_commit_queue_changed()
    return bool(moved)


def conversation_reopen(*, conversation_id: int, text: str) -> bool:
    """A visitor wrote to a closed conversation: it is open again, with the bot, or queued when
    the message asks for a person; a system line says which (docs/protocol.md, "Closed
    conversations"). True when the bot should answer the message. Call inside the transaction
    that stored the message."""
    now = timezone.now()
    if not Conversation.objects.filter(pk=conversation_id, status=Status.CLOSED).update(
        status=Status.BOT, assigned_to=None, bot_since=now, updated_at=now
    ):
        return False  # reopened by another message meanwhile; that one said so
    to_person = selectors.asks_for_human(text)
    if to_person:
        conversation_handoff(conversation_id=conversation_id, reason=HandoffReason.VISITOR_WORDS)
    conversation = Conversation.objects.get(pk=conversation_id)
    line = Message.objects.create(
        conversation=conversation,
        role=Message.Role.SYSTEM,
        text=render(REOPENED_TO_QUEUE if to_person else REOPENED_TO_BOT, conversation.locale),
    )
    _tell_visitor(conversation, {"type": "message", "message": message_payload(line)})
    if not to_person:
        _tell_visitor(conversation, {"type": "conversation", "status": Status.BOT.value})
    return not to_person


def visitor_message_route(*, conversation_id: int, text: str, preview: str | None = None) -> bool:
    """Called for each new visitor message: records when the visitor last wrote, hands the
    conversation off when they ask for a person (in words, or with a plain "yes" to the bot's
    offer of one), and reopens a closed one. True when the bot should answer it. `preview` is
    what the owner's alert shows when it is not the text (a file: its name).

    While the bot holds the conversation (nearly always) this is a single UPDATE."""
    now = timezone.now()
    if message_sql.conversation_touch_if(
        conversation_id=conversation_id, status=Status.BOT, now=now, visitor_wrote=True
    ):
        status = Status.BOT
    else:
        Conversation.objects.filter(pk=conversation_id).update(
            last_visitor_message_at=now, updated_at=now
        )
        status = selectors.conversation_status(conversation_id=conversation_id)
    if status == Status.QUEUED and selectors.takes_back_the_request(text):
        # "never mind" while waiting: back to the bot, as the widget's button does; its
        # sockets say "You're chatting with our assistant again", and the bot answers nothing.
        conversation_handoff_cancel(conversation_id=conversation_id)
        return False
    if status in selectors.OPEN_STATUSES:
        transaction.on_commit(notify.queue_changed)  # the console's "visitor waiting" timer
        if status == Status.AGENT:
            assignment.visitor_wrote(
                conversation_id=conversation_id, text=text if preview is None else preview
            )
        return False
    if status == Status.CLOSED:
        return conversation_reopen(conversation_id=conversation_id, text=text)
    if status != Status.BOT:
        return False
    if selectors.asks_for_human(text) or (
        is_affirmative(text) and selectors.person_offered(conversation_id=conversation_id)
    ):
        conversation_handoff(conversation_id=conversation_id, reason=HandoffReason.VISITOR_WORDS)
        return False
    return True


def handoff_after_bot_answer(*, answer: Message) -> bool:
    """After a stored bot answer: queue when no model could answer, or when the bot has fallen
    back several times in a row, and an agent is online to take it.

    With nobody online the conversation stays with the bot: the queue would silence it for as
    long as nobody comes (the bot does not answer a queued conversation) and the fallback
    answers already offer a person, whom the visitor can still ask for (then the queue offers
    to leave a message). With every model down, the fallback answer promised to answer the
    kept question here, and the queued-answer task (which never writes into a conversation a
    person holds) does so once a breaker closes.

    Both cases need this answer to be a fallback; any other answer ends the streak."""
    if answer.source != Source.FALLBACK or not selectors.agents_online():
        return False
    conversation_id = answer.conversation_id
    if settings.HANDOFF_WHEN_MODELS_DOWN and answer.models_down:
        return conversation_handoff(
            conversation_id=conversation_id, reason=HandoffReason.MODELS_DOWN
        )
    streak = settings.HANDOFF_FALLBACK_STREAK
    if (
        streak
        and selectors.fallback_streak(conversation_id=conversation_id, limit=streak) >= streak
    ):
        return conversation_handoff(
            conversation_id=conversation_id, reason=HandoffReason.BOT_UNSURE
        )
    return False


@transaction.atomic
def bot_message_store_if_bot(
    *,
    conversation_id: int,
    reply_to_id: int,
    text: str,
    source: str,
    trace: dict[str, Any],
    citations: list[dict[str, Any]] | None = None,
) -> Message | None:
    """Stores a bot answer only while the bot holds the conversation; None after a handoff.

    The conditional UPDATE takes the row's write lock first, so a concurrent handoff waits for
    this commit and comes after the answer: no bot message is ever stored while queued."""
    now = timezone.now()
    if not message_sql.conversation_touch_if(
        conversation_id=conversation_id, status=Status.BOT, now=now, visitor_wrote=False
    ):
        return None
    return bot_message_insert(
        conversation_id=conversation_id,
        reply_to_id=reply_to_id,
        text=text,
        source=source,
        trace=trace,
        created_at=now,
        citations=citations,
    )


@dataclass(frozen=True)
class Accepted:
    message: Message
    created: bool
    answer: bool  # the bot answers it now
    turn: AnswerTurn | None = None  # what the answer needs, read while we were at it


def visitor_message_accept(
    *, conversation: Conversation, client_id: str, text: str, retry_of: int | None = None
) -> Accepted:
    """Stores a visitor message once per client id and says whether the bot answers it now. A
    new message is answered unless it asks for a person or the bot does not hold the
    conversation; a resend only if it was never answered (the server went down before the
    answer was stored), and never when the id is of another role's message. One call, so the
    socket acks after one round trip and the answer starts without another."""
    with transaction.atomic():  # one write transaction: on SQLite, one turn at the write lock
        message, created = visitor_message_insert(
            conversation=conversation, client_id=client_id, text=text, retry_of=retry_of
        )
        answer = created and visitor_message_route(conversation_id=conversation.pk, text=text)
    if not created:
        # The client id of an agent's (or the bot's) message is not the visitor's to resend,
        # and a request for a person is never the bot's to answer, resent or not.
        owed = (
            message.role == Message.Role.VISITOR
            and message.attachment_id is None
            and not selectors.asks_for_human(message.text)
            and not message_has_reply(message_id=message.id)
        )
        return Accepted(message, False, owed)
    if not answer:
        return Accepted(message, True, False)
    turn = turn_build(message=message, conversation=conversation)
    return Accepted(message, True, True, AnswerTurn(turn, conversation.pk))


def visitor_retry_accept(
    *, conversation: Conversation, client_id: str, message_id: int
) -> Accepted | None:
    """A "try again" on a bot answer: its question is stored again as a new visitor message (the
    new answer needs a question of its own: `reply_to` is one-to-one) and accepted like any
    message. None when `message_id` is not a bot answer to a question of this conversation."""
    question = (
        Message.objects.filter(
            conversation=conversation, role=Message.Role.VISITOR, reply__pk=message_id
        )
        .values_list("text", flat=True)
        .first()
    )
    if question is None:
        return None
    return visitor_message_accept(
        conversation=conversation, client_id=client_id, text=question, retry_of=message_id
    )


# --- agents ---------------------------------------------------------------------------------


def _conversation(public_id: str) -> Conversation:
    conversation = Conversation.objects.filter(public_id=public_id).first()
    if conversation is None:
        raise HandoffError("not_found")
    return conversation


def _require_owner(conversation: Conversation, agent: AbstractBaseUser) -> None:
    if conversation.status != Status.AGENT or conversation.assigned_to_id != agent.pk:
        owner = conversation.assigned_to
        raise HandoffError("not_owner", owner=selectors.agent_name(owner) if owner else None)


def conversation_claim(*, public_id: str, agent: AbstractBaseUser) -> ClaimResult:
    """UPDATE … WHERE status = 'queued': of agents claiming at once exactly one wins; the
    others get the winner's name."""
    if selectors.agent_presence_status(user=agent) == AgentPresence.Status.AWAY:
        raise HandoffError("away")
    now = timezone.now()
    with transaction.atomic():
        won = Conversation.objects.filter(public_id=public_id, status=Status.QUEUED).update(
            status=Status.AGENT, assigned_to=agent, claimed_at=now, updated_at=now
        )
        conversation = _conversation(public_id)
        if not won:
            owner = conversation.assigned_to if conversation.status == Status.AGENT else None
            return ClaimResult(False, selectors.agent_name(owner) if owner else "")
        name = selectors.agent_name(agent)
        assignment.audit_line_announce(
            public_id, audit_record(action=AuditAction.CLAIM, actor=agent, conversation=public_id)
        )
        _tell_visitor(
            conversation,
            {
                "type": "conversation",
                "status": Status.AGENT.value,
                "agent": visitor_facing_agent_name(agent),
            },
        )
        _on_commit_queue_changed()
        if conversation.queued_at is not None:
            waited = (now - conversation.queued_at).total_seconds()
            transaction.on_commit(lambda: metrics.HANDOFF_WAIT.observe(waited))
    return ClaimResult(True, name)


@transaction.atomic
def agent_message_send(
    *,
    public_id: str,
    agent: AbstractBaseUser,
    client_id: str,
    text: str,
    attachment: Attachment | None = None,
) -> tuple[Message, bool]:
    """Stores the owner's reply (idempotent on client_id) and relays it to the visitor; with
    `attachment`, a file they sent (chatbot.attachments), which is no phrasing to learn from."""
    conversation = _conversation(public_id)
    _require_owner(conversation, agent)
    try:
        with transaction.atomic():
            message = Message.objects.create(
                conversation=conversation,
                role=Message.Role.AGENT,
                author=agent,
                client_id=client_id,
                text=text,
                attachment=attachment,
            )
    except IntegrityError:
        return Message.objects.get(conversation=conversation, client_id=client_id), False
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=message.created_at)
    first = Conversation.objects.filter(
        pk=conversation.pk, first_agent_reply_at__isnull=True
    ).update(first_agent_reply_at=message.created_at)
    _tell_agent_message(conversation, message)
    if first:
        _on_commit_queue_changed()
    _left_messages_replied_live(conversation)
    if attachment is None:
        phrasings.paraphrase_draft_from_reply(reply=message, locale=conversation.locale)
    return message, True


def _left_messages_replied_live(conversation: Conversation) -> None:
    """The Left messages tab shows, beside a message still waiting for its email, who replied
    in the chat since (selectors.left_message_payload): it stayed plain "waiting" after agents
    had helped the visitor live, and a second agent emailed another answer (a support-shift
    walk). Whether the live reply answered it, and reached the visitor, is the agent's call:
    the visitor may have gone before it came."""
    if LeftMessage.objects.filter(conversation=conversation, answered_at__isnull=True).exists():
        transaction.on_commit(notify.left_messages_changed)


def faq_link_question(
    *, public_id: str, faq_id: int, message_id: int | None = None
) -> dict[str, Any]:
    """An agent says the visitor's question (`message_id`, else their latest) was this FAQ: it
    becomes a draft paraphrase of it unless it holds personal details or is known already."""
    conversation = _conversation(public_id)
    if not FAQ.objects.filter(pk=faq_id, locale=conversation.locale).exists():
        raise HandoffError("not_found")
    if message_id is None:
        question = phrasings.visitor_question_before(
            conversation_id=conversation.pk, message_id=None
        )
    else:
        question = Message.objects.filter(
            pk=message_id, conversation=conversation, role=Message.Role.VISITOR
        ).first()
    if question is None:
        raise HandoffError("no_question")
    draft = phrasings.paraphrase_draft_from_question(faq_id=faq_id, question=question.text)
    return {"faq": faq_id, "paraphrase": draft.pk if draft is not None else None}


@transaction.atomic
def note_add(*, public_id: str, agent: AbstractBaseUser, text: str) -> AgentNote:
    conversation = _conversation(public_id)
    note = AgentNote.objects.create(conversation=conversation, author=agent, text=text)
    frame = {
        "type": "note",
        "conversation": public_id,
        "note": selectors.note_payload(note),
    }
    transaction.on_commit(lambda: notify.to_viewing_agents(public_id, frame))
    return note


@transaction.atomic
def conversation_return_to_bot(*, public_id: str, agent: AbstractBaseUser) -> int:
    """Returns the conversation's id: its questions nobody answered are the bot's now
    (`_bot_since`), for the caller to have them answered."""
    conversation = _conversation(public_id)
    now = timezone.now()
    if not Conversation.objects.filter(
        pk=conversation.pk, status=Status.AGENT, assigned_to=agent
    ).update(
        status=Status.BOT,
        assigned_to=None,
        bot_since=_bot_since(conversation.pk, now),
        updated_at=now,
    ):
        _require_owner(conversation, agent)
    assignment.audit_line_announce(
        public_id,
        audit_record(action=AuditAction.RETURN_TO_BOT, actor=agent, conversation=public_id),
    )
    _tell_visitor(conversation, {"type": "conversation", "status": Status.BOT.value})
    _on_commit_queue_changed()
    return conversation.pk


# The console's "Spam" close reason: nobody to ask "How did we do?".
SPAM_REASON = "spam"


@transaction.atomic
def conversation_close(*, public_id: str, agent: AbstractBaseUser, reason: str) -> None:
    """The owner closes (or any agent, while it is still queued, e.g. spam); the visitor is
    asked for a rating, unless it was closed as spam."""
    conversation = _conversation(public_id)
    now = timezone.now()
    closed = Conversation.objects.filter(pk=conversation.pk).filter(
        status=Status.AGENT, assigned_to=agent
    ).update(status=Status.CLOSED, closed_at=now, close_reason=reason, updated_at=now) or (
        Conversation.objects.filter(pk=conversation.pk, status=Status.QUEUED).update(
            status=Status.CLOSED, closed_at=now, close_reason=reason, updated_at=now
        )
    )
    if not closed:
        _require_owner(conversation, agent)
    closing = audit_record(
        action=AuditAction.CLOSE, actor=agent, conversation=public_id, detail={"reason": reason}
    )
    assignment.audit_line_announce(public_id, closing)
    _tell_visitor(
        conversation,
        {
            "type": "conversation",
            "status": Status.CLOSED.value,
            "ask_rating": reason != SPAM_REASON,
        },
    )
    _on_commit_queue_changed()


@transaction.atomic
def claims_expire(*, now: datetime | None = None) -> list[str]:
    """Conversations whose owner has not replied within HANDOFF_CLAIM_TIMEOUT_S of getting them
    (a claim, an assignment, a transfer) go back to the queue, keeping their place (queued_at);
    auto-assignment then passes them to another agent. Safe to run from several processes at
    once."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.HANDOFF_CLAIM_TIMEOUT_S)
    # An agent message since the owner got it (a transfer after a reply must be answered too).
    replied = Exists(
        Message.objects.filter(
            conversation=OuterRef("pk"),
            role=Message.Role.AGENT,
            created_at__gte=OuterRef("claimed_at"),
        )
    )
    stale = list(
        Conversation.objects.filter(status=Status.AGENT, claimed_at__lt=cutoff)
        .exclude(replied)
        .values_list("pk", "public_id", "assigned_to_id", "claimed_at")
    )
    claimed_at_of = {pk: claimed_at for pk, _, _, claimed_at in stale}
    return _back_to_queue(
        [row[:3] for row in stale],
        lambda pk, _owner_id: Conversation.objects.filter(
            pk=pk, status=Status.AGENT, claimed_at=claimed_at_of[pk]
        ).exclude(replied),
        kind=AssignmentEvent.Kind.EXPIRED,
        now=now,
    )


def _back_to_queue(
    candidates: list[tuple[int, str, int | None]],
    still_due: Callable[[int, int | None], QuerySet[Conversation]],
    *,
    kind: str,
    now: datetime,
) -> list[str]:
    """Each candidate (pk, public_id, owner) that `still_due` still selects (checked in its
    UPDATE, so two sweepers never move one twice) goes back to the queue keeping its place,
    with its audit line."""
    moved = []
    for pk, public_id, owner_id in candidates:
        if still_due(pk, owner_id).update(
            status=Status.QUEUED,
            assigned_to=None,
            claimed_at=None,
            expired_owner=owner_id,
            queued_at=Coalesce(F("queued_at"), Value(now)),
            updated_at=now,
        ):
            assignment.claim_expired(conversation_id=pk, owner_id=owner_id, kind=kind)
            moved.append(public_id)
    if moved:
        _on_commit_queue_changed()
    return moved


@transaction.atomic
def owners_gone_release(*, now: datetime | None = None) -> list[str]:
    """Conversations whose owner has had no console open for HANDOFF_OWNER_GONE_S (tab closed,
    signed out, network gone) go back to the queue, keeping their place, for another agent.
    Before, a conversation the owner had replied in stayed with them for good (a claim expires
    only unanswered) and nobody else could take it; its visitor could not ask for a person."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.HANDOFF_OWNER_GONE_S)
    present = AgentPresence.objects.filter(
        Q(last_seen_at__gte=cutoff) | Q(console_closed_at__gte=cutoff), user=OuterRef("assigned_to")
    )
    gone = list(
        Conversation.objects.filter(status=Status.AGENT)
        .filter(Q(claimed_at__lt=cutoff) | Q(claimed_at__isnull=True))
        .exclude(Exists(present))
        .values_list("pk", "public_id", "assigned_to_id")
    )
    return _back_to_queue(
        gone,
        lambda pk, owner_id: Conversation.objects.filter(
            pk=pk, status=Status.AGENT, assigned_to=owner_id
        ).exclude(Exists(present)),
        kind=AssignmentEvent.Kind.OFFLINE,
        now=now,
    )


ABANDONED = "abandoned"  # close_reason of a queued conversation its visitor left
_SEEN_CHUNK = 500  # ids per UPDATE, far under SQLite's bound-parameter limit however many sockets


@dataclass(frozen=True)
class Swept:
    claims_expired: list[str]
    abandoned: list[str]
    auto_assigned: list[str] = field(default_factory=list)


def queue_sweep(*, present_ids: Sequence[int], now: datetime | None = None) -> Swept:
    """The sweeper's round (chatbot.handoff.background): stale claims back to the queue, the
    visitors with a socket open in this process seen, then queued conversations nobody has
    had open for HANDOFF_ABANDONED_AFTER_S closed as abandoned, then (when on) the queue
    auto-assigned. Seen before closing, so a visitor still here is never closed by their own
    process's round."""
    now = now or timezone.now()
    expired = claims_expire(now=now) + owners_gone_release(now=now)
    ids = list(present_ids)
    for start in range(0, len(ids), _SEEN_CHUNK):
        Conversation.objects.filter(
            pk__in=ids[start : start + _SEEN_CHUNK], status__in=selectors.OPEN_STATUSES
        ).update(visitor_seen_at=now)
    abandoned = queue_abandoned_close(now=now)
    return Swept(expired, abandoned, assignment.queue_auto_assign(now=now))


@transaction.atomic
def queue_abandoned_close(*, now: datetime | None = None) -> list[str]:
    """Closes queued conversations whose visitor has had no socket open for
    HANDOFF_ABANDONED_AFTER_S (junk from a flood stayed queued after its sockets closed),
    except those with a message left for the team: an agent answers those by email."""
    after = settings.HANDOFF_ABANDONED_AFTER_S
    if after <= 0:
        return []
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=after)
    gone = (
        Conversation.objects.filter(status=Status.QUEUED)
        .filter(
            Q(visitor_seen_at__lt=cutoff) | Q(visitor_seen_at__isnull=True, queued_at__lt=cutoff)
        )
        .exclude(Exists(LeftMessage.objects.filter(conversation=OuterRef("pk"))))
    )
    abandoned = list(gone.values_list("public_id", flat=True))
    if abandoned:
        # The same conditions in the UPDATE: a visitor seen meanwhile stays queued.
        gone.filter(public_id__in=abandoned).update(
            status=Status.CLOSED, closed_at=now, close_reason=ABANDONED, updated_at=now
        )
        _on_commit_queue_changed()
    return abandoned


def _faq_draft_source(message_id: int) -> tuple[Message, str, list[str]]:
    """The agent message, the visitor's question before it and the visitor's other texts."""
    message = (
        Message.objects.select_related("conversation")
        .filter(pk=message_id, role=Message.Role.AGENT, attachment__isnull=True)  # no file
        .first()
    )
    if message is None:
        raise HandoffError("not_found")
    visitor_texts = list(
        Message.objects.filter(
            conversation_id=message.conversation_id, role=Message.Role.VISITOR, id__lt=message.id
        )
        .order_by("-id")
        .values_list("text", flat=True)[:20]
    )
    if not visitor_texts:
        raise HandoffError("no_question")
    return message, visitor_texts[0], visitor_texts[1:]


def faq_draft_preview(*, message_id: int) -> dict[str, Any]:
    """What "Save as FAQ draft" proposes, for the agent to edit: the question and the reply
    without greetings, the visitor's name or personal details (chatbot.handoff.faq_draft)."""
    message, question, others = _faq_draft_source(message_id)
    draft = faq_draft.faq_draft_propose(
        question=question, answer=message.text, visitor_texts=others
    )
    return {
        "question": draft.question[:500],
        "answer": draft.answer,
        "locale": message.conversation.locale,
        "removed": list(draft.removed),
    }


def faq_draft_from_message(
    *,
    message_id: int,
    agent: AbstractBaseUser,
    question: str | None = None,
    answer: str | None = None,
) -> dict[str, Any]:
    """Saves an agent's reply as an FAQ draft: a new inactive FAQ, or a draft variant when that
    question exists. Neither is served until approved in the admin. The question and answer are
    the agent's edit of the preview, refused (`personal` {kinds}) while they hold personal
    details; without them, the preview as proposed."""
    message, _, _ = _faq_draft_source(message_id)
    proposed = faq_draft_preview(message_id=message_id)
    question = (question if question is not None else proposed["question"]).strip()[:500]
    answer = (answer if answer is not None else proposed["answer"]).strip()
    if not question or not answer:
        raise HandoffError("empty")
    kinds = sorted(
        set(faq_draft.faq_draft_personal(question) + faq_draft.faq_draft_personal(answer))
    )
    if kinds:
        raise HandoffError("personal", kinds=kinds)
    locale = message.conversation.locale
    author = agent.get_username()
    with transaction.atomic():
        existing = faqs_asking(locale=locale, question=question).first()
        if existing is None:
            faq = knowledge.faq_save(
                question=question,
                answer=answer,
                locale=locale,
                active=False,
                created_by=author,
            )
            return {"faq": faq.pk, "created": True}
        knowledge.variants_add(
            faq=existing,
            texts=[answer],
            origin=Origin.HUMAN,
            status=AnswerVariant.Status.DRAFT,
            created_by=author,
        )
        return {"faq": existing.pk, "created": False}


# --- presence -------------------------------------------------------------------------------


def presence_update(
    *,
    agent: AbstractBaseUser,
    status: str | None = None,
    seen: bool,
    at: datetime | None = None,
    seen_before: datetime | None = None,
) -> bool:
    """Records a heartbeat (seen) or a console socket that closed `at` (not seen), and
    optionally a new status. True when the number of agents online changed (queued visitors are
    then told).

    A close is recorded only if no other socket of theirs was seen since the closing socket's
    last heartbeat (`seen_before`; else since `at`). After a database stall the reconnected
    console's heartbeat was written before the old socket's close, which then marked the agent
    offline and gave their live chat back to the queue (a walk); the close, delivered only
    once the stall ended, still marked them offline until the next heartbeat (a re-walk)."""
    before = selectors.agents_online()
    now = at or timezone.now()
    changes: dict[str, Any] = {"status": status} if status is not None else {}
    if seen:
        AgentPresence.objects.update_or_create(
            user=agent, defaults={"last_seen_at": now, **changes}
        )
    else:
        AgentPresence.objects.filter(user=agent).exclude(
            last_seen_at__gt=seen_before or now
        ).update(last_seen_at=None, console_closed_at=now, **changes)
    changed = selectors.agents_online() != before
    if changed:
        transaction.on_commit(notify.queue_changed)
        transaction.on_commit(hours.forget)  # this process's next `team` counts them again
    return changed


# --- visitor extras -------------------------------------------------------------------------


def visitor_read_record(*, conversation_id: int, up_to: int) -> int | None:
    """The visitor has had the agent messages up to `up_to` on screen: the newest such agent
    message of this conversation, when that moves the read mark forward (else None, and the
    agents need not hear of it). Ids the visitor names are checked against their conversation."""
    newest = (
        Message.objects.filter(
            conversation_id=conversation_id, role=Message.Role.AGENT, id__lte=up_to
        )
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    if newest is None:
        return None
    moved = Conversation.objects.filter(
        Q(visitor_read_up_to__isnull=True) | Q(visitor_read_up_to__lt=newest), pk=conversation_id
    ).update(visitor_read_up_to=newest)
    return newest if moved else None


def left_message_store(*, conversation_id: int, email: str, text: str) -> LeftMessage | None:
    """Stores a message for the team and, on commit, emails the visitor an acknowledgement and
    the team a notification; None once the conversation holds HANDOFF_LEFT_MESSAGES_MAX (one
    socket stored 107 MB in 25 s before there was a cap)."""
    with transaction.atomic():
        Conversation.objects.select_for_update().filter(pk=conversation_id).exists()
        count = LeftMessage.objects.filter(conversation_id=conversation_id).count()
        if count >= settings.HANDOFF_LEFT_MESSAGES_MAX:
            return None
        left = LeftMessage.objects.create(conversation_id=conversation_id, email=email, text=text)
        tasks.enqueue_on_commit(tasks.left_message_acknowledge, left.pk)
        tasks.enqueue_on_commit(tasks.left_message_notify_team, left.pk)
        transaction.on_commit(notify.left_messages_changed)
    if selectors.conversation_status(conversation_id=conversation_id) in selectors.OPEN_STATUSES:
        transaction.on_commit(notify.queue_changed)
    return left


def transcript_email_request(
    *, conversation_id: int, email: str, verified_email: str = ""
) -> TranscriptEmail | None:
    """Records the visitor's request; None once the conversation had
    EMAIL_TRANSCRIPTS_PER_CONVERSATION, or the address got EMAIL_TRANSCRIPTS_PER_ADDRESS_PER_DAY
    in the last day (anyone can type any address). The transcript goes out on commit to the
    verified visitor's own address; any other address is first sent a link to ask for it
    (`transcript_email_confirm`): a transcript carries the visitor's own words, and a security
    walk had the business's mail server send a phishing text to strangers that way."""
    with transaction.atomic():
        Conversation.objects.select_for_update().filter(pk=conversation_id).exists()
        asked = TranscriptEmail.objects.filter(conversation_id=conversation_id).count()
        if asked >= settings.EMAIL_TRANSCRIPTS_PER_CONVERSATION:
            return None
        since = timezone.now() - timedelta(days=1)
        to_address = TranscriptEmail.objects.filter(email__iexact=email, created_at__gte=since)
        if to_address.count() >= settings.EMAIL_TRANSCRIPTS_PER_ADDRESS_PER_DAY:
            return None
        verified = bool(verified_email) and verified_email.casefold() == email.casefold()
        request = TranscriptEmail.objects.create(
            conversation_id=conversation_id,
            email=email,
            confirmed_at=timezone.now() if verified else None,
        )
        task = tasks.transcript_email if verified else tasks.transcript_confirmation
        tasks.enqueue_on_commit(task, request.pk)
    return request


def transcript_email_confirm(*, transcript_email_id: int) -> bool:
    """The address's owner followed the emailed link: the transcript goes out on commit, once.
    False when it was confirmed already."""
    with transaction.atomic():
        confirmed = TranscriptEmail.objects.filter(
            pk=transcript_email_id, confirmed_at__isnull=True
        ).update(confirmed_at=timezone.now())
        if confirmed:
            tasks.enqueue_on_commit(tasks.transcript_email, transcript_email_id)
    return bool(confirmed)


def rating_record(*, conversation_id: int, score: int, comment: str) -> bool:
    """Stores the visitor's rating of a closed conversation and tells the agents viewing it;
    False while it is open."""
    rated = Conversation.objects.filter(pk=conversation_id, status=Status.CLOSED).update(
        rating=score, rating_comment=comment
    )
    if rated:
        public_id = Conversation.objects.values_list("public_id", flat=True).get(pk=conversation_id)
        frame = {"type": "rated", "conversation": public_id, "rating": score, "comment": comment}
        transaction.on_commit(lambda: notify.to_viewing_agents(public_id, frame))
    return bool(rated)


@transaction.atomic
def left_message_reply(
    *, left_message_id: int, agent: AbstractBaseUser, client_id: str, text: str
) -> tuple[Message, bool]:
    """An agent answers a left message from the inbox: the reply becomes an agent message of
    its conversation (relayed to the visitor if they are there), is emailed to the visitor on
    commit, and the left message is marked answered by them. No claim is needed. A queued
    conversation whose left messages are all answered goes back to the bot: it waited for
    this answer, and it stayed queued for good, its wait timer red, the returning visitor told
    "you're in the queue" again (a mail walk). One an agent owns stays theirs.

    UPDATE … WHERE answered_at IS NULL first: of agents answering at once exactly one wins; the
    others get `already_answered` with the winner's name. Idempotent on client_id."""
    left = LeftMessage.objects.select_related("conversation").filter(pk=left_message_id).first()
    if left is None:
        raise HandoffError("not_found")
    conversation = left.conversation
    if left.reply_id is not None and left.answered_by_id == agent.pk:
        resent = Message.objects.filter(pk=left.reply_id, client_id=client_id).first()
        if resent is not None:
            return resent, False
    now = timezone.now()
    if not LeftMessage.objects.filter(pk=left.pk, answered_at__isnull=True).update(
        answered_at=now, answered_by=agent
    ):
        left.refresh_from_db(fields=["answered_by"])
        raise HandoffError("already_answered", by=selectors.agent_name(left.answered_by))
    try:
        with transaction.atomic():
            message = Message.objects.create(
                conversation=conversation,
                role=Message.Role.AGENT,
                author=agent,
                client_id=client_id,
                text=text,
            )
    except IntegrityError:
        raise HandoffError("duplicate_client_id") from None
    LeftMessage.objects.filter(pk=left.pk).update(reply=message)
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=now)
    _tell_agent_message(conversation, message)
    waiting = LeftMessage.objects.filter(conversation=conversation, answered_at__isnull=True)
    if not waiting.exists() and Conversation.objects.filter(
        pk=conversation.pk, status=Status.QUEUED
    ).update(status=Status.BOT, bot_since=_bot_since(conversation.pk, now), updated_at=now):
        _tell_visitor(conversation, {"type": "conversation", "status": Status.BOT.value})
        _on_commit_queue_changed()
    tasks.enqueue_on_commit(tasks.left_message_reply_email, left.pk)
    transaction.on_commit(notify.left_messages_changed)
    return message, True
