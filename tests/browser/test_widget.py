"""The embeddable widget in a real chromium against a real daphne server (fallback answers)."""

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.scripted import ScriptedServer
from tests.servers import daphne, manage, migrated, server_env

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(120)]

# Runs before the page's scripts: records every websocket frame both ways, whether the typing
# indicator was ever shown, and each length the streaming bot bubble went through.
RECORDER = """
(() => {
  window.__frames = [];
  window.__sent = [];
  window.__sawTyping = false;
  window.__botLengths = [];
  const Native = window.WebSocket;
  class RecordingWebSocket extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (ev) => {
        try { window.__frames.push(JSON.parse(ev.data)); } catch (e) {}
      });
    }
    send(data) {
      try { window.__sent.push(JSON.parse(data)); } catch (e) {}
      return super.send(data);
    }
  }
  window.WebSocket = RecordingWebSocket;
  const attach = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function (init) {
    const root = attach.call(this, init);
    new MutationObserver(() => {
      if (root.querySelector(".row.typing .dot")) window.__sawTyping = true;
      const bots = root.querySelectorAll(".row.bot:not(.welcome) .bubble");
      if (bots.length) {
        const n = bots[bots.length - 1].textContent.length;
        const seen = window.__botLengths;
        if (!seen.length || seen[seen.length - 1] !== n) seen.push(n);
      }
    }).observe(root, { childList: true, subtree: true, characterData: true });
    return root;
  };
})();
"""

ANSWERED = "() => !!window.__chatbotWidget.root.querySelector('.row.bot:not(.welcome) .fb')"
READY = "() => window.__chatbotWidget && window.__chatbotWidget.state().ready"


def _context(browser: Browser, **kwargs: object) -> BrowserContext:
    context = browser.new_context(**kwargs)
    context.set_default_timeout(10_000)
    context.add_init_script(RECORDER)
    return context


@pytest.fixture
def desktop(browser: Browser) -> Iterator[Page]:
    context = _context(browser, viewport={"width": 1280, "height": 800}, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], errors


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = _context(browser, viewport={"width": 360, "height": 740}, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], errors


def frames(page: Page, kind: str) -> list[dict]:
    return page.evaluate("(t) => window.__frames.filter((f) => f.type === t)", kind)


def test_send_stream_and_history_survives_reload(
    desktop: Page, daphne_server: str, screenshot_dir: Path
) -> None:
    page = desktop
    page.goto(daphne_server + "/")
    widget = page.locator("chatbot-widget")
    launcher = widget.locator("button.launcher")
    expect(launcher).to_be_visible()

    # The host page's `button { all: unset }` and `* { font-family: serif !important }` stay out.
    assert page.evaluate(
        "() => document.querySelector('chatbot-widget').shadowRoot === window.__chatbotWidget.root"
    )
    box = launcher.bounding_box()
    assert box is not None and round(box["width"]) == 60 and round(box["height"]) == 60
    launcher.click()
    textarea = widget.locator("textarea")
    font = textarea.evaluate("(e) => getComputedStyle(e).fontFamily")
    assert "Georgia" not in font and "serif" in font  # ends in sans-serif, never the page's serif
    expect(launcher).to_have_attribute("aria-expanded", "true")
    expect(widget.locator("[role=log][aria-live=polite]")).to_be_visible()

    # Opening moves focus to the input; the send button waits for text.
    assert page.evaluate("() => window.__chatbotWidget.root.activeElement?.tagName") == "TEXTAREA"
    send = widget.locator("button.send")
    expect(send).to_be_disabled()

    question = 'Where is my parcel? <img src=x onerror="window.__xss=1">'
    textarea.fill(question)
    expect(send).to_be_enabled()
    textarea.press("Enter")

    # The visitor's message shows at once, as text (no markup), before any answer.
    visitor = widget.locator(".row.visitor .bubble")
    expect(visitor).to_have_text(question, timeout=500)
    expect(textarea).to_have_value("")

    page.wait_for_function(ANSWERED)
    assert page.evaluate("() => window.__sawTyping"), "the typing indicator never showed"

    acks = frames(page, "ack")
    assert len(acks) == 1 and acks[0]["duplicate"] is False
    tokens = frames(page, "token")
    done = frames(page, "done")
    assert len(done) == 1
    assert len(tokens) >= 3, tokens
    lengths = page.evaluate("() => window.__botLengths")
    assert len(lengths) >= 3 and lengths == sorted(lengths), lengths  # it grew as it streamed
    answer = done[0]["message"]["text"]
    bot = widget.locator(".row.bot:not(.welcome) .bubble")
    expect(bot).to_have_count(1)
    expect(bot).to_have_text(answer)
    expect(widget.locator(".row.bot:not(.welcome) .who")).to_have_text(
        re.compile(r"^Assistant\s*· Automatic reply$")
    )
    assert page.evaluate("() => window.__xss") is None
    assert widget.locator("img").count() == 0

    # Feedback goes out as a frame and gets no error back.
    thumbs_up = widget.get_by_role("button", name="Helpful", exact=True)
    thumbs_up.click()
    expect(thumbs_up).to_have_attribute("aria-pressed", "true")
    sent = page.evaluate("() => window.__sent.filter((f) => f.type === 'feedback')")
    assert sent == [
        {"type": "feedback", "message_id": done[0]["message"]["id"], "value": "up", "v": 1}
    ]
    page.wait_for_timeout(300)
    assert frames(page, "error") == []

    state = page.evaluate("() => window.__chatbotWidget.state()")
    assert state["connected"] and state["lastSeenId"] == done[0]["message"]["id"]
    page.screenshot(path=str(screenshot_dir / "desktop-answered.png"))

    # Escape closes the panel and gives focus back to the launcher.
    textarea.press("Escape")
    expect(widget.locator(".panel")).to_be_hidden()
    expect(launcher).to_have_attribute("aria-expanded", "false")

    # After a reload the stored conversation reconnects at once and replays the history once.
    conversation = state["conversation"]
    page.reload()
    page.wait_for_function(READY)
    assert page.evaluate("() => window.__chatbotWidget.state().conversation") == conversation
    resume = page.evaluate("() => window.__sent.filter((f) => f.type === 'resume')")
    assert resume == [{"type": "resume", "after": 0, "v": 1}]
    launcher.click()
    expect(widget.locator(".row.visitor .bubble")).to_have_text([question])
    expect(widget.locator(".row.bot:not(.welcome) .bubble")).to_have_text([answer])
    keys = widget.locator(".row[data-key]").evaluate_all(
        "(rows) => rows.map((r) => r.getAttribute('data-key'))"
    )
    assert len(keys) == len(set(keys))
    replayed = [f["message"]["id"] for f in frames(page, "message")]
    assert len(replayed) == 2 and len(set(replayed)) == 2
    page.screenshot(path=str(screenshot_dir / "desktop-after-reload.png"))


def test_phone_layout_keyboard_and_chinese(
    phone: Page, daphne_server: str, screenshot_dir: Path
) -> None:
    page = phone
    page.goto(daphne_server + "/?locale=zh-hans")
    widget = page.locator("chatbot-widget")
    launcher = widget.get_by_role("button", name="打开聊天")
    launcher.click()

    panel = widget.locator(".panel")
    box = panel.bounding_box()
    assert box is not None
    assert round(box["width"]) == 360 and box["height"] >= 700, box

    textarea = widget.get_by_role("textbox", name="消息")
    expect(textarea).to_have_attribute("placeholder", "请输入您的问题…")
    send = widget.locator("button.send")
    textarea.fill("x" * 4001)  # over the limit: a notice, and no sending
    expect(send).to_be_disabled()
    expect(widget.locator(".counter")).to_contain_text("4000")
    textarea.fill("   ")
    expect(send).to_be_disabled()
    textarea.fill("第一行")
    textarea.press("Shift+Enter")  # a newline, not a send
    textarea.press_sequentially("第二行")
    expect(textarea).to_have_value("第一行\n第二行")
    expect(widget.locator(".row.visitor")).to_have_count(0)
    textarea.press("Enter")
    expect(widget.locator(".row.visitor .bubble")).to_have_text("第一行\n第二行", timeout=500)

    page.wait_for_function(ANSWERED)
    bot = widget.locator(".row.bot:not(.welcome)")
    expect(bot.locator(".who")).to_have_text(re.compile(r"^智能助手\s*· 自动回复$"))
    answer = bot.locator(".bubble").inner_text()
    assert any("\u4e00" <= ch <= "\u9fff" for ch in answer), answer
    assert len(frames(page, "token")) >= 3
    page.screenshot(path=str(screenshot_dir / "phone-360x740.png"))

    # On a phone the panel covers the launcher; the header's close button closes it.
    widget.get_by_role("button", name="关闭聊天").first.click()
    expect(panel).to_be_hidden()
    expect(launcher).to_be_visible()


def test_a_short_window_keeps_the_header_and_composer_in_view(
    browser: Browser, daphne_server: str
) -> None:
    """A phone on its side (640 x 320): the panel used to keep its 320 px minimum above the
    launcher, so its header and close button were off the top of the screen."""
    context = _context(browser, viewport={"width": 640, "height": 320}, locale="en-US")
    page = context.new_page()
    page.goto(daphne_server + "/")
    widget = page.locator("chatbot-widget")
    widget.get_by_role("button", name="Open chat").click()
    box = widget.locator(".panel").bounding_box()
    assert box is not None
    assert box["y"] >= 0 and box["y"] + box["height"] <= 320, box
    close = widget.locator(".panel").get_by_role("button", name="Close chat")
    expect(close).to_be_in_viewport()
    expect(widget.get_by_role("textbox", name="Message")).to_be_in_viewport()
    close.click()
    expect(widget.locator(".panel")).to_be_hidden()
    context.close()


def test_the_newest_message_stays_in_view_when_a_phones_keyboard_opens(
    phone: Page, daphne_server: str
) -> None:
    """The list shrinks when the on-screen keyboard opens; it used to keep its scroll position,
    so the answer just read slid under the text box."""
    page = phone
    page.goto(daphne_server + "/")
    page.locator("chatbot-widget").get_by_role("button", name="Open chat").click()
    for n in range(1, 5):
        _ask(page, f"Question number {n}: where is my parcel?", n)
    log = page.locator("chatbot-widget").locator(".log")
    newest = page.locator("chatbot-widget").locator(".row").last
    expect(page.locator("chatbot-widget").locator(".row.visitor")).to_have_count(4)
    page.set_viewport_size({"width": 360, "height": 380})
    page.wait_for_timeout(300)
    log_box, row_box = log.bounding_box(), newest.bounding_box()
    assert log_box is not None and row_box is not None
    assert log.evaluate("(l) => l.scrollHeight > l.clientHeight"), "the list must overflow"
    assert row_box["y"] + row_box["height"] <= log_box["y"] + log_box["height"] + 1


def test_a_chinese_browser_on_the_store_page_gets_the_chinese_title(
    browser: Browser, daphne_server: str
) -> None:
    """The demo store without ?locale, in a Chinese browser: the widget speaks Chinese and its
    title is the store's Chinese one (`data-title-zh-hans`), not "Northwind Help" (a walk)."""
    context = _context(browser, locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(daphne_server + "/")
        widget = page.locator("chatbot-widget")
        widget.get_by_role("button", name="打开聊天").click()
        expect(widget.locator("#cbw-title")).to_have_text("Northwind 客服")
    finally:
        context.close()


@pytest.mark.parametrize(
    ("question", "fact"),
    [
        ("我忘了密码怎么办", "重置链接"),  # any approved variant of "忘记密码怎么办？" says it
        ("你好，请问怎么退货", "30天"),  # of "怎么退货？"
    ],
)
def test_chinese_demo_faqs_are_answered_by_the_faq_store(
    browser: Browser, demo_server: str, question: str, fact: str
) -> None:
    """Reworded Chinese questions (one behind a greeting) get an approved answer of the zh-hans
    demo FAQ from the FAQ stage, embedded by the multilingual model, with no model call."""
    context = _context(browser, viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(demo_server + "/?locale=zh-hans")
        widget = page.locator("chatbot-widget")
        widget.get_by_role("button", name="打开聊天").click()
        page.wait_for_function(READY)
        textarea = widget.get_by_role("textbox", name="消息")
        textarea.fill(question)
        textarea.press("Enter")
        page.wait_for_function(ANSWERED)
        [done] = frames(page, "done")
        assert done["source"] == "faq", done
        answer = widget.locator(".row.bot:not(.welcome) .bubble").inner_text()
        assert fact in answer, answer
    finally:
        context.close()


def test_forbidden_conversation_starts_a_new_one(desktop: Page, daphne_server: str) -> None:
    page = desktop
    stale = json.dumps({"conversation": "not-mine", "token": "nope", "lastSeenId": 7})
    page.add_init_script(
        f"localStorage.setItem('chatbot:v1:' + location.origin, {json.dumps(stale)})"
    )
    page.goto(daphne_server + "/")
    page.wait_for_function(READY)
    errors = frames(page, "error")
    assert [e["code"] for e in errors] == ["forbidden"]
    state = page.evaluate("() => window.__chatbotWidget.state()")
    assert state["conversation"] not in ("", "not-mine")
    assert state["lastSeenId"] == 0
    stored = page.evaluate(
        "() => JSON.parse(localStorage.getItem('chatbot:v1:' + location.origin))"
    )
    assert stored["conversation"] == state["conversation"] and stored["token"]


def test_scripted_server_offsets_errors_and_reconnect(desktop: Page, daphne_server: str) -> None:
    """Server frames played by hand (no real socket): gaps and overlaps in token offsets,
    the delayed status line, an `internal` error with Retry, the slow-answer notice, and a
    dropped socket that reconnects and resumes after the newest id shown."""
    page = desktop
    scripted = ScriptedServer(page)
    server, sent, wait_sent, sockets = (
        scripted.send,
        scripted.sent,
        scripted.wait_sent,
        scripted.sockets,
    )
    page.clock.install()
    page.goto(daphne_server + "/")
    widget = page.locator("chatbot-widget")
    widget.locator("button.launcher").click()
    page.wait_for_function(READY)
    assert sent("resume") == [{"type": "resume", "after": 0, "v": 1}]

    textarea = widget.locator("textarea")
    textarea.fill("Do you ship to Norway?")
    textarea.press("Enter")
    expect(widget.locator(".row.visitor.pending")).to_have_count(1)
    wait_sent("message", 1)
    client_id = sent("message")[0]["client_id"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", client_id)

    server({"type": "ack", "client_id": client_id, "message_id": 2, "duplicate": False})
    expect(widget.locator(".row.visitor.pending")).to_have_count(0)
    server({"type": "status", "reply_to": 2, "stage": "faq", "text": "Checking our help centre…"})
    typing = widget.locator(".row.typing")
    expect(typing.locator(".dot")).to_have_count(3)
    expect(typing.locator(".status-text")).to_be_hidden()  # not before ~600 ms
    page.clock.run_for(700)
    expect(typing.locator(".status-text")).to_have_text("Checking our help centre…")
    # A stage's own word leaves at once, its plain status after a delay: the plain one that
    # arrives second does not cover it (a model-tiers walk saw "Thinking…" follow "trying
    # another way").
    server(
        {"type": "status", "reply_to": 2, "stage": "llm", "detail": "failover", "text": "Another"}
    )
    expect(typing.locator(".status-text")).to_have_text("Another")
    server({"type": "status", "reply_to": 2, "stage": "llm", "text": "Thinking…"})
    page.wait_for_timeout(300)
    expect(typing.locator(".status-text")).to_have_text("Another")

    bubble = widget.locator(".row.bot:not(.welcome) .bubble")
    server({"type": "token", "reply_to": 2, "offset": 0, "text": "Hello "})
    expect(bubble).to_have_text("Hello ")
    expect(typing).to_have_count(0)
    server({"type": "token", "reply_to": 2, "offset": 13, "text": "there!"})  # after a gap: held
    server({"type": "token", "reply_to": 2, "offset": 3, "text": "lo world"})  # overlaps
    expect(bubble).to_have_text("Hello world")
    server({"type": "token", "reply_to": 2, "offset": 0, "text": "Hello"})  # already held: ignored
    server({"type": "token", "reply_to": 2, "offset": 0, "text": "Hello world, "})  # fills the gap
    expect(bubble).to_have_text("Hello world, there!")
    done_message = {
        "id": 3,
        "role": "bot",
        "text": "Hello world, there! 🚚",
        "source": "llm",
        "client_id": None,
        "reply_to": 2,
        "created": "2025-01-01T00:00:00Z",
    }
    server({"type": "done", "reply_to": 2, "message": done_message, "source": "llm", "trace": {}})
    expect(bubble).to_have_text("Hello world, there! 🚚")
    expect(widget.locator(".row.bot:not(.welcome) .fb button")).to_have_count(2)
    server({"type": "message", "message": done_message})  # a replay of it: not shown twice
    server({"type": "token", "reply_to": 2, "offset": 19, "text": " late"})  # after done: ignored
    expect(bubble).to_have_count(1)
    expect(bubble).to_have_text("Hello world, there! 🚚")

    # An agent joins: labelled, styled apart from the bot, no feedback buttons.
    agent = {**done_message, "id": 4, "role": "agent", "text": "Hi, I'm Sam.", "reply_to": None}
    server({"type": "message", "message": agent})
    expect(widget.locator(".row.agent .who")).to_have_text("Agent")
    expect(widget.locator(".row.agent .fb")).to_have_count(0)

    # The server fails on the next question: friendly text and Retry with the same client_id.
    textarea.fill("And to Iceland?")
    textarea.press("Enter")
    wait_sent("message", 2)
    second = sent("message")[1]["client_id"]
    assert second != client_id
    server({"type": "ack", "client_id": second, "message_id": 5, "duplicate": False})
    oops = "Something went wrong on our side. Your message is safe; please try again."
    server({"type": "error", "code": "internal", "reply_to": 5, "text": oops})
    error = widget.locator(".row.typing .err")
    expect(error).to_contain_text(oops)
    error.get_by_role("button", name="Retry sending this message").click()
    wait_sent("message", 3)
    assert sent("message")[2]["client_id"] == second
    server({"type": "ack", "client_id": second, "message_id": 5, "duplicate": True})
    expect(error).to_have_count(0)

    # No answer for 45 s: a friendly notice with Retry, never a raw error. Retry asks again
    # (same client_id) and the question, stored already, stays shown as sent: it went back to
    # "Sending…" (a network walk).
    scripted.run_for(46_000)
    expect(widget.locator(".row.typing .err")).to_contain_text("taking longer than usual")
    widget.locator(".row.typing .err").get_by_role("button").click()
    wait_sent("message", 4)
    assert sent("message")[3]["client_id"] == second
    expect(widget.locator(".row.visitor.pending")).to_have_count(0)
    server({"type": "ack", "client_id": second, "message_id": 5, "duplicate": True})
    scripted.run_for(46_000)
    expect(widget.locator(".row.typing .err")).to_contain_text("taking longer than usual")

    # The socket drops: "Reconnecting…", then a new socket resumes after the newest id shown.
    sockets[-1].close()
    expect(widget.locator(".conn")).to_have_text("Reconnecting…")
    page.clock.run_for(1_000)
    page.wait_for_function(READY)
    assert len(sockets) == 2
    assert "conversation=scripted" in sockets[-1].url and "token=t0ken" in sockets[-1].url
    assert sent("resume")[-1] == {"type": "resume", "after": 5, "v": 1}
    expect(widget.locator(".conn")).to_be_hidden()
    assert widget.locator(".row[data-key]").count() == len(
        set(widget.locator(".row[data-key]").evaluate_all("(r) => r.map((e) => e.dataset.key)"))
    )


@contextmanager
def _answered(browser: Browser, server: str, question: str, height: int) -> Iterator[Page]:
    """A fresh visitor on `server` who asked `question` and got the whole answer."""
    context = _context(browser, viewport={"width": 1280, "height": height})
    page = context.new_page()
    try:
        page.goto(server + "/")
        widget = page.locator("chatbot-widget")
        widget.get_by_role("button", name="Open chat").click()
        page.wait_for_function(READY)
        textarea = widget.get_by_role("textbox", name="Message")
        textarea.fill(question)
        textarea.press("Enter")
        page.wait_for_function(ANSWERED)
        yield page
    finally:
        context.close()


def test_a_model_answer_shows_its_help_centre_sources_as_links(
    browser: Browser, grounded_demo_server: str, screenshot_dir: Path
) -> None:
    """A question the FAQ store does not answer goes to the model with the demo help centre's
    passages; the answer cites them and the widget links each source under the bubble."""
    question = "If I order after 2 pm on a working day, when does my parcel ship?"
    with _answered(browser, grounded_demo_server, question, 800) as page:
        [done] = frames(page, "done")
        assert done["source"] == "llm", done
        assert done["message"]["citations"], done
        link = page.locator("chatbot-widget").locator(".row.bot:not(.welcome) .cites a").first
        expect(link).to_be_visible()
        citation = done["message"]["citations"][0]
        assert link.inner_text().startswith(f"[{citation['number']}] {citation['title']}")
        href = link.get_attribute("href")
        assert href == grounded_demo_server + citation["url"]
        assert link.get_attribute("rel") == "noopener noreferrer"
        article = page.request.get(href)
        assert article.status == 200 and citation["title"] in article.text()
        page.screenshot(path=str(screenshot_dir / "widget-citations.png"))


def test_an_answer_it_could_not_ground_shows_articles_with_the_lines_nearest_the_question(
    browser: Browser, grounded_demo_server: str, grounded_simulator, screenshot_dir: Path
) -> None:
    """A model that ignores its sources (as the local model does) is replaced by suggested
    articles (LLM_UNGROUNDED=suggest): labelled as an automatic reply, not as an answer, each
    link with the excerpt of its passage nearest the question, scrolled into view."""
    from chatbot.llm.simulator import Faults

    grounded_simulator.reset(Faults(sources="ignore"))
    try:
        question = "Are you open on public holidays?"  # the help centre's, not an FAQ's
        with _answered(browser, grounded_demo_server, question, 700) as page:
            [done] = frames(page, "done")
            citations = done["message"]["citations"]
            assert citations and all(c["suggested"] for c in citations), done
            answer = page.locator("chatbot-widget").locator(".row.bot:not(.welcome)")
            expect(answer.locator(".who")).to_have_text(re.compile(r"Automatic reply$"))
            box = answer.locator(".cites.suggested")
            expect(box).to_contain_text("Articles that may help:")
            hours = citations[0]
            assert "Public holidays ·" in hours["excerpt"], "the hours table's rows, not a heading"
            shown = box.locator(".suggestion").first
            expect(shown.locator("a")).to_contain_text(hours["title"])
            expect(shown.locator(".excerpt")).to_have_text(hours["excerpt"])
            expect(answer.locator(".fb")).to_be_in_viewport()
            page.screenshot(path=str(screenshot_dir / "widget-suggested-articles.png"))
    finally:
        grounded_simulator.reset()


def test_a_near_faq_is_offered_under_the_suggested_articles_and_a_click_answers_it(
    browser: Browser, grounded_demo_server: str, grounded_simulator, screenshot_dir: Path
) -> None:
    """ "Did you mean": the FAQ store declined the question, its nearest FAQ is offered under
    the reply that answered nothing; a click asks it, and the FAQ answers."""
    from chatbot.llm.simulator import Faults

    grounded_simulator.reset(Faults(sources="ignore"))
    try:
        with _answered(
            browser, grounded_demo_server, "Are you open on public holidays?", 800
        ) as page:
            widget = page.locator("chatbot-widget")
            [done] = frames(page, "done")
            offered = [r["question"] for r in done["message"]["related"]]
            assert "What are your store's opening hours?" in offered, done
            related = widget.locator(".row.bot:not(.welcome) .related")
            expect(related).to_contain_text("Did you mean:")
            page.screenshot(path=str(screenshot_dir / "widget-did-you-mean.png"))
            related.get_by_role("button", name="What are your store's opening hours?").click()
            page.wait_for_function(
                "() => window.__frames.filter((f) => f.type === 'done').length == 2"
            )
            picked = frames(page, "done")[-1]
            assert picked["source"] == "faq", picked
            expect(widget.locator(".row.bot:not(.welcome)").last).to_contain_text("Portland")
    finally:
        grounded_simulator.reset()


def test_with_nobody_online_the_queue_promises_no_wait(desktop: Page, daphne_server: str) -> None:
    """Issue [13]: "Estimated wait: about 4 min" was shown above "No one from our team is
    online right now"; with nobody online only the leave-a-message offer is shown, and the
    notice no longer says "We're connecting you" above "No one is online"."""
    page = desktop
    page.goto(daphne_server + "/")
    widget = page.locator("chatbot-widget")
    widget.get_by_role("button", name="Open chat").click()
    page.wait_for_function(READY)
    widget.get_by_role("button", name="Talk to a person").click()
    notice = widget.locator(".row.notice").last
    expect(notice).to_contain_text(
        "You're in the queue: the first person from our team to come online will see"
    )
    expect(widget.locator(".leave-offer")).to_contain_text(
        "No one from our team is online right now"
    )
    expect(widget.locator(".header .sub")).to_have_text(
        "Instant answers · no one from our team is online right now"
    )
    assert "Estimated wait" not in notice.inner_text()
    assert "connecting you" not in notice.inner_text()


def test_with_nobody_online_the_queue_says_so_in_chinese(browser: Browser, daphne_server: str):
    page = _context(browser, viewport={"width": 1280, "height": 800}, locale="zh-CN").new_page()
    try:
        page.goto(daphne_server + "/?locale=zh-hans")
        widget = page.locator("chatbot-widget")
        widget.locator("button.launcher").click()
        page.wait_for_function(READY)
        widget.get_by_role("button", name="转人工客服").click()
        notice = widget.locator(".row.notice").last
        expect(notice).to_contain_text("您已进入人工客服排队，客服上线后会第一时间看到您的对话。")
        expect(notice).to_contain_text("目前没有客服在线。")
        expect(widget.locator(".header .sub")).to_have_text("智能助手即时回复 · 人工客服暂时不在线")
        assert "正在为您转接" not in notice.inner_text()
    finally:
        page.context.close()


def _english_page(browser: Browser) -> Page:
    return _context(browser, viewport={"width": 1280, "height": 800}, locale="en-US").new_page()


def _ask(page: Page, question: str, answers: int) -> dict:
    """Sends `question` from the composer; returns the `done` frame of the `answers`-th answer."""
    textarea = page.locator("chatbot-widget").get_by_role("textbox", name="Message")
    textarea.fill(question)
    textarea.press("Enter")
    page.wait_for_function(
        "(n) => window.__frames.filter((f) => f.type === 'done').length >= n", arg=answers
    )
    return frames(page, "done")[answers - 1]


def test_a_thumbs_down_asks_and_a_queued_visitor_can_go_back_to_the_bot(
    browser: Browser, demo_server: str, screenshot_dir: Path
) -> None:
    """Issue [13]: a thumbs-down quietly queued the visitor after 2 s, with no way back to the
    bot. Now it asks; "Try again" answers the question again past the disliked FAQ answer, "Talk
    to a person" queues, and the queue notice takes the visitor back to the bot."""
    page = _english_page(browser)
    try:
        page.goto(demo_server + "/")
        widget = page.locator("chatbot-widget")
        widget.get_by_role("button", name="Open chat").click()
        page.wait_for_function(READY)
        question = "How do I return an item?"
        first = _ask(page, question, 1)
        assert first["source"] == "faq", first

        answer = widget.locator(".row.bot:not(.welcome)").first
        answer.get_by_role("button", name="Not helpful").click()
        ask = answer.get_by_role("group", name="Want a person, or shall I try again?")
        expect(ask).to_be_visible()
        page.screenshot(path=str(screenshot_dir / "widget-thumbs-down-asks.png"))
        ask.get_by_role("button", name="Try again").click()
        expect(ask).to_have_count(0)
        page.wait_for_function("() => window.__frames.filter((f) => f.type === 'done').length > 1")
        again = frames(page, "done")[1]
        retries = page.evaluate("() => window.__sent.filter((f) => f.type === 'retry')")
        assert [r["message_id"] for r in retries] == [first["message"]["id"]]
        assert again["source"] != "faq", "the disliked FAQ answer is not served again"
        expect(widget.locator(".row.visitor .bubble")).to_have_text([question, question])
        expect(widget.locator(".row.bot:not(.welcome) .bubble")).to_have_count(2)
        assert frames(page, "handoff") == [], "a thumbs-down alone never queues"

        latest = widget.locator(".row.bot:not(.welcome)").last
        latest.get_by_role("button", name="Not helpful").click()
        latest.get_by_role("button", name="Talk to a person").click()
        notice = widget.locator(".row.notice").last
        expect(notice).to_contain_text("You're in the queue")  # nobody online in this test
        assert frames(page, "handoff")[0]["reason"] == "negative_feedback"
        page.screenshot(path=str(screenshot_dir / "widget-queue-with-way-back.png"))

        notice.get_by_role("button", name="Back to the assistant").click()
        expect(widget.get_by_text("You're chatting with our assistant again.")).to_be_visible()
        expect(widget.get_by_role("button", name="Talk to a person")).to_be_visible()
        assert frames(page, "conversation")[-1]["status"] == "bot"
        assert _ask(page, "How can I track my order?", 3)["source"] == "faq"
    finally:
        page.context.close()


CLOSE_CONVERSATION = """
from django.utils import timezone
from chatbot.models import Conversation
Conversation.objects.filter(public_id={public_id!r}).update(
    status="closed", closed_at=timezone.now(), close_reason="resolved"
)
"""


@pytest.fixture(scope="module")
def server_and_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict]]:
    """A daphne server (model down) and the environment to run manage.py against its database."""
    tmp = tmp_path_factory.mktemp("closing-server")
    env = server_env(tmp / "db.sqlite3")
    migrated(env)
    with daphne(env, tmp / "daphne.log") as base:
        yield base, env


def test_writing_to_a_closed_conversation_reopens_it_and_says_so(
    browser: Browser, server_and_env: tuple[str, dict], screenshot_dir: Path
) -> None:
    """Issue [13]: after an agent closed the conversation, what the visitor wrote was stored and
    nobody saw it. Now it reopens the conversation to the bot, which answers, and says so."""
    base, env = server_and_env
    page = _english_page(browser)
    try:
        page.goto(base + "/")
        widget = page.locator("chatbot-widget")
        widget.get_by_role("button", name="Open chat").click()
        page.wait_for_function(READY)
        _ask(page, "Hello, are you open on Sundays?", 1)  # a conversation is stored when written
        public_id = page.evaluate("() => window.__chatbotWidget.state().conversation")
        manage(env, "shell", "-c", CLOSE_CONVERSATION.format(public_id=public_id))
        page.reload()
        expect(widget.locator(".panel")).to_be_visible()  # open, as this tab left it
        page.wait_for_function(READY)
        closed = widget.get_by_text("This conversation has ended.")
        expect(closed).to_be_visible()

        done = _ask(page, "Do you ship to Norway?", 1)
        line = widget.locator(".row.system .bubble")
        expect(line).to_have_text("This conversation is open again. Our assistant will answer you.")
        expect(closed).to_have_count(0)
        expect(widget.locator(".row.bot:not(.welcome) .bubble").last).to_have_text(
            done["message"]["text"]
        )
        assert frames(page, "conversation")[-1]["status"] == "bot"
        page.screenshot(path=str(screenshot_dir / "widget-closed-reopened.png"))
    finally:
        page.context.close()


def test_a_reopened_conversation_drops_the_rating_offer(desktop: Page, daphne_server: str) -> None:
    """Server frames played by hand: the agent closes (a rating is offered), the visitor writes,
    the server reopens the conversation. The bot is shown thinking from the ack on, the system
    line shows, and the rating offer goes (a rating is only taken for a closed conversation)."""
    page = desktop
    scripted = ScriptedServer(page)
    server = scripted.send
    page.goto(daphne_server + "/")
    widget = page.locator("chatbot-widget")
    widget.locator("button.launcher").click()
    page.wait_for_function(READY)
    server({"type": "conversation", "status": "closed", "ask_rating": True})
    expect(widget.get_by_text("This conversation has ended.")).to_be_visible()
    expect(widget.locator("form.rating")).to_be_visible()

    textarea = widget.get_by_role("textbox", name="Message")
    textarea.fill("One more thing")
    textarea.press("Enter")
    expect(widget.locator(".row.visitor.pending")).to_have_count(1)
    client_id = scripted.wait_sent("message", 1)[0]["client_id"]
    server({"type": "ack", "client_id": client_id, "message_id": 5, "duplicate": False})
    expect(widget.locator(".row.typing .dot")).to_have_count(3)
    line = "This conversation is open again. Our assistant will answer you."
    system = {"id": 6, "role": "system", "text": line, "source": "", "client_id": None}
    server({"type": "message", "message": {**system, "reply_to": None, "created": ""}})
    server({"type": "conversation", "status": "bot"})
    expect(widget.locator(".row.system .bubble")).to_have_text(line)
    expect(widget.locator("form.rating")).to_have_count(0)
    expect(widget.get_by_text("This conversation has ended.")).to_have_count(0)
    expect(widget.locator(".row.typing .dot")).to_have_count(3)
