"""How the widget shows each message: rich text that cannot run script, who wrote it (AI answers
labelled by source, agents by name), when, answers kept under their question, aria-busy while
streaming, the unread badge; and a question typed in Chinese on an English page answered from the
Chinese FAQs."""

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser.conftest import checked_page, host_site
from tests.browser.scripted import ScriptedServer
from tests.servers import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(120)]

READY = "() => window.__chatbotWidget && window.__chatbotWidget.state().ready"
GREETING_FETCHED = "() => window.__chatbotWidget && window.__chatbotWidget.state().greeting"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with checked_page(browser, viewport={"width": 1280, "height": 800}, locale="en-US") as page:
        yield page


def opened(page: Page, server_url: str) -> Locator:
    page.goto(server_url + "/")
    widget = page.locator("chatbot-widget")
    widget.locator("button.launcher").click()
    page.wait_for_function(READY)
    return widget


def message(**fields: object) -> dict:
    base = {"source": "", "client_id": None, "reply_to": None, "citations": []}
    return {**base, "created": "2026-01-05T09:07:00Z", **fields}


HOSTILE = (
    "Here is how:\n"
    "- open **Orders**\n"
    "- choose [Return](https://shop.example/returns)\n"
    "1. print the label\n"
    "2. drop it off\n\n"
    "Mail help@shop.example or see https://shop.example/help.\n"
    '<img src=x onerror="window.__xss=1"> <script>window.__xss=2</script> '
    "[click](javascript:window.__xss=3) [data](data:text/html,hi)"
)


def test_rich_text_is_rendered_from_a_safe_subset_and_never_runs_script(
    page: Page, daphne_server: str, screenshot_dir: Path
) -> None:
    scripted = ScriptedServer(page)
    server = scripted.send
    widget = opened(page, daphne_server)

    author = {"name": "Ann Lee"}
    server({"type": "message", "message": message(id=1, role="agent", text=HOSTILE, author=author)})
    row = widget.locator(".row.agent")
    bubble = row.locator(".bubble")
    expect(bubble.locator("ul > li")).to_have_count(2)
    expect(bubble.locator("ol > li")).to_have_count(2)
    expect(bubble.locator("strong")).to_have_text("Orders")
    links = bubble.locator("a")
    hrefs = links.evaluate_all("(as) => as.map((a) => a.getAttribute('href'))")
    assert hrefs == [
        "https://shop.example/returns",
        "mailto:help@shop.example",
        "https://shop.example/help",
    ]
    assert set(links.evaluate_all("(as) => as.map((a) => a.rel)")) == {
        "noopener noreferrer nofollow"
    }
    # The markup arrives as text; the javascript: and data: links stay unlinked text.
    expect(bubble).to_contain_text('<img src=x onerror="window.__xss=1">')
    expect(bubble).to_contain_text("[click](javascript:window.__xss=3)")
    assert bubble.locator("img, script, iframe").count() == 0
    assert page.evaluate("() => window.__xss") is None

    # Agents by name, with their initials; the time it was written.
    expect(row.locator(".who")).to_have_text("Ann Lee")
    expect(row.locator(".who .avatar")).to_have_attribute("data-initials", "AL")
    expect(row.locator("time")).to_have_attribute("datetime", "2026-01-05T09:07:00.000Z")
    expect(row.locator("time")).to_have_text(re.compile(r"^\d{1,2}:\d{2}"))
    # Seen with the panel open: a read receipt for the agent.
    assert [f["up_to"] for f in scripted.wait_sent("read", 1)] == [1]
    page.screenshot(path=str(screenshot_dir / "widget-rich-text.png"))


TABLE = (
    "Our opening hours:\n"
    "| Day | Hours |\n"
    "|---|:---:|\n"
    "| Monday–Friday | 9:00–18:00 |\n"
    "| **Public holidays** | closed, see [hours](https://shop.example/hours) |\n"
    "Questions? Ask us.\n"
    "| not | a table without its rule line |"
)


def test_a_markdown_table_is_a_table_built_from_text(
    page: Page, daphne_server: str, screenshot_dir: Path
) -> None:
    """Help-centre articles have tables (opening hours, shipping rates); an answer quoting one
    read as rows of pipes."""
    scripted = ScriptedServer(page)
    widget = opened(page, daphne_server)
    scripted.send({"type": "message", "message": message(id=1, role="bot", text=TABLE)})
    bubble = widget.locator(".row.bot:not(.welcome) .bubble")
    expect(bubble.locator("table th")).to_have_text(["Day", "Hours"])
    expect(bubble.locator("table tbody tr")).to_have_count(2)
    expect(bubble.locator("table tbody tr").last.locator("td strong")).to_have_text(
        "Public holidays"
    )
    link = bubble.locator("table a")
    expect(link).to_have_attribute("href", "https://shop.example/hours")
    expect(bubble.locator("p")).to_have_text(
        ["Our opening hours:", "Questions? Ask us.| not | a table without its rule line |"]
    )
    assert "|---|" not in bubble.inner_text()
    page.screenshot(path=str(screenshot_dir / "widget-table.png"))


def test_a_message_below_a_reader_scrolled_up_is_cued_not_jumped_to(
    page: Page, daphne_server: str, screenshot_dir: Path
) -> None:
    scripted = ScriptedServer(page)
    widget = opened(page, daphne_server)
    for i in range(1, 21):
        text = f"Line {i} of a long conversation"
        scripted.send({"type": "message", "message": message(id=i, role="agent", text=text)})
    log = widget.locator(".log")
    cue = widget.get_by_role("button", name="New message ↓")
    expect(log.locator(".row.agent")).to_have_count(20)
    expect(cue).to_be_hidden()  # at the bottom, new lines just scroll in
    log.evaluate("(l) => { l.scrollTop = 0; }")
    scripted.send({"type": "message", "message": message(id=21, role="agent", text="Found it!")})
    expect(cue).to_be_visible()
    assert log.evaluate("(l) => l.scrollTop") == 0, "the reader keeps their place"
    page.screenshot(path=str(screenshot_dir / "widget-new-message-below.png"))
    cue.click()
    expect(cue).to_be_hidden()
    expect(log.locator(".row.agent").last).to_be_in_viewport()


def test_an_answer_offering_a_person_has_the_button_under_it_while_it_is_the_newest(
    page: Page, daphne_server: str
) -> None:
    """ "Would you like to talk to a person?" had no button with it: the visitor had to find the
    small one above the text box (a phone walk)."""
    scripted = ScriptedServer(page)
    widget = opened(page, daphne_server)
    offer = "I couldn't find that. Would you like to talk to a person?"
    fields = {"role": "bot", "text": offer, "offers_person": True}
    scripted.send({"type": "message", "message": message(id=1, **fields)})
    scripted.send({"type": "message", "message": message(id=2, **fields)})
    rows = widget.locator(".row.bot:not(.welcome)")
    expect(rows.nth(1).locator(".fb-ask").get_by_role("button")).to_have_text("Talk to a person")
    expect(rows.nth(0).locator(".fb-ask")).to_have_count(0), "only under the newest answer"
    rows.nth(1).locator(".fb-ask").get_by_role("button", name="Talk to a person").click()
    assert "reason" not in scripted.wait_sent("handoff", 1)[0], "the visitor's own request"
    expect(widget.locator(".fb-ask")).to_have_count(0)


def test_a_move_between_agents_without_names_is_still_told(page: Page, daphne_server: str) -> None:
    """A Chinese console walk: a transfer to or from an agent without a name (visitors see
    "Agent", never the login) said nothing, the widget comparing names to spot one."""
    scripted = ScriptedServer(page)
    widget = opened(page, daphne_server)
    scripted.send({"type": "conversation", "status": "agent", "agent": ""})
    notices = widget.locator(".row.notice")
    expect(notices.last).to_have_text("You're now chatting with our team.")
    scripted.send({"type": "conversation", "status": "agent", "agent": "", "moved": True})
    expect(notices.last).to_have_text("Another person from our team has taken over the chat.")
    scripted.send({"type": "conversation", "status": "agent", "agent": "Lena", "moved": True})
    expect(notices.last).to_have_text("Lena from our team has joined the chat.")


def test_on_a_touch_screen_fields_do_not_zoom_and_targets_are_big_enough(
    browser: Browser, daphne_server: str
) -> None:
    """A phone walk: the transcript and rating fields were 14px (iOS zooms into anything under
    16px on focus), the header's buttons 36px, the votes 30x28, "Talk to a person" 26px high."""
    phone = {"viewport": {"width": 375, "height": 812}, "is_mobile": True, "has_touch": True}
    with checked_page(browser, **phone, locale="en-US") as touch:
        scripted = ScriptedServer(touch)
        widget = opened(touch, daphne_server)
        scripted.send({"type": "message", "message": message(id=1, role="bot", text="Hi!")})
        widget.get_by_role("button", name="Email me this conversation").tap()
        email = widget.get_by_role("textbox", name="Your email")
        assert email.evaluate("(e) => getComputedStyle(e).fontSize") == "16px"
        sizes = {
            name: widget.get_by_role("button", name=name).first.bounding_box()
            for name in ("Close chat", "Helpful", "Talk to a person")
        }
    assert sizes["Close chat"]["height"] >= 44 and sizes["Helpful"]["height"] >= 40, sizes
    assert sizes["Talk to a person"]["height"] >= 36, sizes


def test_answers_are_labelled_ordered_under_their_question_and_busy_while_streaming(
    page: Page, daphne_server: str, screenshot_dir: Path
) -> None:
    scripted = ScriptedServer(page)
    server = scripted.send
    widget = opened(page, daphne_server)
    textarea = widget.locator("textarea")

    def ask(text: str, message_id: int) -> None:
        asked = len(scripted.sent("message"))
        textarea.fill(text)
        textarea.press("Enter")
        sent = scripted.wait_sent("message", asked + 1)
        ack = {"type": "ack", "client_id": sent[-1]["client_id"], "message_id": message_id}
        server({**ack, "created": "2026-01-05T09:07:00Z", "duplicate": False})

    ask("How do returns work?", 10)
    expect(widget.locator(".row.visitor time")).to_have_attribute(
        "datetime", "2026-01-05T09:07:00.000Z"
    )
    server({"type": "token", "reply_to": 10, "offset": 0, "text": "You can return "})
    streaming = widget.locator(".row.bot:not(.welcome)")
    expect(streaming).to_have_attribute("aria-busy", "true")

    # A second question while the first answer streams; the first answer then finishes with a
    # higher id than the second question, and stays under its own question.
    ask("And exchanges?", 20)
    citations = [{"number": 1, "title": "Returns", "heading": "", "url": "/help/returns"}]
    done = message(
        id=21, role="bot", text="You can return anything within 30 days [1].", reply_to=10
    )
    server(
        {
            "type": "done",
            "reply_to": 10,
            "message": {**done, "source": "llm", "citations": citations},
            "source": "llm",
            "trace": {},
        }
    )
    expect(streaming).not_to_have_attribute("aria-busy", "true")
    order = widget.locator(".log > .row.visitor, .log > .row.bot:not(.welcome)").evaluate_all(
        "(rows) => rows.map((r) => r.classList.contains('visitor') ? 'Q' : 'A')"
    )
    assert order == ["Q", "A", "Q"], order
    expect(streaming.first.locator(".who")).to_have_text(
        re.compile(r"^Assistant\s*· AI answer from our help centre$")
    )

    faq = message(id=22, role="bot", text="Exchanges are free.", reply_to=20, source="faq")
    server({"type": "done", "reply_to": 20, "message": faq, "source": "faq", "trace": {}})
    expect(widget.locator(".row.bot:not(.welcome) .who").last).to_have_text(
        re.compile(r"^Assistant\s*· Answer from our FAQ$")
    )
    expect(widget.locator(".row.bot:not(.welcome)").last.locator(".fb button")).to_have_count(2)

    # A reply to small talk is no answer to rate: no thumbs under it.
    ask("thanks!", 23)
    thanks = message(id=24, role="bot", text="You're welcome!", reply_to=23, source="small_talk")
    server({"type": "done", "reply_to": 23, "message": thanks, "source": "small_talk", "trace": {}})
    expect(widget.locator(".row.bot:not(.welcome) .bubble").last).to_have_text("You're welcome!")
    expect(widget.locator(".row.bot:not(.welcome)").last.locator(".fb")).to_have_count(0)

    # A model-stage reply in the product's own words (a refusal): not labelled AI-generated.
    ask("Tell me about crypto", 25)
    refusal = message(id=26, role="bot", text="Sorry, I can't help with that.", reply_to=25)
    refusal = {**refusal, "source": "llm", "automatic": True}
    server({"type": "done", "reply_to": 25, "message": refusal, "source": "llm", "trace": {}})
    expect(widget.locator(".row.bot:not(.welcome) .who").last).to_have_text(
        re.compile(r"^Assistant\s*· Automatic reply$")
    )

    # Closed panel: an answer that arrives lights the launcher's badge.
    widget.locator("button.launcher").click()
    expect(widget.locator(".wrap")).not_to_have_class(re.compile(r"\bunread\b"))
    server(
        {
            "type": "message",
            "message": message(id=30, role="bot", text="Anything else?", source="fallback"),
        }
    )
    expect(widget.locator(".wrap")).to_have_class(re.compile(r"\bunread\b"))
    # The badge is aria-hidden: a screen reader hears it in the launcher's name (a11y walk).
    expect(widget.locator("button.launcher")).to_have_accessible_name("Open chat, New message")
    widget.locator("button.launcher").click()
    expect(widget.locator("button.launcher")).to_have_accessible_name("Close chat")
    expect(widget.locator(".row.bot:not(.welcome) .who").last).to_have_text(
        re.compile(r"^Assistant\s*· Automatic reply$")
    )
    page.screenshot(path=str(screenshot_dir / "widget-labels-and-times.png"))


LAUNCHER_FOCUSED = (
    "() => document.activeElement?.localName === 'chatbot-widget' && "
    "window.__chatbotWidget.root.activeElement?.className === 'launcher'"
)
LINKS_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Links</title></head>
<body><a href="#a">One</a> <a href="#b">Two</a> <a href="#c">Three</a>
<script src="{chat}/static/chatbot/widget.js" {extra} defer></script></body></html>"""


def _tabs_to_launcher(page: Page) -> int:
    """How many presses of Tab from the top of the page reach the launcher (0: never in 10)."""
    page.locator("chatbot-widget button.launcher").wait_for()
    for presses in range(1, 11):
        page.keyboard.press("Tab")
        if page.evaluate(LAUNCHER_FOCUSED):
            return presses
    return 0


@pytest.mark.parametrize(("extra", "presses"), [("", 1), ('data-tab-order="end"', 4)])
def test_the_launcher_is_first_in_the_tab_order_unless_the_owner_asks_for_last(
    page: Page, daphne_server: str, extra: str, presses: int
) -> None:
    with host_site(free_port(), LINKS_PAGE.format(chat=daphne_server, extra=extra)) as url:
        page.goto(url)
        assert _tabs_to_launcher(page) == presses


def test_the_launcher_focus_ring_shows_on_a_dark_page(page: Page, daphne_server: str) -> None:
    page.goto(daphne_server + "/")
    page.evaluate("() => { document.body.style.background = '#000'; }")
    launcher = page.locator("chatbot-widget button.launcher")
    expect(launcher).to_be_visible()
    page.keyboard.press("Tab")
    for _ in range(40):
        if page.evaluate("() => window.__chatbotWidget.root.activeElement?.className") == (
            "launcher"
        ):
            break
        page.keyboard.press("Tab")
    ring = launcher.evaluate("(b) => getComputedStyle(b).outlineColor")
    assert ring in ("rgb(255, 255, 255)", "#fff"), ring


def test_a_question_in_chinese_on_an_english_page_gets_the_chinese_faq_answer(
    page: Page, demo_server: str, screenshot_dir: Path
) -> None:
    widget = opened(page, demo_server)  # English page and widget
    textarea = widget.locator("textarea")
    textarea.fill("怎么退货？")
    textarea.press("Enter")
    answer = widget.locator(".row.bot:not(.welcome)")
    expect(answer.locator(".fb")).to_have_count(1, timeout=60_000)  # first answer loads models
    text = answer.locator(".bubble").inner_text()
    assert "30天" in text, text
    expect(answer.locator(".who")).to_have_text(re.compile(r"^Assistant\s*· Answer from our FAQ$"))
    expect(widget.get_by_role("button", name="Talk to a person")).to_be_visible()  # chrome: en
    page.screenshot(path=str(screenshot_dir / "widget-chinese-on-english-page.png"))


def test_back_to_the_assistant_works_again_after_a_rate_limit(
    page: Page, daphne_server: str
) -> None:
    scripted = ScriptedServer(page)
    widget = opened(page, daphne_server)
    widget.get_by_role("button", name="Talk to a person").click()
    scripted.wait_sent("handoff", 1)
    queued = {"type": "handoff", "status": "queued", "reason": "visitor_request"}
    scripted.send({**queued, "position": 1, "estimated_wait_s": 60, "agents_online": 1})
    back = widget.get_by_role("button", name="Back to the assistant")
    back.click()
    scripted.wait_sent("handoff_cancel", 1)
    expect(back).to_be_disabled()
    limited = "You're sending messages too quickly. Please wait a moment."
    scripted.send({"type": "error", "code": "rate_limited", "text": limited, "retry_after": 1})
    expect(back).to_be_enabled(timeout=5_000)
    back.click()
    assert len(scripted.wait_sent("handoff_cancel", 2)) == 2


REOPENED = "This conversation is open again. Our assistant will answer you."


def _stored(id: int, role: str, text: str, reply_to: int | None = None) -> dict:
    client_id = f"c{id}" if role == "visitor" else None
    source = "faq" if role == "bot" else ""
    return message(
        id=id, role=role, text=text, source=source, client_id=client_id, reply_to=reply_to
    )


def _rows(widget) -> list[str]:
    return widget.locator(".row:not(.welcome)").evaluate_all(
        "rows => rows.map(r => r.querySelector('.bubble').textContent.trim())"
    )


def test_a_closed_conversation_in_order_rating_in_view_then_reopened(
    page: Page, daphne_server: str
) -> None:
    """Seen in a console walk: the rating form opened below the fold, "Thanks for your rating!"
    stayed the last row under everything written after it, and the system line "open again"
    (stored with the question, before its answer) showed under the answer, live and after a
    reload."""
    history = tuple(
        _stored(i, "visitor" if i % 2 else "agent", f"Line {i} " + "of a long chat. " * 6)
        for i in range(1, 13)
    )
    scripted = ScriptedServer(page, history)
    server = scripted.send
    widget = opened(page, daphne_server)
    server({"type": "conversation", "status": "closed", "ask_rating": True})
    send_rating = widget.get_by_role("button", name="Send rating")
    expect(send_rating).to_be_visible()
    log, button = widget.locator("[role=log]").bounding_box(), send_rating.bounding_box()
    assert button["y"] + button["height"] <= log["y"] + log["height"] + 1, (button, log)

    widget.get_by_role("button", name="5 out of 5").click()
    send_rating.click()
    server({"type": "rated", "score": 5})
    expect(widget.get_by_text("Thanks for your rating!")).to_be_visible()
    widget.get_by_role("textbox", name="Message").fill("One more thing")
    widget.get_by_role("textbox", name="Message").press("Enter")
    client_id = scripted.wait_sent("message", 1)[0]["client_id"]
    server({"type": "ack", "client_id": client_id, "message_id": 13, "duplicate": False})
    server({"type": "message", "message": _stored(14, "system", REOPENED)})
    server({"type": "conversation", "status": "bot"})
    answer = _stored(15, "bot", "Happy to help.", reply_to=13)
    server({"type": "done", "reply_to": 13, "message": answer, "source": "faq", "trace": {}})
    expect(widget.locator(".row.bot:not(.welcome) .bubble")).to_have_text("Happy to help.")
    assert _rows(widget)[-4:] == [
        "Thanks for your rating!",
        "One more thing",
        REOPENED,
        "Happy to help.",
    ]


def test_a_system_line_before_an_answer_stays_above_it_in_the_history(
    page: Page, daphne_server: str
) -> None:
    history = (
        _stored(1, "visitor", "One more thing"),
        _stored(2, "system", REOPENED),
        _stored(3, "visitor", "And another"),
        _stored(4, "bot", "Happy to help.", reply_to=1),
        _stored(5, "bot", "Sure.", reply_to=3),
    )
    ScriptedServer(page, history)
    widget = opened(page, daphne_server)
    expect(widget.locator(".row.bot:not(.welcome)")).to_have_count(2)
    assert _rows(widget) == [
        "One more thing",
        REOPENED,
        "Happy to help.",
        "And another",
        "Sure.",
    ]


def test_a_refused_message_stays_where_it_was_written(page: Page, daphne_server: str) -> None:
    """Seen in a console walk: a message refused by the rate limit stayed the last row, under
    every message written after it."""
    scripted = ScriptedServer(page)
    widget = opened(page, daphne_server)
    textarea = widget.get_by_role("textbox", name="Message")
    textarea.fill("Too fast")
    textarea.press("Enter")
    client_id = scripted.wait_sent("message", 1)[0]["client_id"]
    limited = "You're sending messages too quickly. Please wait a moment."
    scripted.send(
        {"type": "error", "code": "rate_limited", "client_id": client_id, "text": limited}
        | {"retry_after": 30}
    )
    expect(widget.locator(".row.visitor.failed")).to_have_count(1)
    agent = {"id": 7, "role": "agent", "text": "Take your time.", "source": "", "client_id": None}
    scripted.send({"type": "message", "message": {**agent, "reply_to": None, "created": ""}})
    expect(widget.locator(".row.agent .bubble")).to_have_text("Take your time.")
    rows = widget.locator(".row:not(.welcome) .bubble").all_inner_texts()
    assert rows[-2:] == ["Too fast", "Take your time."], rows


def test_a_message_not_stored_offers_retry_and_an_error_notice_stays_where_it_happened(
    page: Page, daphne_server: str
) -> None:
    """After a PostgreSQL restart (a walk) a message sat at "Sending…", and the error notice
    stayed pinned under every later message for the rest of the session."""
    scripted = ScriptedServer(page)
    widget = opened(page, daphne_server)
    textarea = widget.get_by_role("textbox", name="Message")
    textarea.fill("Is my order shipped?")
    textarea.press("Enter")
    client_id = scripted.wait_sent("message", 1)[0]["client_id"]
    not_stored = "We couldn't save your message just now. Please send it again."
    scripted.send(
        {"type": "error", "code": "not_stored", "client_id": client_id, "text": not_stored}
    )
    failed = widget.locator(".row.visitor.failed")
    expect(failed).to_contain_text(not_stored)
    failed.get_by_role("button", name="Retry sending this message").click()
    assert scripted.wait_sent("message", 2)[1]["client_id"] == client_id

    oops = "Something went wrong on our side. Your message is safe; please try again."
    scripted.send({"type": "error", "code": "internal", "text": oops})
    expect(widget.locator(".row.notice", has_text=oops)).to_have_count(1)
    agent = {"id": 7, "role": "agent", "text": "Checking now.", "source": "", "client_id": None}
    scripted.send({"type": "message", "message": {**agent, "reply_to": None, "created": ""}})
    expect(widget.locator(".row").last).to_have_text(re.compile("Checking now."))


def test_the_subtitle_tells_when_a_person_replies_and_the_away_message_shows(
    page: Page, daphne_server: str, screenshot_dir: Path
) -> None:
    away = "We're closed for the weekend; leave a message and we'll answer on Monday."
    team = {"open": False, "agents_online": 0, "reply_wait_s": 120, "away": away}
    scripted = ScriptedServer(page, team={**team, "opens_at": "2031-03-03T09:00:00+08:00"})
    widget = opened(page, daphne_server)
    expect(widget.locator(".header .sub")).to_have_text(
        # The date too, more than a week away; "1:00 AM", not "01:00 AM" (a walk).
        re.compile(r"^Instant answers · our team is back Mon, Mar 3, 1:00\sAM$")
    )
    widget.get_by_role("button", name="Talk to a person").click()
    scripted.wait_sent("handoff", 1)
    queued = {"type": "handoff", "status": "queued", "reason": "visitor_request"}
    scripted.send({**queued, "position": 1, "estimated_wait_s": 120, "agents_online": 0})
    expect(widget.locator(".leave-offer p")).to_have_text(away)
    page.screenshot(path=str(screenshot_dir / "widget-away.png"))
    # The form takes as much as the server does: 5,000 characters got "could not be read".
    widget.locator(".leave-offer button").click()
    expect(widget.locator("form.leave textarea")).to_have_attribute("maxlength", "4000")


def test_outside_the_hours_agents_online_give_the_teams_reply_time(
    page: Page, daphne_server: str
) -> None:
    """The header said "our team is back Tue 09:00" above a queue notice saying "you're number 2,
    less than a minute" (a walk): agents online outside the hours are answering."""
    team = {"open": False, "agents_online": 2, "reply_wait_s": 240, "away": "Closed."}
    ScriptedServer(page, team={**team, "opens_at": "2031-03-04T09:00:00+08:00"})
    widget = opened(page, daphne_server)
    expect(widget.locator(".header .sub")).to_have_text(
        "Instant answers · our team replies in about 4 min"
    )


def test_a_queue_the_server_chose_says_why(page: Page, daphne_server: str) -> None:
    """With every model down the server queues the visitor itself: "We're connecting you with a
    member of our team" under "you can ask to talk to a person" read as if they had asked."""
    scripted = ScriptedServer(page)
    widget = opened(page, daphne_server)
    queued = {"type": "handoff", "status": "queued", "reason": "models_down"}
    scripted.send({**queued, "position": 1, "estimated_wait_s": 30, "agents_online": 1})
    expect(widget.locator(".row.notice").last).to_contain_text(
        "Our assistant couldn't answer, so we're passing your question to a member of our team…"
        " You're number 1 in the queue."
    )


def test_an_open_panel_asks_again_whether_anyone_is_in(page: Page, daphne_server: str) -> None:
    """Seen in a console walk: the subtitle said no one was online long after an agent signed
    in, for as long as the panel stayed open."""
    page.clock.install()
    team = {"open": True, "opens_at": None, "agents_online": 0, "reply_wait_s": 240, "away": ""}
    scripted = ScriptedServer(page, team=team)
    widget = opened(page, daphne_server)
    subtitle = widget.locator(".header .sub")
    expect(subtitle).to_have_text("Instant answers · no one from our team is online right now")
    assert scripted.sent("team") == [], "hello's team is fresh"
    page.clock.fast_forward(61_000)
    scripted.wait_sent("team", 1)
    scripted.send({"type": "team", "team": {**team, "agents_online": 1}})
    expect(subtitle).to_have_text("Instant answers · our team replies in about 4 min")
    widget.get_by_role("button", name="Close chat").first.click()
    page.clock.fast_forward(120_000)
    page.wait_for_timeout(200)
    assert len(scripted.sent("team")) == 1, "a closed panel does not ask"


def test_within_hours_the_subtitle_gives_the_teams_reply_time(
    page: Page, daphne_server: str
) -> None:
    team = {"open": True, "opens_at": None, "agents_online": 2, "reply_wait_s": 240, "away": ""}
    scripted = ScriptedServer(page, team=team)
    widget = opened(page, daphne_server)
    expect(widget.locator(".header .sub")).to_have_text(
        "Instant answers · our team replies in about 4 min"
    )
    # Once a person has the conversation, the subtitle names them, not a reply time (a zh walk
    # read "replies in under a minute" while already talking to an agent), and back again.
    scripted.send({"type": "conversation", "status": "agent", "agent": "Ann"})
    expect(widget.locator(".header .sub")).to_have_text("You're chatting with Ann from our team.")
    scripted.send({"type": "conversation", "status": "bot"})
    expect(widget.locator(".header .sub")).to_have_text(
        "Instant answers · our team replies in about 4 min"
    )

    # Queued, the header gives the visitor's own wait, the queue notice's figure: the team's
    # usual reply time above a longer estimate below read as two answers (a zh console walk).
    widget.get_by_role("button", name="Talk to a person").click()
    scripted.wait_sent("handoff", 1)
    queued = {"type": "handoff", "status": "queued", "reason": "visitor_request"}
    scripted.send({**queued, "position": 3, "estimated_wait_s": 720, "agents_online": 2})
    expect(widget.locator(".row.notice").last).to_contain_text("Estimated wait: about 12 min.")
    expect(widget.locator(".header .sub")).to_have_text(
        "Instant answers · our team replies in about 12 min"
    )
    scripted.send({"type": "conversation", "status": "bot"})
    expect(widget.locator(".header .sub")).to_have_text(
        "Instant answers · our team replies in about 4 min"
    )


def test_within_hours_with_nobody_online_the_subtitle_promises_no_person(
    page: Page, daphne_server: str
) -> None:
    """It said "We usually answer right away" above "No one from our team is online"."""
    team = {"open": True, "opens_at": None, "agents_online": 0, "reply_wait_s": 30, "away": ""}
    scripted = ScriptedServer(page, team=team)
    widget = opened(page, daphne_server)
    expect(widget.locator(".header .sub")).to_have_text(
        "Instant answers · no one from our team is online right now"
    )
    # Someone came online since: the queue frame says so, and the subtitle follows.
    widget.get_by_role("button", name="Talk to a person").click()
    scripted.wait_sent("handoff", 1)
    queued = {"type": "handoff", "status": "queued", "reason": "visitor_request"}
    scripted.send({**queued, "position": 1, "estimated_wait_s": 60, "agents_online": 1})
    expect(widget.locator(".header .sub")).to_have_text(
        "Instant answers · our team replies in about 1 min"
    )


def test_a_proactive_greeting_and_suggested_questions_from_the_page_rule(
    page: Page, demo_server: str, screenshot_dir: Path
) -> None:
    page.clock.install()
    page.goto(demo_server + "/")
    widget = page.locator("chatbot-widget")
    teaser = widget.locator(".teaser")
    page.wait_for_function(GREETING_FETCHED)
    expect(teaser).to_have_count(0)  # not before the rule's delay
    page.clock.run_for(9_000)
    expect(teaser).to_contain_text("Questions about sizes, shipping or returns?")
    page.screenshot(path=str(screenshot_dir / "widget-proactive-greeting.png"))
    teaser.click()
    expect(widget.locator(".panel")).to_be_visible()
    expect(teaser).to_have_count(0)
    chips = widget.get_by_role("list", name="Suggested questions").get_by_role("button")
    expect(chips).to_have_count(3)
    chips.nth(1).click()
    expect(widget.locator(".row.visitor .bubble")).to_have_text("How do I return an item?")
    expect(chips).to_have_count(0)
    answer = widget.locator(".row.bot:not(.welcome)")
    expect(answer.locator(".who")).to_have_text(re.compile(r"Answer from our FAQ$"), timeout=60_000)

    # A visitor with a conversation gets no greeting.
    page.reload()
    page.clock.run_for(9_000)
    expect(widget.locator(".teaser")).to_have_count(0)


def test_the_greeting_in_chinese_can_be_dismissed(page: Page, demo_server: str) -> None:
    page.clock.install()
    page.goto(demo_server + "/?locale=zh-hans")
    widget = page.locator("chatbot-widget")
    page.wait_for_function(GREETING_FETCHED)
    page.clock.run_for(9_000)
    teaser = widget.locator(".teaser")
    expect(teaser).to_contain_text("关于尺码、配送或退货")
    teaser.get_by_role("button", name="关闭").click()
    expect(teaser).to_have_count(0)
    expect(widget.locator(".panel")).to_be_hidden()
    # Once per page and browser session.
    page.reload()
    page.wait_for_function(GREETING_FETCHED)
    page.clock.run_for(9_000)
    expect(widget.locator(".teaser")).to_have_count(0)
    page.goto(demo_server + "/?locale=zh-hans&again=1")  # the same path: still none
    page.wait_for_function(GREETING_FETCHED)
    page.clock.run_for(9_000)
    expect(widget.locator(".teaser")).to_have_count(0)


def test_an_agents_photo_shows_beside_their_message_and_initials_when_it_fails(
    page: Page, daphne_server: str, screenshot_dir: Path
) -> None:
    photo = Image.new("RGB", (96, 96), (200, 30, 30))
    png = io.BytesIO()
    photo.save(png, "PNG")
    page.route(
        "**/agents/7/avatar*",
        lambda route: route.fulfill(status=200, content_type="image/png", body=png.getvalue()),
    )
    scripted = ScriptedServer(page)
    widget = opened(page, daphne_server)
    ann = {"name": "Ann Lee", "avatar": "/agents/7/avatar?v=abc"}
    scripted.send(
        {"type": "message", "message": message(id=1, role="agent", text="Hi", author=ann)}
    )
    img = widget.locator(".row.agent .who img.avatar")
    expect(img).to_have_attribute("src", daphne_server + "/agents/7/avatar?v=abc")
    page.wait_for_function(
        "() => { const i = window.__chatbotWidget.root.querySelector('.row.agent img.avatar');"
        " return i && i.complete && i.naturalWidth === 96; }"
    )
    page.screenshot(path=str(screenshot_dir / "widget-agent-photo.png"))
    # A photo that does not load (gone, or blocked by the host page's policy), or that is not
    # a path on the chat server (another site's address is never fetched): initials.
    for message_id, name, avatar, shown in (
        (2, "Bob Stone", "/agents/8/avatar?v=gone", "BS"),
        (3, "Eve", "https://tracker.example/pixel.png", "E"),
    ):
        said = message(
            id=message_id, role="agent", text="Hey", author={"name": name, "avatar": avatar}
        )
        scripted.send({"type": "message", "message": said})
        row = widget.locator(".row.agent").last
        expect(row.locator(".who .avatar")).to_have_attribute("data-initials", shown)
        expect(row.locator("img")).to_have_count(0)


def test_a_forms_error_shows_in_the_form_and_goes_with_it_once_sent(
    page: Page, daphne_server: str
) -> None:
    """A walk saw "Please enter a valid email address." stay on screen, apart from the form,
    under "sent to …"; now the error belongs to the email field (aria-invalid, described by
    it) and leaves with the form."""
    scripted = ScriptedServer(page)
    widget = opened(page, daphne_server)
    widget.get_by_role("button", name="Email me this conversation").click()
    email = widget.get_by_label("Your email")
    email.fill("abc@")
    widget.get_by_role("button", name="Send it").click()
    scripted.wait_sent("transcript_email", 1)
    scripted.send(
        {"type": "error", "code": "invalid_email", "text": "Please enter a valid email address."}
    )
    error = widget.locator("form.transcript .form-error")
    expect(error).to_have_text("Please enter a valid email address.")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_attribute("aria-describedby", error.get_attribute("id"))
    expect(email).to_be_focused()

    email.fill("ada@example.com")
    widget.get_by_role("button", name="Send it").click()
    scripted.wait_sent("transcript_email", 2)
    # Sent again, the form no longer says its earlier error while the server answers.
    expect(error).to_have_count(0)
    expect(email).not_to_have_attribute("aria-invalid", "true")
    scripted.send({"type": "transcript_email", "email": "ada@example.com", "confirm": True})
    expect(
        widget.get_by_text(
            "We've emailed ada@example.com a link: open it to get this conversation."
        )
    ).to_be_visible()
    expect(widget.get_by_text("Please enter a valid email address.")).to_have_count(0)
    expect(widget.locator("textarea")).to_be_focused()  # not the page under the panel


def test_the_keyboard_focus_stays_in_the_panel_when_the_handoff_button_goes(
    page: Page, daphne_server: str
) -> None:
    """Enter on "Talk to a person" hid the focused button and dropped the focus to the page,
    where Esc no longer closed the panel (a keyboard walk)."""
    scripted = ScriptedServer(page)
    widget = opened(page, daphne_server)
    talk = widget.locator("button.handoff-btn")
    talk.focus()
    page.keyboard.press("Enter")
    scripted.wait_sent("handoff", 1)
    scripted.send({"type": "conversation", "status": "queued"})
    expect(talk).to_be_hidden()
    expect(widget.locator("textarea")).to_be_focused()
    page.keyboard.press("Escape")
    expect(widget.locator(".panel")).to_be_hidden()


def test_on_a_phone_the_panel_is_a_modal_dialog_that_keeps_the_tab_key(
    browser: Browser, daphne_server: str
) -> None:
    """At 390x844 the panel covers the page; Tab walked onto the links under it, where the
    focus could not be seen (a keyboard walk)."""
    with checked_page(browser, viewport={"width": 390, "height": 844}, locale="en-US") as phone:
        widget = opened(phone, daphne_server)
        expect(widget.locator(".panel")).to_have_attribute("aria-modal", "true")
        for _ in range(25):
            phone.keyboard.press("Tab")
            inside = phone.evaluate(
                "() => document.activeElement?.localName === 'chatbot-widget' && "
                "!!window.__chatbotWidget.root.activeElement?.closest('.panel')"
            )
            assert inside, "Tab left the panel"
        phone.keyboard.press("Shift+Tab")
        assert phone.evaluate("() => document.activeElement?.localName") == "chatbot-widget"
    with checked_page(browser, viewport={"width": 1280, "height": 800}) as desktop:
        widget = opened(desktop, daphne_server)
        expect(widget.locator(".panel")).to_have_attribute("aria-modal", "false")
