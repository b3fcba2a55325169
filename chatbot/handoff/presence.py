"""Who is viewing a conversation in the console, kept in the shared cache (Redis in
production) so agents on every daphne process see each other. Entries expire unless the
viewer's console keeps sending heartbeats; a lost update heals on the next heartbeat."""

import time

from django.core.cache import cache

VIEWER_TTL_S = 60.0


def _key(public_id: str) -> str:
    return f"handoff:viewers:{public_id}"


def _live(entries: dict[str, list]) -> dict[str, list]:
    now = time.time()
    return {uid: entry for uid, entry in entries.items() if entry[1] > now}


def viewers_touch(*, public_id: str, user_id: int, name: str) -> list[str]:
    """Adds or refreshes a viewer; returns everyone viewing, by name."""
    entries = _live(cache.get(_key(public_id)) or {})
    entries[str(user_id)] = [name, time.time() + VIEWER_TTL_S]
    cache.set(_key(public_id), entries, timeout=int(VIEWER_TTL_S * 2))
    return sorted({entry[0] for entry in entries.values()})


def viewers_leave(*, public_id: str, user_id: int) -> list[str]:
    entries = _live(cache.get(_key(public_id)) or {})
    entries.pop(str(user_id), None)
    cache.set(_key(public_id), entries, timeout=int(VIEWER_TTL_S * 2))
    return sorted({entry[0] for entry in entries.values()})
