"""Reads for the handoff: the queue, the console's lists and transcripts, presence counts."""

import json
import math
import re
from datetime import datetime, timedelta
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Avg, Count, F, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext_lazy as _

from chatbot.audit.models import AuditEvent
from chatbot.handoff.models import AgentNote, AgentPresence, AssignmentEvent, LeftMessage
from chatbot.models import Conversation, Message
from chatbot.outcomes import Source
from chatbot.pipeline.grounding import suggested_articles
from chatbot.services import message_payload, visitor_facing_agent_name
from chatbot.services import user_display_name as agent_name
from chatbot.visitor_copy import offers_a_person
from knowledge.documents.parsing import guess_locale
from knowledge.greetings import SmallTalk, small_talk
from knowledge.models import AnswerVariant, Document, Visibility
from knowledge.selectors import passages_retrieve

AGENTS_GROUP = "agents"

# The console's close reasons and the sweeper's, as people read them (a transcript showed the
# codes: "— resolved").
CLOSE_REASONS = {
    "resolved": _("Resolved"),
    "no_response": _("Visitor stopped answering"),
    "duplicate": _("Duplicate"),
    "spam": _("Spam"),
    "abandoned": _("Left the queue"),
}


def close_reason_label(reason: str) -> str:
    """A known reason in the reader's language; any other text as it was written."""
    label = CLOSE_REASONS.get(reason)
    return str(label) if label is not None else reason


OPEN_STATUSES = (Conversation.Status.QUEUED, Conversation.Status.AGENT)
SNAPSHOT_LIMIT = 200  # conversations with an agent listed at once (the queue is paged)
SEARCH_LIMIT = 50
INBOX_ANSWERED_LIMIT = 50

# Who a visitor may ask for, in a sentence ("talk to customer service") and after "I need a …".
_PERSON = (
    r"(?:human|agent|person|people|someone|somebody|operator|representative|rep|staff|manager"
    r"|supervisor|customer\s+(?:service|support|care)|support\s+team)"
)
_ONE_PERSON = r"(?:human|agent|person|operator|representative|rep|manager|supervisor)"
_REAL = r"(?:real\s+|live\s+|actual\s+)?"
# "talk to a human", "I need a human", "transfer me to an agent", "agent please", a message that
# is nothing but "agent" or "customer service"; "转人工", "人工客服", "给我转个人工", a message
# that is nothing but "人工" or "客服" ("客服在吗": _WANTS_SERVICE). "人工智能" (AI) and "the
# agent's number" are not.
_ASKS_FOR_HUMAN = re.compile(
    r"\b(?:talk|speak|chat|connect|transfer|put\s+me\s+through)\w*\s+(?:me\s+)?(?:to|with)\s+"
    rf"(?:a|an|the|some|your)?\s*{_REAL}{_PERSON}\b"
    rf"|\b(?:need|want|get|give|reach)\w*\s+(?:me\s+)?(?:to\s+)?(?:a|an|the|some|your)\s+{_REAL}"
    rf"{_ONE_PERSON}\b(?!['’]s)"
    r"|\b(?:real|live|actual)\s+(?:human|person|agent|people)\b"
    r"|\b(?:human|agent|person|operator|representative)\s+(?:please|pls|plz|support)\b"
    r"|\bhuman\s+agent\b"
    r"|^\W*(?:please\s+)?(?:an?\s+)?(?:real\s+|live\s+)?"
    r"(?:human|agent|operator|representative|customer\s+service)(?:\s+please)?\W*$"
    r"|转人工|人工客服|人工服务|在线客服|真人|找人工|接人工|要人工"
    r"|(?:转|接|叫|呼叫)\s*(?:一下|一个|个)?\s*(?:人工|真人|客服)"
    r"|(?:和|跟|同)\s*(?:人工|真人|客服)(?:人员)?\s*(?:聊|说|谈|沟通|讲|对话|通话)"
    r"|^\W*(?:人工|客服|真人)\W*$",
    re.IGNORECASE,
)
# "找客服" / "要客服" / "联系客服" / "客服在吗" ask for a person, unless the message asks when one
# is there ("早上几点可以找客服", "周日客服在吗": the opening hours, an FAQ; a walk's Sunday
# question was queued for a person instead of answered).
_WANTS_SERVICE = re.compile(
    r"(?:找|要|联系)\s*(?:一下|一个|个)?\s*客服|客服(?:人员)?\s*(?:在吗|在不在|呢)"
)
_ASKS_WHEN = re.compile(
    r"几点|什么时候|时间|营业|上班|下班|周[一二三四五六日天末]|星期|礼拜|节假日|假期|过年|春节"
    r"|国庆|晚上|夜里|凌晨|早上|中午"
)


def asks_for_human(text: str) -> bool:
    """Whether a visitor's message asks for a person (English or Chinese). "Are you a real
    person?" / "你是真人吗" on its own asks who answers: the bot says so and offers a person."""
    if small_talk(text) is SmallTalk.IDENTITY:
        return False
    return bool(
        _ASKS_FOR_HUMAN.search(text)
        or (_WANTS_SERVICE.search(text) and not _ASKS_WHEN.search(text))
    )


# A queued visitor taking the request back in words, the whole message ("never mind", "算了不用了");
# "cancel my order" or "不用了，我想退货" say more and are not.
_TAKES_BACK = re.compile(
    r"^\W*(?:(?:ok|okay|oh|ah|actually|sorry)\W+)?(?:never\s*mind|nvm|forget\s+it|cancel(?:\s+that)?"
    r"|no\s+need(?:\s+any\s*more)?|not\s+any\s*more|i\s+don'?t\s+need\s+(?:a|an|the)\s+"
    rf"{_ONE_PERSON}(?:\s+any\s*more)?|i'?ll\s+ask\s+the\s+bot)(?:\W+thanks?)?\W*$"
    r"|^\W*(?:算了|不用了|不需要了|取消|不用转人工了|不用人工了|不找人工了|不用客服了)"
    r"(?:\W*(?:算了|不用了|不需要了|谢谢))*\W*$",
    re.IGNORECASE,
)


def takes_back_the_request(text: str) -> bool:
    """Whether a queued visitor's message withdraws their request for a person ("never mind",
    "算了不用了"): it stayed queued, the bot silent, until someone clicked "Back to the
    assistant" (a walk)."""
    return bool(_TAKES_BACK.match(text.strip()))


def is_agent(user: AbstractBaseUser | AnonymousUser | None) -> bool:
    """Staff users in the agents group: the only ones who may open the console or its socket."""
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.is_staff
        and user.groups.filter(name=AGENTS_GROUP).exists()
    )


def still_signed_in_agent(*, session_key: str | None, user_id: int) -> bool:
    """The session a console socket was opened with is still signed in as this agent (not
    signed out, password unchanged since) and the account still an agent: an open socket keeps
    no right its HTTP session has lost. Read fresh from the session store, not the copy the
    socket's scope holds."""
    if not session_key:
        return False
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    if str(session.get(auth.SESSION_KEY)) != str(user_id):
        return False
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:
        return False
    # Read only: django.contrib.auth.get_user would also flush a session whose hash is stale,
    # and a password change is saved a moment before its own session gets the new hash (a
    # walk: the console's check signed the agent out of the browser that changed it).
    stored = session.get(auth.HASH_SESSION_KEY) or ""
    hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    return any(constant_time_compare(stored, h) for h in hashes) and is_agent(user)


def visitor_message_stored(*, conversation_id: int, client_id: str) -> bool:
    return Message.objects.filter(conversation_id=conversation_id, client_id=client_id).exists()


def conversation_status(*, conversation_id: int) -> str | None:
    return Conversation.objects.filter(pk=conversation_id).values_list("status", flat=True).first()


def assigned_agent_name(*, conversation_id: int) -> str:
    """Who the visitor is chatting with, for a socket that opens on a conversation a person owns
    (a reload shows "You're chatting with Ana", not a nameless team)."""
    conversation = (
        Conversation.objects.select_related("assigned_to").filter(pk=conversation_id).first()
    )
    return visitor_facing_agent_name(conversation.assigned_to) if conversation is not None else ""


def agents_online(*, now: datetime | None = None) -> int:
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.HANDOFF_PRESENCE_TTL_S)
    return AgentPresence.objects.filter(
        status=AgentPresence.Status.ONLINE, last_seen_at__gte=cutoff
    ).count()


def agent_presence_status(*, user: AbstractBaseUser) -> str:
    status = AgentPresence.objects.filter(user=user).values_list("status", flat=True).first()
    return status or AgentPresence.Status.ONLINE


def average_claim_wait_s(*, now: datetime | None = None) -> float:
    """Mean time from queued to claimed over the last hour; the configured default before any."""
    now = now or timezone.now()
    recent = Conversation.objects.filter(
        claimed_at__gte=now - timedelta(hours=1), queued_at__isnull=False
    ).aggregate(wait=Avg(F("claimed_at") - F("queued_at")))["wait"]
    if recent is None:
        return float(settings.HANDOFF_DEFAULT_WAIT_S)
    seconds = recent.total_seconds() if isinstance(recent, timedelta) else recent / 1e6
    return max(seconds, 1.0)


def visitor_left_messages(*, conversation_id: int, limit: int = 5) -> list[dict[str, Any]]:
    """The visitor's messages left for the team, for `hello`: after a reload the widget showed
    neither their words nor that they had left one, offered the form again, and an answer by
    email came under no question (a re-walk). Each names the newest message before it, where
    the widget places it."""
    newest_before = Message.objects.filter(
        conversation_id=conversation_id, created_at__lte=OuterRef("created_at")
    ).order_by("-id")
    lefts = (
        LeftMessage.objects.filter(conversation_id=conversation_id)
        .annotate(after_id=Subquery(newest_before.values("id")[:1]))
        .order_by("-id")[:limit]
    )
    return [
        {
            "email": left.email,
            "text": left.text,
            "after_id": left.after_id or 0,
            "answered": left.answered_at is not None,
        }
        for left in reversed(list(lefts))
    ]


def visitor_past(*, conversation_id: int, public_id: str) -> dict[str, Any]:
    """What `hello` gives a stored conversation besides its messages, in one database call."""
    return {
        "left_messages": visitor_left_messages(conversation_id=conversation_id),
        "notices": visitor_notices(conversation_id=conversation_id, public_id=public_id),
    }


def visitor_notices(
    *, conversation_id: int, public_id: str, limit: int = 10
) -> list[dict[str, Any]]:
    """What the widget said when a person joined or handed the chat back to the assistant, for
    `hello`: those notices were not stored, so after a reload an agent's whole chat sat under no
    "Ana has joined the chat" (a walk). Read from the assignment and audit lines the console
    shows; each names the newest message before it, where the widget places it."""
    newest_before = (
        Message.objects.filter(
            conversation_id=conversation_id, created_at__lte=OuterRef("created_at")
        )
        .order_by("-id")
        .values("id")[:1]
    )
    joins = (
        AssignmentEvent.objects.filter(
            conversation_id=conversation_id,
            kind__in=(AssignmentEvent.Kind.AGENT, AssignmentEvent.Kind.AUTO),
            to_agent__isnull=False,
        )
        .annotate(after_id=Subquery(newest_before))
        .select_related("to_agent")
        .order_by("-id")[:limit]
    )
    audits = (
        AuditEvent.objects.filter(
            conversation=public_id,
            action__in=(AuditEvent.Action.CLAIM, AuditEvent.Action.RETURN_TO_BOT),
        )
        .annotate(after_id=Subquery(newest_before))
        .select_related("actor")
        .order_by("-id")[:limit]
    )
    notices = [
        (join.created_at, "joined", visitor_facing_agent_name(join.to_agent), join.after_id)
        for join in joins
    ] + [
        (
            audit.created_at,
            "joined" if audit.action == AuditEvent.Action.CLAIM else "bot",
            visitor_facing_agent_name(audit.actor)
            if audit.action == AuditEvent.Action.CLAIM
            else "",
            audit.after_id,
        )
        for audit in audits
    ]
    notices.sort(key=lambda notice: notice[0])
    return [
        {"kind": kind, "name": name, "after_id": after_id or 0}
        for _, kind, name, after_id in notices[-limit:]
    ]


def queued_ids() -> list[int]:
    """Queued conversations, oldest handoff first (the order agents should take them)."""
    return list(
        Conversation.objects.filter(status=Conversation.Status.QUEUED)
        .order_by("queued_at", "id")
        .values_list("id", flat=True)
    )


def queue_frames() -> list[tuple[str, dict[str, Any]]]:
    """(public id, `handoff` frame) for every queued conversation: place, wait, agents online."""
    rows = list(
        Conversation.objects.filter(status=Conversation.Status.QUEUED)
        .order_by("queued_at", "id")
        .values_list("public_id", "handoff_reason")
    )
    if not rows:
        return []
    online = agents_online()
    per_place = average_claim_wait_s()
    return [
        (public_id, _handoff_frame(position, online, per_place, reason))
        for position, (public_id, reason) in enumerate(rows, start=1)
    ]


def _handoff_frame(position: int, online: int, per_place: float, reason: str) -> dict[str, Any]:
    """With nobody online there is no wait to estimate: `estimated_wait_s` is None then."""
    wait = round(per_place * math.ceil(position / online)) if online else None
    return {
        "type": "handoff",
        "status": Conversation.Status.QUEUED.value,
        "reason": reason,
        "position": position,
        "estimated_wait_s": wait,
        "agents_online": online,
    }


def queued_visitor_frame(*, conversation_id: int) -> tuple[str, dict[str, Any]] | None:
    """(public id, the visitor's view of the queue), or None when it is not queued."""
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None or conversation.status != Conversation.Status.QUEUED:
        return None
    ahead = Conversation.objects.filter(status=Conversation.Status.QUEUED).filter(
        Q(queued_at__lt=conversation.queued_at)
        | Q(queued_at=conversation.queued_at, id__lt=conversation.id)
    )
    return conversation.public_id, _handoff_frame(
        ahead.count() + 1, agents_online(), average_claim_wait_s(), conversation.handoff_reason
    )


def handoff_frame(*, conversation_id: int) -> dict[str, Any] | None:
    """The visitor's view of the queue, or None when the conversation is not queued."""
    found = queued_visitor_frame(conversation_id=conversation_id)
    return found[1] if found is not None else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _summaries(queryset) -> list[dict[str, Any]]:
    last_visitor_text = Message.objects.filter(
        conversation=OuterRef("pk"), role=Message.Role.VISITOR
    ).order_by("-id")
    last_agent_at = Message.objects.filter(
        conversation=OuterRef("pk"), role=Message.Role.AGENT
    ).order_by("-id")
    email = LeftMessage.objects.filter(conversation=OuterRef("pk")).order_by("-id")
    rows = queryset.select_related("assigned_to", "team").annotate(
        visitor_text=Subquery(last_visitor_text.values("text")[:1]),
        visitor_text_at=Subquery(last_visitor_text.values("created_at")[:1]),
        left_text=Subquery(email.values("text")[:1]),
        left_at=Subquery(email.values("created_at")[:1]),
        last_agent_message_at=Subquery(last_agent_at.values("created_at")[:1]),
        email=Subquery(email.values("email")[:1]),
    )
    return [
        {
            "conversation": c.public_id,
            "status": c.status,
            "locale": c.locale,
            "reason": c.handoff_reason,
            "created": _iso(c.created_at),
            "queued_at": _iso(c.queued_at),
            "claimed_at": _iso(c.claimed_at),
            "first_agent_reply_at": _iso(c.first_agent_reply_at),
            "last_visitor_message_at": _iso(c.last_visitor_message_at),
            "last_agent_message_at": _iso(c.last_agent_message_at),
            "owner": (
                {"id": c.assigned_to_id, "name": agent_name(c.assigned_to)}
                if c.assigned_to_id
                else None
            ),
            "team": {"id": c.team_id, "name": c.team.name} if c.team_id else None,
            "preview": _preview(c)[:140],
            "email": c.email or "",
            "closed_at": _iso(c.closed_at),
            "rating": c.rating,
        }
        for c in rows
    ]


def _preview(c: Conversation) -> str:
    """The visitor's newest words: a message left for the team after their last chat message
    is what they want from it (the queue said "(no message yet)", or showed the question the
    bot had answered before they left a message: mail walks)."""
    left_newer = c.left_at is not None and (
        c.visitor_text_at is None or c.left_at > c.visitor_text_at
    )
    return (c.left_text if left_newer else c.visitor_text) or ""


def conversation_summaries(queryset) -> list[dict[str, Any]]:
    """The console's list items for these conversations, in the queryset's order."""
    return _summaries(queryset)


def queue_page(*, offset: int = 0) -> list[dict[str, Any]]:
    """HANDOFF_QUEUE_PAGE_SIZE queued conversations from `offset`, oldest handoff first."""
    size = settings.HANDOFF_QUEUE_PAGE_SIZE
    return _summaries(
        Conversation.objects.filter(status=Conversation.Status.QUEUED).order_by("queued_at", "id")[
            offset : offset + size
        ]
    )


def open_counts() -> dict[str, int]:
    """How many conversations are queued and with an agent: the true totals, not a page's."""
    counts = dict(
        Conversation.objects.filter(status__in=OPEN_STATUSES)
        .order_by()
        .values("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return {status.value: counts.get(status.value, 0) for status in OPEN_STATUSES}


def open_conversations() -> dict[str, Any]:
    """The console's list: the first page of the queue (oldest handoff first; the console pages
    the rest), every conversation with an agent, and the true counts. Listing the oldest 200
    open conversations hid a visitor queued behind 300 junk handoffs, and the count stopped at
    200 (issue 16)."""
    with_agents = _summaries(
        Conversation.objects.filter(status=Conversation.Status.AGENT).order_by("queued_at", "id")[
            :SNAPSHOT_LIMIT
        ]
    )
    return {
        "items": queue_page(offset=0) + with_agents,
        "counts": open_counts(),
        "page_size": settings.HANDOFF_QUEUE_PAGE_SIZE,
    }


def conversations_search(*, query: str) -> list[dict[str, Any]]:
    """Conversations (any status) whose messages contain the text, or whose visitor matches it
    (conversation id or a left email address), newest first."""
    query = query.strip()
    if not query:
        return []
    matches = Conversation.objects.filter(
        Q(messages__text__icontains=query)
        | Q(public_id__iexact=query)
        | Q(left_messages__email__icontains=query)
    ).values("pk")
    return _summaries(
        Conversation.objects.filter(pk__in=matches).order_by("-updated_at")[:SEARCH_LIMIT]
    )


def _message_row(message: Message) -> dict[str, Any]:
    """The visitor's payload, with the team's name for an agent's message (the login name of an
    account without one; visitors see "Agent" there)."""
    row = message_payload(message)
    if "author" in row:
        row["author"]["name"] = agent_name(message.author)
    if message.role == Message.Role.BOT:
        row["trace"] = message.trace
        feedback = getattr(message, "feedback", None)
        row["feedback"] = (
            {"value": feedback.value, "comment": feedback.comment} if feedback else None
        )
    return row


def messages_page(*, conversation_id: int, before: int | None = None) -> tuple[list[dict], bool]:
    """The newest messages of a conversation (older than `before` when given), oldest first, for
    the console: at most CONSOLE_TRANSCRIPT_PAGE_MESSAGES and about
    CONSOLE_TRANSCRIPT_PAGE_BYTES of JSON (always one), and whether older ones remain. A
    conversation of thousands of messages, sent whole, took the agent's socket down (issue 16,
    finding 6)."""
    limit = settings.CONSOLE_TRANSCRIPT_PAGE_MESSAGES
    newest = Message.objects.filter(conversation_id=conversation_id).order_by("-id")
    if before is not None:
        newest = newest.filter(id__lt=before)
    rows: list[dict[str, Any]] = []
    size = 0
    for message in newest.select_related("feedback", "author", "attachment")[: limit + 1]:
        row = _message_row(message)
        size += len(json.dumps(row, ensure_ascii=False))
        if len(rows) == limit or (rows and size > settings.CONSOLE_TRANSCRIPT_PAGE_BYTES):
            return rows[::-1], True
        rows.append(row)
    return rows[::-1], False


def history_page(*, public_id: str, before: int) -> tuple[list[dict[str, Any]], bool] | None:
    """messages_page by the conversation's public id; None when there is no such conversation."""
    conversation_id = (
        Conversation.objects.filter(public_id=public_id).values_list("pk", flat=True).first()
    )
    if conversation_id is None:
        return None
    return messages_page(conversation_id=conversation_id, before=before)


def conversation_detail(*, public_id: str) -> dict[str, Any] | None:
    """The transcript for agents: its newest messages (`has_more`: older ones are fetched page by
    page), bot turns with their trace and feedback, notes, and messages left while no agent was
    online."""
    conversation = (
        Conversation.objects.filter(public_id=public_id).select_related("assigned_to").first()
    )
    if conversation is None:
        return None
    messages, has_more = messages_page(conversation_id=conversation.pk)
    notes = AgentNote.objects.filter(conversation=conversation).select_related("author")
    left = LeftMessage.objects.filter(conversation=conversation).select_related(
        "conversation", "answered_by", "reply"
    )
    summary = _summaries(Conversation.objects.filter(pk=conversation.pk))[0]
    return {
        **summary,
        "close_reason": conversation.close_reason,
        "rating_comment": conversation.rating_comment,
        "visitor_read_up_to": conversation.visitor_read_up_to,
        "messages": messages,
        "has_more": has_more,
        "notes": [note_payload(n) for n in notes],
        "left_messages": [left_message_payload(m) for m in left],
    }


def left_message_payload(left: LeftMessage) -> dict[str, Any]:
    """Call with conversation, answered_by and reply selected."""
    return {
        "id": left.id,
        "conversation": left.conversation.public_id,
        "locale": left.conversation.locale,
        "email": left.email,
        "text": left.text,
        "created": _iso(left.created_at),
        "acknowledged_at": _iso(left.acknowledged_at),
        "answered_at": _iso(left.answered_at),
        "answered_by": agent_name(left.answered_by) if left.answered_by_id else None,
        "reply": left.reply.text if left.reply_id else None,
        "reply_emailed_at": _iso(left.reply_emailed_at),
        "undeliverable_at": _iso(left.undeliverable_at),
        "undeliverable_error": left.undeliverable_error,
        "replied_live": None if left.answered_at else _replied_live(left),
    }


def _replied_live(left: LeftMessage) -> dict[str, Any] | None:
    """The newest agent message in the chat since the visitor left `left`: who and when."""
    reply = (
        Message.objects.filter(
            conversation_id=left.conversation_id,
            role=Message.Role.AGENT,
            created_at__gte=left.created_at,
        )
        .select_related("author")
        .order_by("-id")
        .first()
    )
    if reply is None:
        return None
    return {"by": agent_name(reply.author) if reply.author_id else "", "at": _iso(reply.created_at)}


def left_messages_inbox() -> list[dict[str, Any]]:
    """The console's "Left messages": every unanswered one, oldest first (the order to answer
    them in), then the latest answered ones."""
    rows = LeftMessage.objects.select_related("conversation", "answered_by", "reply")
    waiting = rows.filter(answered_at__isnull=True).order_by("id")[:SNAPSHOT_LIMIT]
    answered = rows.filter(answered_at__isnull=False).order_by("-answered_at", "-id")[
        :INBOX_ANSWERED_LIMIT
    ]
    return [left_message_payload(m) for m in [*waiting, *answered]]


def note_payload(note: AgentNote) -> dict[str, Any]:
    return {
        "id": note.id,
        "text": note.text,
        "author": agent_name(note.author),
        "created": _iso(note.created_at),
    }


def canned_replies(*, query: str, locale: str = "", limit: int = 10) -> list[dict[str, Any]]:
    """Approved FAQ answers matching the words typed, for an agent to reuse."""
    variants = AnswerVariant.objects.filter(
        status=AnswerVariant.Status.APPROVED, faq__active=True
    ).select_related("faq")
    if locale:
        variants = variants.filter(faq__locale=locale)
    for word in query.split()[:6]:
        variants = variants.filter(Q(text__icontains=word) | Q(faq__question__icontains=word))
    return [
        {"id": v.id, "faq": v.faq_id, "question": v.faq.question, "text": v.text}
        for v in variants.order_by("-faq__hit_count", "id")[:limit]
    ]


def help_articles(*, query: str, locale: str = "", limit: int = 5) -> list[dict[str, Any]]:
    """Help-centre articles for the words an agent typed, agents-only ones included (marked),
    each at the heading of its best passage with the lines nearest the words. A walk's agent
    had no way from the console to any article, nor to the internal procedures at all."""
    locale = locale or guess_locale([query])
    retrieval = passages_retrieve(text=query, locale=locale, k=limit * 2, include_agents_only=True)
    passages = [p for p in retrieval.passages if retrieval.relevant or p.lexical_score > 0]
    citations = suggested_articles(passages, query, limit=limit)
    agents_only = set(
        Document.objects.filter(
            pk__in=[c.document_id for c in citations], visibility=Visibility.AGENTS
        ).values_list("pk", flat=True)
    )
    return [
        {
            "title": c.title,
            "heading": c.heading,
            "url": c.url,
            "excerpt": c.excerpt,
            "agents_only": c.document_id in agents_only,
        }
        for c in citations
    ]


def fallback_streak(*, conversation_id: int, limit: int) -> int:
    """How many of the latest bot/agent replies, newest first, are fallback bot answers."""
    recent = (
        Message.objects.filter(
            conversation_id=conversation_id, role__in=[Message.Role.BOT, Message.Role.AGENT]
        )
        .order_by("-id")
        .values_list("role", "source")[:limit]
    )
    streak = 0
    for role, source in recent:
        if role != Message.Role.BOT or source != Source.FALLBACK:
            break
        streak += 1
    return streak


def person_offered(*, conversation_id: int) -> bool:
    """Whether the latest reply is a bot answer that asked the visitor if they want a person."""
    latest = (
        Message.objects.filter(
            conversation_id=conversation_id, role__in=[Message.Role.BOT, Message.Role.AGENT]
        )
        .order_by("-id")
        .values_list("role", "text")
        .first()
    )
    return latest is not None and latest[0] == Message.Role.BOT and offers_a_person(latest[1])


def conversation_owner_id(*, public_id: str) -> int | None:
    """The agent who owns the conversation while it is with an agent."""
    return (
        Conversation.objects.filter(public_id=public_id, status=Conversation.Status.AGENT)
        .values_list("assigned_to_id", flat=True)
        .first()
    )
