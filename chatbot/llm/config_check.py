"""What is wrong with the model configuration, said before a visitor meets it. A model-tiers walk
found each of these silent: a typo in a tier field left every answer failing while `serve`
printed its ready banner; a tier whose key variable was misspelt looked healthy and failed every
call; a misspelt `LLM_ROUTE_SIMPLE_FROM` sent every question to the dearest tier; a misspelt
`OPENAI_BASE_ULR` sent the key to the SDK's default host. Django's system checks report them
(chatbot.apps): an error stops `serve`, `migrate` and every other command, a warning is printed."""

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass

import environ
from django.conf import settings

from chatbot.llm.tiers import Tier, TierConfigError, configured_tiers

# Our own variables' prefixes: a variable under one of them that names no setting is a typo
# when a setting's name is close to it (others, such as the SDK's OPENAI_ORG_ID, are left be).
_OWN_PREFIXES = ("LLM_", "OPENAI_", "CHAT_", "ANSWER_CACHE_", "HANDOFF_", "KNOWLEDGE_", "FAQ_")
_CLOSE = 0.85
_ENV_READER = environ.Env  # how chatbot.settings reads a variable


@dataclass(frozen=True)
class Problem:
    error: bool  # an error stops the commands; a warning is printed
    text: str
    hint: str = ""


def tier_problems(
    tiers: list[Tier], *, simple_from: str, daily_budget_usd: float = 0.0
) -> list[Problem]:
    """Tiers that cannot be called (no key variable set), a simple-question start that names
    no tier, and a daily budget that cannot change anything."""
    problems = []
    for tier in tiers:
        for provider in tier.providers:
            unset = provider.key_envs_unset()
            if provider.key_envs and len(unset) == len(provider.key_envs):
                problems.append(
                    Problem(
                        False,
                        f"tier {tier.name!r}, provider {provider.name!r}: none of its key "
                        f"variables is set ({', '.join(unset)}): every call to it fails over",
                        "Set the variable, or correct api_key_env in the tier configuration.",
                    )
                )
            elif unset:
                problems.append(
                    Problem(
                        False,
                        f"tier {tier.name!r}, provider {provider.name!r}: key variables not set, "
                        f"left out of its pool: {', '.join(unset)}",
                    )
                )
    names = [tier.name for tier in tiers]
    if len(tiers) > 1 and simple_from not in names:
        problems.append(
            Problem(
                False,
                f"LLM_ROUTE_SIMPLE_FROM is {simple_from!r}, which is not a tier "
                f"({', '.join(names)}): every question starts at the strongest tier, and "
                "the daily budget cannot send questions to a cheaper one",
                "Set LLM_ROUTE_SIMPLE_FROM to the name of the tier simple questions start at.",
            )
        )
    elif daily_budget_usd > 0 and names and (simple_from not in names or names[0] == simple_from):
        # A spent budget sends every question to where simple ones start; here that is the
        # first tier already, and an operator's walk saw the budget pass with no effect.
        problems.append(
            Problem(
                False,
                f"LLM_DAILY_BUDGET_USD is {daily_budget_usd:g}, but simple questions already "
                f"start at the first tier ({names[0]!r}): once the budget is spent, nothing "
                "changes and every question still goes to it",
                "Name a cheaper, later tier in LLM_ROUTE_SIMPLE_FROM, or set "
                "LLM_DAILY_BUDGET_USD=0.",
            )
        )
    return problems


def misspelt_variables(environ: Mapping[str, str], known: set[str]) -> list[Problem]:
    """Variables under our prefixes that name no setting but are one slip from one."""
    problems = []
    for name in sorted(environ):
        if name in known or not name.startswith(_OWN_PREFIXES):
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=_CLOSE)
        if close:
            problems.append(
                Problem(
                    False,
                    f"{name} is set but is no setting; did you mean {close[0]}?",
                    "The app reads only the names in README.md's configuration table.",
                )
            )
    return problems


def unreadable_numbers(environ: Mapping[str, str], values: Mapping[str, object]) -> list[Problem]:
    """Numeric settings (by their value's type in `values`) whose variable is not a plain
    number: the environment reader keeps what looks like digits, so `LLM_DAILY_BUDGET_USD=$2`
    was a budget of 2 from "$2", "5usd" was 5 and "1e3" was 13 (model-tiers walks)."""
    problems = []
    for name, value in sorted(values.items()):
        if name not in environ or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        raw = environ[name].strip()
        if not raw:
            continue  # blank is unset (chatbot.settings)
        cast = int if isinstance(value, int) else float
        try:
            number = float(raw)
            read = _ENV_READER.parse_value(raw, cast)
            if read != number:
                raise ValueError(raw)
        except ValueError:
            try:
                shown = f" (it is read as {_ENV_READER.parse_value(raw, cast)!r})"
            except ValueError:
                shown = ""
            problems.append(
                Problem(
                    True,
                    f"{name}={environ[name]!r} is not a plain number{shown}",
                    "Write the number alone: 2, 2.5, 0.",
                )
            )
    return problems


def model_configuration_problems() -> list[Problem]:
    try:
        tiers = configured_tiers()
    except TierConfigError as exc:
        return [
            Problem(
                True,
                f"the model tiers cannot be read: {exc}",
                "Correct LLM_TIERS_JSON or LLM_TIERS_FILE (docs/llm.md, the tier format).",
            )
        ]
    known = {name for name in dir(settings) if name.isupper()}
    known |= {name for tier in tiers for p in tier.providers for name in p.key_envs}
    values = {name: getattr(settings, name) for name in known if hasattr(settings, name)}
    return [
        *tier_problems(
            tiers,
            simple_from=settings.LLM_ROUTE_SIMPLE_FROM,
            daily_budget_usd=settings.LLM_DAILY_BUDGET_USD,
        ),
        *misspelt_variables(os.environ, known),
        *unreadable_numbers(os.environ, values),
    ]
