"""Which words of the question an answer repeats, and which of those the knowledge base holds
(chatbot/cache/echo.py)."""

import pytest

from chatbot.cache.echo import echoed_spans, knowledge_holds, private_echoes
from knowledge import services as knowledge_services


def test_a_restated_question_is_one_span_and_its_numbers_are_spans_too():
    question = "my address is 221b baker street, can you deliver there tomorrow?"
    answer = "Sure! We can deliver to 221b Baker Street tomorrow."
    assert echoed_spans(question, answer) == ["221b", "221b baker street"]


def test_runs_of_stop_words_and_short_runs_are_not_spans():
    assert echoed_spans("how do I do it", "Here is how I do it: ...") == []
    assert echoed_spans("where is the blue gate", "The gate is blue.") == []


def test_stop_words_at_the_ends_of_a_span_are_trimmed():
    spans = echoed_spans("are you open on 26 december", "Yes, we are open on 26 December.")
    assert spans == ["26", "open on 26 december"]


def test_chinese_spans_are_runs_of_jieba_words():
    question = "我的地址是北京市朝阳区建国路88号，明天能送到吗"
    answer = "好的，我们会把包裹送到北京市朝阳区建国路88号。"
    assert "北京市朝阳区建国路88号" in echoed_spans(question, answer)


def test_an_answer_that_repeats_nothing_has_no_spans():
    assert echoed_spans("how long does delivery to canada take", "Five to seven days.") == []


@pytest.mark.django_db
def test_the_knowledge_base_holds_a_span_only_as_whole_words():
    knowledge_services.faq_save(
        question="Christmas hours", answer="Free shipping over 250 euros. Closed on 25 December."
    )
    assert knowledge_holds("25 december")
    assert knowledge_holds("25")
    assert not knowledge_holds("50")  # only inside "250"
    assert not knowledge_holds("26 december")


@pytest.mark.django_db
def test_private_echoes_are_the_spans_the_knowledge_base_lacks():
    knowledge_services.faq_save(question="Christmas hours", answer="We open on 26 December.")
    question = "are you open on 26 december? I'm at 12 mill lane"
    answer = "Yes, open on 26 December, and we deliver to 12 Mill Lane."
    assert private_echoes(question, answer) == ["12", "12 mill lane"]
