"""Approving phrasings in the admin shows each beside its FAQ before any is matched: a zh-shop
walk approved twelve model-written ones in one click, junk and a contradiction among them."""

import pytest

from knowledge import services
from knowledge.models import Paraphrase

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/knowledge/paraphrase/"


def test_bulk_approval_reads_every_phrasing_first(admin_client) -> None:
    faq = services.faq_save(
        question="下单后能修改地址吗？", answer="发货前可以在订单页修改地址。", locale="zh-hans"
    )
    drafts = [
        Paraphrase.objects.create(faq=faq, text=text, origin="generated", approved=False)
        for text in ("订单地址还能改吗", "美官不可能下单后修改地址。")
    ]
    selected = {"action": "approve", "_selected_action": [p.pk for p in drafts]}

    review = admin_client.post(CHANGELIST, selected)

    page = review.content.decode()
    assert review.status_code == 200 and 'id="paraphrase-review"' in page
    assert all(p.text in page for p in drafts) and faq.question in page
    assert not Paraphrase.objects.filter(pk__in=[p.pk for p in drafts], approved=True).exists()

    admin_client.post(CHANGELIST, {**selected, "confirm_approval": "yes"})
    assert Paraphrase.objects.filter(pk__in=[p.pk for p in drafts], approved=True).count() == 2
