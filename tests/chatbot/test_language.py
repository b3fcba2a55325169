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
        # Pinyin is Chinese written in Latin letters: a Chinese conversation stays Chinese (a zh
        # walk got English answers to these); an English one is not switched by it.
        ("tuihuo zenme ban", "zh-hans", "zh-hans"),
        ("wo de kuaidi dao na le", "zh-hans", "zh-hans"),
        ("Fapiao zenme kai?", "zh-hans", "zh-hans"),
        ("tuihuo zenme ban", "en", "en"),
        ("where is my order", "zh-hans", "en"),
        ("I want to change it", "zh-hans", "en"),
    ],
)
def test_message_locale(text: str, default: str, expected: str) -> None:
    assert message_locale(text, default=default) == expected
