"""Content-Security-Policy violation reports: the app's pages tell browsers where to send them
(`report-uri` and the Reporting API's `report-to`), the endpoint keeps both formats counted per
distinct violation, and a flood is held by size, rate and row caps."""

import json

import pytest
from django.test import Client

from chatbot.models import CspReport

pytestmark = pytest.mark.django_db

LEGACY = {
    "csp-report": {
        "document-uri": "https://chat.example.com/console/",
        "violated-directive": "script-src-elem",
        "effective-directive": "script-src-elem",
        "blocked-uri": "https://evil.example/x.js",
        "source-file": "https://chat.example.com/console/",
        "line-number": 12,
        "disposition": "enforce",
        "script-sample": "",
    }
}
REPORTING_API = [
    {
        "type": "csp-violation",
        "url": "https://chat.example.com/",
        "body": {
            "documentURL": "https://chat.example.com/",
            "effectiveDirective": "img-src",
            "blockedURL": "https://tracker.example/p.gif",
            "disposition": "enforce",
            "sample": "",
        },
    },
    {"type": "deprecation", "body": {"id": "x"}},  # other report types are ignored
]


def _post(client: Client, body, content_type: str = "application/csp-report"):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/csp-report/", raw, content_type=content_type)


def test_pages_name_the_report_endpoint(client):
    response = client.get("/console/login/")
    policy = response["Content-Security-Policy"]
    assert "report-uri /csp-report/" in policy and "report-to csp" in policy
    assert response["Reporting-Endpoints"] == 'csp="/csp-report/"'


def test_both_formats_are_kept_and_repeats_counted(client):
    assert _post(client, LEGACY).status_code == 204
    assert _post(client, LEGACY).status_code == 204
    assert _post(client, REPORTING_API, "application/reports+json").status_code == 204
    rows = {r.directive: r for r in CspReport.objects.all()}
    assert set(rows) == {"script-src-elem", "img-src"}
    script = rows["script-src-elem"]
    assert (script.blocked_uri, script.line, script.count) == ("https://evil.example/x.js", 12, 2)
    assert rows["img-src"].document_uri == "https://chat.example.com/"
    assert rows["img-src"].line is None


def test_junk_is_answered_and_not_kept(client):
    for body in (b"not json", b"[[[[", {"csp-report": "x"}, {"document-uri": "x"}, [1, 2]):
        assert _post(client, body).status_code == 204
    nested = b"[" * 5000 + b"]" * 5000
    assert _post(client, nested).status_code in (204, 413)
    assert not CspReport.objects.exists()
    assert client.get("/csp-report/").status_code == 405


def test_a_flood_is_held_by_size_rate_and_rows(client, settings):
    big = {"csp-report": {**LEGACY["csp-report"], "script-sample": "x" * 20_000}}
    assert _post(client, big).status_code == 413
    assert not CspReport.objects.exists()

    settings.CONTENT_SECURITY_REPORTS_MAX_ROWS = 2
    for n in range(3):
        report = {"csp-report": {**LEGACY["csp-report"], "line-number": n}}
        assert _post(client, report).status_code == 204
    assert CspReport.objects.count() == 2  # the third distinct one is not kept
    _post(client, {"csp-report": {**LEGACY["csp-report"], "line-number": 0}})
    assert CspReport.objects.get(line=0).count == 2  # known ones are still counted

    settings.CHAT_CLIENT_LIMITS = {**settings.CHAT_CLIENT_LIMITS, "csp_report": (60.0, 2.0)}
    statuses = [_post(client, LEGACY).status_code for _ in range(4)]
    assert statuses[:2] == [204, 204] and statuses[2:] == [429, 429]


def test_the_database_checks_show_no_warning():
    """On SQLite (the embedded default) `make run`'s migrate printed models.W047 (CspReport's
    constraint) each time."""
    from django.core import checks

    shown = [m.id for m in checks.run_checks(databases=["default"]) if not m.is_silenced()]
    assert shown == []
