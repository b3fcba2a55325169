"""Knowledge's background work handed to Celery once the transaction commits, by task name.

The services enqueue what `knowledge.tasks` runs, and the tasks call the services back: naming
a task here instead of importing it keeps imports one way (tasks -> services). The names are
Celery's own, which queued messages carry already; `KnowledgeConfig.ready` imports the tasks, so
every process that enqueues has them registered, eager ones included."""

from functools import partial
from typing import Any

from celery import current_app
from django.db import transaction


def enqueue_after_commit(task: str, *args: Any) -> None:
    """Runs `knowledge.tasks.<task>(*args)` once the current transaction commits (at once
    outside one). An unknown name raises here, in the caller, not later in a worker."""
    registered = current_app.tasks[f"knowledge.tasks.{task}"]
    transaction.on_commit(partial(registered.delay, *args))
