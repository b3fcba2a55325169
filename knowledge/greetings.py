"""Leading greetings, filler and politeness taken off a visitor's question before it is embedded
(FAQ and cache stages, `manage.py match_faq`); only the front is touched, and a text that is
nothing but greetings is kept whole. The visitor's text is stored as written. Limits and the
figures: docs/faq-format.md, "Greetings and filler"."""

import re

_PUNCTUATION = r",.!?;:~\-–—…，。！？；：、～"
_SEPARATOR = rf"[\s{_PUNCTUATION}]*"
# A hyphen joins words ("Hi-fi"): after a greeting it counts only with a space before it.
_AFTER_GREETING = r"(?=[\s,.!?;:~–—…，。！？；：、～])"
_BEFORE_PUNCTUATION = rf"(?=\s*[{_PUNCTUATION}])"
# English: a greeting needs a space or punctuation after it, a "question" punctuation ("quick
# question: …", not "question about refunds").
_EN = re.compile(
    r"^(?:"
    r"(?:hi|hello|hey|hiya|howdy|greetings|yo|good (?:morning|afternoon|evening|day)|dear)"
    r"(?: (?:there|team|all|everyone|folks|guys|support team|support|sir|madam))?"
    + _AFTER_GREETING
    + r"|(?:i (?:have|had|got) )?(?:just )?(?:a |one )?(?:quick |small |simple )?question"
    r"(?: for you)?"
    + _BEFORE_PUNCTUATION
    + r"|(?:sorry|excuse me|pardon)(?: to (?:bother|trouble) you)?(?:,? but)?\b"
    r"|(?:please|pls|plz|kindly)\b"
    r"|(?:can|could|would|will) you(?: please)? (?:tell|let) me(?: know)?\b"
    r"|(?:can|could|may) i ask(?: you)?\b"
    r"|(?:please )?tell me\b"
    r"|i(?:'d| would) like to know\b|i (?:want|wanna|need) to know\b"
    r"|i was wondering\b|do you know\b"
    r")" + _SEPARATOR,
    re.IGNORECASE,
)
# Chinese: no spaces between words, so fillers that cannot begin a question's own words are
# taken as they are; forms of address that can (亲子装, 客服电话) and fillers ending in 下
# (请问下单后…, 咨询下单…) only before punctuation.
_ZH = re.compile(
    r"^(?:"
    r"(?:(?:客服)?(?:你好|您好)|嗨|哈喽|哈啰|喂|早上好|上午好|中午好|下午好|晚上好|早安|晚安"
    r"|在吗|在不在|有人吗)[啊呀呢哈]?"
    r"|(?:亲爱的|亲亲|亲|客服|客服小姐姐|小姐姐|美女|老板|掌柜的?)"
    + _BEFORE_PUNCTUATION
    + r"|(?:请问|(?:我)?想问|问|咨询)下"
    + _BEFORE_PUNCTUATION
    + r"|请问一下|请问|(?:我)?想(?:问|请教)(?:一下)?|问一下|请教一下"
    r"|麻烦(?:问一下|问下|您|你)?|打扰(?:一下|了)?|不好意思|抱歉"
    r"|(?:能|可以|能不能|可不可以)(?:告诉|跟)我(?:一下|说一下|说说)?|请告诉我"
    r"|(?:我)?想(?:知道|了解)(?:一下)?|(?:我)?想咨询(?:一下)?|咨询一下"
    r")" + _SEPARATOR
)


def strip_greetings(text: str) -> str:
    """`text` without its leading greetings, filler and politeness (English and Chinese); the
    text unchanged when nothing else would be left."""
    core = text.strip()
    while True:
        shorter = _EN.sub("", core, count=1)
        shorter = _ZH.sub("", shorter, count=1)
        if shorter == core:
            break
        core = shorter
    return core if any(ch.isalnum() for ch in core) else text
