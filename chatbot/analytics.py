"""Figures for the staff analytics dashboard (docs/analytics.md).

`load` reads the range once (one query for conversations, one for messages with their feedback);
every figure is a pure function of the resulting `Dataset`, so tests can build rows by hand.
Percentiles and trace-derived numbers are computed in Python over at most `MAX_MESSAGES` rows."""

import datetime as dt
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.utils import timezone

from chatbot.handoff.selectors import models_were_down
from chatbot.llm.costs import trace_cost
from chatbot.models import Conversation, Message
from chatbot.outcomes import Decision, Source
from knowledge.documents.parsing import guess_locale
from knowledge.embeddings import get_embedder
from knowledge.matching import BELOW_THRESHOLD
from knowledge.selectors import normalise_question

MAX_MESSAGES = 50_000
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


@dataclass(frozen=True)
class ConversationRow:
    id: int
    visitor_token: str
    created_at: dt.datetime
    handoff_reason: str = ""
    rating: int | None = None


@dataclass(frozen=True)
class MessageRow:
    id: int
    conversation_id: int
    visitor_token: str
    role: str
    created_at: dt.datetime
    text: str = ""
    source: str = ""
    trace: dict[str, Any] = field(default_factory=dict)
    reply_to_id: int | None = None
    feedback: str | None = None

    @property
    def is_question(self) -> bool:
        """A visitor message, not a "try again" of an earlier one: what counts as asked."""
        return self.role == "visitor" and Message.TRACE_RETRY_OF not in self.trace


@dataclass(frozen=True)
class Dataset:
    """Conversations started in [start, end); messages created in [start, end + 24 h), oldest
    first (the extra day lets re-contact look past the end of the range)."""

    start: dt.datetime
    end: dt.datetime
    conversations: list[ConversationRow]
    messages: list[MessageRow]
    truncated: bool = False

    def days(self) -> list[dt.date]:
        first = timezone.localtime(self.start).date()
        last = timezone.localtime(self.end - dt.timedelta(microseconds=1)).date()
        return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]

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


def day_range(start_day: dt.date, end_day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Inclusive local days as an aware [start, end) interval."""
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(start_day, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(end_day + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    return start, end


# The demo conversations of `manage.py seed_analytics_demo` are marked by their visitor token.
DEMO_VISITOR_PREFIX = "analytics-demo-"


def real_data_exists() -> bool:
    """Whether any conversation is not a seeded demo one."""
    return Conversation.objects.exclude(visitor_token__startswith=DEMO_VISITOR_PREFIX).exists()


def load(start_day: dt.date, end_day: dt.date, *, include_demo: bool = True) -> Dataset:
    """The range's conversations and messages; without the seeded demo ones unless asked."""
    start, end = day_range(start_day, end_day)
    conversations_qs = Conversation.objects.filter(created_at__gte=start, created_at__lt=end)
    messages_qs = Message.objects.filter(
        created_at__gte=start, created_at__lt=end + RECONTACT_WINDOW
    )
    if not include_demo:
        conversations_qs = conversations_qs.exclude(visitor_token__startswith=DEMO_VISITOR_PREFIX)
        messages_qs = messages_qs.exclude(
            conversation__visitor_token__startswith=DEMO_VISITOR_PREFIX
        )
    conversations = [
        ConversationRow(*row)
        for row in conversations_qs.order_by("created_at").values_list(
            "id", "visitor_token", "created_at", "handoff_reason", "rating"
        )
    ]
    rows = list(
        messages_qs.order_by("created_at", "id").values_list(
            "id",
            "conversation_id",
            "conversation__visitor_token",
            "role",
            "created_at",
            "text",
            "source",
            "trace",
            "reply_to_id",
            "feedback__value",
        )[: MAX_MESSAGES + 1]
    )
    messages = [MessageRow(*row[:7], row[7] or {}, *row[8:]) for row in rows[:MAX_MESSAGES]]
    return Dataset(start, end, conversations, messages, truncated=len(rows) > MAX_MESSAGES)


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _local_day(moment: dt.datetime) -> dt.date:
    return timezone.localtime(moment).date()


def _llm_steps(trace: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for step in trace.get("steps", []) if step.get("stage") == Source.LLM]


def _has_llm_step(trace: dict[str, Any]) -> bool:
    return bool(_llm_steps(trace))


def _faq_step(trace: dict[str, Any]) -> dict[str, Any] | None:
    for step in trace.get("steps", []):
        if step.get("stage") == Source.FAQ:
            return step
    return None


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
    return (
        reply is not None and reply.source in DEFLECTING_SOURCES and not _has_llm_step(reply.trace)
    )


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


def source_mix(ds: Dataset) -> list[DayMix]:
    """Answers per day by source: bot messages by their `source`, agent messages as "agent"."""
    counts: dict[dt.date, Counter[str]] = {day: Counter() for day in ds.days()}
    for m in ds.range_messages():
        source = Source.AGENT if m.role == "agent" else m.source if m.role == "bot" else ""
        if source in SOURCES:
            counts[_local_day(m.created_at)][source] += 1
    return [DayMix(day, {s: c[s] for s in SOURCES}) for day, c in counts.items()]


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (an observed value, never interpolated)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Latency:
    source: str
    count: int
    p50: float | None
    p99: float | None


def ttft_by_source(ds: Dataset) -> list[Latency]:
    """Time to first token (ms after the visitor's message was stored) from each bot answer's
    trace, per source."""
    values: dict[str, list[float]] = defaultdict(list)
    for m in ds.range_messages():
        ttft = m.trace.get("ttft_ms")
        if m.role == "bot" and isinstance(ttft, int | float):
            values[m.source].append(float(ttft))
    return [
        Latency(s, len(values[s]), percentile(values[s], 50), percentile(values[s], 99))
        for s in SOURCES
        if values.get(s)
    ]


@dataclass(frozen=True)
class Costs:
    by_day: list[tuple[dt.date, float]]
    total: float
    conversations: int
    conversation_total: float

    @property
    def per_conversation(self) -> float:
        return self.conversation_total / self.conversations if self.conversations else 0.0


def costs(ds: Dataset) -> Costs:
    """Model cost (every llm step's cost, including cut-off attempts) per day of the answer, and
    the mean over conversations started in the range (conversations without a model call count
    as zero)."""
    per_day: dict[dt.date, float] = dict.fromkeys(ds.days(), 0.0)
    for m in ds.range_messages():
        if m.role == "bot":
            per_day[_local_day(m.created_at)] += trace_cost(m.trace)
    started = {c.id for c in ds.conversations}
    conversation_total = sum(
        trace_cost(m.trace) for m in ds.messages if m.role == "bot" and m.conversation_id in started
    )
    return Costs(
        by_day=[(day, round(cost, 6)) for day, cost in per_day.items()],
        total=round(sum(per_day.values()), 6),
        conversations=len(started),
        conversation_total=round(conversation_total, 6),
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


def handoffs(ds: Dataset) -> Handoffs:
    """Conversations started in the range that went to the queue, by the latest reason."""
    reasons = Counter(c.handoff_reason for c in ds.conversations if c.handoff_reason)
    return Handoffs(len(ds.conversations), sum(reasons.values()), reasons.most_common())


@dataclass(frozen=True)
class Thumbs:
    up: int
    down: int
    by_source: list[tuple[str, int, int]]  # source, up, down

    @property
    def up_share(self) -> float:
        return _share(self.up, self.up + self.down)


def thumbs(ds: Dataset) -> Thumbs:
    """Thumbs on bot answers given in the range."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for m in ds.range_messages():
        if m.role == "bot" and m.feedback:
            counts[m.source][m.feedback] += 1
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


def csat(ds: Dataset) -> Csat:
    ratings = Counter(c.rating for c in ds.conversations if c.rating)
    return Csat([(r, ratings[r]) for r in range(1, 6)])


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


def breaker_events(ds: Dataset) -> BreakerEvents:
    """Breaker transitions are not stored (only counters in shared state, see the model router
    page), so the events are read from answer traces: tiers skipped for an open breaker, tiers
    that failed, and answers where every model was down."""
    days = {day: [0, 0, 0] for day in ds.days()}
    tiers: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for m in ds.range_messages():
        if m.role != "bot":
            continue
        counts = days[_local_day(m.created_at)]
        for step in m.trace.get("steps", []):
            if step.get("stage") != Source.LLM:
                continue
            tier = (step.get("detail") or {}).get("tier", "?")
            if step.get("decision") == Decision.TIER_SKIPPED:
                counts[0] += 1
                tiers[tier][0] += 1
            elif step.get("decision") == Decision.TIER_FAILED:
                counts[1] += 1
                tiers[tier][1] += 1
        counts[2] += models_were_down(m.trace)
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
    step = _faq_step(reply.trace)
    # Decided when it was asked, at the operating point of that locale's model then.
    return (
        reply.source != Source.FAQ and step is not None and step.get("decision") == BELOW_THRESHOLD
    )


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
        scores = [s["score"] for _, r in pairs if (s := _faq_step(r.trace)) and "score" in s]
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


def _nothing_relevant(trace: dict[str, Any]) -> bool:
    return any(step.get("decision") == Decision.NOTHING_RELEVANT for step in _llm_steps(trace))


def grounding(ds: Dataset) -> Grounding:
    counts: Counter[str] = Counter()
    for m in ds.range_messages():
        if m.role != "bot":
            continue
        if _nothing_relevant(m.trace):
            counts["nothing_relevant"] += 1
        for step in _llm_steps(m.trace):
            grounded = step.get("detail", {}).get("grounded")
            if grounded is None:
                continue
            counts["with_sources"] += 1
            if grounded:
                counts["grounded"] += 1
            elif step.get("detail", {}).get("replaced"):
                counts["replaced"] += 1
            else:
                counts["sent"] += 1
    return Grounding(
        with_sources=counts["with_sources"],
        grounded=counts["grounded"],
        ungrounded_sent=counts["sent"],
        ungrounded_replaced=counts["replaced"],
        nothing_relevant=counts["nothing_relevant"],
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
        if m.is_question and (r := replies.get(m.id)) and _nothing_relevant(r.trace)
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
    step = _faq_step(reply.trace) if reply else None
    if step and (step.get("score") or 0) >= SAME_TOPIC_FAQ_SCORE:
        faq_id = (step.get("detail") or {}).get("faq_id")
        if faq_id is not None:
            topics.add(f"faq:{faq_id}")
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
    ds = load(start_day, end_day, include_demo=include_demo)
    return Dashboard(
        include_demo=include_demo,
        start=start_day,
        end=end_day,
        truncated=ds.truncated,
        conversations=len(ds.conversations),
        deflection=deflection(ds),
        source_mix=source_mix(ds),
        ttft=ttft_by_source(ds),
        costs=costs(ds),
        handoffs=handoffs(ds),
        thumbs=thumbs(ds),
        csat=csat(ds),
        breakers=breaker_events(ds),
        unanswered=top_unanswered(ds),
        resolution=resolution(ds),
        grounding=grounding(ds),
        content_gaps=content_gaps(ds),
    )
