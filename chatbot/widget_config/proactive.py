"""Which proactive greeting and suggested questions a page gets (chatbot.models.PageGreeting).

Asked on every page load of every site that embeds the widget, so a process reads the rules at
most every `_TTL_S` seconds (cachetools, as the support hours): an admin's change shows at once
in the process that saved it and within seconds in the others."""

from fnmatch import fnmatchcase
from typing import Any

from cachetools import TTLCache
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from chatbot.models import PageGreeting

MAX_SUGGESTIONS = 4
_TTL_S = 15.0

_rules: TTLCache = TTLCache(maxsize=1, ttl=_TTL_S)


def _active_rules() -> list[PageGreeting]:
    rules = _rules.get("active")
    if rules is None:
        rules = _rules["active"] = list(
            PageGreeting.objects.filter(active=True).only(
                "path_pattern", "locale", "greeting", "suggestions", "delay_s"
            )
        )
    return rules


def forget() -> None:
    """Read the rules again on the next page load (after a change, in tests)."""
    _rules.clear()


@receiver([post_save, post_delete], sender=PageGreeting)
def _rule_changed(**_: Any) -> None:
    forget()


def greeting_for(*, path: str, locale: str) -> dict[str, Any]:
    """The first active rule in order whose pattern matches the page's path, for this locale or
    any; every field empty when none does."""
    for rule in _active_rules():
        if rule.locale in ("", locale) and fnmatchcase(path, rule.path_pattern):
            lines = (line.strip() for line in rule.suggestions.splitlines())
            return {
                "greeting": rule.greeting,
                "suggestions": [line for line in lines if line][:MAX_SUGGESTIONS],
                "delay_s": rule.delay_s,
            }
    return {"greeting": "", "suggestions": [], "delay_s": 0}


def shadowing_greeting(rule: PageGreeting) -> PageGreeting | None:
    """An active rule that comes before `rule` (order, then age) for its locale and matches
    every page its pattern names (the same pattern, or a wider one such as "*"), so `rule`
    would never be shown there; None when there is none."""
    if not rule.active:
        return None
    earlier = PageGreeting.objects.filter(active=True).exclude(pk=rule.pk)
    for other in earlier.order_by("order", "id"):
        if (other.order, other.pk) > (rule.order, rule.pk):
            break
        same_audience = other.locale in ("", rule.locale)
        if same_audience and fnmatchcase(rule.path_pattern, other.path_pattern):
            return other
    return None
