"""The FAQ matching quality page: overlapping FAQs and phrasings not recognised, per locale, with
the model's operating point and its measured wrong rate."""

import numpy as np
import pytest
from django.contrib.auth.models import Permission, User
from django.utils.html import escape

from knowledge import services
from knowledge.matching import MatchPolicy
from knowledge.operating_points import MEASURED
from knowledge.quality import leave_one_out, locale_quality


def unit(*rows: list[float]) -> np.ndarray:
    vectors = np.array(rows, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_leave_one_out_asks_each_phrasing_against_the_others():
    vectors = unit(
        [1, 0.05, 0], [1, 0, 0.05], [1, 0.02, 0.02],  # FAQ 0
        [0, 1, 0.05], [0.05, 1, 0], [0.02, 1, 0.02],  # FAQ 1
        [0.02, 1.0, 0.0],  # filed under FAQ 0 but asks what FAQ 1 asks
    )  # fmt: skip
    faq_ids = np.array([0, 0, 0, 1, 1, 1, 0])
    answered, nearest_other = leave_one_out(vectors, faq_ids, MatchPolicy(0.9, 0.05), k=5)
    assert answered[:3].tolist() == [0, 0, 0]
    assert answered[3:6].tolist() == [-1, -1, -1], "the misfiled phrasing makes FAQ 1 ambiguous"
    assert answered[6] == 1, "answered with the FAQ it really asks"
    assert faq_ids[nearest_other[6]] == 1 and faq_ids[nearest_other[0]] == 1


@pytest.mark.django_db(transaction=True)  # phrasings are embedded on commit
def test_overlapping_faqs_and_unrecognised_phrasings_are_listed():
    reset = services.faq_save(question="How do I reset my password?", answer="Use the link.")
    services.paraphrases_add(faq=reset, texts=["reset my password", "password reset"])
    forgot = services.faq_save(question="I forgot my password", answer="Use the link too.")
    services.paraphrases_add(faq=forgot, texts=["forgot password", "I can't remember my password"])
    ship = services.faq_save(question="Do you ship abroad?", answer="Yes.")
    services.paraphrases_add(
        faq=ship, texts=["do you ship internationally?", "do you ship overseas?"]
    )

    report = locale_quality(locale="en")
    assert report.point == MEASURED["all-MiniLM-L6-v2"]
    assert report.phrasings == 9 and not report.too_large
    pairs = {frozenset((o.faq_id, o.other_faq_id)) for o in report.overlaps}
    assert pairs == {frozenset((reset.pk, forgot.pk))}
    by_faq = {r.faq_id: r for r in report.recognition}
    assert by_faq[ship.pk].recognised == 3, "a distinct FAQ recognises its phrasings"
    assert by_faq[forgot.pk].recognised < 3, "too close to the reset FAQ: ambiguous"
    assert report.recognition[0].faq_id == forgot.pk, "least recognised first"
    forgot_texts = {"I forgot my password", "forgot password", "I can't remember my password"}
    missed = set(by_faq[forgot.pk].missed)
    assert missed and missed <= forgot_texts, "names which of its own phrasings it missed"
    assert len(missed) == 3 - by_faq[forgot.pk].recognised and by_faq[ship.pk].missed == ()


@pytest.mark.django_db
def test_the_page_needs_the_permission_to_view_faqs(client):
    services.faq_save(question="退款多久到账？", answer="3到5个工作日。", locale="zh-hans")
    services.faq_save(question="When is my refund paid?", answer="In 3 to 5 working days.")
    staff = User.objects.create_user("editor", password="pw-3817", is_staff=True)
    client.force_login(staff)
    assert client.get("/admin/matching-quality/").status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_faq"))
    response = client.get("/admin/matching-quality/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-locale="zh-hans"' in page
    assert "use-multilingual-v3" in page
    assert escape(str(MEASURED["use-multilingual-v3"].measured)) in page
    zh, en = page.split('data-locale="zh-hans"')[1], page.split('data-locale="en"')[1]
    single = "an FAQ with a single phrasing "
    assert (single + "only when asked in its exact wording") in zh.split("</section>")[0]
    assert (single + "from a similarity of 0.855") in en.split("</section>")[0]
    client.logout()
    assert client.get("/admin/matching-quality/").status_code == 302


def test_leave_one_out_counts_an_faq_left_with_one_phrasing_as_lone():
    vectors = unit([1, 0.1, 0], [1, 0, 0.1], [0, 1, 0.05], [0.05, 1, 0], [0.02, 1, 0.02])
    faq_ids = np.array([0, 0, 1, 1, 1])
    lone = leave_one_out(vectors, faq_ids, MatchPolicy(0.9, 0.05, lone_threshold=0.95), k=5)[0]
    assert lone[:2].tolist() == [0, 0], "the other phrasing alone, at cosine 0.99, answers"
    without = leave_one_out(vectors, faq_ids, MatchPolicy(0.9, 0.05), k=5)[0]
    assert without[:2].tolist() == [-1, -1], "no lone threshold: no support, no answer"
    assert lone[2:].tolist() == without[2:].tolist() == [1, 1, 1]


@pytest.mark.django_db
def test_the_expected_wrong_rate_reads_in_the_admin_users_language(admin_client):
    services.faq_save(question="退款多久到账？", answer="3到5个工作日。", locale="zh-hans")
    services.faq_save(question="When is my refund paid?", answer="In 3 to 5 working days.")
    zh = admin_client.get("/admin/matching-quality/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    page = zh.content.decode()
    assert "CLINC150 测试集上 0.20% 的回答有误" in page
    assert "中文商店评测集测试部分的 11 个回答中 0 个有误" in page
    assert "answers wrong on" not in page
    en = admin_client.get("/admin/matching-quality/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "0.20% of answers wrong on CLINC150 test" in en
