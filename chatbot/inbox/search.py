"""Finding conversations in the inbox: filters (label, status, agent, dates) and full-text search
over transcripts. docs/console.md, "Inbox".

PostgreSQL: each message's search tokens (knowledge.documents.lexical, the help centre's
tokenizer: English stems, jieba words and character bigrams for Chinese) in a GIN-indexed
tsvector (`simple` configuration: PostgreSQL's own parsers do not segment Chinese). The tokens
are written off the hot path, by the first search after a message is stored, so storing a
message costs nothing more. Other databases: every word of the query is a case-insensitive
substring of one message (Chinese included: no segmentation needed)."""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from django.db import connection
from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from chatbot.analytics.figures import day_range
from chatbot.handoff.models import LeftMessage
from chatbot.handoff.selectors import conversation_summaries
from chatbot.inbox.models import ConversationLabel, MessageSearch, SearchIndexState
from chatbot.models import Conversation, Message
from knowledge.documents.lexical import CHINESE_STOPWORDS, TOKEN, content_tokens

RESULT_LIMIT = 50
INDEX_BATCH = 2000
# Messages one search may index first (0.1-0.2 ms each: under a second); a larger backlog is
# searched as substrings meanwhile (docs/console.md, "Inbox").
INDEX_MAX_PER_SEARCH = 5000
# A message stored this recently may still have an uncommitted one with a lower id before it:
# the index's high-water mark stays behind it, and the next search looks again.
INDEX_SETTLE_S = 60
STATUSES = {s.value for s in Conversation.Status}
ROW_ID_LIMIT = 2**63


@dataclass(frozen=True)
class Filters:
    """What an agent narrows the inbox by; every field optional. Dates are local days,
    inclusive, of when the conversation started."""

    query: str = ""
    label: int | None = None
    status: str = ""
    agent: int | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Filters:
        """From a request or a saved view; ValueError on a value that cannot be one."""

        def number(key: str) -> int | None:
            value = data.get(key)
            if value in (None, ""):
                return None
            if not 0 < int(value) < ROW_ID_LIMIT:  # the database's integers end there
                raise ValueError(f"{key} {value!r} is no row id")
            return int(value)

        def day(key: str) -> dt.date | None:
            value = data.get(key)
            return dt.date.fromisoformat(str(value)) if value else None

        status = str(data.get("status") or "")
        if status and status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        return cls(
            query=str(data.get("query") or "").strip()[:200],
            label=number("label"),
            status=status,
            agent=number("agent"),
            date_from=day("date_from"),
            date_to=day("date_to"),
        )

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("date_from", "date_to"):
            data[key] = data[key].isoformat() if data[key] else None
        return data


def search_index_catch_up(
    *, now: dt.datetime | None = None, limit: int | None = None
) -> tuple[int, int]:
    """Writes the search tokens of messages not indexed yet, at most `limit` of them (None:
    all; PostgreSQL only). Returns (rows written, the last message id read: every message up to
    it is indexed).
    Messages of the last INDEX_SETTLE_S seconds are read again next time, so that one whose
    transaction commits late is not skipped; those indexed already are not tokenized again."""
    if connection.vendor != "postgresql":
        return 0, 0
    settled = (now or timezone.now()) - timedelta(seconds=INDEX_SETTLE_S)
    state, _ = SearchIndexState.objects.get_or_create(pk=1)
    cursor = mark = state.indexed_through
    settled_so_far = True
    written = 0
    budget = limit if limit is not None else float("inf")  # messages to tokenize
    while budget > 0:
        rows = list(
            Message.objects.filter(id__gt=cursor)
            .order_by("id")
            .values_list("id", "created_at")[:INDEX_BATCH]
        )
        if not rows:
            break
        ids = [i for i, _ in rows]
        done = set(
            MessageSearch.objects.filter(message_id__in=ids).values_list("message_id", flat=True)
        )
        todo: list[int] = []
        for message_id, created_at in rows:
            if message_id not in done:
                if budget <= len(todo):
                    break
                todo.append(message_id)
            cursor = message_id
            settled_so_far = settled_so_far and created_at <= settled
            if settled_so_far:
                mark = message_id
        texts = Message.objects.filter(id__in=todo).values_list("id", "conversation_id", "text")
        created = MessageSearch.objects.bulk_create(
            [
                MessageSearch(
                    message_id=i, conversation_id=c, search_tokens=" ".join(content_tokens(t))
                )
                for i, c, t in texts
            ],
            ignore_conflicts=True,
        )
        written += len(created)
        budget -= len(todo)
        if cursor != ids[-1] or len(rows) < INDEX_BATCH:
            break
    if mark > state.indexed_through:
        SearchIndexState.objects.filter(pk=1, indexed_through__lt=mark).update(indexed_through=mark)
    return written, cursor


def query_terms(query: str) -> tuple[list[str], list[str]]:
    """(tokens a matching message's index holds, pieces matched as plain substrings). Chinese
    runs become their character bigrams, which a text holding the run always has, however jieba
    cut it; a single Chinese character is a substring."""
    tokens: list[str] = []
    pieces: list[str] = []
    for match in TOKEN.finditer(unicodedata.normalize("NFKC", query).lower()):
        run = match.group()
        if match.lastgroup == "cjk":
            if len(run) == 1:
                pieces.append(run)
                continue
            tokens += (
                bigram
                for bigram in (run[i : i + 2] for i in range(len(run) - 1))
                if not set(bigram) <= CHINESE_STOPWORDS and bigram not in CHINESE_STOPWORDS
            )
        else:
            tokens += content_tokens(run)  # stemmed; nothing for a stop word
    return list(dict.fromkeys(tokens)), pieces


# Messages matching a query, as querysets that each have a `conversation_id` column and name
# their message id column: the index's rows on PostgreSQL (no join to the messages table unless
# a single Chinese character must be a substring), messages otherwise.
Matches = list[tuple[QuerySet, str]]


def _matching_messages(query: str) -> Matches:
    """Messages holding every word of the query."""
    words = query.split()
    if connection.vendor != "postgresql":
        return [(_holding(Message.objects.all(), words, "text"), "id")]
    _, read_through = search_index_catch_up(limit=INDEX_MAX_PER_SEARCH)
    tokens, pieces = query_terms(query)
    if not tokens:
        return [(_holding(Message.objects.all(), pieces or words, "text"), "id")]
    tsquery = " & ".join(f"'{t}'" for t in tokens)
    indexed = MessageSearch.objects.extra(
        where=["search_vector @@ to_tsquery('simple', %s)"], params=[tsquery]
    )
    # Beyond what this search had time to index (a backlog: manage.py index_transcripts), the
    # words as substrings, so that nothing stored is missed.
    tail = _holding(Message.objects.filter(id__gt=read_through), words, "text")
    return [(_holding(indexed, pieces, "message__text"), "message_id"), (tail, "id")]


def _holding(rows: QuerySet, words: list[str], field: str) -> QuerySet:
    for word in words:
        rows = rows.filter(**{f"{field}__icontains": word})
    return rows


def conversations_find(*, filters: Filters, limit: int = RESULT_LIMIT) -> list[dict[str, Any]]:
    """Conversations matching the filters, latest activity first, as the console lists them,
    each with its labels and (for a text query) the latest message that matched."""
    found = Conversation.objects.all()
    if filters.status:
        found = found.filter(status=filters.status)
    if filters.agent is not None:
        found = found.filter(assigned_to_id=filters.agent)
    if filters.label is not None:
        found = found.filter(
            pk__in=ConversationLabel.objects.filter(label_id=filters.label).values(
                "conversation_id"
            )
        )
    if filters.date_from:
        found = found.filter(created_at__gte=day_range(filters.date_from, filters.date_from)[0])
    if filters.date_to:
        found = found.filter(created_at__lt=day_range(filters.date_to, filters.date_to)[1])
    matches: Matches = []
    if filters.query:
        matches = _matching_messages(filters.query)
        # A left message's email and its words (a support-lead walk looked for "the parcel
        # that arrived damaged" and found only the address).
        left = LeftMessage.objects.filter(
            Q(email__icontains=filters.query) | Q(text__icontains=filters.query)
        )
        anywhere = Q(public_id__iexact=filters.query) | Q(pk__in=left.values("conversation_id"))
        for rows, _ in matches:
            anywhere |= Q(pk__in=rows.values("conversation_id"))
        found = found.filter(anywhere)
    page = list(found.order_by("-updated_at", "-id").values_list("pk", flat=True)[:limit])
    items = conversation_summaries(
        Conversation.objects.filter(pk__in=page).order_by("-updated_at", "-id")
    )
    labels = conversation_labels(public_ids=[i["conversation"] for i in items])
    matched = _latest_matches(matches, page)
    for item in items:
        item["labels"] = labels.get(item["conversation"], [])
        item["match"] = matched.get(item["conversation"])
    return items


def _latest_matches(matches: Matches, page: list[int]) -> dict[str, str]:
    """The latest matching message of each conversation of the page, by public id."""
    latest: dict[int, int] = {}
    for rows, id_field in matches:
        found = (
            rows.filter(conversation_id__in=page)
            .order_by()
            .values("conversation_id")
            .annotate(last=Max(id_field))
            .values_list("conversation_id", "last")
        )
        for conversation_id, last in found:
            latest[conversation_id] = max(last, latest.get(conversation_id, 0))
    rows = Message.objects.filter(id__in=list(latest.values())).values_list(
        "conversation__public_id", "text"
    )
    return {public_id: text[:200] for public_id, text in rows}


def conversation_labels(*, public_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each conversation's labels, by public id."""
    labels: dict[str, list[dict[str, Any]]] = {}
    rows = (
        ConversationLabel.objects.filter(conversation__public_id__in=public_ids)
        .select_related("label")
        .order_by("label__name")
        .values_list("conversation__public_id", "label_id", "label__name", "label__color")
    )
    for public_id, label_id, name, color in rows:
        labels.setdefault(public_id, []).append({"id": label_id, "name": name, "color": color})
    return labels
