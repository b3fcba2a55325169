"""The model configuration is checked before a visitor meets it (chatbot.llm.config_check, run
as Django system checks): a model-tiers walk found each of these silent."""

import json
import re

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.urls import reverse

from chatbot.llm.config_check import (
    misspelt_variables,
    model_configuration_problems,
    unreadable_numbers,
)
from chatbot.pipeline.registry import configured_stages
from tests.conftest import chat_socket

BROKEN_TIERS = '[{"name": "a", "providers": [{"model": "m", "price_in": 1}]}]'


def tiers(*providers: dict) -> str:
    return json.dumps(
        [
            {"name": "strong", "providers": list(providers)},
            {"name": "cheap", "providers": [{"model": "small"}]},
        ]
    )


def texts(problems) -> list[str]:
    return [p.text for p in problems]


def test_tiers_that_cannot_be_read_stop_the_commands(settings):
    settings.LLM_TIERS_JSON = BROKEN_TIERS
    [problem] = model_configuration_problems()
    assert problem.error and "unknown provider fields ['price_in']" in problem.text
    with pytest.raises(SystemCheckError, match=r"chatbot\.E001"):
        call_command("check")


def test_a_provider_without_any_key_set_is_named_with_its_variables(settings, monkeypatch):
    monkeypatch.setenv("QA_KEY", "sk-1")
    monkeypatch.delenv("QA_KYE", raising=False)
    monkeypatch.delenv("QA_KEY_2", raising=False)
    settings.LLM_TIERS_JSON = tiers({"model": "big", "api_key_env": "QA_KYE"})
    assert texts(model_configuration_problems()) == [
        "tier 'strong', provider 'strong-1': none of its key variables is set (QA_KYE): "
        "every call to it fails over"
    ]
    settings.LLM_TIERS_JSON = tiers({"model": "big", "api_key_env": ["QA_KEY", "QA_KEY_2"]})
    assert texts(model_configuration_problems()) == [
        "tier 'strong', provider 'strong-1': key variables not set, left out of its pool: QA_KEY_2"
    ]
    settings.LLM_TIERS_JSON = tiers({"model": "big", "api_key_env": "QA_KEY"})
    assert model_configuration_problems() == []
    call_command("check")  # warnings and errors alike would be raised or printed


def test_a_simple_question_start_that_names_no_tier_is_a_warning(settings):
    settings.LLM_TIERS_JSON = tiers({"model": "big"})
    settings.LLM_ROUTE_SIMPLE_FROM = "chep"
    [problem] = model_configuration_problems()
    assert not problem.error
    assert problem.text.startswith("LLM_ROUTE_SIMPLE_FROM is 'chep', which is not a tier")
    settings.LLM_ROUTE_SIMPLE_FROM = "cheap"
    assert model_configuration_problems() == []


def test_a_daily_budget_that_cannot_reroute_anything_is_a_warning(settings):
    """An operator's walk: a spent budget sends questions to where simple ones start, and
    that was the first tier already."""
    settings.LLM_TIERS_JSON = tiers({"model": "big"})
    settings.LLM_DAILY_BUDGET_USD = 5.0
    settings.LLM_ROUTE_SIMPLE_FROM = "cheap"
    assert model_configuration_problems() == []
    settings.LLM_ROUTE_SIMPLE_FROM = "strong"
    [problem] = model_configuration_problems()
    assert not problem.error
    assert problem.text.startswith(
        "LLM_DAILY_BUDGET_USD is 5, but simple questions already start at the first tier"
    )
    settings.LLM_DAILY_BUDGET_USD = 0.0
    assert model_configuration_problems() == []


def test_a_misspelt_variable_is_named_with_the_setting_it_is_close_to():
    known = {"OPENAI_BASE_URL", "OPENAI_API_KEY", "LLM_DAILY_BUDGET_USD"}
    environ = {
        "OPENAI_BASE_ULR": "http://x",  # the walk's typo
        "OPENAI_ORG_ID": "org",  # the SDK's own: nothing close among ours
        "OPENAI_API_KEY": "sk",
        "LLM_DAILY_BUDGET": "5",
        "HOME": "/root",
    }
    assert texts(misspelt_variables(environ, known)) == [
        "LLM_DAILY_BUDGET is set but is no setting; did you mean LLM_DAILY_BUDGET_USD?",
        "OPENAI_BASE_ULR is set but is no setting; did you mean OPENAI_BASE_URL?",
    ]


def test_a_number_written_with_more_than_a_number_stops_the_commands():
    """The reader keeps what looks like digits: "$2" is 2, "1e3" is 13."""
    values = {"LLM_DAILY_BUDGET_USD": 0.0, "CHAT_VISITOR_MESSAGE_BURST": 5, "DEBUG": False}
    environ = {"LLM_DAILY_BUDGET_USD": "$2", "CHAT_VISITOR_MESSAGE_BURST": "5", "DEBUG": "yes"}
    [problem] = unreadable_numbers(environ, values)
    assert problem.error
    assert problem.text == "LLM_DAILY_BUDGET_USD='$2' is not a plain number (it is read as 2.0)"
    assert unreadable_numbers({"LLM_DAILY_BUDGET_USD": " 2.5 "}, values) == []
    assert unreadable_numbers({"CHAT_VISITOR_MESSAGE_BURST": " 5 "}, values) == []
    assert unreadable_numbers({"CHAT_VISITOR_MESSAGE_BURST": "5.5"}, values)
    # The reader took "1e3" for 13: a number that parses but is not what was read is wrong too.
    [misread] = unreadable_numbers({"LLM_DAILY_BUDGET_USD": "1e3"}, values)
    assert "it is read as 13.0" in misread.text
    assert unreadable_numbers({"LLM_DAILY_BUDGET_USD": " "}, values) == [], "blank is unset"


def test_a_blank_number_variable_is_unset_not_a_crash():
    """`LLM_DAILY_BUDGET_USD=` (an env file's empty line) failed every command with a bare
    ValueError when settings were read."""
    import os
    import subprocess
    import sys

    from django.conf import settings as django_settings

    code = "import django; django.setup(); from django.conf import settings as s; "
    code += "print(s.LLM_DAILY_BUDGET_USD, s.CHAT_VISITOR_MESSAGE_BURST)"
    env = {**os.environ, "SECRET_KEY": "x", "DJANGO_SETTINGS_MODULE": "chatbot.settings"}
    env |= {"LLM_DAILY_BUDGET_USD": "", "CHAT_VISITOR_MESSAGE_BURST": " "}
    read = subprocess.run(
        [sys.executable, "-c", code],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert read.returncode == 0, read.stderr[-2000:]
    assert read.stdout.split()[-2:] == ["0.0", "5"]


def test_a_tier_field_of_the_wrong_type_is_named(settings):
    """`"price_in_per_1k": "0.5"` passed, and the cost of every answer raised TypeError."""
    settings.LLM_TIERS_JSON = tiers({"model": "big", "price_in_per_1k": "0.5", "rpm": True})
    [problem] = model_configuration_problems()
    assert problem.error
    assert (
        "fields of the wrong type or value [\"price_in_per_1k='0.5'\", 'rpm=True']" in problem.text
    )
    settings.LLM_TIERS_JSON = tiers(
        {"model": "big", "price_in_per_1k": 0.5, "rpm": 10, "base_url": None, "api_key_env": []}
    )
    assert model_configuration_problems() == []


def test_a_key_variable_of_a_pool_is_not_taken_for_a_typo(settings, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY_2", "sk-2")
    settings.LLM_TIERS_JSON = tiers({"model": "big", "api_key_env": "OPENAI_API_KEY_2"})
    assert model_configuration_problems() == []


@pytest.mark.django_db(transaction=True)
def test_the_router_page_shows_what_each_tier_calls_and_the_problems(admin_client, settings):
    settings.LLM_TIERS_JSON = tiers(
        {"model": "big", "base_url": "http://127.0.0.1:9/v1", "api_key_env": "QA_NOT_SET"}
    )
    html = admin_client.get(reverse("llm-router-status")).content.decode()
    assert "http://127.0.0.1:9/v1" in html and "big" in html
    assert re.search(r"QA_NOT_SET: \s*<strong>not set</strong>", html)
    assert "none of its key variables is set (QA_NOT_SET)" in html
    settings.LLM_TIERS_JSON = BROKEN_TIERS
    page = admin_client.get(reverse("llm-router-status"))
    assert page.status_code == 200, "the page names the error instead of failing"
    assert "unknown provider fields" in page.content.decode()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("settle")
async def test_tiers_that_cannot_be_read_leave_the_other_stages_answering(settings, upstream):
    settings.LLM_TIERS_JSON = BROKEN_TIERS
    assert "llm" not in [stage.name for stage in configured_stages()]
    async with chat_socket() as client:
        done = (await client.say("Can I pay with a cheque from my grandmother?", "c1"))[-1]
    assert done["type"] == "done" and done["source"] == "fallback", done


def test_an_answer_policy_setting_of_an_unknown_word_stops_the_commands(settings):
    """LLM_UNGROUNDED=ignore started serve, healthy, and every model answer then failed
    ("'ignore' is not a valid UngroundedPolicy", a re-walk)."""
    from chatbot.checks import model_configuration

    settings.LLM_UNGROUNDED = "ignore"
    [error] = [m for m in model_configuration() if "LLM_UNGROUNDED" in m.msg]
    assert error.id == "chatbot.E001"
    assert "'ignore' is none of send, replace, suggest" in error.msg
    settings.LLM_UNGROUNDED = "replace"
    assert not [m for m in model_configuration() if "LLM_UNGROUNDED" in m.msg]
