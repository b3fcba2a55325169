"""Content-Security-Policy violation reports from browsers, and the endpoint they post to: both
formats (the `report-uri` body `{"csp-report": {...}}` and the Reporting API's list of
`csp-violation` reports), cut to the columns' sizes and counted per distinct violation.
docs/security.md, "Content-Security-Policy"."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from chatbot.models import CspReport
from chatbot.security.ratelimit import ClientAction, client_allowed, request_client_ip

REPORTS_PER_BODY = 10  # the Reporting API batches; more than this in one body is not a browser


def _text(value: Any, max_chars: int) -> str:
    return value[:max_chars] if isinstance(value, str) else ""


def _violation(body: dict[str, Any]) -> dict[str, Any] | None:
    """The columns of one report in either format's field names; None without a page or a
    directive (not a violation report)."""

    def field(*names: str) -> Any:
        return next((body[n] for n in names if n in body), None)

    document = _text(field("document-uri", "documentURL"), 500)
    directive = _text(field("effective-directive", "effectiveDirective", "violated-directive"), 100)
    if not document or not directive:
        return None
    line = field("line-number", "lineNumber")
    return {
        "document_uri": document,
        "directive": directive,
        "blocked_uri": _text(field("blocked-uri", "blockedURL"), 500),
        "source_file": _text(field("source-file", "sourceFile"), 500),
        "line": line if isinstance(line, int) and 0 <= line < 2**31 else None,
        "disposition": _text(field("disposition"), 10),
        "sample": _text(field("script-sample", "sample"), 200),
    }


def violations_parse(raw: bytes) -> list[dict[str, Any]]:
    """The violations in a report body; [] for anything else (not JSON, other report types)."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return []
    if isinstance(data, dict) and isinstance(data.get("csp-report"), dict):
        bodies = [data["csp-report"]]
    elif isinstance(data, list):
        bodies = [
            r["body"]
            for r in data[:REPORTS_PER_BODY]
            if isinstance(r, dict)
            and r.get("type") == "csp-violation"
            and isinstance(r.get("body"), dict)
        ]
    else:
        return []
    return [v for v in map(_violation, bodies) if v is not None]


def violations_record(*, violations: list[dict[str, Any]]) -> int:
    """Counts each violation on its row, adding a row only while fewer than
    CONTENT_SECURITY_REPORTS_MAX_ROWS are kept; returns how many were counted."""
    now = timezone.now()
    counted = 0
    for v in violations:
        key = {k: v[k] for k in ("document_uri", "directive", "blocked_uri", "source_file", "line")}
        if CspReport.objects.filter(**key).update(count=F("count") + 1, last_seen=now):
            counted += 1
            continue
        if CspReport.objects.count() >= settings.CONTENT_SECURITY_REPORTS_MAX_ROWS:
            continue
        try:
            with transaction.atomic():
                CspReport.objects.create(**v, last_seen=now)
        except IntegrityError:  # the same violation reported at the same moment
            CspReport.objects.filter(**key).update(count=F("count") + 1, last_seen=now)
        counted += 1
    return counted


def reporting_endpoints_middleware(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """Names the endpoint the policy's `report-to csp` sends to (the Reporting API's
    Reporting-Endpoints header), on every response that carries the policy."""

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        if settings.CONTENT_SECURITY_REPORT_URI and "Content-Security-Policy" in response:
            response["Reporting-Endpoints"] = f'csp="{settings.CONTENT_SECURITY_REPORT_URI}"'
        return response

    return middleware


@csrf_exempt  # browsers post reports without cookies or a token
@require_POST
def csp_report(request: HttpRequest) -> HttpResponse:
    """Where browsers report what the Content-Security-Policy blocked: per-client rate limited
    (`csp_report` in CHAT_CLIENT_LIMITS), bodies over CONTENT_SECURITY_REPORT_MAX_BYTES refused
    unread, answered 204 whatever they hold."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.CONTENT_SECURITY_REPORT_MAX_BYTES:
        return HttpResponse(status=413)
    allowed, _ = async_to_sync(client_allowed)(request_client_ip(request), ClientAction.CSP_REPORT)
    if not allowed:
        return HttpResponse(status=429)
    raw = request.read(settings.CONTENT_SECURITY_REPORT_MAX_BYTES + 1)
    if len(raw) > settings.CONTENT_SECURITY_REPORT_MAX_BYTES:  # no Content-Length, or a wrong one
        return HttpResponse(status=413)
    violations_record(violations=violations_parse(raw))
    return HttpResponse(status=204)
