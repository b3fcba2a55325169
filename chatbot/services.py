"""Writes and reads of conversations and messages (sync; consumers call them through
database_sync_to_async)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from chatbot import message_sql
from chatbot.answer_facts import model_words_replaced, related_questions
from chatbot.attachment_links import attachment_payload
from chatbot.cache.services import entries_evict_for_feedback
from chatbot.history import HistoryItem
from chatbot.models import Conversation, Feedback, Message, QueuedQuestion, new_public_id
from chatbot.outcomes import Source
from chatbot.pipeline.base import Turn
from chatbot.pipeline.language import message_locale
from chatbot.visitor_copy import ends_cut_off, offers_a_person
from knowledge.chinese import has_chinese
from knowledge.negative_store import negative_record

HISTORY_TURNS = 20


def conversation_start(*, locale: str) -> Conversation:
    return Conversation.objects.create(locale=locale)


# A new visitor's conversation is not stored until they write (docs/security.md, "Abuse
# limits"): its id is random and its token an HMAC of the id, so a socket that comes back with
# both (a reload before the first message, a second tab) is recognised without a row.
def _pending_token(public_id: str) -> str:
    return salted_hmac("chatbot.pending-conversation", public_id, algorithm="sha256").hexdigest()


def pending_conversation_new() -> tuple[str, str]:
    """(public id, visitor token) for a conversation not stored yet."""
    public_id = new_public_id()
    return public_id, _pending_token(public_id)


def pending_token_valid(*, public_id: str, token: str) -> bool:
    return constant_time_compare(_pending_token(public_id), token)


def conversation_store_pending(*, public_id: str, token: str, locale: str) -> Conversation | None:
    """Stores the conversation a `hello` named (once: a second tab may store it first); None
    when a conversation with that id has another token."""
    conversation, _ = Conversation.objects.get_or_create(
        public_id=public_id, defaults={"visitor_token": token, "locale": locale}
    )
    if not constant_time_compare(conversation.visitor_token, token):
        return None
    return conversation


def conversation_set_locale(*, conversation: Conversation, locale: str) -> None:
    if conversation.locale != locale:
        conversation.locale = locale
        conversation.save(update_fields=["locale", "updated_at"])


def visitor_message_insert(
    *, conversation: Conversation, client_id: str, text: str, retry_of: int | None = None
) -> tuple[Message, bool]:
    """Stores the message unless this client id was stored before. Returns (message, created).
    The conversation's timestamps are the caller's to update. `retry_of`: the bot answer this
    question is asked again after (Message.TRACE_RETRY_OF)."""
    message = message_sql.message_store(
        conversation_id=conversation.pk,
        role=Message.Role.VISITOR,
        text=text,
        client_id=client_id,
        created_at=timezone.now(),
        trace={Message.TRACE_RETRY_OF: retry_of} if retry_of is not None else None,
        skip_duplicate=True,
    )
    if message is None:
        return Message.objects.get(conversation=conversation, client_id=client_id), False
    message.conversation = conversation  # the caller's instance: no query to read it back
    return message, True


def visitor_message_store(
    *, conversation: Conversation, client_id: str, text: str
) -> tuple[Message, bool]:
    """Stores the message unless this client id was stored before. Returns (message, created)."""
    message, created = visitor_message_insert(
        conversation=conversation, client_id=client_id, text=text
    )
    if created:
        Conversation.objects.filter(pk=conversation.pk).update(updated_at=message.created_at)
    return message, created


def message_has_reply(*, message_id: int) -> bool:
    return Message.objects.filter(reply_to_id=message_id).exists()


def bot_message_insert(
    *,
    conversation_id: int,
    reply_to_id: int,
    text: str,
    source: str,
    trace: dict[str, Any],
    created_at: datetime | None = None,
    citations: list[dict[str, Any]] | None = None,
) -> Message:
    """Stores a bot answer, and its question as queued when the answer promises a model's
    answer later (chatbot.tasks); the conversation's timestamps are the caller's to update."""
    message = message_sql.message_store(
        conversation_id=conversation_id,
        role=Message.Role.BOT,
        reply_to_id=reply_to_id,
        text=text,
        source=source,
        trace=trace,
        citations=citations,
        created_at=created_at or timezone.now(),
    )
    assert message is not None  # only visitor messages skip a duplicate
    if message.answer_promised:
        QueuedQuestion.objects.create(message_id=reply_to_id)
    return message


def bot_message_store(
    *, conversation_id: int, reply_to_id: int, text: str, source: str, trace: dict[str, Any]
) -> Message:
    message = bot_message_insert(
        conversation_id=conversation_id,
        reply_to_id=reply_to_id,
        text=text,
        source=source,
        trace=trace,
    )
    Conversation.objects.filter(pk=conversation_id).update(updated_at=message.created_at)
    return message


def messages_after(*, conversation: Conversation, after: int) -> list[Message]:
    return list(
        conversation.messages.filter(id__gt=after)
        .select_related("author__agent_profile", "attachment")
        .order_by("id")
    )


def last_message_id(*, conversation: Conversation) -> int:
    last = conversation.messages.order_by("-id").values_list("id", flat=True).first()
    return last or 0


@dataclass(frozen=True)
class AnswerTurn:
    turn: Turn
    conversation_id: int


def answer_turn(*, message_id: int) -> AnswerTurn | None:
    """What the bot needs to answer a visitor message, read in one go; None when it was answered
    already or a person holds the conversation."""
    message = Message.objects.select_related("conversation").get(pk=message_id)
    if message.conversation.status != Conversation.Status.BOT:
        return None
    if message_has_reply(message_id=message_id):
        return None
    return AnswerTurn(turn_build(message=message), message.conversation_id)


def turn_build(*, message: Message, conversation: Conversation | None = None) -> Turn:
    """The question with the conversation's recent turns before it (`conversation`: the
    message's, when the caller has it already)."""
    earlier = message_sql.recent_turns(
        conversation_id=message.conversation_id, before_id=message.id, limit=HISTORY_TURNS
    )
    conversation = conversation or message.conversation
    return Turn(
        conversation_public_id=conversation.public_id,
        message_id=message.id,
        text=message.text,
        locale=message_locale(message.text, default=conversation.locale),
        history=tuple(HistoryItem(role, text) for role, text in earlier),
    )


def feedback_record(
    *, conversation: Conversation, message_id: int, value: str, comment: str
) -> Feedback | None:
    """None when the message is not a bot message of this conversation. A thumbs-down takes the
    answer out of the answer cache (docs/cache.md, "Feedback and admin")."""
    message = Message.objects.filter(
        pk=message_id, conversation=conversation, role=Message.Role.BOT
    ).first()
    if message is None:
        return None
    with transaction.atomic():
        if message.reply_to_id is not None:  # one at a time with the cache storing this answer
            Message.objects.select_for_update().filter(pk=message.reply_to_id).exists()
        feedback, _ = Feedback.objects.update_or_create(
            message=message, defaults={"value": value, "comment": comment}
        )
        if value == Feedback.Value.DOWN:
            entries_evict_for_feedback(
                source=message.source,
                trace=message.trace,
                reply_to_id=message.reply_to_id,
                text=message.text,
            )
            _negative_from_thumbs_down(message, locale=conversation.locale)
    return feedback


def _negative_from_thumbs_down(message: Message, *, locale: str) -> None:
    """A thumbs-down on an answer the FAQ stage served records the visitor's question as a
    pending negative example of that FAQ, for a person to confirm or dismiss in the admin."""
    if message.source != Source.FAQ or message.reply_to_id is None:
        return
    step = next((s for s in message.trace.get("steps", []) if s.get("stage") == "faq"), None)
    faq_id = (step or {}).get("detail", {}).get("faq_id")
    if faq_id is None:
        return
    question = Message.objects.filter(pk=message.reply_to_id).values_list("text", flat=True).first()
    if not question:
        return
    negative_record(
        faq_id=faq_id,
        text=question,
        locale=locale,
        score=float(step.get("score") or 0.0),
        message_id=message.pk,
    )


def full_name(user: AbstractBaseUser) -> str:
    """First then last name, but a Chinese name family name first and without a space (王小明,
    not "小明 王" or "王 组长")."""
    first = (getattr(user, "first_name", "") or "").strip()
    last = (getattr(user, "last_name", "") or "").strip()
    if first and last and has_chinese(first) and has_chinese(last):
        return last + first
    return " ".join(part for part in (first, last) if part)


def user_display_name(user: AbstractBaseUser | None) -> str:
    """How the team names a colleague: the login name when the account has no name."""
    if user is None:
        return ""
    return full_name(user) or user.get_username()


def visitor_facing_agent_name(user: AbstractBaseUser | None) -> str:
    """How a visitor names an agent: the account's name or nothing (the widget then says
    "Agent"). Never the login name, which is half of what signs in to the console; visitors and
    emails once read "admin from our team replied"."""
    if user is None:
        return ""
    return full_name(user)


def agent_avatar_url(user: AbstractBaseUser) -> str | None:
    """The public address of an agent's photo (versioned by its file name, so it can be cached
    for long); None without one."""
    try:
        avatar = user.agent_profile.avatar  # type: ignore[attr-defined]
    except ObjectDoesNotExist:
        return None
    if not avatar:
        return None
    version = avatar.name.rsplit("/", 1)[-1].split(".")[0]
    return reverse("agent-avatar", args=[user.pk]) + f"?v={version}"


def message_payload(message: Message) -> dict[str, Any]:
    payload = {
        "id": message.id,
        "role": message.role,
        "text": message.text,
        "source": message.source,
        "client_id": message.client_id,
        "reply_to": message.reply_to_id,
        "citations": message.citations or [],
        "created": message.created_at.isoformat(),
    }
    if message.role == Message.Role.BOT and model_words_replaced(message.trace or {}):
        payload["automatic"] = True
    if message.role == Message.Role.BOT and ends_cut_off(message.text):
        payload["cut_off"] = True
    elif message.role == Message.Role.BOT and offers_a_person(message.text):
        payload["offers_person"] = True
    if message.role == Message.Role.BOT and (related := related_questions(message.trace or {})):
        payload["related"] = related
    if message.role == Message.Role.AGENT and message.author_id is not None:
        author = {"name": visitor_facing_agent_name(message.author)}
        if avatar := agent_avatar_url(message.author):
            author["avatar"] = avatar
        payload["author"] = author
    if message.attachment_id is not None:
        payload["attachment"] = attachment_payload(message.attachment)
    return payload


def unanswered_visitor_message_ids(*, conversation: Conversation, limit: int = 5) -> list[int]:
    """Recent visitor messages with no bot reply yet: answers that may be streaming right now."""
    ids = (
        conversation.messages.filter(
            role=Message.Role.VISITOR, reply__isnull=True, attachment__isnull=True
        )
        .order_by("-id")
        .values_list("id", flat=True)[:limit]
    )
    return sorted(ids)
