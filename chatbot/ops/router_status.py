"""Staff-only admin page for the model router: breaker states, today's spend against the daily
budget, model cost per day and per conversation."""

import datetime as dt

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.template import engines

from chatbot.llm import spend
from chatbot.llm.breaker import breaker_states
from chatbot.llm.costs import cost_report

_PAGE = engines["django"].from_string(
    """{% extends "admin/base_site.html" %}
{% block content %}
<h2>Circuit breakers</h2>
<table>
<tr><th>breaker</th><th>state</th><th>failure rate</th><th>calls in window</th>
<th>throttled</th><th>next probe</th><th>opened</th><th>closed</th></tr>
{% for b in breakers %}
<tr><td>{{ b.name }}</td><td><strong>{{ b.state }}</strong></td>
<td>{% widthratio b.failure_rate 1 100 %}%</td><td>{{ b.calls }}</td>
<td>{% widthratio b.throttle 1 100 %}%</td>
<td>{{ b.next_probe|default:"-" }}</td><td>{{ b.opens }}</td><td>{{ b.closes }}</td></tr>
{% endfor %}
</table>
<h2>Spend</h2>
<p>Today: ${{ spent|floatformat:4 }}{% if budget %} of ${{ budget|floatformat:2 }} daily budget
{% if spent >= budget %}<strong>(spent: routing to cheaper tiers)</strong>{% endif %}
{% else %} (no daily budget){% endif %}</p>
<h3>Per day (last 7 days)</h3>
<table><tr><th>day</th><th>cost (USD)</th><th>bot answers</th></tr>
{% for day, cost, count in report.by_day %}
<tr><td>{{ day }}</td><td>{{ cost|floatformat:6 }}</td><td>{{ count }}</td></tr>
{% empty %}<tr><td colspan="3">No answers yet.</td></tr>{% endfor %}
</table>
<h3>Costliest conversations (last 7 days)</h3>
<table><tr><th>conversation</th><th>cost (USD)</th><th>bot answers</th></tr>
{% for public_id, cost, count in report.top_conversations %}
<tr><td>{{ public_id }}</td><td>{{ cost|floatformat:6 }}</td><td>{{ count }}</td></tr>
{% endfor %}
</table>
{% endblock %}"""
)


def _render(request: HttpRequest, context: dict) -> HttpResponse:
    context = {**admin.site.each_context(request), "title": "Model router", **context}
    return HttpResponse(_PAGE.render(context, request))


@staff_member_required
async def router_status(request: HttpRequest) -> HttpResponse:
    breakers = [
        {
            **vars(state),
            "next_probe": (
                dt.datetime.fromtimestamp(state.next_probe_at, dt.UTC).strftime("%H:%M:%S UTC")
                if state.next_probe_at
                else None
            ),
        }
        for state in await breaker_states()
    ]
    context = {
        "breakers": breakers,
        "spent": await spend.spent(),
        "budget": settings.LLM_DAILY_BUDGET_USD,
        "report": await sync_to_async(cost_report)(days=7),
    }
    return await sync_to_async(_render)(request, context)
