"""Pushes handoff changes to sockets. Services register these with transaction.on_commit, so no
socket hears of a change that was rolled back; they run in sync code (a DB thread) and reach the
channel layer through async_to_sync. Queue changes go out in coalesced waves; why, with the
figures: docs/console.md, "Decisions"."""

import asyncio
import contextvars
import logging
import threading
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from chatbot.handoff import selectors
from chatbot.realtime import QUEUE_GROUP, agent_group, console_group, conversation_group

logger = logging.getLogger(__name__)


def _send(group: str, event: dict[str, Any]) -> None:
    async_to_sync(get_channel_layer().group_send)(group, event)


def to_visitor(public_id: str, frame: dict[str, Any], *, team_author: str = "") -> None:
    """A frame for the conversation's sockets (the visitor's, and agents viewing it).
    `team_author`: the team's name for the author of an agent message, beside the frame (never
    in it: visitors must not read a login name), for the consoles viewing."""
    event = {"type": "chat.frame", "frame": frame}
    if team_author:
        event["team_author"] = team_author
    _send(conversation_group(public_id), event)


def to_viewing_agents(public_id: str, frame: dict[str, Any]) -> None:
    """A frame only agents viewing the conversation get (notes never go anywhere else)."""
    _send(console_group(public_id), {"type": "console.frame", "frame": frame})


def to_agent(user_id: int, frame: dict[str, Any]) -> None:
    _send(agent_group(user_id), {"type": "console.frame", "frame": frame})


def visitor_queued(conversation_id: int) -> None:
    """The `handoff` frame (place, wait) to a conversation just queued."""
    found = selectors.queued_visitor_frame(conversation_id=conversation_id)
    if found is not None:
        to_visitor(*found)


def conversations_frame() -> dict[str, Any]:
    """The console's open-conversation list: the first page of the queue, every conversation
    with an agent, and the true counts."""
    return {
        "type": "conversations",
        **selectors.open_conversations(),
        "agents_online": selectors.agents_online(),
    }


def _queue_events() -> list[tuple[str, dict[str, Any]]]:
    """(group, event) for every agent console and every queued visitor, read in one go."""
    events = [(QUEUE_GROUP, {"type": "console.frame", "frame": conversations_frame()})]
    events += [
        (conversation_group(public_id), {"type": "chat.frame", "frame": frame})
        for public_id, frame in selectors.queue_frames()
    ]
    return events


_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()
_scheduled = False
_last_wave = float("-inf")  # loop time of the last broadcast
_waves: set[asyncio.Task[None]] = set()


def bind_loop(loop: asyncio.AbstractEventLoop | None) -> None:
    """The event loop this process's sockets live on (None once the last one closed): queue
    changes are coalesced there. Without one (a Celery worker, a shell) they go out at once."""
    global _loop, _scheduled
    with _lock:
        if loop is not _loop:
            _scheduled = False  # a wave scheduled on another loop will not run
        _loop = loop


def queue_changed() -> None:
    """Every agent gets the new open-conversation list and every queued visitor their new place,
    in the next wave. Call from sync code (on commit, on a database thread)."""
    global _scheduled
    with _lock:
        loop = _loop
        if loop is not None and not loop.is_closed():
            if _scheduled:
                return  # the wave already scheduled reads the queue after this change
            _scheduled = True
    if loop is None or loop.is_closed():
        for group, event in _queue_events():
            _send(group, event)
        return
    # A fresh context: the caller's (a database thread's) would make the wave's own database
    # call look re-entrant to asgiref ("Single thread executor already being used").
    loop.call_soon_threadsafe(_schedule_wave, loop, context=contextvars.Context())


def _schedule_wave(loop: asyncio.AbstractEventLoop) -> None:
    delay = max(0.0, _last_wave + settings.HANDOFF_QUEUE_BROADCAST_INTERVAL_S - loop.time())
    task = loop.create_task(_wave(loop, delay))
    _waves.add(task)
    task.add_done_callback(_waves.discard)


async def _wave(loop: asyncio.AbstractEventLoop, delay: float) -> None:
    global _scheduled, _last_wave
    await asyncio.sleep(delay)
    with _lock:
        _scheduled = False  # changes from now on are read by the next wave
    _last_wave = loop.time()
    try:
        events = await database_sync_to_async(_queue_events)()
        layer = get_channel_layer()
        for group, event in events:
            await layer.group_send(group, event)
    except Exception:
        logger.exception("queue broadcast failed")


async def wait_for_waves() -> None:
    """Lets tests wait for a scheduled broadcast."""
    while _waves:
        await asyncio.gather(*list(_waves), return_exceptions=True)


def left_messages_changed() -> None:
    """Every agent gets the new left-messages inbox."""
    _send(
        QUEUE_GROUP,
        {
            "type": "console.frame",
            "frame": {"type": "left_messages", "items": selectors.left_messages_inbox()},
        },
    )
