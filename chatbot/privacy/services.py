"""Visitors' personal data: access and erasure for one visitor (GDPR articles 15 and 17), and
the retention period that deletes or anonymises old conversations. Admin actions, the
`visitor_data` command and the retention task call these. docs/security.md, "Privacy"."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from chatbot.audit.services import Action, audit_record
from chatbot.cache.models import CachedAnswer
from chatbot.cache.pii import personal_masked
from chatbot.handoff.models import AgentNote, LeftMessage, TranscriptEmail
from chatbot.inbox.models import MessageSearch, VisitorContext
from chatbot.models import Attachment, Conversation, Feedback, Message
from chatbot.services import visitor_facing_agent_name
from knowledge.models import DocumentCitation, NegativeExample

RETENTION_BATCH = 200  # conversations anonymised or deleted per transaction
ATTACHMENT_REMOVED = "[attachment removed]"


class RetentionMode(StrEnum):  # CHAT_RETENTION_MODE
    DELETE = "delete"
    ANONYMISE = "anonymise"


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _address_pattern(email: str) -> re.Pattern[str]:
    """`email` as a whole address in running text: "ann.lee@example.com" is not in
    "joann.lee@example.com" nor in "ann.lee@example.com.au" (a privacy walk's access request
    for Ann exported Joann's conversation, and erasure would have deleted it)."""
    return re.compile(rf"(?<![\w.+@-]){re.escape(email)}(?![\w-]|\.[\w-])", re.IGNORECASE)


def looks_like_email(text: str) -> bool:
    """A whole address, as Django's own validator reads one."""
    try:
        validate_email(text)
    except ValidationError:
        return False
    return True


def _written_in_messages(email: str) -> list[int]:
    """Conversations where the visitor wrote this address: the database narrows them down by
    substring, the whole-address test confirms each."""
    pattern = _address_pattern(email)
    candidates = Message.objects.filter(
        role=Message.Role.VISITOR, text__icontains=email
    ).values_list("conversation_id", "text")
    return sorted({pk for pk, text in candidates if pattern.search(text)})


def visitor_conversations(
    *, public_id: str = "", user_id: str = "", email: str = ""
) -> list[Conversation]:
    """Every conversation of one visitor, found by a conversation id, a verified user id, or an
    email address (verified, left with a message, asked a transcript at, or written in a
    message), with the other conversations of the verified users among them (every device), as
    the admin's actions take them. Oldest first. An `email` that is not a whole address raises
    ValueError: "example.com" found every visitor of that domain, ready for one erasure."""
    email = email.strip()
    if email and not looks_like_email(email):
        raise ValueError(f"{email!r} is not a whole email address")
    found = Q(pk__in=[])
    if public_id:
        found |= Q(public_id=public_id)
    if user_id:
        found |= Q(visitor_context__verified_user_id=user_id)
    if email:
        found |= (
            Q(visitor_context__verified_email__iexact=email)
            | Q(left_messages__email__iexact=email)
            | Q(transcript_emails__email__iexact=email)
            | Q(pk__in=_written_in_messages(email))
        )
    ids = Conversation.objects.filter(found).values("pk")
    return visitor_conversations_of(conversations=list(Conversation.objects.filter(pk__in=ids)))


def visitor_conversations_of(*, conversations: list[Conversation]) -> list[Conversation]:
    """These conversations and the other conversations of their verified users (every device),
    oldest first."""
    user_ids = list(
        VisitorContext.objects.filter(conversation__in=conversations)
        .exclude(verified_user_id="")
        .values_list("verified_user_id", flat=True)
    )
    found = Q(pk__in=[c.pk for c in conversations]) | Q(
        visitor_context__verified_user_id__in=user_ids
    )
    return list(Conversation.objects.filter(found).order_by("created_at", "id"))


def _conversation_data(conversation: Conversation) -> dict[str, Any]:
    context = VisitorContext.objects.filter(conversation=conversation).first()
    messages = (
        Message.objects.filter(conversation=conversation)
        .select_related("author", "attachment")
        .order_by("id")
    )
    feedback = Feedback.objects.filter(message__conversation=conversation).order_by("id")
    return {
        "conversation": conversation.public_id,
        "status": conversation.status,
        "locale": conversation.locale,
        "started": _iso(conversation.created_at),
        "closed_at": _iso(conversation.closed_at),
        "rating": conversation.rating,
        "rating_comment": conversation.rating_comment,
        "visitor": None
        if context is None
        else {
            "verified_user_id": context.verified_user_id,
            "verified_name": context.verified_name,
            "verified_email": context.verified_email,
            "browser_id": context.visitor_id,
            "page_url": context.page_url,
            "referrer": context.referrer,
            "user_agent": context.user_agent,
            "time_zone": context.time_zone,
            "attributes": context.attributes,
        },
        "messages": [
            {
                "id": m.id,
                "role": m.role,
                "author": (visitor_facing_agent_name(m.author) or None) if m.author_id else None,
                "created": _iso(m.created_at),
                "text": m.text,
                "attachment": None
                if m.attachment is None
                else {
                    "name": m.attachment.name,
                    "size": m.attachment.size,
                    "content_type": m.attachment.content_type,
                },
            }
            for m in messages
        ],
        "feedback": [
            {"message_id": f.message_id, "value": f.value, "comment": f.comment} for f in feedback
        ],
        "left_messages": [
            {"email": left.email, "text": left.text, "created": _iso(left.created_at)}
            for left in conversation.left_messages.order_by("id")
        ],
        "transcript_emails": [
            {"email": t.email, "created": _iso(t.created_at), "sent": _iso(t.sent_at)}
            for t in conversation.transcript_emails.order_by("id")
        ],
        "agent_notes": [
            {"text": n.text, "created": _iso(n.created_at)}
            for n in conversation.notes.order_by("id")
        ],
        # The help-centre page "questions answered from this" keeps the question it answered.
        "documents_cited": [
            {"document": c.document.title, "question": c.question, "cited": _iso(c.cited_at)}
            for c in DocumentCitation.objects.filter(conversation_id=conversation.pk)
            .select_related("document")
            .order_by("id")
        ],
    }


def visitor_data_export(
    *, conversations: list[Conversation], actor: AbstractBaseUser | None, found_by: str
) -> dict[str, Any]:
    """Everything stored about the visitor of these conversations, as a JSON-able dict; the
    export is audited (who, how the visitor was found, which conversations; never the data)."""
    data = {
        "exported_at": timezone.now().isoformat(),
        "conversations": [_conversation_data(c) for c in conversations],
    }
    audit_record(
        action=Action.VISITOR_EXPORT,
        actor=actor,
        conversation=conversations[0].public_id if len(conversations) == 1 else "",
        detail={"found_by": found_by, "conversations": [c.public_id for c in conversations]},
    )
    return data


def _attachments_delete(conversation_ids: list[int]) -> None:
    """The conversations' files, rows now and stored files once the transaction commits."""
    attachments = Attachment.objects.filter(message__conversation_id__in=conversation_ids)
    names = [n for a in attachments for n in (a.file.name, a.thumbnail.name) if n]
    storage = Attachment._meta.get_field("file").storage
    attachments.delete()
    transaction.on_commit(lambda: [storage.delete(name) for name in names])


def _derived_forget(message_ids: list[int]) -> None:
    """What other tables keep of these messages: cached answers to them, and thumbed-down
    questions (a confirmed one keeps steering the FAQ stage, with its text masked)."""
    CachedAnswer.objects.filter(origin_message_id__in=message_ids).delete()
    negatives = NegativeExample.objects.filter(message_id__in=message_ids)
    negatives.exclude(status=NegativeExample.Status.CONFIRMED).delete()
    for negative in negatives:
        negative.text = personal_masked(negative.text)
        negative.message_id = None
        negative.save(update_fields=["text", "message_id"])


def _conversations_delete(conversation_ids: list[int]) -> None:
    """The conversations with their messages, files and what other tables keep of them. Call
    inside a transaction."""
    message_ids = list(
        Message.objects.filter(conversation_id__in=conversation_ids).values_list("id", flat=True)
    )
    _attachments_delete(conversation_ids)
    _derived_forget(message_ids)
    # Plain ids there (knowledge does not depend on the chat app): nothing cascades to them.
    DocumentCitation.objects.filter(conversation_id__in=conversation_ids).delete()
    Conversation.objects.filter(pk__in=conversation_ids).delete()


@transaction.atomic
def visitor_data_erase(
    *, conversations: list[Conversation], actor: AbstractBaseUser | None, found_by: str
) -> int:
    """Deletes the conversations and everything hanging off them (messages, files, the visitor
    context, left messages, notes, feedback, search rows, cached answers to them, the questions
    kept beside the help-centre documents they cited); returns how
    many. The audit line names the conversations' ids only."""
    ids = [c.pk for c in conversations]
    _conversations_delete(ids)
    audit_record(
        action=Action.VISITOR_ERASE,
        actor=actor,
        conversation=conversations[0].public_id if len(conversations) == 1 else "",
        detail={"found_by": found_by, "conversations": [c.public_id for c in conversations]},
    )
    return len(ids)


def _mask_field(model: type, field: str, rows: Any) -> None:
    for pk, text in rows.values_list("pk", field):
        masked = personal_masked(text or "")
        if masked != text:
            model.objects.filter(pk=pk).update(**{field: masked})


def conversations_anonymise(*, conversation_ids: list[int], now: dt.datetime) -> None:
    """Keeps the conversations for the figures (status, sources, timings, ratings) and takes
    out what says who the visitor was: personal details in every message, note and comment are
    masked (chatbot.cache.pii), files, the visitor context, emails and search rows deleted.
    Call inside a transaction."""
    messages = Message.objects.filter(conversation_id__in=conversation_ids)
    message_ids = list(messages.values_list("id", flat=True))
    messages.filter(attachment__isnull=False).update(text=ATTACHMENT_REMOVED)
    _attachments_delete(conversation_ids)
    _mask_field(Message, "text", messages)
    _mask_field(AgentNote, "text", AgentNote.objects.filter(conversation_id__in=conversation_ids))
    _mask_field(Feedback, "comment", Feedback.objects.filter(message_id__in=message_ids))
    left_messages = LeftMessage.objects.filter(conversation_id__in=conversation_ids)
    _mask_field(LeftMessage, "text", left_messages)
    left_messages.update(email="")
    TranscriptEmail.objects.filter(conversation_id__in=conversation_ids).delete()
    VisitorContext.objects.filter(conversation_id__in=conversation_ids).delete()
    MessageSearch.objects.filter(conversation_id__in=conversation_ids).delete()
    _derived_forget(message_ids)
    _mask_field(
        DocumentCitation,
        "question",
        DocumentCitation.objects.filter(conversation_id__in=conversation_ids),
    )
    conversations = Conversation.objects.filter(pk__in=conversation_ids)
    _mask_field(Conversation, "rating_comment", conversations)
    _mask_field(Conversation, "close_reason", conversations)
    conversations.update(anonymised_at=now)


@dataclass(frozen=True)
class RetentionResult:
    mode: str
    conversations: int


def retention_apply(*, now: dt.datetime | None = None) -> RetentionResult:
    """Deletes or anonymises (`CHAT_RETENTION_MODE`) the conversations with nothing new for
    `CHAT_RETENTION_DAYS` days, whatever their status: a queued or claimed one left that long
    was abandoned, and waiting for a person kept a never-answered left message's email for good
    (a data-protection walk). Nothing when the setting is 0. In batches, each its own
    transaction; one audit line."""
    days, mode = settings.CHAT_RETENTION_DAYS, settings.CHAT_RETENTION_MODE
    if days <= 0:
        return RetentionResult(mode, 0)
    now = now or timezone.now()
    due = Conversation.objects.filter(updated_at__lt=now - dt.timedelta(days=days))
    if mode == RetentionMode.ANONYMISE:
        due = due.filter(anonymised_at__isnull=True)
    done = 0
    while batch := list(due.order_by("id").values_list("id", flat=True)[:RETENTION_BATCH]):
        with transaction.atomic():
            if mode == RetentionMode.DELETE:
                _conversations_delete(batch)
            else:
                conversations_anonymise(conversation_ids=batch, now=now)
        done += len(batch)
    if done:
        audit_record(
            action=Action.RETENTION, detail={"mode": mode, "days": days, "conversations": done}
        )
    return RetentionResult(mode, done)
