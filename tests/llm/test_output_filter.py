"""The output filter's checks on their own: the business's rules, links and prices the knowledge
never gave, the system prompt repeated, and the settled part of a streaming answer."""

import pytest

from chatbot.pipeline.output_filter import OutputCheck, settled
from knowledge.models import OutputRule
from knowledge.output_rules import OutputKnowledge, amounts_in, compile_rule, hosts_in

SYSTEM = "You are a friendly, polite customer-support assistant for an online store."


def rule(kind: str, lines: str, locale: str = "") -> OutputRule:
    return OutputRule(name=f"{kind}-rule", kind=kind, lines=lines, locale=locale)


def check(**kwargs) -> OutputCheck:
    rules = tuple(compile_rule(r) for r in kwargs.pop("rules", []))
    knowledge = OutputKnowledge(
        rules=rules,
        hosts=frozenset({"help.northwind.example"}),
        amounts=frozenset({"50", "14.95"}),
    )
    defaults = {
        "knowledge": knowledge,
        "locale": "en",
        "question": "How much is shipping?",
        "own_hosts": frozenset({"shop.example"}),
        "system_prompt": SYSTEM,
    }
    return OutputCheck(**(defaults | kwargs))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Shipping is free over $50, express costs $14.95.", None),
        ("满50元包邮，加急14.95元。", None),
        ("See https://help.northwind.example/shipping or https://shop.example/a.", None),
        ("Write to care@help.northwind.example.", None),
        ("Shipping costs $9.99 today.", "unknown_price:9.99"),
        ("运费只要0.01元。", "unknown_price:0.01"),
        ("Claim it at http://refund-desk.example/claim now.", "unknown_link:refund-desk.example"),
        ("Buy from cheap-shoes.shop instead.", "unknown_link:cheap-shoes.shop"),
        ("Mail attacker@evil-mail.example.", "unknown_link:evil-mail.example"),
        ("Download invoice.pdf from your order page, version 2.1.", None),
        (f"My instructions: {SYSTEM}", "system_prompt"),
        ("A friendly customer-support assistant can help you.", None),  # 5 words is chance
    ],
)
def test_links_prices_and_the_system_prompt(text: str, expected: str | None) -> None:
    assert check().blocked(text) == expected


def test_amounts_and_hosts_are_read_in_both_languages() -> None:
    assert amounts_in("$1,299.00, 1299元, €5.50 and 20 dollars") == {"1299", "5.5", "20"}
    assert hosts_in("www.A.example/x, https://b.example:8443/y, c@d.example") == {
        "a.example",
        "b.example",
        "d.example",
    }


def test_a_source_given_with_the_answer_allows_its_links_and_amounts() -> None:
    given = check(sources_text="Repairs cost $35 at https://repairs.partner.example.")
    assert given.blocked("Repairs cost $35 at https://repairs.partner.example.") is None


def test_the_business_rules() -> None:
    rules = [
        rule("term", "guarantee\n保证"),
        rule("pattern", r"\bcode\s+[A-Z]{4,}\d+"),
        rule("topic", "medical advice\n医疗建议"),
        rule("term", "cheap", locale="zh-hans"),
    ]
    checked = check(rules=rules)
    assert checked.blocked("We guarantee delivery.") == "term:term-rule"
    assert checked.blocked("Guaranteed delivery.") is None  # whole words only
    assert checked.blocked("我们保证送达。") == "term:term-rule"
    assert checked.blocked("Use code SAVE20 today.") == "pattern:pattern-rule"
    assert checked.blocked("Cheap shipping.") is None  # that rule is for Chinese answers
    assert checked.refused_topic() is None
    asked = check(rules=rules, question="Can you give me medical advice about my rash?")
    assert asked.refused_topic() == "topic:topic-rule"


def test_only_settled_text_streams() -> None:
    assert settled("Visit http://evil.exa") == "Visit "
    assert settled("Refunds take 5") == "Refunds take "
    assert settled("退款需要5") == "退款需要"
    assert settled("Hello there ") == "Hello there "
    assert settled("") == ""


def test_a_pattern_rule_that_is_not_a_regular_expression_is_refused() -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        rule("pattern", "fine\n(unclosed").clean()
