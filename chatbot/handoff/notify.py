"""Pushes handoff changes to sockets. Services register these with transaction.on_commit, so
no socket hears of a change that was rolled back; they run in sync code (a DB thread) and reach
the channel layer through async_to_sync.

Groups: `chat.<public id>` (the visitor's sockets, and agents viewing that conversation),
`console.<public id>` (agents viewing it: notes, visitor typing, viewers) and `console.queue`
(every agent console: the open-conversation list)."""

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from chatbot import answering
from chatbot.handoff import selectors

QUEUE_GROUP = "console.queue"


def console_group(public_id: str) -> str:
    return f"console.{public_id}"


def _send(group: str, event: dict[str, Any]) -> None:
    async_to_sync(get_channel_layer().group_send)(group, event)


def to_visitor(public_id: str, frame: dict[str, Any]) -> None:
    """A frame for the conversation's sockets (the visitor's, and agents viewing it)."""
    _send(answering.group_name(public_id), {"type": "chat.frame", "frame": frame})


def to_viewing_agents(public_id: str, frame: dict[str, Any]) -> None:
    """A frame only agents viewing the conversation get (notes never go anywhere else)."""
    _send(console_group(public_id), {"type": "console.frame", "frame": frame})


def queue_changed() -> None:
    """Every agent gets the new open-conversation list; every queued visitor their new place."""
    _send(
        QUEUE_GROUP,
        {
            "type": "console.frame",
            "frame": {
                "type": "conversations",
                "items": selectors.open_conversations(),
                "agents_online": selectors.agents_online(),
            },
        },
    )
    for public_id, frame in selectors.queue_frames():
        to_visitor(public_id, frame)


def left_messages_changed() -> None:
    """Every agent gets the new left-messages inbox."""
    _send(
        QUEUE_GROUP,
        {
            "type": "console.frame",
            "frame": {"type": "left_messages", "items": selectors.left_messages_inbox()},
        },
    )
