"""Stopping background tasks without losing a cancel of the one that stops them: a leaf, so
that the shared state and the sweeps (which ops imports) can use it."""

import asyncio
from collections.abc import Iterable


async def cancel_and_wait(tasks: Iterable[asyncio.Task[object]]) -> None:
    """Cancels the tasks and waits until each has ended. `asyncio.wait`, not `await task` under
    `suppress(CancelledError)`: that also swallows a cancel of the caller (an answer or a
    consumer being stopped by the shutdown), which then runs on and keeps daphne from exiting."""
    stopping = list(tasks)
    for task in stopping:
        task.cancel()
    if stopping:
        await asyncio.wait(stopping)
