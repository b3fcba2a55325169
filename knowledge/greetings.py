"""Leading greetings, filler and politeness taken off a visitor's question before it is embedded
(FAQ and cache stages, `manage.py match_faq`); only the front is touched, and a text that is
nothing but greetings is kept whole. The visitor's text is stored as written. Limits and the
figures: docs/faq-format.md, "Greetings and filler"."""

import re
from enum import StrEnum

_PUNCTUATION = r",.!?;:~\-–—…，。！？；：、～"
_SEPARATOR = rf"[\s{_PUNCTUATION}]*"
# A hyphen joins words ("Hi-fi"): after a greeting it counts only with a space before it.
_AFTER_GREETING = r"(?=[\s,.!?;:~–—…，。！？；：、～])"
_BEFORE_PUNCTUATION = rf"(?=\s*[{_PUNCTUATION}])"
# The greetings both the front-stripping below and `small_talk` know.
_EN_GREETING = r"hi|hello|hey|hiya|howdy|greetings|yo|good (?:morning|afternoon|evening|day)|dear"
_EN_ADDRESSEE = r"there|team|all|everyone|folks|guys|support team|support|sir|madam"
_ZH_GREETING = (
    r"(?:客服)?(?:你好|您好)|嗨|哈喽|哈啰|喂|早上好|上午好|中午好|下午好|晚上好|早安|晚安"
    r"|在吗|在不在|有人吗"
)
_ZH_GREETING_ENDING = r"[啊呀呢哈]?"
# English: a greeting needs a space or punctuation after it, a "question" punctuation ("quick
# question: …", not "question about refunds").
_EN = re.compile(
    r"^(?:"
    rf"(?:{_EN_GREETING})(?: (?:{_EN_ADDRESSEE}))?"
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
    rf"(?:{_ZH_GREETING}){_ZH_GREETING_ENDING}"
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


class SmallTalk(StrEnum):
    """What a message that asks nothing says (docs/faq-format.md, "Small talk")."""

    IDENTITY = "identity"  # "are you a bot?", "你是真人吗": a question about who answers
    GREETING = "greeting"
    THANKS = "thanks"
    GOODBYE = "goodbye"
    ACKNOWLEDGEMENT = "acknowledgement"


_AFFIRMATIVE_EN = (
    r"yes|yeah|yea|yep|yup|ya|sure|sure thing|ok|okay|k|please|please do|yes please"
    r"|yes i would|yes i do|i would|i'd like that|i would like that|go ahead|absolutely"
    r"|definitely|of course|that would be great|that'd be great"
)
_AFFIRMATIVE_ZH = (
    r"麻烦你了|麻烦您了|麻烦了|可以的|是的|对的|好的|好啊|好呀|嗯嗯|可以|需要|是|对|好|行|要|嗯"
)
# "Are you a bot?", "I'd like to know if you are a real person or an AI", "is this automated?".
_WHAT_ANSWERS = (
    r"(?:bot|robot|chat ?bot|ai|artificial intelligence(?: being)?|machine|computer|program"
    r"|human(?: being)?|person|automated(?: system| reply| replies| chat)?|real|fake"
    r"|someone real)"
)
_SO = r"(?:(?:real|actual|live|really|actually|even|secretly|just|an?) )*"
_WHO_ANSWERS = rf"{_SO}{_WHAT_ANSWERS}(?: or (?:are you )?{_SO}{_WHAT_ANSWERS})?(?: right now)?"
_ASK_WHO = (
    r"(?:(?:so|now|ok|okay|honestly|seriously|clear something up) )?"
    r"(?:(?:(?:can|could) you (?:please )?tell me|(?:please )?tell me(?: now)?"
    r"|i(?: need| want| would like|'d like) to know|i'?m curious(?: to know)?"
    r"|i am curious(?: to know)?|may i (?:ask|know)|just curious) )"
)
# A regex alternation takes the first form that matches: longer Chinese forms come first (a
# Latin form must end at a word's end, so a shorter one gives way by itself).
_SMALL_TALK_PHRASES = {
    SmallTalk.IDENTITY: (
        rf"{_ASK_WHO}?(?:are|r) (?:you|u) {_WHO_ANSWERS}"
        rf"|{_ASK_WHO}?(?:if|whether) (?:you are|you'?re|u r) {_WHO_ANSWERS}"
        rf"|(?:would you say|do you think|would you consider yourself|do you consider yourself)"
        rf"(?: you are| you'?re| to be)? {_WHO_ANSWERS}"
        rf"|(?:am i|are we) (?:talking|speaking|chatting) (?:to|with) {_WHO_ANSWERS}"
        rf"|is (?:this|that|it) {_WHO_ANSWERS}"
        r"|(?:请问)?(?:你|您)?(?:是不是|是)(?:一个|个)?(?:机器人|真人|人工智能|人工|智能客服|ai|程序|人)"
        r"(?:还是(?:机器人|真人|人工|人|ai))?(?:吗|么|嘛|吧|呢|啊)?"
        r"|(?:请问)?(?:真人|人工|人)还是机器人(?:啊|呢|吗)?|机器人(?:吗|么|嘛)"
    ),
    SmallTalk.THANKS: (
        r"thank you (?:so |very )?much|thank you|thank u|thanks (?:a lot|a bunch|so much|a million)"
        r"|thanks|thanx|thx|thnx|tysm|ty|cheers|many thanks|much appreciated"
        r"|(?:i )?appreciate (?:it|that|your help|the help)"
        r"|(?:谢谢|感谢)(?:你|您)?的帮助|非常感谢|太感谢了|感谢(?:你|您)?|谢谢(?:你|您|啦|了)?|多谢|谢啦|辛苦了"
    ),
    SmallTalk.GOODBYE: (
        r"bye bye|bye|goodbye|good bye|see you(?: later| soon)?|see ya|cya|take care|good night"
        r"|have a (?:nice|good|great|lovely) (?:day|evening|weekend|one)"
        r"|that'?s all|that is all|that'?s it|nothing else|no more questions|i'?m done|all good"
        r"|再见|拜拜|没有了|没事了|没问题了|就这些|没有其他问题了|晚安"
    ),
    SmallTalk.GREETING: (
        rf"(?:{_EN_GREETING}|heya|hallo|morning|evening)"
        rf"(?: (?:{_EN_ADDRESSEE}|again|bot|assistant))?"
        r"|(?:is )?(?:any ?one|any ?body|some ?one|some ?body) (?:there|here|around)"
        r"|are you there|you there|how are you(?: doing)?|how'?s it going"
        rf"|(?:{_ZH_GREETING}|(?:客服|亲)在吗|有人在吗){_ZH_GREETING_ENDING}|亲"
    ),
    SmallTalk.ACKNOWLEDGEMENT: (
        r"no thanks|no thank you|no that'?s fine|no need|nope|no|got it|understood|i see"
        r"|alright|all right|cool|great|perfect|nice|awesome|noted|fine|sounds good|that helps"
        r"|that helped|"
        + _AFFIRMATIVE_EN
        + r"|不用了|不用|不需要了?|不了|知道了|明白了|了解了?|懂了|收到|哦|噢|好吧|"
        + _AFFIRMATIVE_ZH
    ),
}
# A Latin phrase ends at a word's end ("hi" is not the start of "high"); a Chinese one anywhere.
_PHRASE_END = r"(?:(?<=[a-z0-9'])(?![a-z0-9])|(?<![a-z0-9']))"
_SMALL_TALK_PIECE = re.compile(
    "|".join(
        f"(?P<{kind.value}>{phrases}){_PHRASE_END}" for kind, phrases in _SMALL_TALK_PHRASES.items()
    ),
    re.IGNORECASE,
)
_AFFIRMATIVE = re.compile(
    rf"(?:(?:{_AFFIRMATIVE_EN}|{_AFFIRMATIVE_ZH}){_PHRASE_END} ?)+", re.IGNORECASE
)
_FILLER = re.compile(rf"[\s{_PUNCTUATION}\"()]+|[\U0001F300-\U0001FAFF\u2600-\u27BF]+")
# A question about who answers outranks the rest ("hi, are you a bot?"); a goodbye outranks
# thanks ("thanks, that's all" closes the chat: "Is there anything else?" asked again after it,
# a walk found), which outrank a greeting or an acknowledgement.
_RANK = (
    SmallTalk.IDENTITY,
    SmallTalk.GOODBYE,
    SmallTalk.THANKS,
    SmallTalk.GREETING,
    SmallTalk.ACKNOWLEDGEMENT,
)
_MAX_SMALL_TALK_CHARS = 60


def _without_filler(text: str) -> str:
    """Lower case, punctuation and emoji as single spaces, one kind of apostrophe."""
    return _FILLER.sub(" ", text.replace("\u2019", "'")).strip().lower()


# A message of emoji alone says something too ("👋" went to "I couldn't find that in our help
# centre"); the first of these in it decides.
_EMOJI_SMALL_TALK = {
    "👋": SmallTalk.GREETING,
    "🙏": SmallTalk.THANKS,
    "👍": SmallTalk.ACKNOWLEDGEMENT,
    "👌": SmallTalk.ACKNOWLEDGEMENT,
    "🙂": SmallTalk.ACKNOWLEDGEMENT,
    "😊": SmallTalk.ACKNOWLEDGEMENT,
}


def small_talk(text: str) -> SmallTalk | None:
    """What `text` says when it is nothing but greetings, thanks, goodbyes or an acknowledgement
    ("hi", "thanks, bye!", "好的谢谢", "👋"); None when it holds anything else ("hi, where is
    my order?"), which the answer pipeline must see whole."""
    core = _without_filler(text)
    if not core:
        return next((kind for ch in text if (kind := _EMOJI_SMALL_TALK.get(ch))), None)
    if len(core) > _MAX_SMALL_TALK_CHARS:
        return None
    found: set[SmallTalk] = set()
    position = 0
    while position < len(core):
        if core[position] == " ":
            position += 1
            continue
        piece = _SMALL_TALK_PIECE.match(core, position)
        if piece is None or piece.lastgroup is None:
            return None
        found.add(SmallTalk(piece.lastgroup))
        position = piece.end()
    return next(kind for kind in _RANK if kind in found)


def is_affirmative(text: str) -> bool:
    """A plain yes ("yes please", "ok", "好的", "可以"): a reply to the offer of a person."""
    return _AFFIRMATIVE.fullmatch(_without_filler(text)) is not None
