"""`/metrics` for Prometheus. Not public: a bearer token (METRICS_TOKEN) or the session of a lead
(chatbot.ops.access)."""

import logging
from datetime import datetime

from channels.db import database_sync_to_async
from django.conf import settings
from django.db.models import Count, Min
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from chatbot import metrics
from chatbot.llm.breaker import BreakerState, breaker_states
from chatbot.models import Conversation
from chatbot.ops.access import may_see_operations

logger = logging.getLogger(__name__)


def _token_ok(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and constant_time_compare(given, token)


def _queue() -> tuple[int, datetime | None]:
    row = Conversation.objects.filter(status=Conversation.Status.QUEUED).aggregate(
        length=Count("id"), oldest=Min("queued_at")
    )
    return row["length"], row["oldest"]


async def _breakers() -> list[BreakerState] | None:
    try:
        return await breaker_states()
    except Exception:
        logger.warning("metrics: breaker state unavailable", exc_info=True)
        return None


async def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _token_ok(request) and not await may_see_operations(await request.auser()):
        return HttpResponseForbidden()
    length, oldest = await database_sync_to_async(_queue)()
    wait_s = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    state = metrics.ScrapeState(await _breakers(), length, max(wait_s, 0.0))
    return HttpResponse(metrics.render(state), content_type=CONTENT_TYPE_LATEST)
