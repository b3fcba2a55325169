"""Liveness and readiness for load balancers and `make run`: JSON, no authentication."""

import logging

import redis.asyncio as aioredis
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

from chatbot.llm.router import breaker_states
from chatbot.warmup import embeddings_ready

logger = logging.getLogger(__name__)


async def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _database_ok() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone() == (1,)


async def _redis_ok() -> bool:
    client = aioredis.Redis.from_url(settings.REDIS_URL)
    try:
        return bool(await client.ping())
    finally:
        await client.aclose()


async def readyz(request: HttpRequest) -> JsonResponse:
    """Ready when the database answers, Redis answers (when configured), the embedding model is
    loaded, and at least one model tier's breaker is not open."""
    checks: dict[str, bool] = {}
    try:
        checks["database"] = await database_sync_to_async(_database_ok)()
    except Exception:
        logger.warning("readiness: database check failed", exc_info=True)
        checks["database"] = False
    if settings.REDIS_URL:
        try:
            checks["redis"] = await _redis_ok()
        except Exception:
            logger.warning("readiness: redis check failed", exc_info=True)
            checks["redis"] = False
    checks["embeddings"] = embeddings_ready.is_set()
    try:
        tiers = [s for s in await breaker_states() if s.name.startswith("tier:")]
        checks["model_tier"] = not tiers or any(s.state != "open" for s in tiers)
    except Exception:
        logger.warning("readiness: breaker state unavailable", exc_info=True)
        checks["model_tier"] = False
    ready = all(checks.values())
    return JsonResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks},
        status=200 if ready else 503,
    )
