"""One model call for many visitors asking the same new question at once.

The first asker claims the question (a shared-state claim: Redis SET NX when REDIS_URL is set,
so it holds across processes; this process's memory otherwise) and asks the model; the others
poll the claim until it is released or their wait runs out, then look in the cache again. The
claim expires by itself, so a leader that dies never blocks anyone for long."""

import asyncio
import time

from chatbot.shared_state import SharedState, shared_state


class SingleFlight:
    def __init__(
        self, state: SharedState | None = None, *, ttl_s: float = 90.0, poll_s: float = 0.05
    ) -> None:
        self._state = state
        self.ttl_s = ttl_s
        self.poll_s = poll_s

    @property
    def state(self) -> SharedState:
        return self._state or shared_state()

    async def lead(self, key: str) -> bool:
        """True when this caller is the one to ask the model."""
        return await self.state.claim(key, self.ttl_s)

    async def finish(self, key: str) -> None:
        await self.state.release(key)

    async def wait(self, key: str, timeout_s: float) -> bool:
        """Waits for the leader to finish; False when `timeout_s` ran out first."""
        deadline = time.monotonic() + timeout_s
        while await self.state.read(key) is not None:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(self.poll_s)
        return True
