"""Which proactive greeting and suggested questions a page gets (chatbot.models.PageGreeting)."""

from fnmatch import fnmatchcase
from typing import Any

from chatbot.models import PageGreeting

MAX_SUGGESTIONS = 4


def greeting_for(*, path: str, locale: str) -> dict[str, Any]:
    """The first active rule in order whose pattern matches the page's path, for this locale or
    any; every field empty when none does."""
    rules = PageGreeting.objects.filter(active=True).only(
        "path_pattern", "locale", "greeting", "suggestions", "delay_s"
    )
    for rule in rules:
        if rule.locale in ("", locale) and fnmatchcase(path, rule.path_pattern):
            lines = (line.strip() for line in rule.suggestions.splitlines())
            return {
                "greeting": rule.greeting,
                "suggestions": [line for line in lines if line][:MAX_SUGGESTIONS],
                "delay_s": rule.delay_s,
            }
    return {"greeting": "", "suggestions": [], "delay_s": 0}
