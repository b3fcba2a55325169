"""Traditional Chinese asked of a simplified-Chinese store: 怎麼退貨 is 怎么退货 to every search
(the FAQ's exact wording, words and vectors, help-centre retrieval, the answer cache). A zh walk
found 怎麼退貨 missing the FAQ that "Did you mean" then offered as 怎么退货. OpenCC's t2s
conversion works on phrases, not only characters (乾淨 → 干净, 著作 stays); text without Chinese
comes back as it was."""

import functools
import re

import opencc

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@functools.cache
def _converter() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def has_chinese(text: str) -> bool:
    """Whether any CJK ideograph is in `text` (the one test the Chinese-aware paths share)."""
    return _CJK.search(text) is not None


def simplified(text: str) -> str:
    """`text` with traditional Chinese written in simplified characters (about 1 µs)."""
    return _converter().convert(text) if has_chinese(text) else text
