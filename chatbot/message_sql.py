"""The statements every visitor message and bot answer runs, written as SQL for SQLite and
PostgreSQL alike; values go through the model fields, so they are stored as the ORM stores them.
Everything else keeps the ORM. Why, with the figures: docs/loadtest.md, section "2026-12-03:
the tail was CPU held with the interpreter lock"."""

from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection

from chatbot import answer_facts
from chatbot.models import Conversation, Message


def _column_value(model: type, name: str, value: Any) -> Any:
    return model._meta.get_field(name).get_db_prep_save(value, connection)


_MESSAGE_COLUMNS = (
    "conversation_id",
    "role",
    "text",
    "client_id",
    "reply_to_id",
    "source",
    "trace",
    "citations",
    "created_at",
    "offer_taken",
    *answer_facts.COLUMNS,
)


@cache
def _statements() -> dict[str, str]:
    """The SQL, with the tables' quoted names: identifiers from the models, and every value a
    parameter."""
    quote = connection.ops.quote_name
    messages = quote(Message._meta.db_table)
    conversations = quote(Conversation._meta.db_table)
    columns = ", ".join(_MESSAGE_COLUMNS)
    placeholders = ", ".join(["%s"] * len(_MESSAGE_COLUMNS))
    insert = f"INSERT INTO {messages} ({columns}) VALUES ({placeholders})"  # noqa: S608
    touch = f"UPDATE {conversations} SET updated_at = %s"  # noqa: S608
    return {
        "insert": f"{insert} RETURNING id",
        "insert_unless_duplicate": f"{insert} ON CONFLICT DO NOTHING RETURNING id",
        "touch": f"{touch} WHERE id = %s AND status = %s",
        "touch_visitor": f"{touch}, last_visitor_message_at = %s WHERE id = %s AND status = %s",
        "recent": f"SELECT role, text FROM {messages} WHERE conversation_id = %s AND id < %s"  # noqa: S608
        " AND role <> %s ORDER BY id DESC LIMIT %s",
    }


def message_store(
    *,
    conversation_id: int,
    role: str,
    text: str,
    created_at: datetime,
    client_id: str | None = None,
    reply_to_id: int | None = None,
    source: str = "",
    trace: dict[str, Any] | None = None,
    citations: list[dict[str, Any]] | None = None,
    skip_duplicate: bool = False,
) -> Message | None:
    """The new message, as the ORM would have returned it, a bot answer with its facts taken
    from its trace. `skip_duplicate`: a message of the same client id stored before is left alone
    and None returned (ON CONFLICT DO NOTHING), no exception and no savepoint."""
    fields = {
        "conversation_id": conversation_id,
        "role": role,
        "text": text,
        "client_id": client_id,
        "reply_to_id": reply_to_id,
        "source": source,
        "trace": trace if trace is not None else {},
        "citations": citations or [],
        "created_at": created_at,
        "offer_taken": False,  # set later, if the visitor's next question takes an offer
        **answer_facts.message_facts(role, trace).columns(),
    }
    statement = "insert_unless_duplicate" if skip_duplicate else "insert"
    with connection.cursor() as cursor:
        cursor.execute(
            _statements()[statement],
            [_column_value(Message, name, fields[name]) for name in _MESSAGE_COLUMNS],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    message = Message(id=row[0], **fields)
    message._state.adding = False
    message._state.db = connection.alias
    return message


def conversation_touch_if(
    *, conversation_id: int, status: str, now: datetime, visitor_wrote: bool
) -> bool:
    """Sets `updated_at` (and `last_visitor_message_at` when the visitor wrote) only while the
    conversation has `status`; whether it had."""
    moment = _column_value(Conversation, "updated_at", now)
    statement, values = (
        ("touch_visitor", [moment, moment]) if visitor_wrote else ("touch", [moment])
    )
    with connection.cursor() as cursor:
        cursor.execute(_statements()[statement], [*values, conversation_id, status])
        return cursor.rowcount > 0


def recent_turns(*, conversation_id: int, before_id: int, limit: int) -> list[tuple[str, str]]:
    """(role, text) of the conversation's last `limit` messages before `before_id`, oldest
    first, system messages left out (not the stored traces: JSON to decode)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _statements()["recent"], [conversation_id, before_id, Message.Role.SYSTEM, limit]
        )
        rows = cursor.fetchall()
    return [(role, text) for role, text in reversed(rows)]
