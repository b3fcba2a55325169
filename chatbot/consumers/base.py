"""What the project's websocket consumers share."""

import json
import logging
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer

logger = logging.getLogger(__name__)


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
        if message["type"] != "websocket.receive":
            await handler(message)
            return
        # A frame that breaks its handler gets an error frame; the socket stays usable (a raised
        # exception would close it with 1011 and the client would resend into the same bug).
        try:
            await handler(message)
        except Exception:
            logger.exception("a frame on a %s socket failed", type(self).__name__)
            await self.send_frame(self.internal_error_frame())

    def internal_error_frame(self) -> dict[str, Any]:
        return {"type": "error", "code": "internal"}

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(frame, ensure_ascii=False))
