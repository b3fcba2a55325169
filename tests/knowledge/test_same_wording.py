"""A question in a stored phrasing's own words, moved round or with another particle, is that
phrasing's FAQ (a Chinese shop's walk: 发票怎么开 stored, 怎么开发票 asked, no answer)."""

import pytest

from knowledge import selectors, services
from knowledge.models import FAQ, Paraphrase
from knowledge.same_wording import same_wording, wording

SAME = [
    ("怎么开发票", "发票怎么开"),  # the topic moved to the front
    ("退货运费谁出？", "谁出退货运费"),
    ("七天无理由退货吗", "7天无理由退货"),  # a count in characters or digits
    ("十五天内可以退吗", "15天内可以退吗"),
    ("二十天到货吗", "20天到货吗"),
    ("能货到付款吗", "可以货到付款吗"),  # "can"
    ("咋取消订单啊", "怎么取消订单"),  # question words and particles
    ("能用微信付款不", "能用微信付款吗"),  # a final 不 asks as 吗 does
    ("請問怎麼開發票", "发票怎么开"),  # traditional characters and politeness
    ("my order how do I cancel", "How do I cancel my order?"),
]
DIFFERENT = [
    ("我要退款不要换货", "我要换货不要退款"),  # the same characters, the opposite request
    ("能不能退款", "能退款"),  # 不 within the question stays
    ("退款不", "退款不了"),
    ("从北京寄到上海", "从上海寄到北京"),
    ("发票怎么开", "收据怎么开"),
    ("怎么开发票", "开发票怎么样了"),
    ("运费", "费运"),  # too short to say
    ("三十天", "13天"),
    ("发货了吗", "发货吗"),  # whether it shipped, whether they ship
    ("有没有发货", "发货吗"),  # the same (a walk saw them joined)
    ("有发货吗", "发货吗"),
    ("取消订单如何", "如何取消订单"),  # "how about cancelling", "how to cancel"
    ("Can I return it after delivery", "Can I return it before delivery"),
]


@pytest.mark.parametrize(("asked", "stored"), SAME)
def test_the_same_words_moved_round_are_the_same_wording(asked, stored):
    assert same_wording(wording(asked), wording(stored))


@pytest.mark.parametrize(("asked", "stored"), DIFFERENT)
def test_other_words_or_another_order_within_are_not(asked, stored):
    assert not same_wording(wording(asked), wording(stored))


def _store() -> dict[str, int]:
    """Two FAQs whose phrasings differ a lot from each other: a near-copy of one of them has
    no second phrasing to take support from, and the support rule declines it."""
    faqs = {
        "invoice": ("发票怎么开", ["报销需要凭证", "公司抬头可以写吗"]),
        "receipt": ("收据在哪里看", ["付款凭据", "交易记录怎么查"]),
    }
    ids = {}
    for name, (question, paraphrases) in faqs.items():
        faq = services.faq_save(question=question, answer=f"{name} answer", locale="zh-hans")
        services.paraphrases_add(faq=faq, texts=paraphrases)
        services.embeddings_compute(
            paraphrase_ids=list(faq.paraphrases.values_list("pk", flat=True))
        )
        ids[name] = faq.pk
    return ids


@pytest.mark.django_db(transaction=True)  # PostgreSQL builds the model's vector index on commit
def test_a_stored_phrasing_moved_round_is_answered_with_its_faq():
    ids = _store()
    found = selectors.faq_find(text="怎么开发票呢？", locale="zh-hans")
    assert (found.decision, found.result.faq_id) == (selectors.SAME_WORDING, ids["invoice"])
    assert found.answered and found.text == "invoice answer"


@pytest.mark.django_db(transaction=True)
def test_a_wording_two_faqs_share_answers_neither():
    ids = _store()
    services.paraphrases_add(faq=FAQ.objects.get(pk=ids["receipt"]), texts=["怎么开发票"])
    services.embeddings_compute(
        paraphrase_ids=list(Paraphrase.objects.values_list("pk", flat=True))
    )
    found = selectors.faq_find(text="发票怎么开啊", locale="zh-hans")
    assert found.decision not in selectors.ANSWERING
