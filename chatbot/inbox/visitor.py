"""The visitor's context shown beside the chat in the console: the page and referrer, browser
and device, local time, past conversations from the same browser and the attributes the
embedding site passes. docs/console.md, "Visitor context"; the widget's side in
docs/protocol.md, "Visitor context"."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction
from django.db.models import F, Q
from django.forms.models import model_to_dict
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from chatbot.inbox.models import VisitorContext
from chatbot.models import Conversation, Message
from chatbot.security.identity import Identity, identity_verify

URL_MAX_CHARS = 1000
USER_AGENT_MAX_CHARS = 500
TIME_ZONE_MAX_CHARS = 64
ATTRIBUTES_MAX_KEYS = 20
ATTRIBUTE_VALUE_MAX_CHARS = 200
PAST_CONVERSATIONS_SHOWN = 20
PREVIEW_CHARS = 80
# A visitor id is the widget's random id (a UUID, or 32 hex digits without crypto.randomUUID).
VISITOR_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
ATTRIBUTE_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")


@dataclass(frozen=True)
class Browser:
    browser: str = ""
    os: str = ""
    device: str = ""  # "desktop", "mobile", "tablet", "bot" or "" (unknown)


# (pattern, name): the first that matches names the browser. Order matters: Edge, Opera,
# Samsung and the in-app browsers also say "Chrome" and "Safari"; Chrome says "Safari".
_BROWSERS = (
    (re.compile(r"Edg(?:e|A|iOS)?/(\d+)"), "Edge"),
    (re.compile(r"(?:OPR|Opera)/(\d+)"), "Opera"),
    (re.compile(r"SamsungBrowser/(\d+)"), "Samsung Internet"),
    (re.compile(r"MicroMessenger/(\d+)"), "WeChat"),
    (re.compile(r"UCBrowser/(\d+)"), "UC Browser"),
    (re.compile(r"(?:Firefox|FxiOS)/(\d+)"), "Firefox"),
    (re.compile(r"(?:Chrome|CriOS|HeadlessChrome)/(\d+)"), "Chrome"),
    (re.compile(r"Version/(\d+)[.\d]* (?:Mobile/\S+ )?Safari/"), "Safari"),
)
_OS = (
    (re.compile(r"Windows NT"), "Windows"),
    (re.compile(r"iPhone|iPad|iPod"), "iOS"),
    (re.compile(r"Android"), "Android"),
    (re.compile(r"CrOS"), "ChromeOS"),
    (re.compile(r"Mac OS X|Macintosh"), "macOS"),
    (re.compile(r"Linux"), "Linux"),
)
_BOT = re.compile(r"bot\b|crawler|spider|slurp|HeadlessChrome|python-requests|curl/", re.I)
_TABLET = re.compile(r"iPad|Tablet|Android(?!.*Mobile)")
_MOBILE = re.compile(r"Mobile|iPhone|iPod|Android.*Mobile|Windows Phone")


def user_agent_parse(user_agent: str) -> Browser:
    """Browser, operating system and kind of device from a User-Agent header, by a short rule
    set covering the browsers people use (no parser library is installed; ua-parser would need
    its regex data kept up to date). Unknown parts are ""; iPadOS 13+ says "Macintosh" and is
    shown as a Mac, as its UA asks."""
    ua = user_agent[:USER_AGENT_MAX_CHARS]
    if not ua:
        return Browser()
    browser = ""
    for pattern, name in _BROWSERS:
        match = pattern.search(ua)
        if match:
            browser = f"{name} {match.group(1)}"
            break
    os = next((name for pattern, name in _OS if pattern.search(ua)), "")
    if _BOT.search(ua):
        device = "bot"
    elif _TABLET.search(ua):
        device = "tablet"
    elif _MOBILE.search(ua):
        device = "mobile"
    elif os:
        device = "desktop"
    else:
        device = ""
    return Browser(browser=browser, os=os, device=device)


def attributes_clean(raw: Any) -> dict[str, str]:
    """The site's attributes kept: at most ATTRIBUTES_MAX_KEYS keys of letters, digits and
    `_ . -` (40 at most), values strings, numbers or booleans cut to ATTRIBUTE_VALUE_MAX_CHARS,
    stored as text. Anything else is dropped, not refused: a page's mistake must not cost the
    visitor their chat."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    if not isinstance(raw, dict):
        return {}
    kept: dict[str, str] = {}
    for key, value in raw.items():
        if len(kept) >= ATTRIBUTES_MAX_KEYS:
            break
        if not isinstance(key, str) or not ATTRIBUTE_KEY.match(key):
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str | int | float):
            text = str(value)
        else:
            continue
        kept[key] = text[:ATTRIBUTE_VALUE_MAX_CHARS]
    return kept


def _url(raw: str | None) -> str:
    """An http(s) URL cut to URL_MAX_CHARS, else "" (a javascript: link is never kept)."""
    value = (raw or "").strip()
    if not re.match(r"^https?://", value, re.I):
        return ""
    return value[:URL_MAX_CHARS]


def _time_zone(raw: str | None) -> str:
    value = (raw or "").strip()[:TIME_ZONE_MAX_CHARS]
    if not value:
        return ""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return ""
    return value


@dataclass(frozen=True)
class Context:
    """What a visitor socket says about its visitor, cleaned."""

    visitor_id: str = ""
    page_url: str = ""
    referrer: str = ""
    time_zone: str = ""
    user_agent: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    has_attributes: bool = False  # the socket named attributes (even none): they replace
    identity: Identity | None = None  # a logged-in visitor whose signature matched


def context_from_query(
    query: dict[str, str], *, user_agent: str, identity_secret: str = ""
) -> Context:
    """The context in the visitor socket's query (`visitor`, `page`, `referrer`, `tz`,
    `attributes`; `user_id`, `user_hash`, `user_name`, `user_email` for a logged-in visitor,
    kept only when the signature matches) and its User-Agent header."""
    visitor = query.get("visitor", "")
    return Context(
        visitor_id=visitor if VISITOR_ID.match(visitor) else "",
        page_url=_url(query.get("page")),
        referrer=_url(query.get("referrer")),
        time_zone=_time_zone(query.get("tz")),
        user_agent=user_agent[:USER_AGENT_MAX_CHARS],
        attributes=attributes_clean(query.get("attributes", "")),
        has_attributes="attributes" in query,
        identity=identity_verify(
            secret=identity_secret,
            user_id=query.get("user_id"),
            user_hash=query.get("user_hash"),
            name=query.get("user_name"),
            email=query.get("user_email"),
        ),
    )


def visitor_context_save(*, conversation_id: int, context: Context) -> None:
    """Stores what this connection says (one row per conversation): the latest page, referrer,
    browser and time zone; a visitor id once known is kept. Attributes are replaced only when
    the socket named some. A reconnect that says nothing new writes nothing: a restart
    reconnects every visitor at once, on the connect path."""
    browser = user_agent_parse(context.user_agent)
    with transaction.atomic():
        row, created = VisitorContext.objects.select_for_update().get_or_create(
            conversation_id=conversation_id
        )
        before = model_to_dict(row)
        row.visitor_id = context.visitor_id or row.visitor_id
        row.page_url = context.page_url or row.page_url
        row.referrer = context.referrer or row.referrer
        row.time_zone = context.time_zone or row.time_zone
        if context.user_agent:
            row.user_agent = context.user_agent
            row.browser, row.os, row.device = browser.browser, browser.os, browser.device
        if context.has_attributes:
            row.attributes = json.dumps(context.attributes, ensure_ascii=False)
        identity = context.identity
        # A conversation belongs to the first verified user seen on it; another one never opens
        # it (conversation_open_as), so never relabels it here either.
        if identity is not None and row.verified_user_id in ("", identity.user_id):
            row.verified_user_id = identity.user_id
            row.verified_name = identity.name or row.verified_name
            row.verified_email = identity.email or row.verified_email
        if created or model_to_dict(row) != before:
            row.save()


def conversation_open_as(
    *, public_id: str, token: str, identity: Identity | None
) -> tuple[Conversation | None, bool]:
    """(the conversation a socket may open or None, whether it is stored). It opens with its
    token, unless it belongs to a verified user and this socket is not them (a shared computer
    after a logout or another login), and without the token when it belongs to this verified
    user (their other device)."""
    conversation = (  # one query: the owner comes with the row
        Conversation.objects.filter(public_id=public_id)
        .annotate(owner=F("visitor_context__verified_user_id"))
        .first()
    )
    if conversation is None:
        return None, False
    if conversation.owner:
        mine = identity is not None and identity.user_id == conversation.owner
        return (conversation if mine else None), True
    if constant_time_compare(conversation.visitor_token, token):
        return conversation, True
    return None, True


def identified_latest(*, user_id: str) -> Conversation | None:
    """A verified user's most recently active conversation that is not closed: where a new
    device picks up."""
    return (
        Conversation.objects.filter(visitor_context__verified_user_id=user_id)
        .exclude(status=Conversation.Status.CLOSED)
        .order_by("-updated_at", "-id")
        .first()
    )


def identified_conversations(*, user_id: str) -> list[dict[str, Any]]:
    """A verified user's conversations, newest first, for the widget's list (each opens by id
    on a verified socket): status, times and the first visitor message as a preview."""
    rows = list(
        Conversation.objects.filter(visitor_context__verified_user_id=user_id)
        .order_by("-updated_at", "-id")
        .values("id", "public_id", "status", "created_at", "updated_at")[:PAST_CONVERSATIONS_SHOWN]
    )
    firsts: dict[int, str] = {}
    for conversation_id, text in (
        Message.objects.filter(
            conversation_id__in=[r["id"] for r in rows], role=Message.Role.VISITOR
        )
        .order_by("-id")
        .values_list("conversation_id", "text")
    ):
        firsts[conversation_id] = text  # newest first: the oldest one wins
    return [
        {
            "conversation": r["public_id"],
            "status": r["status"],
            "created": r["created_at"].isoformat(),
            "updated": r["updated_at"].isoformat(),
            "preview": firsts.get(r["id"], "")[:PREVIEW_CHARS],
        }
        for r in rows
    ]


def visitor_attributes_set(
    *, conversation_id: int, attributes: dict[str, str], page_url: str | None
) -> None:
    """The site's attributes (and page) changed after the socket opened (the `context` frame)."""
    with transaction.atomic():
        row, _ = VisitorContext.objects.select_for_update().get_or_create(
            conversation_id=conversation_id
        )
        row.attributes = json.dumps(attributes_clean(attributes), ensure_ascii=False)
        fields = ["attributes", "updated_at"]
        if page_url and _url(page_url):
            row.page_url = _url(page_url)
            fields.append("page_url")
        row.save(update_fields=fields)


def _local_time(time_zone: str, now: dt.datetime) -> dict[str, Any] | None:
    if not time_zone:
        return None
    local = now.astimezone(ZoneInfo(time_zone))
    offset = local.utcoffset() or dt.timedelta()
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return {
        "time": local.strftime("%H:%M"),
        "date": local.date().isoformat(),
        "utc_offset": f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}",
    }


def visitor_context_of(*, public_id: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """The console's view of a conversation's visitor; raises Conversation.DoesNotExist."""
    conversation = Conversation.objects.get(public_id=public_id)
    row = VisitorContext.objects.filter(conversation=conversation).first()
    if row is None:
        return {"conversation": public_id, "known": False, "past": []}
    past: list[dict[str, Any]] = []
    if row.visitor_id or row.verified_user_id:
        # The same browser, and the same verified user on any device.
        same = Q(visitor_context__visitor_id=row.visitor_id) if row.visitor_id else Q()
        if row.verified_user_id:
            same |= Q(visitor_context__verified_user_id=row.verified_user_id)
        others = (
            Conversation.objects.filter(same)
            .exclude(pk=conversation.pk)
            .order_by("-created_at")
            .values("public_id", "status", "created_at", "rating")[:PAST_CONVERSATIONS_SHOWN]
        )
        past = [
            {
                "conversation": o["public_id"],
                "status": o["status"],
                "created": o["created_at"].isoformat(),
                "rating": o["rating"],
            }
            for o in others
        ]
    try:
        attributes = json.loads(row.attributes or "{}")
    except ValueError:
        attributes = {}
    return {
        "conversation": public_id,
        "known": True,
        "page_url": row.page_url,
        "referrer": row.referrer,
        "browser": row.browser,
        "os": row.os,
        "device": row.device,
        "time_zone": row.time_zone,
        "local_time": _local_time(row.time_zone, now or timezone.now()),
        "attributes": attributes,
        # Only what a matching signature vouched for: a claim without one was never stored.
        "identity": (
            {
                "user_id": row.verified_user_id,
                "name": row.verified_name,
                "email": row.verified_email,
                "verified": True,
            }
            if row.verified_user_id
            else None
        ),
        "updated": row.updated_at.isoformat(),
        "past": past,
    }
