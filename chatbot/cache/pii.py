"""Detects personal details and account-specific questions; such turns never enter or hit the
cache, because an answer about one visitor's address, order, card or name must not be served to
another. Errs towards "personal": a false positive costs one model call, a miss leaks data.
Measured on tests/cache/data/personal_questions.jsonl (docs/security.md, "Personal data and
the answer cache")."""

import re
from collections.abc import Callable
from typing import Any

import phonenumbers

_I = re.IGNORECASE
# Chinese characters are `\w`, so `\b` does not separate "订单号" from "2024"; digit runs are
# bounded by lookarounds on digits instead.
_NO_DIGIT_BEFORE, _NO_DIGIT_AFTER = r"(?<![0-9])", r"(?![0-9])"
_MONTH = (
    r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)(?:uary|ruary|ch|il|e|y|ust"
    r"|tember|ober|ember)?"
)
_AT = r"(?:\bat\b|\(at\)|\[at\]|\{at\}|艾特|＠)"
_DOT = r"(?:\bdot\b|\(dot\)|\[dot\]|\{dot\}|点|\.)"
_TLD = r"(?:com|net|org|co|uk|cn|edu|gov|io|de|fr|info|biz|me)\b"
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏"
    "魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵"
    "万钱严覃武戴莫孔向汤欧"
)
# Words after "I'm" / "this is" / "my husband" that say what the speaker is doing or feeling,
# not who they are.
_NOT_A_NAME = (
    r"a|an|the|not|no|so|very|just|here|there|new|from|in|on|at|about|still|also|really|sure"
    r"|sorry|afraid|happy|glad|unable|able|interested|calling|writing|back|home|out|away|done"
    r"|ready|looking|trying|having|getting|going|wondering|curious|confused|stuck|unhappy|annoyed"
    r"|angry|upset|worried|concerned|disappointed|satisfied|pleased|fine|ok|okay|good|well|only"
    r"|always|never|currently|already|now|your|my|our|their|this|that|it|is|was|and|or|but"
    r"|to|for|with|by|of|over|under|outside|abroad|based|located|living|moving|free|available"
    r"|busy|late|early|old|too|quite|bit|little|member|customer|student|business|company"
    r"|retailer|seller|buyer|guest|first|second|like|gonna|wrong|right|broken|asking"
    r"|used|supposed|allowed|meant|told|charged|ordered|placed|bought|paid|received|says|wants"
    r"|needs|thinks|said|has|had|will|would|can|could|should|did|does|do|cannot|can't"
)
_NAME_WORD = rf"(?!(?:{_NOT_A_NAME})\b)(?![a-z]+(?:ing|ed|ly)\b)[a-z][a-z'.-]+"
_ACCOUNT_THINGS = (
    r"order|orders|parcel|parcels|package|packages|delivery|deliveries|shipment|refund|refunds"
    r"|return|returns|account|card|payment|payments|subscription|balance|points|invoice"
    r"|stuff|item|items|purchase|purchases|booking|membership|voucher|coupon|tracking|bill"
    r"|statement|transaction|charge|charges|exchange|replacement|complaint|ticket"
)
# A question about how something works in general, even with "my" in it ("how do I track my
# order"): its answer holds nothing of the visitor's own account.
_HOW_TO = re.compile(
    r"^\W*(?:(?:hi|hello|hey|please)\W+)?(?:how\s+(?:do|can|could|would|should|to|long)"
    r"|can\s+i|could\s+i|may\s+i|is\s+it\s+possible|what\s+(?:do|should)\s+i|where\s+(?:do|can)"
    r"\s+i|what\s+if|what\s+happens|if\s+)\b",
    _I,
)
_SPECIFIC = re.compile(
    r"\d|\b(?:yesterday|today|tonight|this\s+morning|last\s+\w+|ago|on\s+(?:mon|tues|wednes"
    r"|thurs|fri|satur|sun)day|twice|again|still|already|never)\b",
    _I,
)
_HOW_TO_ZH = re.compile(
    r"^(?:请问)?(?:怎么|如何|怎样|在哪里?)(?:查|查询|修改|取消|注销|绑定|更换|申请|看)"
)
_SPECIFIC_ZH = re.compile(r"\d|昨天|前天|今天|上周|上个?月|刚才|刚刚|还没|两次|又")

_PATTERNS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    # "john dot smith at gmail dot com", "anna(at)outlook(dot)com", "wang艾特qq点com".
    "email_spelled": re.compile(
        rf"{_AT}\s*[a-z0-9_-]+(?:\s*{_DOT}\s*[a-z0-9_-]+)*?\s*{_DOT}\s*{_TLD}", _I
    ),
    # 7+ digits with the usual phone separators, e.g. +1 (555) 123-4567, 0171 1234567.
    "phone": re.compile(r"(?<![0-9A-Za-z.])\+?\(?\d[\d\s().-]{5,}\d(?![0-9A-Za-z.])"),
    "phone_zh": re.compile(
        rf"{_NO_DIGIT_BEFORE}1[3-9]\d[\s-]?\d{{4}}[\s-]?\d{{4}}{_NO_DIGIT_AFTER}"
    ),
    # "oh seven seven double oh nine …", "幺三八一二三四五六七八".
    "phone_words": re.compile(
        r"(?:\b(?:zero|oh|one|two|three|four|five|six|seven|eight|nine|double|triple)\b[\s,-]*){7,}"
        r"|[零〇一二三四五六七八九幺两]{7,}",
        _I,
    ),
    "reference": re.compile(
        r"\b(?:order|account|acct|card|invoice|tracking|ticket|reference|ref|customer|member"
        r"|membership|booking|confirmation|iban|ssn|passport|licen[cs]e|rma|return\s+label)\b"
        r"(?:\s+(?:no|number|num|id|code))?\.?\s*(?:is|was|:|#)?\s*#?\s*"
        r"(?=[A-Z0-9-]*\d)[A-Z0-9-]{3,}",
        _I,
    ),
    "reference_zh": re.compile(
        r"(?:订单|单号|运单|快递单|会员卡|卡号|会员号|工单|退货单|护照|身份证|账号|账户|编号)"
        r"号?码?\s*(?:是|为|:|：)?\s*[A-Za-z]{0,3}\d"
    ),
    # Letters and digits mixed, as identifiers are: DD88776655, INV-2024-0042, XK9P2L.
    "identifier": re.compile(
        r"(?<![A-Za-z0-9])(?:(?=[A-Za-z0-9-]{5,})(?=(?:[A-Za-z-]*\d){3})(?=[0-9-]*[A-Za-z])"
        r"|(?=[A-Za-z0-9]{6,}(?![-A-Za-z0-9]))(?=(?:[A-Za-z]*\d){2})(?=(?:[0-9]*[A-Za-z]){2}))"
        r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*(?![A-Za-z0-9])"
    ),
    "long_number": re.compile(rf"#\s*\d{{3,}}|{_NO_DIGIT_BEFORE}\d{{6,}}{_NO_DIGIT_AFTER}"),
    "card_ending": re.compile(
        r"(?:\b(?:ending|ends|end)(?:\s+(?:in|with))?|last\s+(?:four|4)(?:\s+digits)?|尾号|后四位)"
        r"\D{0,6}\d{3,4}",
        _I,
    ),
    "card_security": re.compile(
        r"\b(?:cvv|cvc|cv2|security\s+code|expiry|exp|expires)\b\W{0,3}\d{2,4}", _I
    ),
    "iban": re.compile(r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){3,}", _I),
    "national_id": re.compile(
        r"\b\d{3}-\d{2}-\d{4}\b|\b[A-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]\b"
        rf"|{_NO_DIGIT_BEFORE}\d{{17}}[\dXx]",
        _I,
    ),
    "postcode_uk": re.compile(r"\b(?:[A-Z]{1,2}\d[A-Z\d]?|GIR)\s?\d[A-Z]{2}\b", _I),
    "postcode": re.compile(
        r"(?:\bpost\s?code|\bpostal\s+code|\bzip(?:\s*code)?|邮编|邮政编码)\W{0,3}(?:is|是|为)?"
        r"\W{0,3}(?=[A-Z]{0,2}\d)|\b\d{5}-\d{4}\b",
        _I,
    ),
    "address": re.compile(
        r"\b\d+[a-z]?,?\s+(?:[a-z'.-]+\s+){1,3}(?:street|st|road|rd|avenue|ave|lane|ln|drive|dr"
        r"|way|court|ct|crescent|close|place|pl|boulevard|blvd|terrace|square|sq|gardens|grove"
        r"|hill|parade|mews|highway|hwy)\b"
        r"|\b\d+\s+(?:rue|via|calle|avenida|strasse)\b"
        r"|\b(?:flat|apt|apartment|unit|suite|room|floor)\.?\s*#?\d+[a-z]?\b"
        r"|\baddress\s+(?:is|to|:)\s*[^?]*\d"
        r"|\b(?:i'm|i\s+am|we're|we\s+are|i\s+live|we\s+live|based|located)\s+at\s+(?:no\.?\s*)?\d",
        _I,
    ),
    "address_zh": re.compile(
        r"(?:路|街|道|巷|弄|胡同)(?:[一二三四五六七八九十]+段)?\s*\d+\s*号"
        r"|\d+\s*(?:号楼|号院|栋|幢|单元|室)"
        r"|[\u4e00-\u9fff]{2,}(?:省|市|区|县)[\u4e00-\u9fff]*(?:路|街|大道|巷|弄|胡同)"
    ),
    "birth_date": re.compile(
        r"\b(?:date\s+of\s+birth|birth\s?date|d\.?o\.?b\b\.?|born|birthday)[^?!\n]{0,20}?"
        rf"(?:\d{{1,4}}[/.-]\d{{1,2}}[/.-]\d{{1,4}}|\b(?:19|20)\d{{2}}\b|\b\d{{1,2}}(?:st|nd|rd|th)?"
        rf"\s+{_MONTH}\b|\b{_MONTH}\s+\d{{1,2}})",
        _I,
    ),
    "full_date": re.compile(
        r"\b\d{1,2}[/.-]\d{1,2}[/.-](?:19|20)\d{2}\b|\b(?:19|20)\d{2}-\d{1,2}-\d{1,2}\b"
        r"|(?:19|20)\d{2}\s*年\s*\d{1,2}\s*月"
    ),
    "birth_date_zh": re.compile(
        r"(?:出生|生日|生于)[^，。？！?]{0,8}?(?:\d{1,4}\s*[年月号日]|[一二三四五六七八九十]+\s*[月号日])"
    ),
    "secret": re.compile(
        r"\b(?:password|passcode|passphrase|pass|pin(?:\s+(?:code|number))?|login|username"
        r"|security\s+answer|secret\s+answer)\b(?:\s+i\s+used)?(?:\s*(?:is|was|to|:|=)|'s)\s*\S",
        _I,
    ),
    "secret_zh": re.compile(
        r"(?:密码|PIN码?|验证码|口令)\s*(?:是|为|设成了?|设为|改成了?|:|：)\s*\S", _I
    ),
    "name": re.compile(
        r"\b(?:my\s+name\s+is|my\s+name's|my\s+full\s+name\s+is|name\s*:|call\s+me|reach\s+me"
        rf"\s+as|account\s+holder\s+is)\s+{_NAME_WORD}"
        rf"|\b(?:i\s*am|i'm|im)\s+{_NAME_WORD}\s+{_NAME_WORD}"
        rf"|(?:^|[,.!]\s*|\b(?:hi|hello|hey)\W+)this\s+is\s+(?:mr|mrs|ms|dr)?\.?\s*{_NAME_WORD}"
        r"|\b(?:mr|mrs|ms|miss|dr|prof)\.?\s+[a-z][a-z'-]+"
        r"|\bmy\s+(?:husband|wife|partner|son|daughter|mother|father|mum|mom|dad|brother"
        rf"|sister|friend|colleague|boss)\s+{_NAME_WORD}\s+{_NAME_WORD}",
        _I,
    ),
    # "I'm Bob": one capitalised word after "I'm" (case-sensitive: "I'm Looking" is rare).
    "name_capitalised": re.compile(rf"\b(?i:i\s*am|i'm|im)\s+(?!(?i:{_NOT_A_NAME})\b)[A-Z][a-z]+"),
    "name_zh": re.compile(
        rf"我叫|我的名字|我姓|(?:收件人|收货人|联系人)[^，。？！]{{0,4}}?[:：是]\s*[{SURNAMES}]"
    ),
    # "我是李华，…": the match is the name itself, masked with nothing after it (an agent's
    # "我是李华，请提供一下订单号。" read "[name]。" in a transcript: the request went too).
    "name_zh_self": re.compile(
        rf"(?:我是|本人)\s*[{SURNAMES}][\u4e00-\u9fff]{{1,2}}(?=[，,。！!]|$|申请|想|要)"
    ),
}
# Kinds whose match is the whole detail: masked as found, not to the end of a word or clause.
_WHOLE_MATCH_KINDS = frozenset({"name_zh_self"})


def _account_specific(text: str) -> bool:
    """About the visitor's own order, parcel, card or account ("where is my parcel", "我的订单到哪
    了"), unless it asks how something works in general and names nothing specific."""
    english = re.search(
        rf"\bmy\s+(?:\w+\s+){{0,2}}?(?:{_ACCOUNT_THINGS})\b"
        r"|\bwhat\s+did\s+i\s+(?:buy|order)|\bi\s+(?:ordered|bought|paid|returned)\b"
        r"|\b(?:charged|billed)\s+me\b|\bi\s+(?:got|was|were|have\s+been|been)\s+(?:charged|billed"
        r"|debited|overcharged)\b",
        text,
        _I,
    )
    if english and not (_HOW_TO.search(text) and not _SPECIFIC.search(text)):
        return True
    chinese = re.search(
        r"我的(?:订单|包裹|快递|物流|账户|账号|退款|退货|积分|会员|余额|优惠券|发票|卡|银行卡|信用卡"
        r"|钱|货|东西|购买|付款)"
        r"|我(?:上周|昨天|前天|今天|上个月|刚才|刚刚)?[\u4e00-\u9fff]{0,3}?(?:买的|下的单|付款|付的|退的)",
        text,
    )
    return bool(chinese) and not (_HOW_TO_ZH.search(text) and not _SPECIFIC_ZH.search(text))


def _phone_number(text: str) -> bool:
    """A number of 7+ digits libphonenumber finds possible in the UK, the US or China (any with
    +country); shorter "possible" numbers are years and prices."""
    return any(
        sum(ch.isdigit() for ch in match.raw_string) >= 7
        for region in ("GB", "US", "CN")
        for match in phonenumbers.PhoneNumberMatcher(
            text, region, leniency=phonenumbers.Leniency.POSSIBLE
        )
    )


_CHECKS: dict[str, Callable[[str], object]] = {  # truthy when found
    **{kind: pattern.search for kind, pattern in _PATTERNS.items()},
    "phone_number": _phone_number,
    "account": _account_specific,
}
# An answer speaks of "your order": only the visitor's own words make a question
# account-specific.
_ANSWER_KINDS = tuple(kind for kind in _CHECKS if kind != "account")


def personal_kinds(text: str) -> list[str]:
    """The kinds of personal detail found in a visitor's question (empty when none)."""
    return [kind for kind, found in _CHECKS.items() if found(text)]


def is_personal(text: str) -> bool:
    return any(found(text) for found in _CHECKS.values())


def answer_is_personal(text: str) -> bool:
    """Personal details in an answer (account-specific wording is expected there)."""
    return any(_CHECKS[kind](text) for kind in _ANSWER_KINDS)


def _phone_spans(text: str) -> list[tuple[str, int, int]]:
    return [
        ("phone_number", match.start, match.end)
        for region in ("GB", "US", "CN")
        for match in phonenumbers.PhoneNumberMatcher(
            text, region, leniency=phonenumbers.Leniency.POSSIBLE
        )
        if sum(ch.isdigit() for ch in match.raw_string) >= 7
    ]


_CARD_NUMBER = re.compile(rf"{_NO_DIGIT_BEFORE}\d(?:[ -]?\d){{12,18}}{_NO_DIGIT_AFTER}")


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _card_spans(text: str) -> list[tuple[str, int, int]]:
    """Payment card numbers (13-19 digits that pass the Luhn check): the phone and number
    patterns find them too, but a reader of a masked text should see "[card]"."""
    return [
        ("card_number", match.start(), match.end())
        for match in _CARD_NUMBER.finditer(text)
        if _luhn_valid(re.sub(r"\D", "", match.group()))
    ]


def personal_spans(text: str) -> list[tuple[str, int, int]]:
    """Where the personal details are: (kind, start, end), not overlapping, first found first
    (for taking them out of a text, as chatbot.handoff.faq_draft does). "account" has no span."""
    found = [(kind, m.start(), m.end()) for kind, p in _PATTERNS.items() for m in p.finditer(text)]
    found += _phone_spans(text) + _card_spans(text)
    spans: list[tuple[str, int, int]] = []
    for kind, start, end in sorted(found, key=lambda s: (s[1], -s[2], s[0] != "card_number")):
        if start >= end or (spans and start < spans[-1][2]):
            continue
        spans.append((kind, start, end))
    return spans


_MASK_TO_WORD = re.compile(r"[^\s,.;!?，。；！？、]*")
_MASK_TO_CLAUSE = re.compile(r"[^,.;!?\n，。；！？]*")
_CLAUSE_KINDS = ("address", "name", "secret", "birth_date")
# What a reader of a masked text sees for each kind; IBANs, ids and references: "number".
_MASK_LABELS = (
    ("card_number", "card"),
    ("email", "email"),
    ("phone", "phone"),
    ("address", "address"),
    ("postcode", "address"),
    ("name", "name"),
    ("birth_date", "date"),
    ("full_date", "date"),
    ("secret", "secret"),
)
# When two readings of one detail overlap, the one that says more names it: "13812345678" is a
# bare long number and a Chinese mobile number, "4111 1111 1111 1111" a phone-like run and a
# card. A number with a cue ("order 4111…") stays what the cue says.
_PHONES = {"phone", "phone_zh", "phone_words", "phone_number"}
_SAYS_MORE_THAN = {
    **{bare: {*_PHONES, "card_number", "email"} for bare in ("long_number", "identifier")},
    **{phone: {"card_number"} for phone in _PHONES},
}


def personal_masked(text: str) -> str:
    """The text with each personal detail replaced by its kind in brackets ("[email]",
    "[phone]", "[card]", "[address]", "[name]", "[date]", "[secret]", "[number]"): for what
    leaves the product (agents' exports, anonymised transcripts); docs/security.md, "Privacy"."""
    found = [(m.start(), m.end(), kind) for kind, p in _PATTERNS.items() for m in p.finditer(text)]
    found += [(start, end, kind) for kind, start, end in _phone_spans(text) + _card_spans(text)]
    # The detector finds a detail by its cue ("I live at 2…", "my name is john…"): the mask
    # runs to the end of the word, and for these kinds to the end of the clause.
    for i, (start, end, kind) in enumerate(found):
        if kind in _WHOLE_MATCH_KINDS:
            continue
        stop = _MASK_TO_CLAUSE if kind.startswith(_CLAUSE_KINDS) else _MASK_TO_WORD
        found[i] = (start, end + stop.match(text, end).end() - end, kind)
    merged: list[list[Any]] = []  # overlapping details are one: the widest reading wins
    for start, end, kind in sorted(found):
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
            if kind in _SAYS_MORE_THAN.get(merged[-1][2], ()):
                merged[-1][2] = kind
        elif start < end:
            merged.append([start, end, kind])
    for start, end, kind in reversed(merged):
        label = next((label for prefix, label in _MASK_LABELS if kind.startswith(prefix)), "number")
        text = f"{text[:start]}[{label}]{text[end:]}"
    return text
