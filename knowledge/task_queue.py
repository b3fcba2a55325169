"""Knowledge's background work handed to Celery once the transaction commits, by task name.

The services enqueue what `knowledge.tasks` runs, and the tasks call the services back: naming
a task here instead of importing it keeps imports one way (tasks -> services). The names are
Celery's own, which queued messages carry already; `KnowledgeConfig.ready` imports the tasks, so
every process that enqueues has them registered, eager ones included."""

import logging
import threading
from functools import partial
from typing import Any

from celery import Task, current_app
from django.db import connections, transaction

logger = logging.getLogger(__name__)


def enqueue_after_commit(task: str, *args: Any, off_request: bool = False) -> None:
    """Runs `knowledge.tasks.<task>(*args)` once the current transaction commits (at once
    outside one). An unknown name raises here, in the caller, not later in a worker.
    `off_request`: on the embedded default (eager Celery, no worker) the task runs in a thread
    of its own instead of inside the request that asked for it: model generation for 26 FAQs
    held an admin page for minutes (a zh-shop walk) until daphne killed the request."""
    registered = current_app.tasks[f"knowledge.tasks.{task}"]
    if off_request and current_app.conf.task_always_eager:
        transaction.on_commit(partial(_in_thread, registered, args))
    else:
        transaction.on_commit(partial(registered.delay, *args))


def _in_thread(task: Task, args: tuple[Any, ...]) -> None:
    def run() -> None:
        try:
            result = task.apply(args=args)
            if result.failed():
                logger.error("%s failed: %r", task.name, result.result)
        finally:
            connections.close_all()  # this thread's own, which nothing else would close

    threading.Thread(target=run, name=f"eager {task.name}", daemon=True).start()
