"""The handoff's timed work, run as asyncio tasks in the daphne processes.

- The sweeper returns stale claims to the queue, marks the conversations whose visitor has a
  socket open in this process as seen, and closes queued ones nobody has had open for
  HANDOFF_ABANDONED_AFTER_S (services.queue_sweep). It runs in every process while at least one
  socket (visitor or agent) is open there; every write is a conditional UPDATE, so several
  processes sweeping at once is safe. (No Celery beat is needed in either way of running.)"""

import asyncio
import logging
from collections import Counter

from channels.db import database_sync_to_async
from django.conf import settings

from chatbot.cancelling import cancel_and_wait
from chatbot.handoff import notify, services

logger = logging.getLogger(__name__)

_users = 0
_sweeper: asyncio.Task[None] | None = None
# Conversations with a visitor socket open in this process, and how many sockets each.
_present: Counter[int] = Counter()


def visitor_present(conversation_id: int) -> None:
    _present[conversation_id] += 1


def visitor_absent(conversation_id: int) -> None:
    _present[conversation_id] -= 1
    if _present[conversation_id] <= 0:
        del _present[conversation_id]


async def sweep_once() -> services.Swept:
    return await database_sync_to_async(services.queue_sweep)(present_ids=list(_present))


async def _sweep_forever() -> None:
    while True:
        await asyncio.sleep(settings.HANDOFF_SWEEP_INTERVAL_S)
        try:
            swept = await sweep_once()
        except Exception:
            logger.exception("handoff sweep failed")
            continue
        if swept.claims_expired:
            logger.info("claims expired back to the queue: %s", swept.claims_expired)
        if swept.abandoned:
            logger.info("abandoned conversations left the queue: %s", len(swept.abandoned))


def sweeper_acquire() -> None:
    """A socket opened in this process: make sure the sweeper runs, and let queue broadcasts
    be coalesced on this event loop."""
    global _users, _sweeper
    _users += 1
    notify.bind_loop(asyncio.get_running_loop())
    if _sweeper is None or _sweeper.done():
        _sweeper = asyncio.create_task(_sweep_forever())


async def sweeper_release() -> None:
    """A socket closed: stop the sweeper when it was the last one."""
    global _users, _sweeper
    _users = max(0, _users - 1)
    if _users == 0:
        notify.bind_loop(None)
    if _users == 0 and _sweeper is not None:
        task, _sweeper = _sweeper, None
        await cancel_and_wait([task])


async def wait_for_pending() -> None:
    """Lets tests wait for the coalesced queue broadcasts."""
    await notify.wait_for_waves()
