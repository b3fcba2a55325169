"""Partial failure is not an outage: 500 questions, 10 at a time, through the answer pipeline
against real upstream simulators whose calls fail before any token (half 500, half 429), with
router state in memory and in the real Redis. The scenarios are the bench's
(bench/partial_failure.py); these tests assert what happens, with bounds loose enough for a busy
CI machine, and `make bench` holds the timing and rate targets (slowest answer, model share)."""

import pytest

from bench.partial_failure import SCENARIOS, markdown, replay, verdicts

QUESTIONS = 500
BY_KEY = {s.key: s for s in SCENARIOS}


@pytest.fixture(autouse=True)
def _no_model_brake(settings) -> None:
    """Hundreds of questions a minute: what is measured is the tiers, not the spend brake."""
    settings.LLM_MODEL_CALLS_PER_MINUTE = 0


async def run(key: str, sims) -> dict:
    figures = await replay(BY_KEY[key], [sims["strong"], sims["cheap"]], questions=QUESTIONS)
    assert figures["questions"] == QUESTIONS
    return figures


@pytest.mark.slow
async def test_a_tier_failing_40_percent_of_calls_keeps_answering(sims, backend):
    figures = await run("partial", sims)
    assert figures["model_share"] >= 0.9 and figures["by_tier"] == {
        "first": figures["sources"]["llm"]
    }
    assert 1.0 < figures["calls_per_question"] <= 1.7, "retries, within the budget"
    assert figures["seconds"]["max"] <= 10
    assert figures["breakers"]["first"]["opens"] == 0, "partial failure is not an outage"
    assert figures["tiers_skipped"].get("breaker_open", 0) == 0
    failed = sims["strong"].stats.failed / sims["strong"].stats.requests
    assert 0.35 < failed < 0.45, "the upstream really failed 40% of calls"


@pytest.mark.slow
async def test_a_dead_tier_opens_and_every_question_gets_the_rule_template_at_once(sims, backend):
    figures = await run("outage", sims)
    assert figures["sources"] == {"fallback": QUESTIONS}
    assert figures["decisions"] == {"rule_template": QUESTIONS}
    assert figures["seconds"]["max"] <= 3, "no question waits on the dead tier's retries"
    assert figures["breakers"]["first"]["state"] == "open"
    assert figures["calls_per_question"] < 0.1, "the open breaker spares the dead tier"


@pytest.mark.slow
async def test_with_two_tiers_the_second_answers_while_the_first_is_down(sims, backend):
    figures = await run("failover", sims)
    assert figures["by_tier"] == {"second": QUESTIONS}
    assert figures["breakers"]["first"]["state"] == "open"
    assert figures["breakers"]["second"]["state"] == "closed"
    assert sims["strong"].stats.completed == 0 and sims["cheap"].stats.completed == QUESTIONS


def test_the_report_says_fail_when_a_figure_misses_its_target():
    figures = {
        "questions": 10,
        "concurrency": 2,
        "sources": {"llm": 9, "fallback": 1},
        "model_share": 0.9,
        "by_tier": {"first": 9},
        "decisions": {"rule_template": 1},
        "tiers_skipped": {},
        "calls_per_question": 1.71,
        "seconds": {"p50": 0.1, "p99": 0.2, "max": 10.5},
        "breakers": {"first": {"state": "closed", "opens": 0, "throttle": 0.0}},
    }
    assert [met for _, _, met in verdicts("partial", figures)] == [False, False, False]
    figures |= {
        "model_share": 0.95,
        "calls_per_question": 1.7,
        "seconds": {"p50": 0.1, "p99": 0.2, "max": 10},
    }
    assert [met for _, _, met in verdicts("partial", figures)] == [True, True, True]
    outage = figures | {
        "decisions": {"rule_template": 10},
        "seconds": {"p50": 0.0, "p99": 0.5, "max": 1.2},
        "breakers": {"first": {"state": "open", "opens": 1, "throttle": 0.0}},
    }
    assert [met for _, _, met in verdicts("outage", outage)] == [True, False, True]
    failover = figures | {
        "by_tier": {"second": 10},
        "seconds": {"p50": 0.0, "p99": 0.5, "max": 1.2},
        "breakers": {"first": {"state": "closed", "opens": 0, "throttle": 0.3}},
    }
    assert [met for _, _, met in verdicts("failover", failover)] == [True, False, True]
    report = markdown({"partial": figures, "outage": outage, "failover": failover})
    assert report.count("**PASS**") == 7 and report.count("**FAIL**") == 2
