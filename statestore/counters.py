"""Counters shared by every process of the embedded default, in the database: the knowledge
version once lived in each process's memory without REDIS_URL, so `manage.py import_faqs` (its
own process) moved a version the running server never saw, which kept serving the old answers
(a content walk). With Redis the counters live there (knowledge.content_version)."""

from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.db.models import F


def counter_add(name: str, add: int, *, start: Callable[[], int]) -> int:
    """Adds `add` to the counter `name` (created at `start()` when missing) and returns it.
    Sync: from async code, call it on a thread."""
    # Here, not at the top: scripts import the knowledge modules before django.setup().
    from statestore.models import SharedCounter

    if not SharedCounter.objects.filter(name=name).exists():
        try:
            with transaction.atomic():
                SharedCounter.objects.create(name=name, value=start())
        except IntegrityError:
            pass  # another process created it a moment ago
    if add:
        SharedCounter.objects.filter(name=name).update(value=F("value") + add)
    return SharedCounter.objects.values_list("value", flat=True).get(name=name)
