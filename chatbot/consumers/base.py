"""What the project's websocket consumers share."""

import json
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer


class JsonSocketConsumer(AsyncWebsocketConsumer):
    """A websocket consumer whose database access all goes through `database_sync_to_async`.

    Channels (4.x) hops to the database thread to close stale connections before *every*
    handler, so each streamed token frame queued behind the database work of every other
    conversation (measured: half the database thread's calls under load). Every query here
    runs through `database_sync_to_async`, which closes stale connections itself around each
    call, so handlers are dispatched without that hop."""

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(frame, ensure_ascii=False))
