"""Visitor-facing copy of the router and the rule-template stage.

Kept here with both locales side by side rather than in the project's .po catalogue, which
belongs to another part of the tree; move them there when convenient."""

from chatbot.visitor_copy import normalise_locale

_TEXT: dict[str, dict[str, str]] = {
    "failover": {
        "en": "This is taking longer than usual, trying another way…",
        "zh-hans": "比平时慢一些，正在换一种方式…",
    },
    "human": {
        "en": "You can also ask to talk to a person and someone from our team will help you.",
        "zh-hans": "您也可以要求转人工，我们团队的成员会为您提供帮助。",
    },
    "queued": {
        "en": "I've kept your question and will answer it here as soon as I can.",
        "zh-hans": "我已记下您的问题，会尽快在这里回复您。",
    },
    "queued_prefix": {
        "en": "About your earlier question “{question}”: ",
        "zh-hans": "关于您之前的问题“{question}”：",
    },
}


def text(name: str, locale: str, **values: str) -> str:
    return _TEXT[name][normalise_locale(locale)].format(**values)
