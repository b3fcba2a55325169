"""Django system checks of the app's configuration (registered in chatbot.apps)."""

from enum import StrEnum
from typing import Any

from django.conf import settings
from django.core import checks

from chatbot.llm.config_check import Problem, model_configuration_problems
from chatbot.pipeline.grounding import UngroundedPolicy, WithoutSources

# Settings read as one of a few words: an unknown one failed every model answer at its first
# question ("'ignore' is not a valid UngroundedPolicy"), with serve started and healthy (a walk).
CHOICE_SETTINGS: dict[str, type[StrEnum]] = {
    "LLM_UNGROUNDED": UngroundedPolicy,
    "LLM_ANSWER_WITHOUT_SOURCES": WithoutSources,
}


def choice_problems() -> list[Problem]:
    problems = []
    for name, choices in CHOICE_SETTINGS.items():
        value = getattr(settings, name)
        if value not in {choice.value for choice in choices}:
            words = ", ".join(choice.value for choice in choices)
            problems.append(
                Problem(True, f"{name}={value!r} is none of {words}", f"Set {name} to one of them.")
            )
    return problems


def model_configuration(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The model tiers, their key variables, the routing setting, the answer policies and
    misspelt variables."""
    return [
        (checks.Error if problem.error else checks.Warning)(
            problem.text,
            hint=problem.hint or None,
            id="chatbot.E001" if problem.error else "chatbot.W001",
        )
        for problem in [*model_configuration_problems(), *choice_problems()]
    ]
