"""Writes of the inbox: labels on conversations, agents' saved views, the canned-reply library.
Each raises InboxError with a code the console shows (docs/console.md, "Inbox")."""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet

from chatbot.handoff.models import Team
from chatbot.inbox.models import CannedReply, ConversationLabel, Label, SavedView
from chatbot.inbox.search import Filters, conversation_labels
from chatbot.models import Conversation

# `{{visitor.name}}`, optionally with what to write when the value is unknown:
# `{{visitor.name|there}}`. The console fills them in (static/console/inbox.js).
VARIABLE = re.compile(r"\{\{\s*([\w.]+)\s*(?:\|([^{}]*))?\}\}")
VARIABLES = ("visitor.name", "visitor.email", "agent.name")


class InboxError(Exception):
    def __init__(self, code: str, **details: Any) -> None:
        super().__init__(code)
        self.code = code
        self.details = details


def unknown_variables(text: str) -> list[str]:
    """Variables in a canned reply that the console cannot fill in."""
    return sorted({m.group(1) for m in VARIABLE.finditer(text)} - set(VARIABLES))


# --- labels ---------------------------------------------------------------------------------


def _conversation_id(public_id: str) -> int:
    found = Conversation.objects.filter(public_id=public_id).values_list("pk", flat=True).first()
    if found is None:
        raise InboxError("not_found")
    return found


def conversation_labels_of(*, public_id: str) -> list[dict[str, Any]]:
    _conversation_id(public_id)
    return conversation_labels(public_ids=[public_id]).get(public_id, [])


@transaction.atomic
def conversation_label_add(
    *, public_id: str, label_id: int, agent: AbstractBaseUser
) -> list[dict[str, Any]]:
    """Puts a label on a conversation (no-op when it has it); returns its labels."""
    conversation_id = _conversation_id(public_id)
    if not Label.objects.filter(pk=label_id).exists():
        raise InboxError("no_such_label")
    ConversationLabel.objects.get_or_create(
        conversation_id=conversation_id, label_id=label_id, defaults={"added_by": agent}
    )
    return conversation_labels(public_ids=[public_id]).get(public_id, [])


@transaction.atomic
def conversation_label_remove(*, public_id: str, label_id: int) -> list[dict[str, Any]]:
    conversation_id = _conversation_id(public_id)
    ConversationLabel.objects.filter(conversation_id=conversation_id, label_id=label_id).delete()
    return conversation_labels(public_ids=[public_id]).get(public_id, [])


# --- saved views ----------------------------------------------------------------------------


def saved_view_payload(view: SavedView) -> dict[str, Any]:
    return {"id": view.id, "name": view.name, "filters": view.filters}


@transaction.atomic
def saved_view_save(*, agent: AbstractBaseUser, name: str, filters: Filters) -> dict[str, Any]:
    """Saves the agent's filters under a name (replacing their view of that name)."""
    name = name.strip()[:60]
    if not name:
        raise InboxError("name_required")
    view, _ = SavedView.objects.update_or_create(
        agent=agent, name=name, defaults={"filters": filters.as_dict()}
    )
    return saved_view_payload(view)


def saved_view_delete(*, agent: AbstractBaseUser, view_id: int) -> None:
    """Only the agent's own views; another's id is not found."""
    if not SavedView.objects.filter(pk=view_id, agent=agent).delete()[0]:
        raise InboxError("not_found")


# --- canned replies -------------------------------------------------------------------------


def canned_reply_payload(reply: CannedReply) -> dict[str, Any]:
    return {
        "id": reply.id,
        "shortcut": reply.shortcut,
        "locale": reply.locale,
        "team": reply.team_id,
        "team_name": reply.team.name if reply.team_id else "",
        "title": reply.title,
        "text": reply.text,
    }


def _replies_visible_to(agent: AbstractBaseUser) -> QuerySet[CannedReply]:
    """Everyone's replies and those of the agent's teams: another team's are not the agent's to
    see, use or change. The teams as a subquery, not a join: no rows to deduplicate, since
    PostgreSQL refuses DISTINCT with the FOR UPDATE of an edit."""
    mine = Team.objects.filter(members=agent)
    return CannedReply.objects.filter(Q(team__isnull=True) | Q(team__in=mine))


def agent_teams(agent: AbstractBaseUser) -> list[dict[str, Any]]:
    """The teams an agent can write canned replies for."""
    return [{"id": t.pk, "name": t.name} for t in Team.objects.filter(members=agent)]


@transaction.atomic
def canned_reply_save(
    *,
    agent: AbstractBaseUser,
    shortcut: str,
    title: str,
    text: str,
    locale: str = "",
    team_id: int | None = None,
    reply_id: int | None = None,
) -> dict[str, Any]:
    """Creates a canned reply, or edits `reply_id`, for every agent or for one of the agent's
    teams. Refused: a variable the console cannot fill in (`unknown_variables`), a shortcut
    taken in that language (for that team) or malformed, an unknown language, a team the agent
    is not in, an empty title or text."""
    shortcut = shortcut.strip().lstrip("/")
    unknown = unknown_variables(text)
    if unknown:
        raise InboxError("unknown_variables", variables=unknown)
    if team_id is not None and not Team.objects.filter(pk=team_id, members=agent).exists():
        raise InboxError("invalid", fields=["team"])
    if reply_id is None:
        reply = CannedReply(created_by=agent)
    else:
        reply = _replies_visible_to(agent).select_for_update().filter(pk=reply_id).first()
        if reply is None:
            raise InboxError("not_found")
    reply.shortcut, reply.locale, reply.team_id = shortcut, locale, team_id
    reply.title, reply.text = title.strip(), text.strip()
    reply.updated_by = agent
    try:
        reply.full_clean()
    except ValidationError as err:
        fields = sorted(err.message_dict)
        raise InboxError("shortcut_taken" if _taken(err) else "invalid", fields=fields) from None
    try:
        with transaction.atomic():
            reply.save()
    except IntegrityError:  # the same shortcut saved by someone else meanwhile
        raise InboxError("shortcut_taken", fields=["shortcut"]) from None
    return canned_reply_payload(reply)


def _taken(err: ValidationError) -> bool:
    """The (shortcut, language) pair is another reply's (Django reports the constraint under
    NON_FIELD_ERRORS)."""
    return any(
        e.code in ("unique", "unique_together") or "unique_canned_shortcut" in str(e.message)
        for errors in err.error_dict.values()
        for e in errors
    )


def canned_reply_delete(*, agent: AbstractBaseUser, reply_id: int) -> None:
    if not CannedReply.objects.filter(
        pk__in=_replies_visible_to(agent).filter(pk=reply_id)
    ).delete()[0]:
        raise InboxError("not_found")


def canned_replies(agent: AbstractBaseUser) -> list[dict[str, Any]]:
    """The agent's library: a team's reply before everyone's of the same shortcut."""
    replies = _replies_visible_to(agent).select_related("team")
    return [
        canned_reply_payload(r)
        for r in sorted(replies, key=lambda r: (r.shortcut, r.locale, r.team_id is None, r.team_id))
    ]
