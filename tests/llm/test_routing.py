"""The complexity decision and the tier plan it leads to."""

import pytest

from chatbot.llm.routing import RoutingRules, classify_complexity, plan
from chatbot.llm.tiers import Provider, Tier

RULES = RoutingRules()
TIERS = [Tier(n, (Provider(n, None, f"{n}-model"),)) for n in ("strong", "cheap", "local")]


@pytest.mark.parametrize(
    "text",
    [
        "Where is my parcel?",
        "Do you ship to Canada?",
        "What are your opening hours",
        "Can I return a gift?",
        "退货政策是什么？",
    ],
)
def test_simple_questions(text):
    complexity = classify_complexity(text, RULES)
    assert not complexity.hard and complexity.reasons == ()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("What's the difference between the Pro and the Air?", "comparative"),
        ("Is the blue one better than the red one", "comparative"),
        ("The app keeps crashing when I pay, error 502", "troubleshooting"),
        ("My login doesn't work", "troubleshooting"),
        ("This is ridiculous, third time I ask!!", "angry"),
        ("WHERE IS MY ORDER I PAID LAST WEEK", "angry"),
        ("How much is shipping? And can I pay by invoice?", "multi_part"),
        ("What is the warranty and how do I claim it", "multi_part"),
        ("x" * 281, "long"),
        ("两款有什么区别", "comparative"),
        ("付款一直失败", "troubleshooting"),
    ],
)
def test_hard_questions_and_why(text, reason):
    complexity = classify_complexity(text, RULES)
    assert complexity.hard and reason in complexity.reasons


def test_rules_are_configurable():
    rules = RoutingRules(long_chars=10, signals={"legal": r"\bgdpr\b"})
    assert classify_complexity("Delete my data under GDPR", rules).reasons == ("legal", "long")
    assert not classify_complexity("Compare", rules).hard


def test_hard_goes_strong_first_simple_starts_cheap_and_budget_routes_cheaper():
    hard = classify_complexity("Compare the two plans", RULES)
    simple = classify_complexity("Hi", RULES)
    assert [t.name for t in plan(TIERS, hard, simple_from="cheap", over_budget=False).tiers] == [
        "strong",
        "cheap",
        "local",
    ]
    assert [t.name for t in plan(TIERS, simple, simple_from="cheap", over_budget=False).tiers] == [
        "cheap",
        "local",
    ]
    over = plan(TIERS, hard, simple_from="cheap", over_budget=True)
    assert [t.name for t in over.tiers] == ["cheap", "local"]
    assert over.detail() == {
        "complexity": "hard",
        "reasons": ["comparative"],
        "plan": ["cheap", "local"],
        "over_budget": True,
    }


def test_without_a_cheap_tier_everything_goes_to_what_there_is():
    local_only = TIERS[2:]
    simple = classify_complexity("Hi", RULES)
    assert [
        t.name for t in plan(local_only, simple, simple_from="cheap", over_budget=False).tiers
    ] == ["local"]
