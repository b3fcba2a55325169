"""Support hours: whether the team is in now, when it is back, and what visitors read meanwhile.

Sent in every widget's `hello`, so a process reads the rows at most every `_TTL_S` seconds
(cachetools): a new visitor's connect stays free of database calls, and an admin's change shows
within seconds."""

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cachetools import TTLCache
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from chatbot.handoff import selectors
from chatbot.handoff.models import AwayMessage, OpeningHours
from chatbot.visitor_copy import render

_TTL_S = 15.0
DEFAULT_AWAY = _(
    "Our team is away right now. Leave your email and a message, and we'll reply when we're back."
)


@dataclass(frozen=True)
class Shift:
    weekday: int  # Monday is 0
    opens: time
    closes: time


def is_open(shifts: list[Shift], local: datetime) -> bool:
    """In a shift at this local time; always with no shifts set (no hours configured)."""
    if not shifts:
        return True
    now = local.time()
    return any(s.weekday == local.weekday() and s.opens <= now < s.closes for s in shifts)


def next_opening(shifts: list[Shift], local: datetime) -> datetime | None:
    """The start of the next shift after `local` (aware, in local's zone); None without shifts."""
    starts = []
    for days in range(8):
        day = (local + timedelta(days=days)).date()
        for s in shifts:
            if s.weekday == day.weekday():
                start = datetime.combine(day, s.opens, tzinfo=local.tzinfo)
                if start > local:
                    starts.append(start)
    return min(starts, default=None)


@dataclass(frozen=True)
class Configured:
    shifts: list[Shift]
    away: dict[str, str]  # locale -> the admin's away message
    agents_online: int
    reply_wait_s: float


_read: TTLCache = TTLCache(maxsize=1, ttl=_TTL_S)


def configured_cached() -> Configured | None:
    """What was read less than `_TTL_S` ago, without touching the database; else None."""
    return _read.get("team")


def configured_load() -> Configured:
    """Reads hours, away messages and agents online (sync: the database), and keeps them."""
    shifts = [
        Shift(weekday, opens, closes)
        for weekday, opens, closes in OpeningHours.objects.values_list("weekday", "opens", "closes")
    ]
    configured = Configured(
        shifts=shifts,
        away=dict(AwayMessage.objects.values_list("locale", "text")),
        agents_online=selectors.agents_online(),
        reply_wait_s=selectors.average_claim_wait_s(),
    )
    _read["team"] = configured
    return configured


def team_status(
    configured: Configured, *, locale: str, now: datetime | None = None
) -> dict[str, Any]:
    """The `team` object of `hello` (docs/protocol.md)."""
    local = (now or timezone.now()).astimezone(ZoneInfo(settings.SUPPORT_TIME_ZONE))
    open_now = is_open(configured.shifts, local)
    opens_at = None if open_now else next_opening(configured.shifts, local)
    away = "" if open_now else configured.away.get(locale) or render(DEFAULT_AWAY, locale)
    return {
        "open": open_now,
        "opens_at": opens_at.isoformat() if opens_at else None,
        "agents_online": configured.agents_online,
        "reply_wait_s": round(configured.reply_wait_s),
        "away": away,
    }


def forget() -> None:
    """Read again on the next connect (after an admin change, in tests)."""
    _read.clear()
