"""Per-agent and per-team figures over a date range: conversations handled, median first
response and resolution times, CSAT, handoff reasons (docs/console.md, "Reports").

A conversation counts once, in the range of its latest handoff (`queued_at`, local days), for
the agent who claimed it: the one who holds or closed it, or, once it went back to the bot, the
last agent who wrote in it since the handoff; and for the team it was given to (`NO_TEAM` when
none). Times run from the handoff: first response to the
first agent reply, resolution to the close (closed conversations only). CSAT is the share of
ratings of 4 or 5, as on the analytics dashboard."""

from __future__ import annotations

import csv
import datetime as dt
import io
import statistics
from collections import Counter
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model

from chatbot.analytics.figures import day_range
from chatbot.handoff.models import Team
from chatbot.handoff.selectors import agent_name
from chatbot.models import Conversation, HandoffReason, Message
from knowledge.importing import SPREADSHEET_BOM, spreadsheet_safe

ALL_AGENTS = "(all agents)"
ALL_TEAMS = "(all teams)"
NO_TEAM = "(no team)"


@dataclass
class Figures:
    """One row of a report: an agent's or a team's (`row_id` is the agent's or team's id; 0 for
    the total and for conversations given to no team)."""

    row_id: int
    name: str
    handled: int = 0
    first_response_s: list[float] = field(default_factory=list)
    resolution_s: list[float] = field(default_factory=list)
    ratings: list[int] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def first_response_median_s(self) -> float | None:
        return statistics.median(self.first_response_s) if self.first_response_s else None

    @property
    def resolution_median_s(self) -> float | None:
        return statistics.median(self.resolution_s) if self.resolution_s else None

    @property
    def csat(self) -> float | None:
        """Share of ratings that are 4 or 5; None before any rating."""
        if not self.ratings:
            return None
        return sum(1 for r in self.ratings if r >= 4) / len(self.ratings)

    @property
    def reason_counts(self) -> list[tuple[str, int]]:
        """(reason as agents read it, conversations), commonest first."""
        return [
            (HandoffReason.label_of(reason), n)
            for reason, n in sorted(self.reasons.items(), key=lambda item: (-item[1], item[0]))
        ]

    @property
    def rating_mean(self) -> float | None:
        return statistics.fmean(self.ratings) if self.ratings else None


@dataclass(frozen=True)
class _Handled:
    agent_id: int
    team_id: int | None
    queued: dt.datetime
    first_reply: dt.datetime | None
    status: str
    closed: dt.datetime | None
    rating: int | None
    reason: str

    def add_to(self, figures: Figures) -> None:
        figures.handled += 1
        if self.first_reply is not None:
            figures.first_response_s.append((self.first_reply - self.queued).total_seconds())
        closed = self.closed
        if self.status == Conversation.Status.CLOSED and closed and closed >= self.queued:
            figures.resolution_s.append((closed - self.queued).total_seconds())
        if self.rating:
            figures.ratings.append(self.rating)
        figures.reasons[self.reason or "unknown"] += 1


def _handled(start_day: dt.date, end_day: dt.date) -> list[_Handled]:
    """The conversations handed off in the range that an agent handled."""
    start, end = day_range(start_day, end_day)
    rows = list(
        Conversation.objects.filter(
            queued_at__gte=start, queued_at__lt=end, claimed_at__isnull=False
        ).values_list(
            "id",
            "assigned_to_id",
            "queued_at",
            "first_agent_reply_at",
            "status",
            "closed_at",
            "rating",
            "handoff_reason",
            "team_id",
        )
    )
    last_writer = _last_agent_writers(
        {cid: queued for cid, owner, queued, *_ in rows if owner is None}
    )
    handled = []
    for cid, owner, queued, first_reply, status, closed, rating, reason, team_id in rows:
        agent_id = owner or last_writer.get(cid)
        if agent_id is None:
            continue  # claimed, never answered, and back with the bot or the queue
        handled.append(
            _Handled(agent_id, team_id, queued, first_reply, status, closed, rating, reason)
        )
    return handled


def _grouped(handled: list[_Handled], key: str, names: dict[int, str]) -> list[Figures]:
    rows: dict[int, Figures] = {}
    for h in handled:
        row_id = getattr(h, key) or 0
        if row_id not in rows:
            rows[row_id] = Figures(row_id, names.get(row_id, NO_TEAM))
        h.add_to(rows[row_id])
    return sorted(rows.values(), key=lambda f: (f.row_id == 0, f.name.lower(), f.row_id))


def agent_report(*, start_day: dt.date, end_day: dt.date) -> list[Figures]:
    """One row per agent who handled a conversation handed off in the range, by name."""
    handled = _handled(start_day, end_day)
    users = get_user_model().objects.in_bulk({h.agent_id for h in handled})
    return _grouped(
        handled, "agent_id", {h.agent_id: agent_name(users.get(h.agent_id)) for h in handled}
    )


def team_report(*, start_day: dt.date, end_day: dt.date) -> list[Figures]:
    """One row per team whose conversations an agent handled in the range, by name; the
    conversations given to no team last (`NO_TEAM`)."""
    handled = _handled(start_day, end_day)
    teams = Team.objects.in_bulk({h.team_id for h in handled} - {None})
    return _grouped(handled, "team_id", {pk: t.name for pk, t in teams.items()})


def figures_total(figures: list[Figures], name: str = ALL_AGENTS) -> Figures:
    """Every row's conversations together (medians over all of them, not of the medians)."""
    total = Figures(0, name)
    for f in figures:
        total.handled += f.handled
        total.first_response_s += f.first_response_s
        total.resolution_s += f.resolution_s
        total.ratings += f.ratings
        total.reasons.update(f.reasons)
    return total


def _last_agent_writers(queued_at: dict[int, dt.datetime]) -> dict[int, int]:
    """For conversations no agent holds any more: the author of the last agent message since
    their handoff."""
    writers: dict[int, int] = {}
    rows = (
        Message.objects.filter(
            conversation_id__in=list(queued_at), role=Message.Role.AGENT, author__isnull=False
        )
        .order_by("id")
        .values_list("conversation_id", "author_id", "created_at")
    )
    for conversation_id, author_id, created_at in rows:
        if created_at >= queued_at[conversation_id]:
            writers[conversation_id] = author_id
    return writers


CSV_COLUMNS = [
    "agent",
    "conversations_handled",
    "first_response_median_s",
    "resolution_median_s",
    "ratings",
    "csat",
    "rating_mean",
    "handoff_reasons",
]


def _number(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def report_csv(figures: list[Figures], by: str = "agent") -> str:
    """The report as CSV, one agent (or team) a row, then all together (`ALL_AGENTS`,
    `ALL_TEAMS`); handoff reasons as `reason=count` pairs. Names are people's own words: a
    spreadsheet must not run "=HYPERLINK(…)" as a formula (`spreadsheet_safe`)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([by, *CSV_COLUMNS[1:]])
    total = ALL_TEAMS if by == "team" else ALL_AGENTS
    for f in [*figures, figures_total(figures, total)] if figures else []:
        writer.writerow(
            [
                spreadsheet_safe(f.name),
                f.handled,
                _number(f.first_response_median_s),
                _number(f.resolution_median_s),
                len(f.ratings),
                _number(f.csat, 3),
                _number(f.rating_mean, 2),
                spreadsheet_safe(" ".join(f"{r}={n}" for r, n in sorted(f.reasons.items()))),
            ]
        )
    return SPREADSHEET_BOM + out.getvalue()
