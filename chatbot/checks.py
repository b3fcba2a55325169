"""Django system checks of the app's configuration (registered in chatbot.apps)."""

from typing import Any

from django.core import checks

from chatbot.llm.config_check import model_configuration_problems


def model_configuration(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The model tiers, their key variables, the routing setting and misspelt variables."""
    return [
        (checks.Error if problem.error else checks.Warning)(
            problem.text,
            hint=problem.hint or None,
            id="chatbot.E001" if problem.error else "chatbot.W001",
        )
        for problem in model_configuration_problems()
    ]
