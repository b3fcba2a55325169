"""Admin page on the model router, for leads (chatbot.ops.access): breaker states, how each
model's answers given help-centre sources stood up to the citation check, today's spend against
the daily budget, model cost per day and per conversation."""

import datetime as dt
import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from chatbot.llm import spend
from chatbot.llm.breaker import breaker_states
from chatbot.llm.config_check import model_configuration_problems
from chatbot.llm.costs import cost_report
from chatbot.llm.tiers import Tier, TierConfigError, configured_tiers
from chatbot.ops.access import LEAD_PERMISSION
from chatbot.pipeline.grounding_report import grounding_by_model

_PAGE = engines["django"].from_string(
    """{% extends "admin/base_site.html" %}{% load i18n %}
{% block content %}
{% if problems %}<ul class="messagelist">
{% for p in problems %}<li class="{% if p.error %}error{% else %}warning{% endif %}">{{ p.text }}
{% if p.hint %}<br>{{ p.hint }}{% endif %}</li>{% endfor %}
</ul>{% endif %}
{% if not unreadable %}
<h2>{% translate "Configured tiers" %}</h2>
<table id="tiers">
<tr><th>{% translate "tier" %}</th><th>{% translate "provider" %}</th>
<th>{% translate "model" %}</th><th>{% translate "address" %}</th>
<th>{% translate "price per 1,000 tokens (in / out)" %}</th>
<th>{% translate "longest answer (tokens)" %}</th>
<th>{% translate "key variables" %}</th></tr>
{% for p in providers %}
<tr><td>{{ p.tier }}</td><td>{{ p.name }}</td><td>{{ p.model }}</td>
<td>{{ p.base_url|default:_("the SDK's default (api.openai.com)") }}</td>
<td>${{ p.price_in }} / ${{ p.price_out }}</td><td>{{ p.max_tokens }}</td>
<td>{% for k in p.keys %}{{ k.name }}: {% if k.set %}{% translate "set" %}{% else %}
<strong>{% translate "not set" %}</strong>{% endif %}{% if not forloop.last %}, {% endif %}
{% empty %}{% translate "none needed" %}{% endfor %}</td></tr>
{% endfor %}
</table>
<h2>{% translate "Circuit breakers" %}</h2>
<table>
<tr><th>{% translate "breaker" %}</th><th>{% translate "state" %}</th>
<th>{% translate "failure rate" %}</th><th>{% translate "calls in window" %}</th>
<th>{% translate "throttled" %}</th><th>{% translate "next probe" %}</th>
<th>{% translate "opened" context "breaker transitions" %}</th>
<th>{% translate "closed" context "breaker transitions" %}</th></tr>
{% for b in breakers %}
<tr><td>{{ b.name }}</td><td><strong>{{ b.state_label }}</strong></td>
<td>{% widthratio b.failure_rate 1 100 %}%</td><td>{{ b.calls }}</td>
<td>{% widthratio b.throttle 1 100 %}%</td>
<td>{{ b.next_probe|default:"-" }}</td><td>{{ b.opens }}</td><td>{{ b.closes }}</td></tr>
{% endfor %}
</table>
<h2>{% translate "Answers given help-centre sources (last 7 days)" %}</h2>
{% if skip_after %}<p>{% blocktranslate trimmed count count=skip_after with minutes=probe_minutes %}
A model whose latest answer given sources in a language was ungrounded is not asked such
questions in that language: the visitor gets the suggested articles at once. One question every
{{ minutes }} minutes still asks it.
{% plural %}
A model whose latest {{ count }} answers given sources in a language were all ungrounded is not
asked such questions in that language: the visitor gets the suggested articles at once. One
question every {{ minutes }} minutes still asks it.
{% endblocktranslate %}</p>{% else %}<p>{% blocktranslate trimmed %}
Every model is asked questions with sources however its answers stood up
(LLM_UNGROUNDED_SKIP_AFTER is 0).
{% endblocktranslate %}</p>{% endif %}
<table><tr><th>{% translate "tier" %}</th><th>{% translate "model" %}</th>
<th>{% translate "language" %}</th><th>{% translate "answers" %}</th>
<th>{% translate "grounded" %}</th>
<th>{% translate "ungrounded, sent" %}</th><th>{% translate "ungrounded, replaced" %}</th>
<th>{% translate "questions with sources" %}</th></tr>
{% for m in grounding %}
{% get_language_info for m.locale as language %}
<tr><td>{{ m.tier }}</td><td>{{ m.model }}</td><td>{{ language.name_translated }}</td>
<td>{{ m.answers }}</td>
<td>{{ m.grounded }} ({{ m.grounded_percent|floatformat:0 }}%)</td>
<td>{{ m.sent_ungrounded }}</td><td>{{ m.replaced }}</td>
<td>{% if m.latest_all_ungrounded %}<strong>{% translate "not asked" %}</strong>
{% else %}{% translate "asked as usual" %}{% endif %}</td></tr>
{% empty %}<tr><td colspan="8">{% translate "No model answer was given sources yet." %}</td></tr>
{% endfor %}
</table>
<h2>{% translate "Spend" %}</h2>
<p>{% blocktranslate trimmed with spent=spent|floatformat:4 %}
Today: ${{ spent }}
{% endblocktranslate %}{% if budget %}
{% blocktranslate trimmed with budget=budget|floatformat:2 %}
of ${{ budget }} daily budget
{% endblocktranslate %}
{% if spent >= budget %}
<strong>{% translate "(spent: routing to cheaper tiers)" %}</strong>{% endif %}
{% else %} {% translate "(no daily budget)" %}{% endif %}</p>
<h3>{% translate "Per day (last 7 days)" %}</h3>
<table><tr><th>{% translate "day" %}</th><th>{% translate "cost (USD)" %}</th>
<th>{% translate "bot answers" %}</th></tr>
{% for day, cost, count in report.by_day %}
<tr><td>{{ day }}</td><td>{{ cost|floatformat:6 }}</td><td>{{ count }}</td></tr>
{% empty %}<tr><td colspan="3">{% translate "No answers yet." %}</td></tr>{% endfor %}
</table>
<h3>{% translate "Costliest conversations (last 7 days)" %}</h3>
<table><tr><th>{% translate "conversation" %}</th><th>{% translate "cost (USD)" %}</th>
<th>{% translate "bot answers" %}</th></tr>
{% url 'admin:chatbot_conversation_changelist' as conversations %}
{% for public_id, cost, count in report.top_conversations %}
<tr><td><a href="{{ conversations }}?q={{ public_id|urlencode }}">{{ public_id }}</a></td>
<td>{{ cost|floatformat:6 }}</td><td>{{ count }}</td></tr>
{% endfor %}
</table>
{% endif %}
{% endblock %}"""
)


# A breaker's state as an admin reads it (the codes are the breaker's, chatbot/llm/breaker.py).
STATE_LABELS = {
    "closed": _("closed (calls go through)"),
    "open": _("open (calls skipped)"),
    "half_open": _("half-open (trial calls)"),
}


def _render(request: HttpRequest, context: dict) -> HttpResponse:
    context = {**admin.site.each_context(request), "title": gettext("Model router"), **context}
    return HttpResponse(_PAGE.render(context, request))


def _providers(tiers: list[Tier]) -> list[dict[str, object]]:
    """What each tier calls, so a lead can check it against what they meant to configure."""
    return [
        {
            "tier": tier.name,
            "name": provider.name,
            "model": provider.model,
            "base_url": provider.base_url or "",
            "price_in": provider.price_in_per_1k,
            "price_out": provider.price_out_per_1k,
            "max_tokens": provider.max_tokens,
            "keys": [
                {"name": name, "set": name not in provider.key_envs_unset()}
                for name in provider.key_envs
            ],
        }
        for tier in tiers
        for provider in tier.providers
    ]


def _next_probe(at: float | None, *, now: float) -> str | None:
    """A half-open breaker's probe time is often past: the next question probes (an operator
    read a time minutes ago as "next probe")."""
    if not at:
        return None
    if at <= now:
        return gettext("with the next question")
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%H:%M:%S UTC")


@staff_member_required
@permission_required(LEAD_PERMISSION, raise_exception=True)
async def router_status(request: HttpRequest) -> HttpResponse:
    problems = model_configuration_problems()
    try:
        tiers = configured_tiers()
    except TierConfigError:  # named among the problems
        return await sync_to_async(_render)(request, {"problems": problems, "unreadable": True})
    breakers = [
        {
            **vars(state),
            "state_label": STATE_LABELS.get(state.state, state.state),
            "next_probe": _next_probe(state.next_probe_at, now=time.time()),
        }
        for state in await breaker_states()
    ]
    context = {
        "problems": problems,
        "providers": _providers(tiers),
        "breakers": breakers,
        "spent": await spend.spent(),
        "budget": settings.LLM_DAILY_BUDGET_USD,
        "report": await sync_to_async(cost_report)(days=7),
        "grounding": await sync_to_async(grounding_by_model)(
            skip_after=settings.LLM_UNGROUNDED_SKIP_AFTER
        ),
        "skip_after": settings.LLM_UNGROUNDED_SKIP_AFTER,
        "probe_minutes": round(settings.LLM_UNGROUNDED_PROBE_S / 60),
    }
    return await sync_to_async(_render)(request, context)
