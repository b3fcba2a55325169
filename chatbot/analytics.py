"""Figures for the staff analytics dashboard (docs/analytics.md).

Counts, sums and percentiles are SQL aggregates over the whole range (`Scope`), read from the
facts stored with each bot answer (chatbot.answer_facts), never from traces. The figures that
follow conversations and visitors message by message (deflection, resolution, re-contact,
unanswered questions, content gaps) are pure functions of a `Dataset`: the range's newest
`MAX_MESSAGES` messages, without their traces, so tests can build rows by hand."""

import datetime as dt
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from django.db.models import BooleanField, Count, ExpressionWrapper, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from chatbot.answer_facts import Grounding as Check
from chatbot.models import Conversation, Feedback, Message
from chatbot.outcomes import Decision, Source
from knowledge.documents.parsing import guess_locale
from knowledge.embeddings import get_embedder
from knowledge.matching import BELOW_THRESHOLD
from knowledge.selectors import normalise_question

MAX_MESSAGES = 100_000
SOURCES = tuple(Source)
DEFLECTING_SOURCES = frozenset({Source.FAQ, Source.CACHE})
# A real answer; the fallback only apologises.
ANSWER_SOURCES = frozenset({Source.FAQ, Source.CACHE, Source.LLM})
RECONTACT_WINDOW = dt.timedelta(hours=24)
RECONTACT_GAP = dt.timedelta(minutes=30)
# Two questions are "the same thing" when their normalised text is equal, or both were matched
# to the same FAQ with at least this support (a weak match is not a shared topic).
SAME_TOPIC_FAQ_SCORE = 0.6
TOP_UNANSWERED = 20
# Content gaps: questions whose nearest neighbour in a cluster is at least this similar ask about
# one missing topic; the newest this many are clustered.
GAP_SIMILARITY = 0.6
MAX_GAP_QUESTIONS = 1000
TOP_GAPS = 20
# The demo conversations of `manage.py seed_analytics_demo` are marked by their visitor token.
DEMO_VISITOR_PREFIX = "analytics-demo-"


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


@dataclass(frozen=True)
class ConversationRow:
    id: int
    visitor_token: str
    created_at: dt.datetime
    handoff_reason: str = ""
    rating: int | None = None


@dataclass(frozen=True)
class MessageRow:
    """A message with the facts of its answer (bot messages), as `load` reads it."""

    id: int
    conversation_id: int
    visitor_token: str
    role: str
    created_at: dt.datetime
    text: str = ""
    source: str = ""
    reply_to_id: int | None = None
    feedback: str | None = None
    llm_called: bool = False
    faq_id: int | None = None
    faq_score: float | None = None
    faq_decision: str = ""
    nothing_relevant: bool = False
    retry: bool = False  # a "try again" of an earlier question, stored once more

    @property
    def is_question(self) -> bool:
        """A visitor message, not a "try again" of an earlier one: what counts as asked."""
        return self.role == "visitor" and not self.retry


_MESSAGE_FIELDS = (
    "id",
    "conversation_id",
    "conversation__visitor_token",
    "role",
    "created_at",
    "text",
    "source",
    "reply_to_id",
    "feedback__value",
    "llm_called",
    "faq_id",
    "faq_score",
    "faq_decision",
    "nothing_relevant",
    "retry",
)


@dataclass(frozen=True)
class Dataset:
    """Conversations started in [start, end); messages created in [start, end + 24 h), oldest
    first (the extra day lets re-contact look past the end of the range): the newest
    `MAX_MESSAGES` of them when there are more (`truncated`)."""

    start: dt.datetime
    end: dt.datetime
    conversations: list[ConversationRow]
    messages: list[MessageRow]
    truncated: bool = False

    def days(self) -> list[dt.date]:
        return _days(self.start, self.end)

    def in_range(self, moment: dt.datetime) -> bool:
        return self.start <= moment < self.end

    def range_messages(self) -> list[MessageRow]:
        return [m for m in self.messages if self.in_range(m.created_at)]

    def by_conversation(self) -> dict[int, list[MessageRow]]:
        grouped: dict[int, list[MessageRow]] = defaultdict(list)
        for message in self.messages:
            grouped[message.conversation_id].append(message)
        return grouped

    def replies(self) -> dict[int, MessageRow]:
        """Bot answers by the id of the visitor message they answer."""
        return {
            m.reply_to_id: m for m in self.messages if m.role == "bot" and m.reply_to_id is not None
        }


def real_data_exists() -> bool:
    """Whether any conversation is not a seeded demo one."""
    return Conversation.objects.exclude(visitor_token__startswith=DEMO_VISITOR_PREFIX).exists()


def load(scope: Scope) -> Dataset:
    """The scope's conversations, and its newest messages with their answers' facts."""
    conversations = [
        ConversationRow(*row)
        for row in scope.conversations()
        .order_by("created_at")
        .values_list("id", "visitor_token", "created_at", "handoff_reason", "rating")
    ]
    retry = ExpressionWrapper(Q(trace__has_key=Message.TRACE_RETRY_OF), output_field=BooleanField())
    rows = list(
        scope.messages(until=scope.end + RECONTACT_WINDOW)
        .annotate(retry=retry)
        .order_by("-created_at", "-id")
        .values_list(*_MESSAGE_FIELDS)[: MAX_MESSAGES + 1]
    )
    messages = [MessageRow(*row) for row in reversed(rows[:MAX_MESSAGES])]
    return Dataset(
        scope.start, scope.end, conversations, messages, truncated=len(rows) > MAX_MESSAGES
    )


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


def _deflected_message(reply: MessageRow | None) -> bool:
    return reply is not None and reply.source in DEFLECTING_SOURCES and not reply.llm_called


def deflection(ds: Dataset) -> Deflection:
    """A conversation is deflected when every visitor message got an FAQ or cache answer, no
    model was called and no person was involved (no handoff, no agent message)."""
    grouped = ds.by_conversation()
    replies = ds.replies()
    total = deflected = 0
    for conversation in ds.conversations:
        visitor = [m for m in grouped.get(conversation.id, []) if m.role == "visitor"]
        if not visitor:
            continue
        total += 1
        human = conversation.handoff_reason or any(
            m.role == "agent" for m in grouped.get(conversation.id, [])
        )
        if not human and all(_deflected_message(replies.get(m.id)) for m in visitor):
            deflected += 1
    visitor_in_range = [m for m in ds.range_messages() if m.is_question]
    return Deflection(
        conversations=total,
        deflected=deflected,
        visitor_messages=len(visitor_in_range),
        deflected_messages=sum(_deflected_message(replies.get(m.id)) for m in visitor_in_range),
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


def _not_answered_by_faq(reply: MessageRow) -> bool:
    if reply.source == Source.FALLBACK:
        return True
    # Decided when it was asked, at the operating point of that locale's model then.
    return reply.source != Source.FAQ and reply.faq_decision == BELOW_THRESHOLD


def top_unanswered(ds: Dataset, limit: int = TOP_UNANSWERED) -> list[Unanswered]:
    """Visitor questions the fallback answered, or that the FAQ scored below its threshold
    (a model or the cache answered instead), grouped by normalised text, most asked first."""
    replies = ds.replies()
    groups: dict[str, list[tuple[MessageRow, MessageRow]]] = defaultdict(list)
    for m in ds.range_messages():
        reply = replies.get(m.id)
        if m.is_question and reply is not None and _not_answered_by_faq(reply):
            key = normalise_question(m.text)
            if key:
                groups[key].append((m, reply))
    rows = []
    for pairs in groups.values():
        scores = [r.faq_score for _, r in pairs if r.faq_score is not None]
        rows.append(
            Unanswered(
                text=pairs[-1][0].text,
                count=len(pairs),
                fallback=sum(r.source == Source.FALLBACK for _, r in pairs),
                best_score=max(scores) if scores else None,
            )
        )
    rows.sort(key=lambda r: (-r.count, -r.fallback, r.text))
    return rows[:limit]


# --- help-centre grounding and content gaps ---------------------------------------------------


@dataclass(frozen=True)
class Grounding:
    """Model answers given help-centre sources, and questions the help centre had nothing on."""

    with_sources: int
    grounded: int
    ungrounded_sent: int
    ungrounded_replaced: int
    nothing_relevant: int

    @property
    def ungrounded_share(self) -> float:
        return _share(self.ungrounded_sent + self.ungrounded_replaced, self.with_sources)


def grounding(scope: Scope) -> Grounding:
    answers = scope.answers()
    checked = dict(
        answers.exclude(grounding=Check.NONE)
        .values("grounding")
        .annotate(n=Count("id"))
        .values_list("grounding", "n")
    )
    return Grounding(
        with_sources=sum(checked.values()),
        grounded=checked.get(Check.GROUNDED, 0),
        ungrounded_sent=checked.get(Check.UNGROUNDED, 0),
        ungrounded_replaced=checked.get(Check.REPLACED, 0),
        nothing_relevant=answers.filter(nothing_relevant=True).count(),
    )


@dataclass(frozen=True)
class ContentGap:
    """Visitor questions the help centre had nothing relevant for, about one topic."""

    example: str  # the wording closest to the others
    count: int
    questions: tuple[str, ...]  # up to five other wordings


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


def content_gaps(ds: Dataset, limit: int = TOP_GAPS) -> list[ContentGap]:
    """Questions answered "not in the help centre", clustered by meaning per language, biggest
    first: candidates for new articles."""
    replies = ds.replies()
    asked = [
        m.text
        for m in ds.range_messages()
        if m.is_question and (r := replies.get(m.id)) and r.nothing_relevant
    ][-MAX_GAP_QUESTIONS:]
    by_locale: dict[str, list[str]] = defaultdict(list)
    for text in asked:
        by_locale[guess_locale([text])].append(text)
    gaps = []
    for locale, texts in by_locale.items():
        vectors = get_embedder(locale).embed(texts)
        for members in cluster_questions(vectors, GAP_SIMILARITY):
            centre = vectors[members].mean(axis=0)
            ordered = sorted(members, key=lambda i: -float(vectors[i] @ centre))
            wordings = list(dict.fromkeys(texts[i] for i in ordered))
            gaps.append(ContentGap(wordings[0], len(members), tuple(wordings[1:6])))
    gaps.sort(key=lambda g: (-g.count, g.example))
    return gaps[:limit]


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


def _topics(visitor: MessageRow, reply: MessageRow | None) -> set[str]:
    topics = {f"text:{normalise_question(visitor.text)}"}
    if reply and reply.faq_id is not None and (reply.faq_score or 0) >= SAME_TOPIC_FAQ_SCORE:
        topics.add(f"faq:{reply.faq_id}")
    return topics


def recontacted(ds: Dataset) -> set[int]:
    """Conversations whose visitor came back about the same thing: a later visitor message with
    the same visitor token, at least 30 minutes after that visitor's previous message, within
    24 hours of a bot answer to an earlier question on the same topic."""
    replies = ds.replies()
    by_id = {m.id: m for m in ds.messages}
    by_token: dict[str, list[MessageRow]] = defaultdict(list)
    for m in ds.messages:
        by_token[m.visitor_token].append(m)
    marked: set[int] = set()
    for stream in by_token.values():
        answered: list[tuple[MessageRow, set[str]]] = []  # (bot answer, topics it answered)
        previous: MessageRow | None = None
        for m in stream:
            if m.role == "visitor":
                topics = _topics(m, replies.get(m.id))
                if previous is not None and m.created_at - previous.created_at >= RECONTACT_GAP:
                    for answer, answered_topics in answered:
                        if (
                            m.created_at - answer.created_at <= RECONTACT_WINDOW
                            and topics & answered_topics
                        ):
                            marked.add(answer.conversation_id)
            elif m.role == "bot" and m.reply_to_id is not None:
                asked = by_id.get(m.reply_to_id)
                if asked is not None:
                    answered.append((m, _topics(asked, m)))
            previous = m
    return marked


def _outcome(
    conversation: ConversationRow, messages: Iterable[MessageRow], recontact: bool
) -> str | None:
    talk = [m for m in messages if m.role in ("visitor", "bot", "agent")]
    bot = [m for m in talk if m.role == "bot"]
    if not bot:
        return None
    if recontact:
        return "recontact"
    if any(m.feedback == "up" for m in bot) or (conversation.rating or 0) >= 4:
        return "confirmed"
    if conversation.handoff_reason or any(m.role == "agent" for m in talk):
        return "handed_off"
    unhappy = any(m.feedback == "down" for m in bot) or (conversation.rating or 5) <= 2
    if talk[-1].role == "bot" and talk[-1].source in ANSWER_SOURCES and not unhappy:
        return "assumed"
    return "unresolved"


def resolution(ds: Dataset) -> Resolution:
    """One outcome per conversation the bot answered, first that applies: re-contact (the
    visitor came back about the same thing, even after a thumbs-up), confirmed (a thumbs-up or
    a rating of 4-5), handed off, assumed (the conversation ends on a real bot answer, with no
    thumbs-down or low rating), else unresolved."""
    grouped = ds.by_conversation()
    recontact = recontacted(ds)
    outcomes = Counter(
        _outcome(c, grouped.get(c.id, []), c.id in recontact) for c in ds.conversations
    )
    outcomes.pop(None, None)
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
    truncated: bool
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
    resolution: Resolution
    grounding: Grounding
    content_gaps: list[ContentGap]
    include_demo: bool = True


def dashboard(start_day: dt.date, end_day: dt.date, *, include_demo: bool = True) -> Dashboard:
    scope = Scope.of_days(start_day, end_day, include_demo=include_demo)
    ds = load(scope)
    return Dashboard(
        include_demo=include_demo,
        start=start_day,
        end=end_day,
        truncated=ds.truncated,
        conversations=len(ds.conversations),
        deflection=deflection(ds),
        source_mix=source_mix(scope),
        ttft=ttft_by_source(scope),
        costs=costs(scope),
        handoffs=handoffs(scope),
        thumbs=thumbs(scope),
        csat=csat(scope),
        breakers=breaker_events(scope),
        unanswered=top_unanswered(ds),
        resolution=resolution(ds),
        grounding=grounding(scope),
        content_gaps=content_gaps(ds),
    )
