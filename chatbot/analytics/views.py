"""Staff analytics page in the admin (/admin/analytics/): the figures (analytics.figures) drawn as
server-rendered SVG, so the page needs no JavaScript and no chart library."""

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from unicodedata import east_asian_width

from django import forms
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import dateformat, timezone
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext_lazy as _

from chatbot.analytics import figures
from chatbot.models import HandoffReason
from chatbot.trace_labels import SOURCE_NAMES

DEFAULT_DAYS = 30
MAX_DAYS = 366
COLORS = {
    "small_talk": "#65a30d",
    "faq": "#16a34a",
    "cache": "#0891b2",
    "llm": "#4f46e5",
    "fallback": "#d97706",
    "agent": "#db2777",
    "skipped": "#f59e0b",
    "failed": "#dc2626",
    "cost": "#4f46e5",
    "p50": "#0891b2",
    "p99": "#4f46e5",
    "bar": "#4f46e5",
}

# What the charts and tables call each series; the codes are stored `source` values.
SERIES_NAMES = {
    **SOURCE_NAMES,
    "skipped": _("Skipped"),
    "failed": _("Failed"),
    "cost": _("Cost"),
}


def series_name(code: str) -> str:
    return str(SERIES_NAMES.get(code, code))


class RangeForm(forms.Form):
    start = forms.DateField(label=_("From"), required=False)
    end = forms.DateField(label=_("to"), required=False)

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        end = data.get("end") or timezone.localdate()
        start = data.get("start") or end - dt.timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            raise forms.ValidationError(gettext("The start date must not be after the end date."))
        if (end - start).days >= MAX_DAYS:
            raise forms.ValidationError(
                gettext("Choose a range of at most %(days)s days.") % {"days": MAX_DAYS}
            )
        return {**data, "start": start, "end": end}


def default_range() -> tuple[dt.date, dt.date]:
    end = timezone.localdate()
    return end - dt.timedelta(days=DEFAULT_DAYS - 1), end


# --- chart geometry (SVG user units) ---------------------------------------------------------


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    color: str
    title: str


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str = "end"  # SVG text-anchor


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    rects: list[Rect]
    labels: list[Label]
    legend: list[tuple[str, str]]  # name, colour
    empty: bool


def column_chart(
    columns: Sequence[tuple[dt.date, dict[str, float]]],
    series: Sequence[str],
    fmt: Callable[[float], str] = lambda v: f"{v:g}",
    width: int = 720,
    height: int = 190,
) -> Chart:
    """Stacked columns, one per day, with the axis maximum and a few day labels."""
    left, bottom, top = 56, 18, 8
    plot_w, plot_h = width - left - 4, height - bottom - top
    peak = max((sum(values.get(s, 0) for s in series) for _, values in columns), default=0)
    step = plot_w / max(len(columns), 1)
    rects: list[Rect] = []
    labels = [Label(left - 6, top + 10, fmt(peak)), Label(left - 6, top + plot_h, fmt(0))]
    every = max(1, round(len(columns) / 8))
    for index, (day, values) in enumerate(columns):
        x = left + index * step
        y = top + plot_h
        # A day as the admin's language writes it: "Dec 06", "12月6日" ("M d" gave "十二月 06").
        shown_day = dateformat.format(day, pgettext("a chart's day (Django date format)", "M d"))
        for name in series:
            value = values.get(name, 0)
            if value and peak:
                h = plot_h * value / peak
                y -= h
                title = f"{shown_day} {series_name(name)}: {fmt(value)}"
                rects.append(Rect(x + step * 0.1, y, step * 0.8, h, COLORS[name], title))
        if index % every == 0:
            labels.append(Label(x + step / 2, height - 4, shown_day, "middle"))
    legend = [(series_name(name), COLORS[name]) for name in series] if len(series) > 1 else []
    return Chart(width, height, rects, labels, legend, empty=not peak)


def _label_px(text: str) -> int:
    """About how wide a label is drawn: a Chinese character (or any wide or ambiguous one, such
    as curly quotes) takes two of the 6 px a Latin one does; counting characters alone cut
    "访客点击了“转人工”" off at the left."""
    return 6 * sum(2 if east_asian_width(ch) in "WFA" else 1 for ch in text)


def bar_chart(
    rows: Sequence[tuple[str, float, str]], color: str = COLORS["bar"], width: int = 460
) -> Chart:
    """Horizontal bars: (label, value, shown value) per row."""
    row_h, label_w = 24, 70
    left = 12 + max((_label_px(label) for label, _, _ in rows), default=0)
    peak = max((value for _, value, _ in rows), default=0)
    plot_w = width - left - label_w
    rects, labels = [], []
    for index, (label, value, shown) in enumerate(rows):
        y = index * row_h + 4
        w = plot_w * value / peak if peak else 0
        rects.append(Rect(left, y, max(w, 1), row_h - 8, color, f"{label}: {shown}"))
        labels.append(Label(left - 8, y + row_h - 11, label))
        labels.append(Label(left + w + 6, y + row_h - 11, shown, "start"))
    return Chart(width, len(rows) * row_h + 8, rects, labels, [], empty=not peak)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


def _charts(board: figures.Dashboard) -> dict[str, Chart]:
    latency_rows: list[tuple[str, float, str]] = []
    for row in board.ttft:
        name = series_name(row.source)
        latency_rows.append((f"{name} p50", row.p50 or 0, _ms(row.p50)))
        latency_rows.append((f"{name} p99", row.p99 or 0, _ms(row.p99)))
    res = board.resolution
    return {
        "sources": column_chart([(m.day, m.counts) for m in board.source_mix], figures.SOURCES),
        "cost": column_chart(
            [(day, {"cost": cost}) for day, cost in board.costs.by_day],
            ["cost"],
            fmt=lambda v: f"${v:.4f}",
            width=460,
        ),
        "breakers": column_chart(
            [(d.day, {"skipped": d.skipped, "failed": d.failed}) for d in board.breakers.by_day],
            ["skipped", "failed"],
        ),
        "ttft": bar_chart(latency_rows),
        "handoffs": bar_chart(
            [(HandoffReason.label_of(r), n, str(n)) for r, n in board.handoffs.by_reason],
            COLORS["agent"],
        ),
        "csat": bar_chart([(f"{r} ★", n, str(n)) for r, n in board.csat.distribution]),
        "resolution": bar_chart(
            [
                (name, getattr(res, key), f"{getattr(res, key)} ({res.share(key):.0%})")
                for key, name in (
                    ("confirmed", gettext("Confirmed")),
                    ("assumed", gettext("Assumed")),
                    ("recontact", gettext("Re-contact")),
                    ("handed_off", gettext("Handed off")),
                    ("unresolved", gettext("Unresolved")),
                )
            ],
            COLORS["faq"],
        ),
    }


@staff_member_required
@permission_required("chatbot.view_conversation", raise_exception=True)
def analytics_dashboard(request: HttpRequest) -> HttpResponse:
    """For staff who may read conversations: the page quotes visitors' own words (top
    unanswered, content gaps); any staff account once read them here, unmasked."""
    form = RangeForm(request.GET)
    start, end = (
        (form.cleaned_data["start"], form.cleaned_data["end"])
        if form.is_valid()
        else default_range()
    )
    # Demo data (seed_analytics_demo) counts only while there is nothing else to show: once a
    # real conversation exists the default leaves it out, so the figures are the site's own.
    real = figures.real_data_exists()
    choice = request.GET.get("demo")
    include_demo = choice == "include" if choice in ("include", "exclude") else not real
    all_unanswered = request.GET.get("unanswered") == "all"
    board = figures.dashboard(start, end, include_demo=include_demo, all_unanswered=all_unanswered)
    context = {
        "real_data": real,
        **admin.site.each_context(request),
        "title": gettext("Analytics"),
        "form": form,
        "board": board,
        "all_unanswered": all_unanswered,
        "shown_unanswered": figures.ALL_UNANSWERED if all_unanswered else figures.TOP_UNANSWERED,
        "charts": _charts(board),
        "ttft_rows": [(series_name(row.source), row) for row in board.ttft],
        "thumbs_rows": [
            (series_name(source), up, down) for source, up, down in board.thumbs.by_source
        ],
        "recontact_hours": int(figures.RECONTACT_WINDOW.total_seconds() // 3600),
        "recontact_gap_min": int(figures.RECONTACT_GAP.total_seconds() // 60),
        "same_topic_score": figures.SAME_TOPIC_FAQ_SCORE,
    }
    return render(request, "admin/analytics/dashboard.html", context)
