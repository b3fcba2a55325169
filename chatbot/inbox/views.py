"""The inbox's HTTP endpoints (agents only; writes go through the CSRF check): JSON for the
console script (labels, filters and search, saved views, canned replies) and pages for reports
and exports. Thin: the work is in search, services, reports and exports."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from chatbot.audit.services import Action as AuditAction
from chatbot.audit.services import audit_record
from chatbot.handoff.selectors import AGENTS_GROUP, agent_name
from chatbot.handoff.views import agent_required
from chatbot.inbox import exports, reports, services, visitor
from chatbot.inbox.models import Label, SavedView
from chatbot.inbox.search import Filters, conversations_find
from chatbot.inbox.search import conversation_labels as conversation_labels_by_id
from chatbot.models import Conversation

DEFAULT_RANGE_DAYS = 7
MAX_RANGE_DAYS = 366  # as the analytics dashboard: a year and a day at most

# The inbox script's words, in the agent's language ({…} filled in there).
INBOX_TEXT = {
    "searchFailed": _("The search did not work: check the dates."),
    "viewName": _("Name this view:"),
    "viewFailed": _("The view was not saved."),
    "deleteView": _("Delete view"),
    "removeLabel": _("Remove label"),
    "labelFailed": _("The label was not changed."),
    "unfilled": _("Fill in or remove the {{…}} in your reply before sending it."),
    "noReplies": _("No canned replies yet."),
    "edit": _("Edit"),
    "delete": _("Delete"),
    "confirmDelete": _("Delete the canned reply {shortcut}?"),
    # Said to a screen reader as the reply box offers canned replies, and when one goes in.
    "offers": _("{n} canned replies: arrow keys choose, Tab inserts."),
    "inserted": _("Inserted: {text}"),
    "unknownVariables": _("These variables cannot be filled in:"),
    "shortcutTaken": _("Another canned reply has that shortcut for that language and team."),
    "invalid": _("Check the shortcut (letters, digits, - and _), the title and the text."),
    "verifiedUser": _("Signed-in user (verified)"),
    "name": _("Name"),
    "email": _("Email"),
    "page": _("Page"),
    "referrer": _("Came from"),
    "browser": _("Browser"),
    "device": _("Device"),
    "localTime": _("Local time"),
    "unknownVisitor": _("Nothing known yet."),
    "none": _("None"),
    "desktop": _("Desktop"),
    "mobile": _("Mobile"),
    "tablet": _("Tablet"),
    "bot": _("Automated"),
}


def _error(err: services.InboxError | ValueError, status: int = 400) -> JsonResponse:
    if isinstance(err, services.InboxError):
        return JsonResponse({"error": err.code, **err.details}, status=status)
    return JsonResponse({"error": "invalid", "detail": str(err)}, status=status)


def _body(request: HttpRequest) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ValueError("not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def _team_id(value: object) -> int | None:
    """A reply's team from the form: empty for every agent, else a team's id."""
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("team must be a team id")
    try:
        return int(value)
    except ValueError:
        raise ValueError("team must be a team id") from None


def _default_range() -> tuple[dt.date, dt.date]:
    today = timezone.localdate()
    return today - dt.timedelta(days=DEFAULT_RANGE_DAYS - 1), today


def _date_range(request: HttpRequest) -> tuple[dt.date, dt.date]:
    """`from` and `to` (ISO days, inclusive); the last DEFAULT_RANGE_DAYS days by default.
    Raises ValueError with a message for the agent, in their language (Python's own, "month
    must be in 1..12", once reached the page as it was)."""
    default_start, default_end = _default_range()
    try:
        start_day = dt.date.fromisoformat(request.GET.get("from") or default_start.isoformat())
        end_day = dt.date.fromisoformat(request.GET.get("to") or default_end.isoformat())
    except ValueError:
        raise ValueError(_("Write dates as YYYY-MM-DD, for example 2026-12-01.")) from None
    if end_day < start_day:
        raise ValueError(_("The range ends before it starts."))
    if (end_day - start_day).days >= MAX_RANGE_DAYS:
        raise ValueError(_("Choose a range of at most %(days)s days.") % {"days": MAX_RANGE_DAYS})
    return start_day, end_day


@require_GET
@agent_required
def inbox_setup(request: HttpRequest) -> JsonResponse:
    """What the console's inbox needs once: labels, agents (for the filter), the agent's saved
    views and the canned-reply library."""
    agents = (
        get_user_model()
        .objects.filter(groups__name=AGENTS_GROUP, is_active=True, is_staff=True)
        .order_by("username")
    )
    return JsonResponse(
        {
            "labels": list(Label.objects.values("id", "name", "color", "description")),
            "agents": [{"id": u.pk, "name": agent_name(u)} for u in agents],
            "views": [
                services.saved_view_payload(v) for v in SavedView.objects.filter(agent=request.user)
            ],
            "replies": services.canned_replies(request.user),
            "teams": services.agent_teams(request.user),
            "text": {key: str(value) for key, value in INBOX_TEXT.items()},
        }
    )


@require_GET
@agent_required
def inbox_search(request: HttpRequest) -> JsonResponse:
    try:
        filters = Filters.from_dict(request.GET.dict())
    except ValueError as err:
        return _error(err)
    return JsonResponse(
        {"filters": filters.as_dict(), "items": conversations_find(filters=filters)}
    )


LABELS_AT_ONCE = 300  # conversations one request may ask labels for (a list's worth)


@require_GET
@agent_required
def labels_of(request: HttpRequest) -> JsonResponse:
    """The labels of the conversations named (`conversation`, repeated): for the live lists,
    whose items come over the socket without them."""
    public_ids = request.GET.getlist("conversation")[:LABELS_AT_ONCE]
    return JsonResponse({"labels": conversation_labels_by_id(public_ids=public_ids)})


@require_http_methods(["GET", "POST", "DELETE"])
@agent_required
def conversation_labels(
    request: HttpRequest, public_id: str, label_id: int | None = None
) -> JsonResponse:
    """GET: its labels; POST {label}: put it on; DELETE …/<label_id>/: take it off. Answers
    with the labels."""
    try:
        if request.method == "GET":
            labels = services.conversation_labels_of(public_id=public_id)
        elif request.method == "DELETE" and label_id is not None:
            labels = services.conversation_label_remove(public_id=public_id, label_id=label_id)
        else:
            labels = services.conversation_label_add(
                public_id=public_id, label_id=int(_body(request).get("label")), agent=request.user
            )
    except services.InboxError as err:
        return _error(err, 404 if err.code == "not_found" else 400)
    except (TypeError, ValueError) as err:
        return _error(ValueError(str(err)))
    return JsonResponse({"conversation": public_id, "labels": labels})


@require_http_methods(["POST", "DELETE"])
@agent_required
def saved_views(request: HttpRequest, view_id: int | None = None) -> JsonResponse:
    """POST {name, filters}: save (same name replaces); DELETE …/<id>/: the agent's own only."""
    try:
        if request.method == "DELETE" and view_id is not None:
            services.saved_view_delete(agent=request.user, view_id=view_id)
            return JsonResponse({"deleted": view_id})
        data = _body(request)
        view = services.saved_view_save(
            agent=request.user,
            name=str(data.get("name") or ""),
            filters=Filters.from_dict(data.get("filters") or {}),
        )
    except services.InboxError as err:
        return _error(err, 404 if err.code == "not_found" else 400)
    except ValueError as err:
        return _error(err)
    return JsonResponse(view, status=201)


@require_http_methods(["GET", "POST", "DELETE"])
@agent_required
def canned_replies(request: HttpRequest, reply_id: int | None = None) -> JsonResponse:
    """GET: the agent's replies now (a console refreshes them when a shortcut is typed: one a
    teammate made since it opened was not offered); POST {shortcut, locale, title, text}:
    create, or edit …/<id>/; DELETE …/<id>/."""
    if request.method == "GET":
        return JsonResponse({"replies": services.canned_replies(request.user)})
    try:
        if request.method == "DELETE" and reply_id is not None:
            services.canned_reply_delete(agent=request.user, reply_id=reply_id)
            return JsonResponse({"deleted": reply_id})
        data = _body(request)
        reply = services.canned_reply_save(
            agent=request.user,
            reply_id=reply_id,
            shortcut=str(data.get("shortcut") or ""),
            title=str(data.get("title") or ""),
            text=str(data.get("text") or ""),
            locale=str(data.get("locale") or ""),
            team_id=_team_id(data.get("team")),
        )
    except services.InboxError as err:
        return _error(err, 404 if err.code == "not_found" else 400)
    except ValueError as err:
        return _error(err)
    return JsonResponse(reply, status=200 if reply_id else 201)


@require_GET
@agent_required
def agent_report(request: HttpRequest) -> HttpResponse:
    """The report for the range asked; for a range that cannot be read, the default one with
    the reason above it (as the analytics dashboard does)."""
    error = ""
    try:
        start_day, end_day = _date_range(request)
    except ValueError as err:
        error = str(err)
        start_day, end_day = _default_range()
    figures = reports.agent_report(start_day=start_day, end_day=end_day)
    teams = reports.team_report(start_day=start_day, end_day=end_day)
    return render(
        request,
        "console/reports.html",
        {
            "figures": figures,
            "total": reports.figures_total(figures),
            "teams": teams,
            "start": start_day,
            "end": end_day,
            "error": error,
            "may_export": request.user.has_perm(EXPORT_PERMISSION),
        },
        status=400 if error else 200,
    )


@require_GET
@agent_required
def agent_report_csv(request: HttpRequest) -> HttpResponse:
    try:
        start_day, end_day = _date_range(request)
    except ValueError as err:
        return HttpResponse(str(err), status=400, content_type="text/plain")
    by = request.GET.get("by", "agent")
    if by not in ("agent", "team"):
        return HttpResponse("by must be agent or team", status=400, content_type="text/plain")
    report = reports.team_report if by == "team" else reports.agent_report
    body = reports.report_csv(report(start_day=start_day, end_day=end_day), by=by)
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="{by}s-{start_day.isoformat()}-{end_day.isoformat()}.csv"'
    )
    return response


@require_GET
@agent_required
def visitor_context(request: HttpRequest, public_id: str) -> JsonResponse:
    """The visitor beside the chat: page, referrer, browser, local time, attributes, past
    conversations from the same browser."""
    try:
        return JsonResponse(visitor.visitor_context_of(public_id=public_id))
    except Conversation.DoesNotExist:
        return JsonResponse({"error": "not_found"}, status=404)


@require_GET
@agent_required
def transcript(request: HttpRequest, public_id: str) -> HttpResponse:
    found = exports.transcript(public_id=public_id)
    if found is None:
        return HttpResponse("Not found", status=404, content_type="text/plain")
    audit_record(
        action=AuditAction.EXPORT,
        actor=request.user,
        conversation=public_id,
        detail={"format": "transcript"},
    )
    return render(request, "console/transcript.html", found)


# Bulk exports carry every visitor's conversations out of the product: for those who may view
# conversations in the admin (leads, admins), not every agent (a privacy walk downloaded all
# of them as an agent without a single permission).
EXPORT_PERMISSION = "chatbot.view_conversation"


@require_GET
@agent_required
def conversations_export(request: HttpRequest, fmt: str) -> HttpResponse:
    """Every conversation started in the range: `csv` (a row per message) or `json`."""
    if not request.user.has_perm(EXPORT_PERMISSION):
        return HttpResponse(
            _("Exporting conversations needs the permission to view conversations."),
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    try:
        start_day, end_day = _date_range(request)
    except ValueError as err:
        return HttpResponse(str(err), status=400, content_type="text/plain")
    audit_record(
        action=AuditAction.EXPORT,
        actor=request.user,
        detail={"format": fmt, "from": start_day.isoformat(), "to": end_day.isoformat()},
    )
    if fmt == "csv":
        body = exports.export_csv(start_day=start_day, end_day=end_day)
        content_type = "text/csv; charset=utf-8"
    else:
        body = exports.export_json(start_day=start_day, end_day=end_day)
        content_type = "application/json"
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = (
        f'attachment; filename="conversations-{start_day.isoformat()}-{end_day.isoformat()}.{fmt}"'
    )
    return response
