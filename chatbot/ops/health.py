"""Liveness and readiness for load balancers, monitors and `make run`: JSON, no authentication.
`/readyz` leaves the model tiers out on purpose (they have `/readyz/models`, for alerting);
docs/operations.md, "Health and processes"."""

import logging
from collections.abc import Callable

import redis.asyncio as aioredis
from asgiref.sync import async_to_sync, iscoroutinefunction, markcoroutinefunction
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.utils.decorators import sync_and_async_middleware

from chatbot.llm.breaker import breaker_states
from chatbot.llm.tiers import TierConfigError
from chatbot.ops.warmup import embeddings_ready

logger = logging.getLogger(__name__)

_failing: dict[str, str] = {}  # check -> the error it last failed with


async def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _database_ok() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        if cursor.fetchone() != (1,):
            raise RuntimeError("SELECT 1 did not return 1")


async def _redis_ok() -> None:
    client = aioredis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=1.0, socket_timeout=1.0
    )
    try:
        await client.ping()
    finally:
        await client.aclose()


def _note(check: str, error: Exception | None) -> bool:
    """Logs a check's change between passing and failing; returns whether it passes."""
    if error is None:
        if _failing.pop(check, None) is not None:
            logger.info("readiness: the %s check passes again", check)
        return True
    if check not in _failing:
        logger.warning("readiness: the %s check fails: %r", check, error)
    _failing[check] = repr(error)
    return False


async def _checks() -> dict[str, bool]:
    probes = {"database": database_sync_to_async(_database_ok)}
    if settings.REDIS_URL:
        probes["redis"] = _redis_ok
    checks: dict[str, bool] = {}
    for name, probe in probes.items():
        try:
            await probe()
        except Exception as exc:
            checks[name] = _note(name, exc)
        else:
            checks[name] = _note(name, None)
    checks["embeddings"] = embeddings_ready.is_set()
    return checks


async def _tier_states() -> dict[str, str] | None:
    """Each model tier's breaker: closed, half_open, open, or unknown when its store failed;
    None when the tiers cannot be read at all (no model can answer: say so, rather than the
    empty "all fine" a model-tiers walk saw beside every answer failing)."""
    try:
        states = {
            s.name.removeprefix("tier:"): _answered_trial(s.state, s.probes_ok)
            for s in await breaker_states()
            if s.name.startswith("tier:")
        }
    except TierConfigError as exc:
        _note("model tiers", exc)
        return None
    except Exception as exc:
        _note("model tiers", exc)
        return {}
    _note("model tiers", None)
    return states


# A half-open tier one of whose trial calls answered: up again, though its breaker waits for
# more trials before it closes.
HALF_OPEN_ANSWERING = "half_open_answering"


def _answered_trial(state: str, probes_ok: int) -> str:
    return HALF_OPEN_ANSWERING if state == "half_open" and probes_ok > 0 else state


def _answerable(tiers: dict[str, str] | None) -> bool:
    """A tier answers when its breaker is closed, or half-open with a trial call answered.
    Half-open alone is a tier that failed and has not been proven since: counted as answering,
    `/readyz/models` said 200 through a whole outage but for the 2 s each breaker stayed open
    (a walk); and 503 after the first answer until the breaker's second trial (a re-walk)."""
    up = ("closed", HALF_OPEN_ANSWERING)
    return tiers is not None and (not tiers or any(state in up for state in tiers.values()))


def _unlogged(response: JsonResponse) -> JsonResponse:
    """Django's request logger writes every 5xx as an error; a failing probe is logged above,
    once, instead of once per probe."""
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


async def readyz(request: HttpRequest) -> JsonResponse:
    """200 when the database, Redis (when configured) and the embedding model are ready; the
    model tiers' states are reported, not required."""
    checks = await _checks()
    tiers = await _tier_states()
    ready = all(checks.values())
    body = {
        "status": "ready" if ready else "not_ready",
        "checks": checks,
        "models": {"answering": _answerable(tiers), "tiers": tiers or {}},
    }
    return _unlogged(JsonResponse(body, status=200 if ready else 503))


async def readyz_models(request: HttpRequest) -> JsonResponse:
    """200 while at least one model tier can be tried, 503 when every tier's breaker is open."""
    tiers = await _tier_states()
    answering = _answerable(tiers)
    return _unlogged(
        JsonResponse(
            {"answering": answering, "tiers": tiers or {}}, status=200 if answering else 503
        )
    )


_PROBES = {"/healthz": healthz, "/readyz": readyz, "/readyz/models": readyz_models}


@sync_and_async_middleware
def probes_first(get_response: Callable) -> Callable:
    """The probes, answered before any other middleware: a container's or load balancer's probe
    asks by address (`Host: 127.0.0.1:8000`), which ALLOWED_HOSTS refuses with 400, and over
    plain HTTP, which SECURE_SSL_REDIRECT would answer with a redirect; either kept a Docker web
    service unhealthy for ever. Nothing in the probes reads the Host."""
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponseBase:
            probe = _PROBES.get(request.path_info)
            if probe is not None and request.method in ("GET", "HEAD"):
                return await probe(request)
            return await get_response(request)

        return markcoroutinefunction(middleware)

    def sync_middleware(request: HttpRequest) -> HttpResponseBase:
        probe = _PROBES.get(request.path_info)
        if probe is not None and request.method in ("GET", "HEAD"):
            return async_to_sync(probe)(request)
        return get_response(request)

    return sync_middleware
