"""Which of the supported locales a visitor's message is written in.

The widget's locale is the page's; a visitor may still write in the other language, and the
answer (FAQ locale, retrieval, model prompt, copy) should follow what they wrote. With English
and Chinese only, the script decides, exactly and in microseconds: a statistical detector
(langdetect, lingua) guesses on short messages and mixed text ("iPhone 15 怎么退货") and would
add a model to load. A short or mixed message keeps the conversation's locale."""

import re

HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
MIN_HAN_CHARS = 2
MIN_LATIN_WORDS = 3


def message_locale(text: str, *, default: str) -> str:
    """`zh-hans` for a message mostly in Chinese characters, `en` for one in Latin words only,
    otherwise `default`."""
    han = len(HAN.findall(text))
    latin_words = len(LATIN_WORD.findall(text))
    if han >= MIN_HAN_CHARS and han >= latin_words:
        return "zh-hans"
    if han == 0 and latin_words >= MIN_LATIN_WORDS:
        return "en"
    return default
