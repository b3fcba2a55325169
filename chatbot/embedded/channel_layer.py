"""The channel layer of the embedded default (one process, no Redis): Channels'
`InMemoryChannelLayer` with its semantics, without its per-call expiry walk and task per member;
a message's `exclude` channel is not delivered to. Why: docs/architecture.md, "Event-loop costs
we removed"."""

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
