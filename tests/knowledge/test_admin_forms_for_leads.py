"""Admin forms as a support lead met them in a walk (zh-hans admin): a new FAQ starts in the
lead's language, a locale is chosen rather than typed, a reversed opening time says why in
words, and a team's name is a 名称, not a person's 姓名."""

import datetime as dt

import pytest
from django.utils import translation

from chatbot.handoff.models import OpeningHours
from chatbot.models import WidgetAppearance
from knowledge.models import OutputRule

pytestmark = pytest.mark.django_db
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}


def test_a_new_faq_starts_in_the_admins_language(admin_client):
    zh = admin_client.get("/admin/knowledge/faq/add/", **ZH).content.decode()
    assert '<option value="zh-hans" selected>' in zh
    en = admin_client.get("/admin/knowledge/faq/add/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<option value="en" selected>' in en


def test_an_output_rules_locale_is_chosen_not_typed(admin_client):
    form = {"name": "no crypto", "kind": "topic", "lines": "bitcoin", "active": "on"}
    typed = admin_client.post("/admin/knowledge/outputrule/add/", {**form, "locale": "中文"})
    assert typed.status_code == 200 and not OutputRule.objects.exists()
    for locale in ("zh-hans", ""):
        saved = admin_client.post("/admin/knowledge/outputrule/add/", {**form, "locale": locale})
        assert saved.status_code == 302
    assert sorted(OutputRule.objects.values_list("locale", flat=True)) == ["", "zh-hans"]


def test_a_reversed_opening_time_says_why(admin_client):
    form = {"weekday": 5, "opens": "18:00", "closes": "09:00"}
    page = admin_client.post("/admin/handoff/openinghours/add/", form, **ZH).content.decode()
    assert "关门时间必须晚于开门时间" in page and "opening_hours_order" not in page
    assert not OpeningHours.objects.exists()
    admin_client.post(
        "/admin/handoff/openinghours/add/", {**form, "opens": "09:00", "closes": "18:00"}
    )
    assert OpeningHours.objects.get().closes == dt.time(18, 0)


def test_a_teams_name_is_not_a_persons(admin_client):
    page = admin_client.get("/admin/handoff/team/add/", **ZH).content.decode()
    assert "名称" in page and "姓名" not in page


def test_the_widget_preview_and_the_appearance_record_speak_chinese(admin_client):
    preview = admin_client.get("/admin/widget-preview/", **ZH).content.decode()
    assert "您的网页" in preview and "Your page" not in preview
    with translation.override("zh-hans"):
        assert str(WidgetAppearance()) == "聊天窗口外观"


def test_a_pattern_rule_that_does_not_compile_says_so_in_chinese(admin_client):
    form = {"name": "bad", "kind": "pattern", "lines": "(", "locale": "", "active": "on"}
    page = admin_client.post("/admin/knowledge/outputrule/add/", form, **ZH).content.decode()
    assert "第 1 行不是有效的正则表达式" in page
