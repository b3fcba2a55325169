"""Figures for the staff analytics dashboard (docs/analytics.md).

Every figure is computed by the database over the whole range (`Scope`), from the facts stored
with each bot answer (chatbot.answer_facts), never from traces. Python only finishes what SQL
cannot say: it merges unanswered questions by `normalise_question`, compares the topics of a
returning visitor's questions, and clusters the newest content-gap questions by meaning."""

import datetime as dt
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from django.db.models import (
    Case,
    Count,
    F,
    FloatField,
    Func,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import Lag, Lower, TruncDate
from django.utils import timezone

from chatbot.answer_facts import Grounding as Check
from chatbot.models import DEMO_VISITOR_PREFIX, Conversation, Feedback, Message
from chatbot.outcomes import Decision, Source
from knowledge.documents.parsing import guess_locale
from knowledge.embeddings import get_embedder
from knowledge.matching import BELOW_THRESHOLD
from knowledge.models import FAQ
from knowledge.operating_points import operating_point
from knowledge.selectors import faq_find, normalise_question, passages_retrieve

SOURCES = tuple(Source)
DEFLECTING_SOURCES = frozenset({Source.FAQ, Source.CACHE})
# A real answer; the fallback only apologises.
ANSWER_SOURCES = frozenset({Source.FAQ, Source.CACHE, Source.LLM})
# A model answer whose text went out replaced ("I'm not sure… these articles may help") answered
# nothing either: it once counted towards "assumed resolved" (an analytics walk).
NOT_AN_ANSWER = (Check.REPLACED, Check.NOT_ASKED)
RECONTACT_WINDOW = dt.timedelta(hours=24)
RECONTACT_GAP = dt.timedelta(minutes=30)
# Two questions are "the same thing" when their normalised text is equal, or both were matched
# to the same FAQ with at least this support (a weak match is not a shared topic).
SAME_TOPIC_FAQ_SCORE = 0.6
TOP_UNANSWERED = 20
# The lowest FAQ score at which the dashboard names a question's nearest FAQ with "add as its
# phrasing": one click from a wrong phrasing, so nearer than a "Did you mean" offer must be.
PHRASING_FLOOR = 0.70
# "Show all" on the dashboard: a lead working through a month's questions read the 20 most asked
# and had no way to the rest.
ALL_UNANSWERED = 500
# Content gaps: questions whose nearest neighbour in a cluster is at least this similar ask about
# one missing topic; the newest this many are clustered.
GAP_SIMILARITY = 0.6
MAX_GAP_QUESTIONS = 1000
TOP_GAPS = 20


def day_range(start_day: dt.date, end_day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Inclusive local days as an aware [start, end) interval."""
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(start_day, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(end_day + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    return start, end


def _days(start: dt.datetime, end: dt.datetime) -> list[dt.date]:
    first = timezone.localtime(start).date()
    last = timezone.localtime(end - dt.timedelta(microseconds=1)).date()
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


@dataclass(frozen=True)
class Scope:
    """The range as querysets, for the figures computed in SQL."""

    start: dt.datetime
    end: dt.datetime
    include_demo: bool = True

    @classmethod
    def of_days(cls, start_day: dt.date, end_day: dt.date, *, include_demo: bool = True) -> "Scope":
        return cls(*day_range(start_day, end_day), include_demo=include_demo)

    def days(self) -> list[dt.date]:
        return _days(self.start, self.end)

    def conversations(self) -> QuerySet[Conversation]:
        """Conversations started in the range."""
        rows = Conversation.objects.filter(created_at__gte=self.start, created_at__lt=self.end)
        if not self.include_demo:
            rows = rows.exclude(visitor_token__startswith=DEMO_VISITOR_PREFIX)
        return rows

    def messages(self, until: dt.datetime | None = None) -> QuerySet[Message]:
        """Messages sent in the range (or from its start until `until`)."""
        rows = Message.objects.filter(created_at__gte=self.start, created_at__lt=until or self.end)
        if not self.include_demo:
            rows = rows.exclude(conversation__visitor_token__startswith=DEMO_VISITOR_PREFIX)
        return rows

    def answers(self) -> QuerySet[Message]:
        return self.messages().filter(role=Message.Role.BOT)

    @property
    def horizon(self) -> dt.datetime:
        """How far messages are followed: a day past the end, so that a visitor coming back
        the next day still counts as a re-contact, and a conversation's last words are seen."""
        return self.end + RECONTACT_WINDOW

    def questions(self) -> QuerySet[Message]:
        """Visitor messages sent in the range, without "try again" repeats: what was asked."""
        return (
            self.messages()
            .filter(role=Message.Role.VISITOR)
            .exclude(trace__has_key=Message.TRACE_RETRY_OF)
        )


class Seconds(Func):
    """A timestamp as seconds since the epoch, computed by the database itself: Django's
    datetime arithmetic on SQLite calls back into Python for every row."""

    output_field = FloatField()

    def as_sqlite(self, compiler, connection, **extra):  # type: ignore[no-untyped-def]
        template = "((julianday(%(expressions)s) - 2440587.5) * 86400.0)"
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_postgresql(self, compiler, connection, **extra):  # type: ignore[no-untyped-def]
        template = "EXTRACT(EPOCH FROM %(expressions)s)::float8"
        return self.as_sql(compiler, connection, template=template, **extra)


def per_conversation(scope: Scope) -> QuerySet[Conversation]:
    """The scope's conversations with their messages until the horizon counted by kind, in one
    grouped join. (Correlated subqueries filtering on the role let SQLite walk the (role,
    created_at) index once per conversation: minutes at 40,000 conversations.)"""
    followed = Q(messages__created_at__lt=scope.horizon)

    def count(**kind: object) -> Count:
        kind_q = Q(**{f"messages__{k}": v for k, v in kind.items()})
        return Count("messages", filter=followed & kind_q)

    visitor, bot = Message.Role.VISITOR, Message.Role.BOT
    return scope.conversations().annotate(
        visitor_messages=count(role=visitor),
        deflected_messages=count(
            role=visitor, reply__source__in=DEFLECTING_SOURCES, reply__llm_called=False
        ),
        bot_messages=count(role=bot),
        real_answers=Count(
            "messages",
            filter=followed
            & Q(messages__role=bot, messages__source__in=ANSWER_SOURCES)
            & ~Q(messages__grounding__in=NOT_AN_ANSWER),
        ),
        agent_messages=count(role=Message.Role.AGENT),
        thumbs_up=count(role=bot, feedback__value=Feedback.Value.UP),
        thumbs_down=count(role=bot, feedback__value=Feedback.Value.DOWN),
    )


def real_data_exists() -> bool:
    """Whether any conversation is not a seeded demo one."""
    return Conversation.objects.exclude(visitor_token__startswith=DEMO_VISITOR_PREFIX).exists()


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _by_day(rows: QuerySet[Message]) -> QuerySet[Message]:
    """Rows grouped by the local day they were sent (add `.annotate(...)` for the aggregate)."""
    return rows.annotate(day=TruncDate("created_at")).values("day").order_by("day")


# --- deflection ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deflection:
    conversations: int
    deflected: int
    visitor_messages: int
    deflected_messages: int

    @property
    def rate(self) -> float:
        return _share(self.deflected, self.conversations)

    @property
    def message_rate(self) -> float:
        return _share(self.deflected_messages, self.visitor_messages)


def deflection(scope: Scope) -> Deflection:
    """A conversation is deflected when every visitor message got an FAQ or cache answer, no
    model was called and no person was involved (no handoff, no agent message)."""
    deflected = Q(handoff_reason="", agent_messages=0, deflected_messages=F("visitor_messages"))
    asked = (
        per_conversation(scope)
        .filter(visitor_messages__gt=0)
        .aggregate(conversations=Count("pk"), deflected=Count("pk", filter=deflected))
    )
    questions = scope.questions()
    return Deflection(
        conversations=asked["conversations"],
        deflected=asked["deflected"],
        visitor_messages=questions.count(),
        deflected_messages=questions.filter(
            reply__source__in=DEFLECTING_SOURCES, reply__llm_called=False
        ).count(),
    )


# --- source mix, latency, cost ---------------------------------------------------------------


@dataclass(frozen=True)
class DayMix:
    day: dt.date
    counts: dict[str, int]


def source_mix(scope: Scope) -> list[DayMix]:
    """Answers per day by source: bot messages by their `source`, agent messages as "agent"."""
    counts: dict[dt.date, Counter[str]] = {day: Counter() for day in scope.days()}
    talk = scope.messages().filter(role__in=(Message.Role.BOT, Message.Role.AGENT))
    for row in _by_day(talk).values("day", "role", "source").annotate(n=Count("id")):
        source = Source.AGENT if row["role"] == Message.Role.AGENT else row["source"]
        if source in SOURCES and row["day"] in counts:
            counts[row["day"]][source] += row["n"]
    return [DayMix(day, {s: c[s] for s in SOURCES}) for day, c in counts.items()]


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (an observed value, never interpolated)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _percentile_sql(rows: QuerySet[Message], column: str, count: int, p: float) -> float:
    """Nearest rank, as `percentile`, with the database doing the sorting."""
    rank = max(1, math.ceil(p / 100 * count))
    return rows.order_by(column).values_list(column, flat=True)[rank - 1]


@dataclass(frozen=True)
class Latency:
    source: str
    count: int
    p50: float | None
    p99: float | None


def ttft_by_source(scope: Scope) -> list[Latency]:
    """Time to first token (ms after the visitor's message was stored) of bot answers, per
    source."""
    timed = scope.answers().filter(first_token_ms__isnull=False)
    counts = dict(timed.values("source").annotate(n=Count("id")).values_list("source", "n"))
    rows = []
    for source in SOURCES:
        if n := counts.get(source, 0):
            of_source = timed.filter(source=source)
            p50 = _percentile_sql(of_source, "first_token_ms", n, 50)
            rows.append(
                Latency(source, n, p50, _percentile_sql(of_source, "first_token_ms", n, 99))
            )
    return rows


@dataclass(frozen=True)
class Costs:
    by_day: list[tuple[dt.date, float]]
    total: float
    conversations: int
    conversation_total: float

    @property
    def per_conversation(self) -> float:
        return self.conversation_total / self.conversations if self.conversations else 0.0


def costs(scope: Scope) -> Costs:
    """Model cost (every llm step's cost, including cut-off attempts) per day of the answer, and
    the mean over conversations started in the range (conversations without a model call count
    as zero)."""
    per_day: dict[dt.date, float] = dict.fromkeys(scope.days(), 0.0)
    for row in _by_day(scope.answers()).annotate(cost=Sum("cost_usd")):
        if row["day"] in per_day:
            per_day[row["day"]] += row["cost"] or 0.0
    started = scope.conversations()
    conversation_total = Message.objects.filter(
        role=Message.Role.BOT, conversation__in=started
    ).aggregate(cost=Sum("cost_usd"))["cost"]
    return Costs(
        by_day=[(day, round(cost, 6)) for day, cost in per_day.items()],
        total=round(sum(per_day.values()), 6),
        conversations=started.count(),
        conversation_total=round(conversation_total or 0.0, 6),
    )


# --- people: handoff, feedback, ratings ------------------------------------------------------


@dataclass(frozen=True)
class Handoffs:
    conversations: int
    handed_off: int
    by_reason: list[tuple[str, int]]

    @property
    def rate(self) -> float:
        return _share(self.handed_off, self.conversations)


def handoffs(scope: Scope) -> Handoffs:
    """Conversations started in the range that went to the queue, by the latest reason."""
    started = scope.conversations()
    reasons = (
        started.exclude(handoff_reason="")
        .values("handoff_reason")
        .annotate(n=Count("id"))
        .order_by("-n", "handoff_reason")
        .values_list("handoff_reason", "n")
    )
    by_reason = list(reasons)
    return Handoffs(started.count(), sum(n for _, n in by_reason), by_reason)


@dataclass(frozen=True)
class Thumbs:
    up: int
    down: int
    by_source: list[tuple[str, int, int]]  # source, up, down

    @property
    def up_share(self) -> float:
        return _share(self.up, self.up + self.down)


def thumbs(scope: Scope) -> Thumbs:
    """Thumbs on bot answers given in the range."""
    votes = Feedback.objects.filter(message__in=scope.answers())
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for source, value, n in (
        votes.values("message__source", "value")
        .annotate(n=Count("id"))
        .values_list("message__source", "value", "n")
    ):
        counts[source][value] += n
    rows = [(s, counts[s]["up"], counts[s]["down"]) for s in SOURCES if s in counts]
    return Thumbs(sum(r[1] for r in rows), sum(r[2] for r in rows), rows)


@dataclass(frozen=True)
class Csat:
    distribution: list[tuple[int, int]]  # rating 1..5, conversations

    @property
    def count(self) -> int:
        return sum(n for _, n in self.distribution)

    @property
    def mean(self) -> float | None:
        return sum(r * n for r, n in self.distribution) / self.count if self.count else None

    @property
    def satisfied(self) -> float:
        """CSAT: share of ratings that are 4 or 5."""
        return _share(sum(n for r, n in self.distribution if r >= 4), self.count)


def csat(scope: Scope) -> Csat:
    ratings = dict(
        scope.conversations()
        .filter(rating__isnull=False)
        .values("rating")
        .annotate(n=Count("id"))
        .values_list("rating", "n")
    )
    return Csat([(r, ratings.get(r, 0)) for r in range(1, 6)])


# --- breaker events --------------------------------------------------------------------------


@dataclass(frozen=True)
class BreakerDay:
    day: dt.date
    skipped: int  # a tier not tried because its breaker was open
    failed: int  # a tier tried and given up (errors, timeouts, after retries)
    models_down: int  # fallback answers because every tier failed


@dataclass(frozen=True)
class BreakerEvents:
    by_day: list[BreakerDay]
    by_tier: list[tuple[str, int, int]]  # tier, skipped, failed

    @property
    def total(self) -> int:
        return sum(d.skipped + d.failed for d in self.by_day)

    @property
    def models_down(self) -> int:
        return sum(d.models_down for d in self.by_day)


def breaker_events(scope: Scope) -> BreakerEvents:
    """Breaker transitions are not stored (only counters in shared state, see the model router
    page), so the events are the answers' own: tiers skipped for an open breaker, tiers that
    failed, and answers where every model was down."""
    days = {day: [0, 0, 0] for day in scope.days()}
    per_day = _by_day(scope.answers()).annotate(
        skipped=Sum("tiers_skipped"),
        failed=Sum("tiers_failed"),
        down=Count("id", filter=Q(models_down=True)),
    )
    for row in per_day:
        if row["day"] in days:
            days[row["day"]] = [row["skipped"] or 0, row["failed"] or 0, row["down"]]
    tiers: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    with_events = scope.answers().filter(Q(tiers_skipped__gt=0) | Q(tiers_failed__gt=0))
    for events in with_events.values_list("tier_events", flat=True).iterator():
        for tier, decision in events:
            tiers[tier][0 if decision == Decision.TIER_SKIPPED else 1] += 1
    return BreakerEvents(
        [BreakerDay(day, *c) for day, c in days.items()],
        sorted(((t, s, f) for t, (s, f) in tiers.items()), key=lambda r: (-r[1] - r[2], r[0])),
    )


# --- FAQ gaps --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unanswered:
    text: str  # the latest wording asked
    count: int
    fallback: int  # of which the fallback answered
    best_score: float | None  # the highest FAQ support seen for it
    # The latest asking's conversation (its trace), and the FAQ the matcher found nearest for
    # it with that FAQ's question: a lead worked out which FAQ a question nearly matched from
    # the score alone (a walk).
    conversation_id: int | None = None
    faq_id: int | None = None
    faq_question: str = ""


def top_unanswered(scope: Scope, limit: int = TOP_UNANSWERED) -> list[Unanswered]:
    """Visitor questions the fallback answered, or that the FAQ scored below its threshold
    (a model or the cache answered instead; decided when asked, at that locale's operating
    point then), grouped by normalised text, most asked first. The database groups by lower
    case; Python merges what differs only in punctuation or spacing."""
    fallback = Q(reply__source=Source.FALLBACK)
    below = Q(reply__faq_decision=BELOW_THRESHOLD) & ~Q(reply__source=Source.FAQ)
    groups = (
        scope.questions()
        .filter(fallback | below)
        .annotate(key=Lower("text"))
        .values("key")
        .annotate(
            n=Count("id"),
            fallback=Count("id", filter=fallback),
            best=Max("reply__faq_score"),
            latest=Max("id"),
        )
        .values_list("key", "n", "fallback", "best", "latest")
    )
    merged: dict[str, list] = {}
    for key, n, by_fallback, best, latest in groups.iterator():
        name = normalise_question(key)
        if not name:
            continue
        row = merged.setdefault(name, [0, 0, None, 0])
        row[0] += n
        row[1] += by_fallback
        if best is not None:
            row[2] = best if row[2] is None else max(row[2], best)
        row[3] = max(row[3], latest)
    top = sorted(merged.items(), key=lambda item: (-item[1][0], -item[1][1], item[0]))[:limit]
    latest_asked = {
        pk: (text, conversation_id, faq_id)
        for pk, text, conversation_id, faq_id in Message.objects.filter(
            id__in=[row[3] for _, row in top]
        ).values_list("id", "text", "conversation_id", "reply__faq_id")
    }
    questions = dict(
        FAQ.objects.filter(id__in={faq for _, _, faq in latest_asked.values() if faq}).values_list(
            "id", "question"
        )
    )
    rows = []
    for _, (n, fb, best, latest) in top:
        text, conversation_id, faq_id = latest_asked[latest]
        # Named only when near: a writer was offered "add as its phrasing" of "Do you ship
        # internationally?" for "Can I rent a bike?" (0.33), and at the Did-you-mean floor
        # (0.60) a second walk still got "Is there a senior discount?" for the student
        # discount (0.66) and four other questions for the promo-code FAQ (0.60-0.68).
        floor = max(operating_point(guess_locale([text])).faq_related_floor, PHRASING_FLOOR)
        near = best is not None and best >= floor
        faq_id = faq_id if faq_id in questions and near else None
        question = questions.get(faq_id, "")
        rows.append(Unanswered(text, n, fb, best, conversation_id, faq_id, question))
    return rows


# --- "Did you mean" ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Offers:
    """Replies that answered nothing but offered the nearest FAQs as "Did you mean" questions,
    and how many of those offers the visitor took (asked the offered question next)."""

    replies: int
    taken: int

    @property
    def taken_percent(self) -> float:
        return 100 * _share(self.taken, self.replies)


def offers(scope: Scope) -> Offers:
    counted = (
        scope.answers()
        .filter(offers__gt=0)
        .aggregate(replies=Count("id"), taken=Count("id", filter=Q(offer_taken=True)))
    )
    return Offers(replies=counted["replies"], taken=counted["taken"])


# --- help-centre grounding and content gaps ---------------------------------------------------


@dataclass(frozen=True)
class Grounding:
    """Model answers given help-centre sources, and questions the help centre had nothing on."""

    with_sources: int
    grounded: int
    ungrounded_sent: int
    ungrounded_replaced: int
    nothing_relevant: int
    # Questions with sources answered with the suggestions at once: no model was asked, every
    # tier having lately cited nothing (not among the model answers above).
    not_asked: int

    @property
    def ungrounded_share(self) -> float:
        return _share(self.ungrounded_sent + self.ungrounded_replaced, self.with_sources)

    @property
    def ungrounded_percent(self) -> float:
        return 100 * self.ungrounded_share


def grounding(scope: Scope) -> Grounding:
    answers = scope.answers()
    checked = dict(
        answers.exclude(grounding=Check.NONE)
        .values("grounding")
        .annotate(n=Count("id"))
        .values_list("grounding", "n")
    )
    not_asked = checked.pop(Check.NOT_ASKED, 0)
    return Grounding(
        with_sources=sum(checked.values()),
        grounded=checked.get(Check.GROUNDED, 0),
        ungrounded_sent=checked.get(Check.UNGROUNDED, 0),
        ungrounded_replaced=checked.get(Check.REPLACED, 0),
        nothing_relevant=answers.filter(nothing_relevant=True).count(),
        not_asked=not_asked,
    )


@dataclass(frozen=True)
class ContentGap:
    """Visitor questions the help centre had nothing relevant for, about one topic."""

    example: str  # the wording closest to the others
    count: int
    questions: tuple[str, ...]  # up to five other wordings
    # The latest asking's conversation (its trace), and the article the help centre finds for
    # the example now: a writer published one and the gap stayed listed as if open.
    conversation_id: int | None = None
    found_title: str = ""
    found_url: str = ""
    # The FAQ that answers the example now (a lead's gap list held "wat r ur opening hrs" after
    # its phrasing was added to the opening-hours FAQ).
    faq_id: int | None = None
    faq_question: str = ""


def cluster_questions(vectors: np.ndarray, similarity: float) -> list[list[int]]:
    """Single-link clusters of unit vectors: two questions share a cluster when a chain of
    neighbours at least `similarity` apart joins them."""
    parent = list(range(len(vectors)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if len(vectors):
        pairs = np.argwhere(np.triu(vectors @ vectors.T, k=1) >= similarity)
        for i, j in pairs:
            parent[root(int(i))] = root(int(j))
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(vectors)):
        groups[root(i)].append(i)
    return list(groups.values())


def content_gaps(scope: Scope, limit: int = TOP_GAPS) -> list[ContentGap]:
    """Questions answered "not in the help centre", clustered by meaning per language, biggest
    first: candidates for new articles."""
    newest = (
        scope.questions()
        .filter(reply__nothing_relevant=True)
        .order_by("-created_at", "-id")
        .values_list("text", "conversation_id")[:MAX_GAP_QUESTIONS]
    )
    asked = list(reversed(newest))
    by_locale: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for text, conversation_id in asked:
        by_locale[guess_locale([text])].append((text, conversation_id))
    gaps = []
    for locale, rows in by_locale.items():
        texts = [text for text, _ in rows]
        vectors = get_embedder(locale).embed(texts)
        for members in cluster_questions(vectors, GAP_SIMILARITY):
            centre = vectors[members].mean(axis=0)
            ordered = sorted(members, key=lambda i: -float(vectors[i] @ centre))
            wordings = list(dict.fromkeys(texts[i] for i in ordered))
            gap = ContentGap(wordings[0], len(members), tuple(wordings[1:6]), rows[max(members)][1])
            gaps.append((gap, locale, vectors[ordered[0]]))
    gaps.sort(key=lambda g: (-g[0].count, g[0].example))
    return [_found_now(gap, locale, vector) for gap, locale, vector in gaps[:limit]]


def _found_now(gap: ContentGap, locale: str, vector: np.ndarray) -> ContentGap:
    """The gap with the FAQ that answers its example today, else the article the help centre
    finds for it, if any."""
    lookup = faq_find(text=gap.example, locale=locale)
    if lookup.answered and lookup.result.faq_id is not None:
        question = FAQ.objects.filter(pk=lookup.result.faq_id).values_list("question", flat=True)
        return replace(gap, faq_id=lookup.result.faq_id, faq_question=question.first() or "")
    retrieval = passages_retrieve(text=gap.example, locale=locale, k=1, vector=vector)
    if not (retrieval.relevant and retrieval.passages):
        return gap
    best = retrieval.passages[0]
    return replace(gap, found_title=best.title, found_url=best.url)


# --- resolution ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolution:
    conversations: int  # started in the range with at least one bot answer
    confirmed: int
    assumed: int
    recontact: int
    handed_off: int
    unresolved: int

    def share(self, name: str) -> float:
        return _share(getattr(self, name), self.conversations)


def _topics(question: str, faq_id: int | None, faq_score: float | None) -> set[str]:
    """What a question is about: its normalised text, and its FAQ when matched strongly."""
    topics = {f"text:{normalise_question(question)}"}
    if faq_id is not None and (faq_score or 0) >= SAME_TOPIC_FAQ_SCORE:
        topics.add(f"faq:{faq_id}")
    return topics


def recontacted(scope: Scope) -> set[int]:
    """Conversations whose visitor came back about the same thing: a later visitor message with
    the same visitor token, at least 30 minutes after that visitor's previous message, within
    24 hours of a bot answer to an earlier question on the same topic. The database finds the
    returning messages (a window over each visitor's messages from the start to the horizon);
    only those visitors' answers are read."""
    visitor_of = "conversation__visitor_token"
    stream = scope.messages(until=scope.horizon)
    at = Seconds("created_at")
    previous_at = Window(Lag(at), partition_by=[F(visitor_of)], order_by=[F("created_at"), F("id")])
    # The role is compared here, not in SQL: Django would filter it before the window, and the
    # previous message may be of any role.
    after_a_gap = (
        stream.annotate(at=at, previous_at=previous_at)
        .filter(previous_at__lte=at - RECONTACT_GAP.total_seconds())
        .values_list("role", visitor_of, "at", "id", "text", "reply__faq_id", "reply__faq_score")
    )
    returning: dict[str, list[tuple[float, int, set[str]]]] = defaultdict(list)
    for role, visitor, back_at, message_id, text, faq_id, score in after_a_gap.iterator():
        if role == Message.Role.VISITOR:
            returning[visitor].append((back_at, message_id, _topics(text, faq_id, score)))
    if not returning:
        return set()
    answers = (
        stream.filter(role=Message.Role.BOT, reply_to__created_at__gte=scope.start)
        .annotate(at=at)
        .values_list(
            visitor_of, "conversation_id", "at", "id", "reply_to__text", "faq_id", "faq_score"
        )
    )
    window_s = RECONTACT_WINDOW.total_seconds()
    marked: set[int] = set()
    for visitor, conversation, answer_at, answer_id, question, faq_id, score in answers.iterator():
        if visitor not in returning or conversation in marked:
            continue
        later = [
            topics
            for back_at, back_id, topics in returning[visitor]
            if (answer_at, answer_id) < (back_at, back_id) and back_at - answer_at <= window_s
        ]
        if later and any(topics & _topics(question, faq_id, score) for topics in later):
            marked.add(conversation)
    return marked


def resolution(scope: Scope) -> Resolution:
    """One outcome per conversation the bot answered, first that applies: re-contact (the
    visitor came back about the same thing, even after a thumbs-up), confirmed (a thumbs-up or
    a rating of 4-5), handed off, assumed (the conversation ends on a real bot answer, not one
    replaced by suggested articles, or on a small-talk reply after one, with no thumbs-down or
    low rating), else unresolved."""
    last = (
        Message.objects.filter(conversation=OuterRef("pk"), created_at__lt=scope.horizon)
        .exclude(role=Message.Role.SYSTEM)
        .order_by("-created_at", "-id")
    )
    unhappy = Q(thumbs_down__gt=0) | Q(rating__lte=2)
    outcome = Case(
        When(Q(thumbs_up__gt=0) | Q(rating__gte=4), then=Value("confirmed")),
        When(~Q(handoff_reason="") | Q(agent_messages__gt=0), then=Value("handed_off")),
        When(
            Q(last_role=Message.Role.BOT)
            & (
                (Q(last_source__in=ANSWER_SOURCES) & ~Q(last_grounding__in=NOT_AN_ANSWER))
                # "thanks" → "You're welcome!" after a real answer ends the talk well.
                | Q(last_source=Source.SMALL_TALK, real_answers__gt=0)
            )
            & ~unhappy,
            then=Value("assumed"),
        ),
        default=Value("unresolved"),
    )
    answered = (
        per_conversation(scope)
        .filter(bot_messages__gt=0)
        .annotate(
            last_role=Subquery(last.values("role")[:1]),
            last_source=Subquery(last.values("source")[:1]),
            last_grounding=Subquery(last.values("grounding")[:1]),
            outcome=outcome,
        )
    )
    recontact = recontacted(scope)
    outcomes = Counter(
        "recontact" if pk in recontact else was
        for pk, was in answered.values_list("pk", "outcome").iterator()
    )
    return Resolution(
        conversations=sum(outcomes.values()),
        confirmed=outcomes["confirmed"],
        assumed=outcomes["assumed"],
        recontact=outcomes["recontact"],
        handed_off=outcomes["handed_off"],
        unresolved=outcomes["unresolved"],
    )


# --- everything ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dashboard:
    start: dt.date
    end: dt.date
    conversations: int
    deflection: Deflection
    source_mix: list[DayMix]
    ttft: list[Latency]
    costs: Costs
    handoffs: Handoffs
    thumbs: Thumbs
    csat: Csat
    breakers: BreakerEvents
    unanswered: list[Unanswered]
    unanswered_more: bool  # more questions than shown (the page shows all on request)
    offers: Offers
    resolution: Resolution
    grounding: Grounding
    content_gaps: list[ContentGap]
    include_demo: bool = True


def dashboard(
    start_day: dt.date,
    end_day: dt.date,
    *,
    include_demo: bool = True,
    all_unanswered: bool = False,
) -> Dashboard:
    scope = Scope.of_days(start_day, end_day, include_demo=include_demo)
    shown = ALL_UNANSWERED if all_unanswered else TOP_UNANSWERED
    unanswered = top_unanswered(scope, limit=shown + 1)
    return Dashboard(
        include_demo=include_demo,
        start=start_day,
        end=end_day,
        conversations=scope.conversations().count(),
        deflection=deflection(scope),
        source_mix=source_mix(scope),
        ttft=ttft_by_source(scope),
        costs=costs(scope),
        handoffs=handoffs(scope),
        thumbs=thumbs(scope),
        csat=csat(scope),
        breakers=breaker_events(scope),
        unanswered=unanswered[:shown],
        unanswered_more=len(unanswered) > shown,
        offers=offers(scope),
        resolution=resolution(scope),
        grounding=grounding(scope),
        content_gaps=content_gaps(scope),
    )
