"""Conversation exports: one transcript as a printable page, and every conversation started in a
date range as CSV (a row per message) or JSON (a conversation per item), streamed so a long
range never sits in memory (docs/console.md, "Exports"). What leaves in a file has its personal
details masked (emails, phones, addresses…: chatbot.cache.pii; docs/security.md, "Privacy")."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import localtime
from django.utils.translation import gettext as _
from markdown_it import MarkdownIt

from chatbot.analytics.figures import day_range
from chatbot.cache.pii import personal_masked
from chatbot.handoff.models import LeftMessage
from chatbot.handoff.selectors import agent_name, close_reason_label
from chatbot.inbox.search import conversation_labels
from chatbot.models import DEMO_VISITOR_PREFIX, Conversation, Message
from knowledge.importing import SPREADSHEET_BOM, spreadsheet_safe

CHUNK = 200  # conversations read at a time

CSV_COLUMNS = [
    "conversation",
    "status",
    "locale",
    "started",
    "handoff_reason",
    "agent",
    "rating",
    "labels",
    "message_id",
    "role",
    "author",
    "created",
    "text",
    "source",
]


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _cell(value: Any) -> Any:
    """Visitors write what they like: a text cell gets the quote a spreadsheet needs."""
    return spreadsheet_safe(value) if isinstance(value, str) else value


def file_name_masked(name: str) -> str:
    """A file's name as exports show it: "[file]" and its extension. Names are where people put
    who they are ("王小明-身份证.jpg", "ann-lee-invoice.pdf", seen in a privacy walk), and no
    pattern finds a bare name."""
    stem, dot, extension = name.rpartition(".")
    return f"[file].{extension.lower()}" if dot and stem and extension.isalnum() else "[file]"


def transcript(*, public_id: str) -> dict[str, Any] | None:
    """One conversation for the printable page: its facts, labels and every message with who
    wrote it (agents by name), personal details masked: a printout leaves the product."""
    conversation = (
        Conversation.objects.filter(public_id=public_id).select_related("assigned_to").first()
    )
    if conversation is None:
        return None
    messages = list(
        Message.objects.filter(conversation=conversation)
        .select_related("author", "attachment")
        .order_by("id")
    )
    lines = [
        {
            "role": m.role,
            "author": agent_name(m.author) if m.author_id else "",
            "created": m.created_at,
            "text": personal_masked(m.text),
            "html": _printed(personal_masked(m.text)) if m.role in _MARKDOWN_ROLES else None,
            "source": m.source,
            # A file is named, not linked: its signed link expires, a printout does not.
            "attachment": (
                {"name": file_name_masked(m.attachment.name), "size": m.attachment.size}
                if m.attachment_id
                else None
            ),
        }
        for m in messages
    ]
    lines += [_left_line(left) for left in conversation.left_messages.select_related("answered_by")]
    return {
        "conversation": conversation,
        "agent": agent_name(conversation.assigned_to) if conversation.assigned_to_id else "",
        "labels": conversation_labels(public_ids=[public_id]).get(public_id, []),
        "close_reason": personal_masked(close_reason_label(conversation.close_reason)),
        "rating_comment": personal_masked(conversation.rating_comment),
        "messages": sorted(lines, key=lambda line: line["created"]),
    }


# Bot and agent text is the Markdown subset the widget and console render (docs/widget.md);
# printed raw it read "| 地区 | 时效 |", "**今天**", "[配送说明](https://…)" (a console walk). No
# HTML passes (markdown-it escapes it), and its link check refuses javascript: and the like.
_MARKDOWN_ROLES = (Message.Role.BOT, Message.Role.AGENT)
# No images: the widget and the console show none, and a printout must not load an address a
# message names (a security walk printed an agent's `![x](https://evil.example/p.png)` as
# <img>; only the page's CSP kept it from loading).
_PRINT_MARKDOWN = (
    MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"]).disable("image")
)


def _printed(text: str) -> SafeString:
    return mark_safe(_PRINT_MARKDOWN.render(text))  # noqa: S308 - markdown-it escapes the text


def _left_line(left: LeftMessage) -> dict[str, Any]:
    """A message left for the team by email, where it came in: the printout of a conversation
    queued while nobody was online left out the one thing the visitor asked (a walk)."""
    if left.answered_at is None:
        outcome = _("Not answered yet.")
    else:
        outcome = _("Answered by email by {agent} on {day}.").format(
            agent=agent_name(left.answered_by) if left.answered_by_id else _("the team"),
            day=localtime(left.answered_at).strftime("%Y-%m-%d %H:%M"),
        )
        if left.undeliverable_at is not None:
            outcome += " " + _("The email could not be delivered.")
    return {
        "role": "left",
        "author": "",
        "created": left.created_at,
        "text": personal_masked(left.text),
        "source": "",
        "attachment": None,
        "outcome": outcome,
    }


def _conversations(start_day: dt.date, end_day: dt.date) -> QuerySet[Conversation]:
    """The range's conversations with visitors, not the analytics demo's (an analytics walk
    found 23 demo conversations among 44 exported, with nothing to tell them apart)."""
    start, end = day_range(start_day, end_day)
    return (
        Conversation.objects.filter(created_at__gte=start, created_at__lt=end)
        .exclude(visitor_token__startswith=DEMO_VISITOR_PREFIX)
        .order_by("created_at", "id")
    )


def _chunks(start_day: dt.date, end_day: dt.date) -> Iterator[list[dict[str, Any]]]:
    """Conversations of the range with their messages, CHUNK at a time (keyset paging)."""
    after: tuple[dt.datetime, int] | None = None
    while True:
        page = _conversations(start_day, end_day).select_related("assigned_to")
        if after is not None:
            page = page.filter(created_at__gte=after[0]).exclude(
                created_at=after[0], id__lte=after[1]
            )
        rows = list(page[:CHUNK])
        if not rows:
            return
        after = (rows[-1].created_at, rows[-1].id)
        labels = conversation_labels(public_ids=[c.public_id for c in rows])
        messages: dict[int, list[dict[str, Any]]] = {c.id: [] for c in rows}
        for m in (
            Message.objects.filter(conversation_id__in=list(messages))
            .select_related("author")
            .order_by("id")
        ):
            messages[m.conversation_id].append(
                {
                    "id": m.id,
                    "role": m.role,
                    "author": agent_name(m.author) if m.author_id else None,
                    "created": _iso(m.created_at),
                    "text": file_name_masked(m.text)
                    if m.attachment_id
                    else personal_masked(m.text),
                    "source": m.source,
                }
            )
        yield [
            {
                "conversation": c.public_id,
                "status": c.status,
                "locale": c.locale,
                "started": _iso(c.created_at),
                "handoff_reason": c.handoff_reason,
                "agent": agent_name(c.assigned_to) if c.assigned_to_id else None,
                "rating": c.rating,
                "rating_comment": personal_masked(c.rating_comment),
                "close_reason": personal_masked(c.close_reason),
                "closed_at": _iso(c.closed_at),
                "labels": [label["name"] for label in labels.get(c.public_id, [])],
                "messages": messages[c.id],
            }
            for c in rows
        ]


def export_csv(*, start_day: dt.date, end_day: dt.date) -> Iterator[str]:
    """A header, then a row per message of every conversation started in the range."""
    out = io.StringIO()
    writer = csv.writer(out)

    def flush() -> str:
        text = out.getvalue()
        out.seek(0)
        out.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield SPREADSHEET_BOM + flush()
    for chunk in _chunks(start_day, end_day):
        for c in chunk:
            head = [
                c["conversation"],
                c["status"],
                c["locale"],
                c["started"],
                c["handoff_reason"],
                c["agent"] or "",
                c["rating"] or "",
                "; ".join(c["labels"]),
            ]
            for m in c["messages"]:
                row = [
                    *head,
                    m["id"],
                    m["role"],
                    m["author"] or "",
                    m["created"],
                    m["text"],
                    m["source"],
                ]
                writer.writerow([_cell(v) for v in row])
        yield flush()


def export_json(*, start_day: dt.date, end_day: dt.date) -> Iterator[str]:
    """A JSON array of the conversations started in the range, each with its messages."""
    yield "["
    first = True
    for chunk in _chunks(start_day, end_day):
        for c in chunk:
            yield ("" if first else ",\n") + json.dumps(c, ensure_ascii=False)
            first = False
    yield "]\n"
