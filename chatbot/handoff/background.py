"""The handoff's timed work, run as asyncio tasks in the daphne processes.

- The claim sweeper returns stale claims to the queue. It runs in every process while at least
  one socket (visitor or agent) is open there; claims_expire is a conditional UPDATE, so several
  processes sweeping at once is safe. (No Celery beat is needed in either way of running.)"""

import asyncio
import contextlib
import logging

from channels.db import database_sync_to_async
from django.conf import settings

from chatbot.handoff import services

logger = logging.getLogger(__name__)

_users = 0
_sweeper: asyncio.Task[None] | None = None


async def _sweep_forever() -> None:
    while True:
        await asyncio.sleep(settings.HANDOFF_SWEEP_INTERVAL_S)
        try:
            expired = await database_sync_to_async(services.claims_expire)()
        except Exception:
            logger.exception("claim sweep failed")
            continue
        if expired:
            logger.info("claims expired back to the queue: %s", expired)


def sweeper_acquire() -> None:
    """A socket opened in this process: make sure the sweeper runs."""
    global _users, _sweeper
    _users += 1
    if _sweeper is None or _sweeper.done():
        _sweeper = asyncio.create_task(_sweep_forever())


async def sweeper_release() -> None:
    """A socket closed: stop the sweeper when it was the last one."""
    global _users, _sweeper
    _users = max(0, _users - 1)
    if _users == 0 and _sweeper is not None:
        task, _sweeper = _sweeper, None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
