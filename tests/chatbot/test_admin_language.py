"""The admin in the admin user's language: what the project added to Django's admin (app and
model names, field labels and help texts, columns, filters, actions and their messages, the
analytics and matching quality pages) is Chinese for a zh-hans browser and English otherwise."""

import re

import pytest
from django.urls import reverse

from chatbot import services as chat
from chatbot.handoff import services as handoff
from chatbot.models import Conversation, Feedback, HandoffReason, Message
from knowledge import services
from knowledge.models import AnswerVariant

pytestmark = pytest.mark.django_db

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def faq():
    return services.faq_save(
        question="How long does a refund take?", answer="Refunds are paid in 3 to 5 working days."
    )


def _inline_headings(page: str) -> list[str]:
    return re.findall(r'class="inline-heading">\s*(.*?)\s*</h2>', page)


def _page(client, url: str, headers: dict) -> str:
    response = client.get(url, **headers)
    assert response.status_code == 200
    return response.content.decode()


def test_the_index_names_apps_and_models_in_the_users_language(admin_client):
    zh = _page(admin_client, "/admin/", ZH)
    for name in ("知识库", "答案缓存", "转人工", "客服收件箱", "在线聊天"):
        assert name in zh, name
    for name in ("常见问题（FAQ）", "答案变体", "问法", "缓存答案", "快捷回复", "服务时间"):
        assert f">{name}</a>" in zh, name
    en = _page(admin_client, "/admin/", EN)
    for name in ("Knowledge base", "Answer cache", "Handoff to agents", "Agent inbox"):
        assert name in en, name
    for name in ("FAQs", "Answer variants", "Paraphrases", "Cached answers", "Canned replies"):
        assert f">{name}</a>" in en, name
    assert "知识库" not in en


def test_the_faq_list_has_its_columns_filters_and_actions_in_the_users_language(admin_client, faq):
    url = reverse("admin:knowledge_faq_changelist")
    zh = _page(admin_client, url, ZH)
    for column in ("命中次数", "最近命中时间", "来源文档", "已通过的变体", "草稿", "生成"):
        assert f">{column}</a>" in zh or f">{column}</span>" in zh, column
    assert "启用" in zh and "语言" in zh, "the filters"
    assert "生成答案变体和问法（草稿）" in zh
    assert "导入 JSON 或 CSV" in zh
    en = _page(admin_client, url, EN)
    assert ">Hit count</a>" in en and ">Approved variants</span>" in en
    assert "Generate answer variants and paraphrases (drafts)" in en
    assert "生成答案变体" not in en


@pytest.mark.parametrize(
    "url",
    [
        "admin:knowledge_faq_changelist",
        "admin:chatbot_conversation_changelist",
        "admin:knowledge_document_changelist",
    ],
)
def test_lists_name_each_language_rather_than_its_code(admin_client, faq, url):
    """A Chinese lead read `zh-hans` and `en` in every list, its filter included."""
    services.faq_save(question="怎么退货？", answer="30天内可退货。", locale="zh-hans")
    chat.conversation_start(locale="zh-hans")
    zh = _page(admin_client, reverse(url), ZH)
    assert ">zh-hans<" not in zh and ">en<" not in zh
    if url == "admin:knowledge_faq_changelist":
        assert '<td class="field-language_column">简体中文</td>' in zh
        assert '<td class="field-language_column">英语</td>' in zh
        assert 'href="?locale=zh-hans"' in zh, "the filter keeps its parameter"
    english = _page(admin_client, reverse(url) + "?locale=zh-hans", EN)
    assert "How long does a refund take?" not in english


def test_the_faq_form_has_its_labels_help_and_inlines_in_the_users_language(admin_client, faq):
    url = reverse("admin:knowledge_faq_change", args=[faq.pk])
    zh = _page(admin_client, url, ZH)
    assert ">问题:</label>" in zh or ">问题：</label>" in zh
    assert "标准答案（审核通过后始终可用于回复）。" in zh
    assert "用逗号分隔，例如：配送, 退货。" in zh
    assert _inline_headings(zh) == ["问法", "答案变体"]
    assert "已向量化" in zh and "事实核查" in zh, "the inlines' computed columns"
    assert ">人工编写</option>" in zh, "the origin choices"
    en = _page(admin_client, url, EN)
    assert "The canonical answer (always served once approved)." in en
    assert _inline_headings(en) == ["Paraphrases", "Answer variants"]
    assert ">Written by a person</option>" in en


@pytest.mark.parametrize(
    ("headers", "message"), [(ZH, "已拒绝 1 个答案变体。"), (EN, "1 variant(s) rejected.")]
)
def test_an_actions_message_is_in_the_users_language(admin_client, faq, headers, message):
    AnswerVariant.objects.create(faq=faq, text="Refunds take 3 to 5 working days.")
    response = admin_client.post(
        reverse("admin:knowledge_faq_changelist"),
        {"action": "reject_draft_variants", "_selected_action": [faq.pk]},
        follow=True,
        **headers,
    )
    assert message in response.content.decode()
    assert faq.variants.filter(status=AnswerVariant.Status.REJECTED).count() == 1


def test_the_analytics_dashboard_is_in_the_users_language(admin_client):
    conversation = Conversation.objects.create()
    answer = Message.objects.create(conversation=conversation, role="bot", text="a", source="faq")
    Feedback.objects.create(message=answer, value=Feedback.Value.UP)
    zh = _page(admin_client, reverse("admin-analytics"), ZH)
    for heading in ("<h2>自助解决</h2>", "<h2>每日各来源的回答数</h2>", "<h2>首字延迟</h2>"):
        assert heading in zh, heading
    assert "<h2>反馈与评分</h2>" in zh and "<h2>未回答问题排行</h2>" in zh
    assert '<div class="name">会话</div>' in zh
    assert "回答的赞踩（100% 为赞）" in zh, "a literal percent sign inside a translated phrase"
    en = _page(admin_client, reverse("admin-analytics"), EN)
    assert "<h2>Deflection</h2>" in en and "<h2>Top unanswered questions</h2>" in en
    assert "thumbs on answers (100% up)" in en


def test_the_matching_quality_page_is_in_the_users_language(admin_client, faq):
    zh = _page(admin_client, reverse("matching-quality"), ZH)
    assert "<title>FAQ 匹配质量" in zh
    for heading in ("向量模型", "判定阈值", "预期错误率", "已审核的问法", "各 FAQ 的问法识别情况"):
        assert heading in zh, heading
    assert "<h2>英语 (en)</h2>" in zh, "each locale by its name in the reader's language"
    en = _page(admin_client, reverse("matching-quality"), EN)
    assert "Operating point" in en and "Phrasings recognised, per FAQ" in en
    assert "<h2>English (en)</h2>" in en


# The page reads the day's stored spend through database_sync_to_async, which closes the
# connection a non-transactional test holds.
@pytest.mark.django_db(transaction=True)
def test_the_model_router_page_is_in_the_users_language(admin_client):
    zh = _page(admin_client, reverse("llm-router-status"), ZH)
    assert "<h2>熔断器</h2>" in zh and "<th>关闭次数</th>" in zh and "（未设每日预算）" in zh
    assert "<strong>闭合（正常调用）</strong>" in zh, "a breaker's state, not its code"
    assert (
        "<h2>基于帮助中心来源的回答（最近 7 天）</h2>" in zh and "<th>未注明来源，已替换</th>" in zh
    )
    assert "<th>最长回答（词元）</th>" in zh and "max_tokens" not in zh
    en = _page(admin_client, reverse("llm-router-status"), EN)
    assert "<h2>Circuit breakers</h2>" in en and "<th>closed</th>" in en


def test_a_message_in_the_admins_pickers_names_its_role_in_the_users_language():
    """The feedback list and the message pickers read "bot: …" in a Chinese admin."""
    from django.utils import translation

    message = Message(role=Message.Role.BOT, text="Refunds take 3 to 5 days.")
    with translation.override("zh-hans"):
        assert str(message) == "机器人：Refunds take 3 to 5 days."
    with translation.override("en"):
        assert str(message) == "Bot: Refunds take 3 to 5 days."


def test_the_conversation_list_names_handoff_reasons_in_the_users_language(admin_client):
    """The column and its filter show what the reason means, never the stored code, and the
    filter has no nameless link for conversations that were never handed over."""
    handed = chat.conversation_start(locale="en")
    handoff.conversation_handoff(conversation_id=handed.pk, reason=HandoffReason.BOT_UNSURE)
    chat.conversation_start(locale="en")
    url = reverse("admin:chatbot_conversation_changelist")
    zh = _page(admin_client, url, ZH)
    assert "机器人多次无法回答" in zh and "所有模型均不可用" in zh
    assert ">bot_unsure<" not in zh
    assert not re.search(r'<a href="\?handoff_reason=">\s*</a>', zh)
    en = _page(admin_client, url, EN)
    assert "Bot fell back repeatedly" in en and ">bot_unsure<" not in en


def test_the_header_the_login_protection_and_the_pickers_words_are_chinese(admin_client):
    """A Chinese lead's walk: "Django 管理" in the header, the login protection's models in
    English, and the team and permission pickers half English (Django's own catalogue lacks
    those strings)."""
    zh = _page(admin_client, "/admin/", ZH)
    assert "客服机器人管理后台" in zh and "Django" not in zh
    assert ">访问尝试</a>" in zh and ">访问日志</a>" in zh
    # Its section too: "AXES", untranslated, headed the Chinese sidebar.
    assert "登录保护" in zh and "Axes" not in zh and "AXES" not in zh
    assert "Sign-in protection" in _page(admin_client, "/admin/", EN)
    catalogue = _page(admin_client, "/admin/jsi18n/", ZH)  # JSON: \uXXXX escapes
    for words in ("选中要选择的%s", "移除全部%s"):
        assert words.encode("ascii", "backslashreplace").decode() in catalogue, words
    assert "Helpdesk chatbot admin" in _page(admin_client, "/admin/", EN)


def test_the_opening_hours_say_which_time_zone_they_are_in(admin_client, settings):
    """09:00-18:00 meant in Beijing was read as UTC, the team "away" all afternoon, and nothing
    on the page said so."""
    settings.SUPPORT_TIME_ZONE = "Asia/Shanghai"
    for url in ("/admin/handoff/openinghours/", "/admin/handoff/openinghours/add/"):
        zh = _page(admin_client, url, ZH)
        assert "时间按 Asia/Shanghai 时区（设置 SUPPORT_TIME_ZONE）" in zh, url
    en = _page(admin_client, "/admin/handoff/openinghours/add/", EN)
    assert "Times in the Asia/Shanghai time zone (setting SUPPORT_TIME_ZONE); it is " in en


def test_the_paraphrase_form_lists_each_faq_with_its_language_and_whether_it_is_active(
    admin_client, faq
):
    """A lead picked among 43 questions of both languages and the drafts alike (a walk)."""
    services.faq_save(question="怎么退货？", answer="30天内可退货。", locale="zh-hans")
    draft = services.faq_save(question="Do you gift wrap?", answer="Yes.")
    draft.active = False
    draft.save()
    form = _page(admin_client, reverse("admin:knowledge_paraphrase_add"), ZH)
    options = re.findall(r'<option value="\d+">([^<]+)</option>', form)
    assert options == [
        "How long does a refund take? · 英语",
        "Do you gift wrap? · 英语 · 未启用",
        "怎么退货？ · 简体中文",
    ]


def test_every_admin_page_names_the_time_zone_its_times_are_in(admin_client, settings):
    """A Chinese team read 13:05 in the admin for a message their console showed at 21:05:
    with TIME_ZONE unset the admin shows UTC, and no page said so."""
    zh = _page(admin_client, "/admin/chatbot/conversation/", ZH)
    assert '<span class="time-zone"' in zh and "时间：UTC" in zh
    settings.TIME_ZONE = "Asia/Shanghai"
    en = _page(admin_client, reverse("admin-analytics"), EN)
    assert "Times in Asia/Shanghai" in en


def test_the_article_writing_page_and_its_way_in_are_in_the_users_language(admin_client):
    zh = _page(admin_client, "/admin/knowledge/document/write/", ZH)
    assert "<h1>撰写文章</h1>" in zh and "Markdown 格式" in zh
    board = _page(admin_client, reverse("admin-analytics"), ZH)
    assert "撰写文章</a>或" in board and "现已找到" in board


def test_the_admins_language_dropdowns_name_languages_in_the_users_language(admin_client):
    """A Chinese writer read "English" in the dropdowns and 英语 in the lists."""
    zh = _page(admin_client, "/admin/knowledge/document/write/", ZH)
    assert '<option value="en">英语</option>' in zh and ">English<" not in zh
    faq = _page(admin_client, "/admin/knowledge/faq/add/", ZH)
    assert '<option value="zh-hans" selected>简体中文</option>' in faq
