"""A question that says what a stored phrasing says in the same words, only moved round or with
another particle, is that phrasing's FAQ, as a word-for-word repeat is (knowledge.selectors).

Seen in a Chinese shop's walk: 25 of its 88 covered questions went unanswered, among them
near-copies of stored phrasings that the support rule scored below its point: 发票怎么开 against
怎么开发票, 七天无理由 against 7天无理由, 咋取消订单啊 against 怎么取消订单 (and 能货到付款吗
against 有货到付款吗, which it leaves: 有 is not filler in 有没有发货, "has it shipped").
Chinese fronts the topic freely ("the invoice, how do I get it" is the same question as "how do
I get the invoice"), so the rule compares rotations: one part of the question moved from the
end to the front. It does not compare bags of words: 我要退款不要换货 and 我要换货不要退款 hold
the same characters and ask the opposite thing. Measured before it was adopted:
docs/faq-format.md, "Same wording"."""

import functools
import re
import unicodedata

import jieba

from knowledge.chinese import has_chinese, simplified
from knowledge.documents.lexical import TOKEN

# Words that change nothing a customer-service question asks: particles, politeness, and
# "can" before the thing asked about (能货到付款吗, 可以货到付款吗). Not 了 (发货了吗 asks
# whether it shipped, 发货吗 whether they ship), nor 有 / 有没有 (有没有发货 asks whether it
# shipped too: a walk saw it joined with 发货吗), nor 怎么样 (开发票怎么样了 asks how it is going).
_NOTHING_ZH_WORDS = (
    "的 吗 呢 吧 啊 呀 嘛 么 啦 哦 嗯 哈 呗 请 请问 亲 麻烦 一下 谢谢 您好 你好 "
    "能 能否 可以 可 是不是"
)
_NOTHING_ZH = frozenset(_NOTHING_ZH_WORDS.split())
_SAME_ZH = {
    "咋": "怎么",
    "怎样": "怎么",
    "如何": "怎么",
    "为啥": "为什么",
    "为何": "为什么",
    "啥": "什么",
    "多长时间": "多久",
}
# Last in a question, 不 asks as 吗 does (能用微信付款不, a lead's walk: declined, while
# 能用微信付款吗 was stored); within one it is the negation it reads as (我要退款不要换货).
_ASKING_NOT = "不"
# Last in a question these ask "how about it" (取消订单如何), not "how to": kept as written.
_HOW_ABOUT = frozenset({"怎样", "如何"})
_NOTHING_EN = frozenset({"a", "an", "the", "please"})
_DIGITS = {numeral: n for n, numeral in enumerate("一二三四五六七八九", 1)} | {"两": 2}
# A count up to 99 before its measure word: 七天 is 7天, 十五天 15天, 两件 2件 (not 一样, 一定).
_COUNT = re.compile(
    r"([一二两三四五六七八九]?十[一二三四五六七八九]?|[一二两三四五六七八九])(?=[天日个件次周年月元块])"
)


def _count(numeral: str) -> str:
    tens, ten, ones = numeral.partition("十")
    if not ten:
        return str(_DIGITS[numeral])
    return str(_DIGITS.get(tens, 1) * 10 + _DIGITS.get(ones, 0))


# Fewer units than these say too little to be the same question (运费 / 费运).
MIN_UNITS = 2
MIN_UNITS_MOVED = 4


@functools.lru_cache(maxsize=50_000)
def wording(text: str) -> tuple[str, ...]:
    """The units a question is compared by: each Chinese character, each other word, after
    the particles and politeness above are dropped and question words and counts written one
    way. Pass text without its leading greetings (knowledge.greetings)."""
    text = simplified(unicodedata.normalize("NFKC", text)).casefold()
    text = _COUNT.sub(lambda match: _count(match.group(1)), text)
    words: list[str] = []
    for match in TOKEN.finditer(text):
        if match.lastgroup == "cjk":
            words += (word for word in jieba.lcut(match.group()) if word not in _NOTHING_ZH)
        elif match.group() not in _NOTHING_EN:
            words.append(match.group())
    if len(words) > 1 and words[-1] == _ASKING_NOT:
        words.pop()
    last = len(words) - 1
    units: list[str] = []
    for i, word in enumerate(words):
        if has_chinese(word):
            same = word if i == last and word in _HOW_ABOUT else _SAME_ZH.get(word, word)
            units.extend(same)
        else:
            units.append(word)
    return tuple(units)


def same_wording(question: tuple[str, ...], phrasing: tuple[str, ...]) -> bool:
    """Whether `phrasing` is `question` with one part moved from its end to its front (or
    unmoved), both as `wording` gives them."""
    if len(question) != len(phrasing) or len(question) < MIN_UNITS:
        return False
    if question == phrasing:
        return True
    return len(question) >= MIN_UNITS_MOVED and any(
        question[i:] + question[:i] == phrasing for i in range(1, len(question))
    )
