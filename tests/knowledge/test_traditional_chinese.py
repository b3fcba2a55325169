"""A question in traditional characters finds what the same question in simplified ones finds
(a zh walk: 怎麼退貨 missed the FAQ 怎么退货 that "Did you mean" then offered)."""

import pytest

from knowledge import selectors, services
from knowledge.chinese import simplified
from knowledge.documents.lexical import tokenize
from knowledge.embeddings import get_embedder

pytestmark = pytest.mark.django_db

PAIRS = [
    ("怎麼退貨？", "怎么退货？"),
    ("可以寄到中國嗎", "可以寄到中国吗"),
    ("請問退貨要多久才能退款？", "请问退货要多久才能退款？"),
]


@pytest.mark.parametrize(("traditional", "simple"), PAIRS)
def test_traditional_text_is_searched_as_simplified(traditional, simple):
    assert simplified(traditional) == simple
    assert tokenize(traditional) == tokenize(simple)
    assert selectors.normalise_question(traditional) == selectors.normalise_question(simple)
    embedder = get_embedder("zh-hans")
    vectors = embedder.embed([traditional, simple])
    assert float(vectors[0] @ vectors[1]) == pytest.approx(1.0, abs=1e-5)


def test_other_text_is_left_as_it_was():
    for text in ("Where is my order?", "怎么退货", "著作权", "order 到了吗"):
        assert simplified(text) == text


@pytest.mark.django_db(transaction=True)  # PostgreSQL builds the model's vector index on commit
def test_an_faq_answers_its_question_written_in_traditional_characters():
    faq = services.faq_save(
        question="怎么退货？", answer="收到商品30天内可以退货。", locale="zh-hans"
    )
    services.embeddings_compute(paraphrase_ids=list(faq.paraphrases.values_list("pk", flat=True)))
    found = selectors.faq_find(text="怎麼退貨", locale="zh-hans")
    assert found.answered and found.text == "收到商品30天内可以退货。"
