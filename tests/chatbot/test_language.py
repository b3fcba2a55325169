"""The locale a visitor's message is answered in follows the script it is written in; short or
mixed messages keep the conversation's."""

import pytest

from chatbot.pipeline.language import message_locale


@pytest.mark.parametrize(
    ("text", "default", "expected"),
    [
        ("怎么退货？", "en", "zh-hans"),
        ("我的订单 #1234 什么时候到", "en", "zh-hans"),
        ("iPhone 15 怎么退货", "en", "zh-hans"),
        ("How do I return an item?", "zh-hans", "en"),
        ("where is my parcel", "zh-hans", "en"),
        ("iPhone 15", "zh-hans", "zh-hans"),  # a product name in a Chinese conversation
        ("ok", "zh-hans", "zh-hans"),
        ("好", "en", "en"),  # one character: too little to switch
        ("1234 5678", "en", "en"),
        ("", "zh-hans", "zh-hans"),
        ("Can I pay with 支付宝 or WeChat Pay here", "en", "en"),  # English around a name
    ],
)
def test_message_locale(text: str, default: str, expected: str) -> None:
    assert message_locale(text, default=default) == expected
