"""The channel layer of the embedded default (one process, no Redis).

Channels' `InMemoryChannelLayer` is written for tests: every `group_send` and `receive` first
walks every channel and every group membership of the process looking for expired messages,
and `group_send` starts a task per member. A streamed answer publishes a frame to its
conversation's group many times a second, so with a few hundred visitors that walk dominated
the event loop (measured under `make loadtest`). This subclass keeps its semantics (capacity,
per-message expiry, group expiry) but does the walk at most once a second and delivers to a
group's members in place. Production runs channels_redis, which has neither cost.

A message naming an `exclude` channel (the consumers' convention for "not back to the socket it
came from": every visitor message is echoed to the conversation's other tabs) is not delivered
to that channel: the consumer would drop it, after a wake-up and a dispatch per message."""

import contextlib
import time
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

CLEAN_INTERVAL_S = 1.0


class InProcessChannelLayer(InMemoryChannelLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cleaned_at = 0.0

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._cleaned_at >= CLEAN_INTERVAL_S:
            self._cleaned_at = now
            super()._clean_expired()

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "Message is not a dict"
        self.require_valid_group_name(group)
        self._clean_expired()
        excluded = message.get("exclude")
        for channel in list(self.groups.get(group, ())):
            if channel == excluded:
                continue
            with contextlib.suppress(ChannelFull):  # as the parent: a full channel misses it
                await self.send(channel, message)
