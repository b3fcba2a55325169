"""Visitor limits: token buckets per conversation, per client (IP address) and across every
visitor, shared through Redis when REDIS_URL is set (chatbot.llm.limits); they fail open when
Redis does not answer. The limits and their settings: docs/security.md, "Abuse limits"."""

import logging
import time
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from python_ipware import IpWare

from chatbot.llm.limits import Bucket, Clock, per_minute, take
from chatbot.outcomes import Decision

logger = logging.getLogger(__name__)

# Trace decisions of the LLM stage when a limit, not the models, kept it from answering: the
# fallback then promises no later model answer, and no one is handed a person for it.
LIMITED_DECISIONS = frozenset({Decision.MODEL_BRAKE, Decision.CLIENT_LIMITED})


class ClientAction(StrEnum):
    CONNECT = "connect"
    CONVERSATION = "conversation"
    MESSAGE = "message"
    HANDOFF = "handoff"
    MODEL = "model"
    CSP_REPORT = "csp_report"


def client_ip(scope: dict[str, Any]) -> str:
    """The visitor's address. Behind CHAT_TRUSTED_PROXY_COUNT proxies, the entry of
    X-Forwarded-For the first of them appended (python-ipware counts the proxies after the
    client in the header, one fewer: the last proxy is the socket's peer); entries a client
    wrote before it are ignored. Otherwise the socket's peer: by default no header is trusted,
    since anyone can write one. "" when there is neither (a unix socket without a proxy count):
    per-client limits then do not apply, rather than lump every visitor into one bucket."""
    peer = str((scope.get("client") or ("",))[0] or "")
    proxies = settings.CHAT_TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return peer
    forwarded = ", ".join(
        value.decode("latin-1")
        for name, value in scope.get("headers", ())
        if name.lower() == b"x-forwarded-for"
    )
    ip, _trusted = IpWare(precedence=("X_FORWARDED_FOR",), proxy_count=proxies - 1).get_client_ip(
        {"X_FORWARDED_FOR": forwarded}
    )
    return str(ip) if ip is not None else peer


def request_client_ip(request: HttpRequest) -> str:
    """client_ip for an HTTP request, by the socket's rules."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").encode("latin-1", "replace")
    peer = request.META.get("REMOTE_ADDR", "")
    return client_ip({"client": (peer,), "headers": [(b"x-forwarded-for", forwarded)]})


def _client_bucket(action: ClientAction, client: str) -> Bucket | None:
    limit = settings.CHAT_CLIENT_LIMITS.get(action.value)
    if not client or not limit or limit[0] <= 0:
        return None
    rate, burst = limit
    return Bucket(f"client:{action.value}:{client}", capacity=burst, refill_per_s=rate / 60.0)


async def client_allowed(
    client: str, action: ClientAction, *, clock: Clock = time.time
) -> tuple[bool, float]:
    """(allowed, seconds until it would be) for one action of one client."""
    bucket = _client_bucket(action, client)
    verdict = await take([bucket] if bucket else [], clock=clock)
    return verdict.allowed, verdict.retry_after_s


async def visitor_message_allowed(
    conversation_public_id: str,
    client: str = "",
    *,
    with_people: bool = False,
    clock: Clock = time.time,
) -> tuple[bool, float]:
    """(allowed, seconds until the next message would be): the conversation's bucket and, when
    the client is known, the client's, taken together (a refusal by one spends neither).
    `with_people` (queued, or with an agent): the live-chat limits, since people type in short
    bursts ("hi" / "my order" / "is late") and no model is called; a support-shift walk saw a
    visitor told to slow down by the bot's limit in the middle of a chat with an agent."""
    # A bucket of its own for the live chat: sharing the bot's, a visitor who had asked the
    # bot a few questions started the chat with an agent on what was left of 5 (a re-walk).
    if with_people:
        name = f"visitor-live:{conversation_public_id}"
        capacity = settings.CHAT_VISITOR_LIVE_MESSAGE_BURST
        per_minute = settings.CHAT_VISITOR_LIVE_MESSAGES_PER_MINUTE
    else:
        name = f"visitor:{conversation_public_id}"
        capacity = settings.CHAT_VISITOR_MESSAGE_BURST
        per_minute = settings.CHAT_VISITOR_MESSAGES_PER_MINUTE
    buckets = [Bucket(name, capacity=capacity, refill_per_s=per_minute / 60.0)]
    client_bucket = _client_bucket(ClientAction.MESSAGE, client)
    if client_bucket is not None:
        buckets.append(client_bucket)
    verdict = await take(buckets, clock=clock)
    return verdict.allowed, verdict.retry_after_s


async def model_call_allowed(client: str = "", *, clock: Clock = time.time) -> Decision | None:
    """None when a model may be asked; else the limit that refused: Decision.CLIENT_LIMITED
    (this client's allowance, checked first so one client cannot spend everyone's) or
    Decision.MODEL_BRAKE."""
    client_bucket = _client_bucket(ClientAction.MODEL, client)
    if client_bucket is not None and not (await take([client_bucket], clock=clock)).allowed:
        return Decision.CLIENT_LIMITED
    if settings.LLM_MODEL_CALLS_PER_MINUTE > 0:
        brake = per_minute("model-brake", settings.LLM_MODEL_CALLS_PER_MINUTE)
        if not (await take([brake], clock=clock)).allowed:
            _brake_noted(clock())
            return Decision.MODEL_BRAKE
    return None


_brake_noted_at = float("-inf")


def _brake_noted(now: float) -> None:
    """A warning at most once a minute per process: an operator saw answers turn into articles
    and could find why only in each message's trace (a model-tiers walk)."""
    global _brake_noted_at
    if now - _brake_noted_at >= 60.0:
        _brake_noted_at = now
        logger.warning(
            "LLM_MODEL_CALLS_PER_MINUTE (%s) reached: questions get the fallback answers until "
            "the minute's allowance refills",
            settings.LLM_MODEL_CALLS_PER_MINUTE,
        )
