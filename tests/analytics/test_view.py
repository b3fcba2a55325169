"""Loading from the database, and the staff page."""

import datetime as dt
import re

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone, translation

from chatbot.analytics import figures
from chatbot.answer_facts import answer_facts
from chatbot.models import Conversation, Feedback, Message

pytestmark = pytest.mark.django_db

URL = "/admin/analytics/"


def conversation_at(at: dt.datetime, **fields) -> Conversation:
    conversation = Conversation.objects.create(**fields)
    Conversation.objects.filter(pk=conversation.pk).update(created_at=at)
    return conversation


def message_at(conversation: Conversation, at: dt.datetime, **fields) -> Message:
    message = Message.objects.create(conversation=conversation, **fields)
    Message.objects.filter(pk=message.pk).update(created_at=at)
    return message


def answered(conversation: Conversation, at: dt.datetime, source: str, cost: float = 0.0):
    question = message_at(conversation, at, role="visitor", text="Where is my parcel?")
    trace = {"source": source, "ttft_ms": 42.0, "steps": [{"stage": source, "cost": cost}]}
    return message_at(
        conversation,
        at + dt.timedelta(seconds=1),
        role="bot",
        text="On its way.",
        source=source,
        reply_to=question,
        trace=trace,
        **answer_facts(trace).columns(),
    )


def test_figures_count_the_range_and_follow_its_visitors_a_day_past_the_end():
    start = dt.datetime(2025, 3, 10, tzinfo=dt.UTC)
    inside = conversation_at(start + dt.timedelta(hours=5), visitor_token="t1", rating=5)
    bot = answered(inside, start + dt.timedelta(hours=5), "faq")
    Feedback.objects.create(message=bot, value="up")
    before = conversation_at(start - dt.timedelta(minutes=1), visitor_token="t0")
    answered(before, start - dt.timedelta(minutes=1), "llm")
    after = conversation_at(start + dt.timedelta(days=1, hours=2), visitor_token="t1")
    answered(after, start + dt.timedelta(days=1, hours=2), "llm")

    scope = figures.Scope.of_days(dt.date(2025, 3, 10), dt.date(2025, 3, 10))

    deflection = figures.deflection(scope)
    assert (deflection.conversations, deflection.deflected) == (1, 1)
    assert deflection.visitor_messages == 1, "the day after is followed, not counted"
    resolution = figures.resolution(scope)
    assert (resolution.conversations, resolution.recontact) == (1, 1), (
        "t1 asked the same again the next morning: a re-contact, even after a thumbs-up"
    )
    assert figures.recontacted(scope) == {inside.pk}


@pytest.fixture
def staff_client(client):
    """A support lead: staff who may view conversations."""
    user = User.objects.create_user("staff", password="pw-123456", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_conversation"))
    client.force_login(user)
    return client


def test_staff_who_may_not_read_conversations_do_not_see_visitors_words_here(client):
    """The page quotes visitors (top unanswered, content gaps): a staff account without
    permissions read a card number there (a security walk)."""
    user = User.objects.create_user("clerk", password="pw-123456", is_staff=True)
    client.force_login(user)
    assert client.get(URL).status_code == 403
    assert b"admin/analytics/" not in client.get("/admin/").content


def test_only_staff_may_see_the_page(client):
    assert client.get(URL).status_code == 302
    User.objects.create_user("visitor", password="pw-123456")
    client.force_login(User.objects.get(username="visitor"))
    response = client.get(URL)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_page_shows_the_figures_for_the_chosen_range(staff_client, admin_client):
    day = dt.datetime(2025, 3, 10, 9, tzinfo=dt.UTC)
    deflected = conversation_at(day)
    answered(deflected, day, "faq")
    costly = conversation_at(day, handoff_reason="models_down")
    answered(costly, day, "llm", cost=0.25)
    outside = conversation_at(day + dt.timedelta(days=5))
    answered(outside, day + dt.timedelta(days=5), "faq")
    offering = answered(costly, day + dt.timedelta(hours=1), "fallback")
    Message.objects.filter(pk=offering.pk).update(offers=2, offer_taken=True)

    response = staff_client.get(URL, {"start": "2025-03-09", "end": "2025-03-11"})

    assert response.status_code == 200
    html = response.content.decode()
    board = response.context["board"]
    assert (board.start, board.end, board.conversations) == (
        dt.date(2025, 3, 9),
        dt.date(2025, 3, 11),
        2,
    )
    assert '<div class="value">2</div><div class="name">conversations</div>' in html
    assert "deflected (1 of 2)" in html
    assert "$0.1250" in html, "cost per conversation"
    assert "Every model down" in html
    assert html.count('<svg class="chart"') == 7
    assert "Mar 10 FAQ: 1" in html, "a bar's tooltip in the source chart"
    assert 'value="2025-03-09"' in html and 'value="2025-03-11"' in html
    assert "offered the nearest FAQs: 1; the visitor asked an offered question next: 1 (100%)" in (
        html
    )
    drafts = reverse("admin:knowledge_paraphrase_changelist")
    assert f'href="{drafts}?origin__exact=offer&amp;approved__exact=0"' in html
    assert admin_client.get(f"{drafts}?origin__exact=offer&approved__exact=0").status_code == 200


def test_the_default_range_is_the_last_30_days(staff_client):
    board = staff_client.get(URL).context["board"]
    assert board.end == timezone.localdate()
    assert board.end - board.start == dt.timedelta(days=29)


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"start": "2025-13-01"}, "Enter a valid date."),
        ({"start": "2025-03-11", "end": "2025-03-10"}, "must not be after the end date"),
        ({"start": "2020-01-01", "end": "2025-01-01"}, "at most 366 days"),
    ],
)
def test_an_invalid_range_is_refused_and_the_default_shown(staff_client, params, error):
    response = staff_client.get(URL, params)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert response.context["board"].end == timezone.localdate()


def test_the_admin_index_links_to_the_page(admin_client):
    assert reverse("admin-analytics") in admin_client.get("/admin/").content.decode()


def test_the_demo_seed_fills_the_dashboard_once():
    call_command("seed_analytics_demo")
    first = Conversation.objects.count()
    call_command("seed_analytics_demo")
    assert Conversation.objects.count() == first > 30
    assert not Conversation.objects.filter(status__in=["queued", "agent"]).exists()
    today = timezone.localdate()
    board = figures.dashboard(today - dt.timedelta(days=29), today)
    assert board.conversations == first
    assert board.deflection.deflected > 0 and board.costs.total > 0
    assert board.handoffs.handed_off > 0 and board.resolution.recontact > 0
    assert board.breakers.total > 0 and board.unanswered


def test_columns_stack_to_the_peak_and_bars_scale_to_the_longest():
    from chatbot.analytics.views import bar_chart, column_chart

    days = [dt.date(2025, 3, 10), dt.date(2025, 3, 11)]
    chart = column_chart([(days[0], {"faq": 3, "llm": 1}), (days[1], {"llm": 2})], ["faq", "llm"])
    first = [r for r in chart.rects if r.title.startswith("Mar 10")]
    second = [r for r in chart.rects if r.title.startswith("Mar 11")]
    plot_h = chart.height - 18 - 8
    assert sum(r.height for r in first) == pytest.approx(plot_h)
    assert sum(r.height for r in second) == pytest.approx(plot_h / 2)
    assert [lbl.text for lbl in chart.labels[:2]] == ["4", "0"]
    bars = bar_chart([("a", 10, "10"), ("b", 5, "5")])
    assert bars.rects[0].width == pytest.approx(2 * bars.rects[1].width)
    assert column_chart([(days[0], {})], ["faq"]).empty


def test_day_labels_follow_the_admins_language():
    """The Chinese analytics page labelled its days "Nov 07"."""
    from chatbot.analytics.views import column_chart

    day = dt.date(2025, 11, 7)
    with translation.override("zh-hans"):
        chinese = column_chart([(day, {"faq": 1})], ["faq"])
    with translation.override("en"):
        english = column_chart([(day, {"faq": 1})], ["faq"])
    assert english.labels[-1].text == "Nov 07"
    assert chinese.labels[-1].text == "11月7日"  # not "十一月 07" (an analytics walk)


def test_sources_are_named_in_the_admins_language(staff_client):
    """The legend, tooltips and tables said "small_talk", "llm", "fallback" in both languages."""
    day = timezone.now()
    answered(conversation_at(day), day, "llm", cost=0.01)
    answered(conversation_at(day), day, "fallback")
    zh = staff_client.get(URL, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    legend = re.search(r'<ul class="legend">(.*?)</ul>', zh).group(1)
    assert re.findall(r"</span>([^<]+)</li>", legend) == [
        "寒暄", "FAQ", "缓存", "模型", "兜底回复", "客服",
    ]  # fmt: skip
    assert "<td>模型</td>" in zh and "模型 p50" in zh
    assert "<td>llm</td>" not in zh and "llm p50" not in zh
    en = staff_client.get(URL, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "<td>Model</td>" in en and "Model p99" in en


def test_bar_labels_get_room_for_chinese_characters():
    from chatbot.analytics.views import bar_chart

    english = bar_chart([("Every model down", 1, "1")])
    chinese = bar_chart([("访客点击了“转人工”", 1, "1")])
    # The bars start right of their labels, which are drawn right-aligned just before them:
    # nine wide characters need about as much room as eighteen Latin ones, not nine.
    assert english.rects[0].x == pytest.approx(12 + 6 * len("Every model down"))
    assert chinese.rects[0].x >= 12 + 6 * 2 * 8


def test_demo_data_is_left_out_once_real_conversations_exist(staff_client):
    """The seeded demo shows on an empty site; with a real conversation the default is the
    site's own figures, and either can be asked for."""
    call_command("seed_analytics_demo")
    demo = Conversation.objects.count()
    only_demo = staff_client.get(URL)
    assert only_demo.context["board"].include_demo
    assert only_demo.context["board"].conversations == demo
    assert "there are no others yet" in only_demo.content.decode()

    now = timezone.now()
    real = conversation_at(now, visitor_token="a-real-visitor")
    answered(real, now, "llm", cost=0.5)
    default = staff_client.get(URL)
    board = default.context["board"]
    assert not board.include_demo and board.conversations == 1
    assert board.costs.total == 0.5 and board.handoffs.handed_off == 0
    assert board.source_mix and sum(d.counts.get("faq", 0) for d in board.source_mix) == 0
    assert '<option value="exclude" selected>' in default.content.decode()
    both = staff_client.get(URL, {"demo": "include"}).context["board"]
    assert both.include_demo and both.conversations == demo + 1


def test_the_admin_index_reports_are_in_the_admin_users_language(admin_client):
    page = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "报表" in page
    assert f'<a href="{reverse("admin-analytics")}">数据分析</a>' in page
    assert "FAQ 匹配质量" in page


def test_the_ungrounded_share_is_shown_as_a_percentage(staff_client, monkeypatch):
    """Ten of ten answers replaced read "(1.0%)" once: the share is a fraction."""
    from chatbot.analytics import figures

    monkeypatch.setattr(
        figures, "grounding", lambda scope: figures.Grounding(10, 0, 0, 10, 1, not_asked=3)
    )
    page = staff_client.get("/admin/analytics/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "(together 100% of the answers given sources)" in page
    assert "got the suggested articles at once, without a model: 3" in page
    router = reverse("llm-router-status")
    assert f'<a href="{router}">model router</a>' in page
    zh = staff_client.get("/admin/analytics/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "两者合计占提供了资料的回答的 100%" in zh
    assert "未经模型而立即收到推荐文章的问题：3 个" in zh


def test_a_range_with_nothing_in_it_shows_no_rate_rather_than_zero(staff_client):
    """ "0% deflected (0 of 0)" read as a result (an analytics walk): a rate of nothing is "-"."""
    page = staff_client.get(URL, {"start": "2025-03-10", "end": "2025-03-10"}).content.decode()
    for figure in ("deflection", "handoff-rate", "csat"):
        card = re.search(rf'data-figure="{figure}"><div class="value">([^<]*)<', page).group(1)
        assert card == "-", (figure, card)
    assert "thumbs on answers</div>" in page and "% up" not in page


def test_an_unanswered_question_links_its_trace_and_its_nearest_faq_to_add_it_to(admin_client):
    """A lead worked out which FAQ "refund?" nearly matched from its score alone, with no link
    to the conversation or a way to add the wording (a walk)."""
    from knowledge import services

    refunds = services.faq_save(question="When will I get my refund?", answer="In 5 days.")
    at = timezone.now() - dt.timedelta(hours=1)
    conversation = conversation_at(at, visitor_token="t9")
    question = message_at(conversation, at, role="visitor", text="refund?")
    trace = {
        "source": "fallback",
        "ttft_ms": 12.0,
        "steps": [
            {
                "stage": "faq",
                "decision": "below_threshold",
                "score": 0.76,
                "detail": {"faq_id": refunds.pk},
            },
            {"stage": "fallback", "decision": "canned_answer"},
        ],
    }
    message_at(
        conversation,
        at + dt.timedelta(seconds=1),
        role="bot",
        text="Sorry…",
        source="fallback",
        reply_to=question,
        trace=trace,
        **answer_facts(trace).columns(),
    )
    page = admin_client.get(URL, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    conversation_link = reverse("admin:chatbot_conversation_change", args=[conversation.pk])
    assert f'<a href="{conversation_link}">refund?</a>' in page
    faq_link = reverse("admin:knowledge_faq_change", args=[refunds.pk])
    assert f'<a href="{faq_link}">When will I get my refund?</a>' in page
    add = re.search(r'class="add-phrasing" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    form = admin_client.get(add).content.decode()
    assert 'value="refund?"' in form or ">refund?</textarea>" in form
    assert f'<option value="{refunds.pk}" selected>' in form


def test_the_unanswered_questions_past_the_top_20_are_a_click_away(admin_client, monkeypatch):
    """A lead working through a month's questions read the 20 most asked and had no way to
    the rest."""
    monkeypatch.setattr(figures, "TOP_UNANSWERED", 3)
    at = timezone.now() - dt.timedelta(hours=1)
    for n in range(5):
        conversation = conversation_at(at, visitor_token=f"t{n}")
        question = message_at(conversation, at, role="visitor", text=f"question number {n}?")
        message_at(
            conversation, at, role="bot", text="Sorry…", source="fallback", reply_to=question
        )

    def rows(page: str) -> list[str]:
        section = page.split('<section id="unanswered">')[1].split("</table>")[0]
        return re.findall(r">(question number \d\?)</a>", section)

    top = admin_client.get(URL + "?demo=exclude", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert len(rows(top)) == 3 and "the 3 most asked" in top
    link = re.search(r'class="show-all" href="([^"]+)"', top).group(1).replace("&amp;", "&")
    assert link == "?demo=exclude&unanswered=all#unanswered"
    everything = admin_client.get(URL + link.split("#")[0]).content.decode()
    assert len(rows(everything)) == 5 and 'class="show-all"' not in everything


@pytest.mark.parametrize("score", [0.33, 0.66])
def test_an_unanswered_question_names_no_faq_that_is_not_near_it(admin_client, score):
    """A writer was offered "add as its phrasing" of "Do you ship internationally?" for "Can I
    rent a bike from you?" (score 0.33): a one-click wrong phrasing; a second walk still got
    "Is there a senior discount?" for the student-discount FAQ at 0.66."""
    from knowledge import services

    shipping = services.faq_save(question="Do you ship internationally?", answer="Yes.")
    at = timezone.now() - dt.timedelta(hours=1)
    conversation = conversation_at(at, visitor_token="t8")
    question = message_at(conversation, at, role="visitor", text="Can I rent a bike from you?")
    trace = {
        "source": "fallback",
        "steps": [
            {"stage": "faq", "decision": "below_threshold", "score": score,
             "detail": {"faq_id": shipping.pk}},
            {"stage": "fallback", "decision": "canned_answer"},
        ],
    }  # fmt: skip
    message_at(
        conversation, at, role="bot", text="Sorry…", source="fallback", reply_to=question,
        trace=trace, **answer_facts(trace).columns(),
    )  # fmt: skip
    page = admin_client.get(URL, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert ">Can I rent a bike from you?</a>" in page
    assert "Do you ship internationally?" not in page and 'class="add-phrasing"' not in page
