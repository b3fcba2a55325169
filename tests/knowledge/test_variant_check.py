"""The fact check on model-written answer variants: rewordings that keep the answer's facts
pass; changed, dropped or invented numbers, links, emails and names, and text that does not
read as an answer, are flagged."""

import pytest

from knowledge.variant_check import variant_check

WARRANTY = "All Acme products come with a 2-year warranty. Claims: support@acme.example."


@pytest.mark.parametrize(
    ("canonical", "variant"),
    [
        (WARRANTY, "Every Acme product has a 2-year warranty; claims go to support@acme.example."),
        (
            "Free shipping on orders over $50. Express delivery costs $14.95.",
            "Orders above $50 ship free, and express delivery is $14.95.",
        ),
        (
            "Returns are accepted within 30 days at https://shop.example/returns.",
            "You can return items within 30 days: see https://shop.example/returns",
        ),
        ("满50元包邮，加急快递14.95元。", "订单满50元免运费，加急配送收费14.95元。"),
        ("我们支持PayPal和支付宝付款。", "可以用PayPal或支付宝支付。"),
        ("Orders over 1,000 units get 5.0% off.", "Buy 1000 units or more for 5% off."),
        ("No, we don't ship to PO boxes.", "Sorry, PO boxes are not a delivery address we use."),
        ("Yes, gift wrap is free.", "Gift wrapping costs nothing, yes."),
        ("不支持货到付款，非常抱歉。", "很抱歉，我们没有货到付款。"),
        ("无论订单大小，都可以开发票。", "任何订单都能开发票。"),
        ("可以，礼品包装收费3元。", "没问题，礼品包装收费3元，订单金额不限。"),
    ],
)
def test_rewordings_that_keep_the_facts_pass(canonical: str, variant: str) -> None:
    check = variant_check(canonical=canonical, variant=variant)
    assert check.ok, check.summary()


@pytest.mark.parametrize(
    ("canonical", "variant", "reason"),
    [
        (WARRANTY, "Sewage Repair Services:", "ends like a heading"),
        (
            WARRANTY,
            "All Acme products come with a 3-year warranty. Claims: support@acme.example.",
            "3",
        ),
        (
            WARRANTY,
            "Acme products have a 2-year warranty. Email help@acme.example.",
            "help@acme.example",
        ),
        (
            WARRANTY,
            "All products come with a 2-year warranty; write to support@acme.example.",
            "missing acme",
        ),
        (
            "Free shipping on orders over $50.",
            "Free shipping on orders over $50 with FedEx Priority.",
            "fedex",
        ),
        (
            "Returns within 30 days at https://shop.example/returns.",
            "Returns within 30 days at https://evil.example/returns.",
            "evil.example/returns",
        ),
        ("满50元包邮。", "满60元包邮。", "60"),
        ("满50元包邮。", "Free shipping over 50.", "in another language"),
        (
            "Standard delivery takes 3-5 working days within the UK mainland.",
            "3-5 days.",
            "much shorter",
        ),
        ("Yes.", "", "empty"),
        (
            "Yes, carbon hiking poles from $35 in the Gear section (winter sale).",
            "No, carbon hiking poles from $35 in the Gear section (winter sale).",
            "may say the opposite",
        ),
        ("Returns are free.", "Returns aren't free.", "may say the opposite"),
        (
            "We cannot change an order once it has shipped.",
            "We can change an order once it has shipped.",
            "may say the opposite",
        ),
        ("可以开发票。", "不可以开发票。", "may say the opposite"),
        ("没有门店自提。", "有门店自提。", "may say the opposite"),
    ],
)
def test_changed_or_invented_facts_are_flagged(canonical: str, variant: str, reason: str) -> None:
    check = variant_check(canonical=canonical, variant=variant)
    assert not check.ok
    assert reason in check.summary()


def test_the_fact_check_reads_in_the_admins_language():
    """A Chinese lead read "有疑问：missing 12, 3; much shorter than the answer" (a walk)."""
    from django.utils import translation

    check = variant_check(
        canonical="Delivery takes 3 to 5 working days and costs $12.", variant="Fast delivery:"
    )
    with translation.override("zh-hans"):
        summary = check.summary()
    assert summary == "缺少 12, 3, 5；结尾像标题；比标准答案短得多"
    with translation.override("en"):
        assert (
            check.summary() == "missing 12, 3, 5; ends like a heading; much shorter than the answer"
        )
