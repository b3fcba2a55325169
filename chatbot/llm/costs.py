"""Model cost per day and per conversation, summed from the traces stored with bot messages
(every llm step carries its own cost, including attempts that were cut off)."""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from chatbot.models import Message


def trace_cost(trace: dict[str, Any]) -> float:
    return sum(step.get("cost") or 0.0 for step in trace.get("steps", []))


@dataclass(frozen=True)
class CostReport:
    by_day: list[tuple[dt.date, float, int]]  # day, cost, answers
    top_conversations: list[tuple[str, float, int]]  # public id, cost, answers


def cost_report(*, days: int = 7, top: int = 10) -> CostReport:
    since = timezone.now() - dt.timedelta(days=days)
    per_day: dict[dt.date, list[float]] = defaultdict(list)
    per_conversation: dict[str, list[float]] = defaultdict(list)
    rows = Message.objects.filter(role=Message.Role.BOT, created_at__gte=since).values_list(
        "conversation__public_id", "created_at", "trace"
    )
    for public_id, created, trace in rows.iterator():
        cost = trace_cost(trace or {})
        per_day[created.date()].append(cost)
        per_conversation[public_id].append(cost)
    by_day = sorted(((d, round(sum(c), 6), len(c)) for d, c in per_day.items()), reverse=True)
    conversations = sorted(
        ((p, round(sum(c), 6), len(c)) for p, c in per_conversation.items()),
        key=lambda row: -row[1],
    )
    return CostReport(by_day, conversations[:top])
