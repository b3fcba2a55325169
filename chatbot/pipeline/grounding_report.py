"""How each model's answers given help-centre sources stood up to the citation check, read from
the stored answers: what seeds a process's record of models that do not ground
(chatbot.pipeline.ungrounded_tiers) and what the model router page shows."""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Q
from django.utils import timezone

from chatbot.answer_facts import Grounding
from chatbot.models import Message
from chatbot.pipeline.ungrounded_tiers import all_ungrounded

# How far back the stored answers count.
HISTORY_DAYS = 7


def _answers_given_sources(days: int):
    since = timezone.now() - dt.timedelta(days=days)
    return Message.objects.filter(
        role=Message.Role.BOT,
        created_at__gte=since,
        grounding__in=(Grounding.GROUNDED, Grounding.UNGROUNDED, Grounding.REPLACED),
    )


@dataclass(frozen=True)
class StoredGroundings:
    outcomes: list[bool]  # newest first: grounded or not
    newest_age_s: float | None  # how long ago the newest was answered (the model last asked)


def stored_groundings(tier: str, model: str, locale: str, limit: int) -> StoredGroundings:
    """The latest answers of the tier's model given sources in conversations in `locale`."""
    rows = list(
        _answers_given_sources(HISTORY_DAYS)
        .filter(llm_tier=tier, llm_model=model, conversation__locale=locale)
        .order_by("-created_at", "-id")
        .values_list("grounding", "created_at")[:limit]
    )
    age = (timezone.now() - rows[0][1]).total_seconds() if rows else None
    return StoredGroundings([grounding == Grounding.GROUNDED for grounding, _ in rows], age)


@dataclass(frozen=True)
class ModelGrounding:
    tier: str
    model: str
    locale: str
    grounded: int
    sent_ungrounded: int
    replaced: int
    # Its latest `skip_after` answers were all ungrounded: what keeps it out of such questions.
    latest_all_ungrounded: bool

    @property
    def answers(self) -> int:
        return self.grounded + self.sent_ungrounded + self.replaced

    @property
    def grounded_percent(self) -> float:
        return 100 * self.grounded / self.answers if self.answers else 0.0


def grounding_by_model(*, skip_after: int, days: int = HISTORY_DAYS) -> list[ModelGrounding]:
    """Per tier, model and language, its answers given sources over the last `days`, most
    answers first."""
    rows = (
        _answers_given_sources(days)
        .exclude(llm_model="")
        .values("llm_tier", "llm_model", "conversation__locale")
        .annotate(
            grounded=Count("id", filter=Q(grounding=Grounding.GROUNDED)),
            sent=Count("id", filter=Q(grounding=Grounding.UNGROUNDED)),
            replaced=Count("id", filter=Q(grounding=Grounding.REPLACED)),
        )
    )
    report = []
    for row in rows:
        locale = row["conversation__locale"]
        latest = stored_groundings(row["llm_tier"], row["llm_model"], locale, skip_after).outcomes
        report.append(
            ModelGrounding(
                row["llm_tier"],
                row["llm_model"],
                locale,
                row["grounded"],
                row["sent"],
                row["replaced"],
                all_ungrounded(latest, skip_after),
            )
        )
    return sorted(report, key=lambda r: (-r.answers, r.tier, r.model, r.locale))
