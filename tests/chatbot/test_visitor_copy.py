"""Every visitor-facing string of the server is in the catalogue: each renders in Chinese, not
in its English source, for a zh-hans visitor."""

import pytest
from django.utils.functional import Promise

from chatbot import visitor_copy
from chatbot.visitor_copy import spaced_format


def _copy() -> dict[str, Promise]:
    found: dict[str, Promise] = {}
    for name, value in vars(visitor_copy).items():
        if isinstance(value, Promise):
            found[name] = value
        elif isinstance(value, dict) and not name.startswith("__"):
            found |= {
                f"{name}[{key}]": text for key, text in value.items() if isinstance(text, Promise)
            }
    return found


@pytest.mark.parametrize(("name", "text"), sorted(_copy().items()))
def test_each_string_has_a_chinese_translation(name, text):
    english = visitor_copy.render(text, "en")
    chinese = visitor_copy.render(text, "zh-hans")
    assert chinese != english, f"{name} is not translated"
    assert any("\u4e00" <= ch <= "\u9fff" for ch in chinese), name


def test_the_queued_answer_prefix_keeps_the_question_in_both_languages():
    for locale in ("en", "zh-hans"):
        prefix = visitor_copy.render(visitor_copy.QUEUED_ANSWER_PREFIX, locale)
        assert "退货" in prefix % {"question": "退货要多久"}


@pytest.mark.parametrize("locale", ["en", "zh-hans"])
def test_an_answer_ending_with_the_cut_off_note_is_told_apart(locale):
    shown = "Our warranty covers"
    cut = shown + visitor_copy.interrupted_note(shown, locale)
    assert visitor_copy.ends_cut_off(cut) and visitor_copy.ends_cut_off(cut + "\n")
    assert not visitor_copy.ends_cut_off(shown + ".")
    assert not visitor_copy.ends_cut_off(cut + " More words after it.")


@pytest.mark.parametrize(
    ("template", "values", "expected"),
    [
        ("我们团队的{agent}回复了：", {"agent": "李娜"}, "我们团队的李娜回复了："),
        ("我们团队的{agent}回复了：", {"agent": "ann"}, "我们团队的 ann 回复了："),
        ("客服{name}已加入对话。", {"name": "Ann Lee"}, "客服 Ann Lee 已加入对话。"),
        ("{agent} from our team replied:", {"agent": "Ann"}, "Ann from our team replied:"),
        ("第 {n} 位", {"n": "2"}, "第 2 位"),
    ],
)
def test_chinese_meets_a_latin_value_with_a_space_and_a_chinese_one_without(
    template, values, expected
):
    assert spaced_format(template, **values) == expected
