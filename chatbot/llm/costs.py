"""Model cost per day and per conversation, summed in SQL from the cost stored with each bot
message (every llm step's cost, attempts that were cut off included: chatbot.answer_facts)."""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from chatbot.models import DEMO_VISITOR_PREFIX, Message


@dataclass(frozen=True)
class CostReport:
    by_day: list[tuple[dt.date, float, int]]  # day, cost, answers
    top_conversations: list[tuple[str, float, int]]  # public id, cost, answers


def day_spent(day: dt.date) -> float:
    """The model cost stored with the site's bot answers of one UTC day (the budget's day)."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    total = (
        Message.objects.filter(
            role=Message.Role.BOT,
            created_at__gte=start,
            created_at__lt=start + dt.timedelta(days=1),
        )
        .exclude(conversation__visitor_token__startswith=DEMO_VISITOR_PREFIX)
        .aggregate(total=Sum("cost_usd"))["total"]
    )
    return float(total or 0.0)


def cost_report(*, days: int = 7, top: int = 10) -> CostReport:
    since = timezone.now() - dt.timedelta(days=days)
    answers = Message.objects.filter(role=Message.Role.BOT, created_at__gte=since).exclude(
        conversation__visitor_token__startswith=DEMO_VISITOR_PREFIX
    )  # spend is the site's own: the analytics demo's made-up answers once topped the list
    by_day = (
        answers.annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(cost=Sum("cost_usd"), answers=Count("id"))
        .order_by("-day")
    )
    conversations = (
        answers.values("conversation__public_id")
        .annotate(cost=Sum("cost_usd"), answers=Count("id"))
        .order_by("-cost", "conversation__public_id")[:top]
    )
    return CostReport(
        [(row["day"], round(row["cost"], 6), row["answers"]) for row in by_day],
        [
            (row["conversation__public_id"], round(row["cost"], 6), row["answers"])
            for row in conversations
        ],
    )
