"""The conversation's admin page shows the transcript to read: who said what and when, a bot
answer's trace as a summary and a table of its stages, not raw JSON; HTML in messages is
escaped."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from chatbot.models import Conversation, Feedback, Message

pytestmark = pytest.mark.django_db

TRACE = {
    "source": "faq",
    "score": 0.9123456,
    "model": None,
    "ttft_ms": 12.5,
    "total_ms": 40.2,
    "steps": [
        {
            "stage": "faq",
            "decision": "answered",
            "elapsed_ms": 11.0,
            "score": 0.9123456,
            "detail": {"faq_id": 7, "margin": 0.2},
        },
    ],
}


def test_conversation_page_renders_the_transcript_and_trace():
    admin_user = User.objects.create_superuser("root", password="pw-root")
    ann = User.objects.create_user("ann", first_name="Ann")
    c = Conversation.objects.create()
    Message.objects.create(conversation=c, role="visitor", text="<b>bold</b> question")
    bot = Message.objects.create(
        conversation=c, role="bot", text="The answer.", source="faq", trace=TRACE
    )
    Feedback.objects.create(message=bot, value="down", comment="too short")
    Message.objects.create(conversation=c, role="agent", author=ann, text="Let me help.")
    client = Client()
    client.force_login(admin_user)
    page = client.get(f"/admin/chatbot/conversation/{c.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "&lt;b&gt;bold&lt;/b&gt; question" in html
    assert "source FAQ · score 0.912 · first token 12 ms · total 40 ms" in html
    assert "<td>answered</td>" in html and "<code>faq_id</code>: 7" in html
    assert "Agent: Ann" in html and "Not helpful — too short" in html
    assert '"steps"' not in html and "&quot;steps&quot;" not in html  # no raw JSON
    message_page = client.get(f"/admin/chatbot/message/{bot.pk}/change/")
    assert message_page.status_code == 200
    body = message_page.content.decode()
    assert "<td>answered</td>" in body and "<summary>JSON</summary>" in body


def test_the_transcripts_trace_speaks_the_admin_users_language():
    admin_user = User.objects.create_superuser("root", password="pw-root")
    c = Conversation.objects.create()
    Message.objects.create(conversation=c, role="bot", text="答案。", source="faq", trace=TRACE)
    client = Client()
    client.force_login(admin_user)
    url = f"/admin/chatbot/conversation/{c.pk}/change/"
    html = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "来源：FAQ · 分数 0.912 · 首字 12 毫秒 · 总计 40 毫秒" in html
    assert "<th>阶段</th><th>判定</th><th>毫秒</th>" in html
    # Each step's stage and decision too, not their codes (a Chinese lead's walk).
    assert "<td>FAQ</td><td>已回复</td>" in html
    assert " · FAQ</span>" in html and " · faq</span>" not in html


def test_every_decision_a_trace_can_hold_has_words_in_both_languages():
    from django.utils import translation

    from chatbot.outcomes import Decision
    from chatbot.trace_labels import DECISION_NAMES, decision_name

    assert set(Decision) <= set(DECISION_NAMES)
    with translation.override("zh-hans"):
        assert decision_name("tier_failed") == "层级失败"
        assert decision_name("below_threshold") == "低于阈值"
        assert decision_name("a_code_from_a_newer_version") == "a_code_from_a_newer_version"


def test_the_trace_line_counts_the_attempts_given_up_beside_the_answers_cost():
    """A walk read "cost $0.00746" while the same page's "Cost usd" said 0.35346: a tier given
    up at its first-token timeout cost its estimated prompt too."""
    from chatbot.admin import trace_summary

    trace = {
        "source": "llm",
        "model": "small",
        "cost": 0.00746,
        "steps": [
            {"stage": "llm", "decision": "tier_failed", "cost": 0.346},
            {"stage": "llm", "decision": "answered", "cost": 0.00746},
        ],
    }
    assert trace_summary(trace)[-2:] == ["cost $0.00746", "all attempts $0.35346"]
    one_call = {**trace, "steps": trace["steps"][1:]}
    assert trace_summary(one_call)[-1] == "cost $0.00746"
