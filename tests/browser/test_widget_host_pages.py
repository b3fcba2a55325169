"""The widget on other sites' pages as real visitors use them, in a real chromium (a QA walk of
6 December): several tabs, pages whose CSS moves fixed elements, right-to-left pages, page loads
in the middle of a chat, the network going away under an open socket, single-page apps."""

import json
import time
from urllib.parse import unquote

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import checked_page, host_site
from tests.browser.scripted import Stalling
from tests.servers import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(120)]

READY = "() => window.__chatbotWidget && window.__chatbotWidget.state().ready"


def host_page(chat: str, *, html: str = "<html>", body: str = "<body>") -> str:
    return (
        f'<!doctype html>{html}<head><meta charset="utf-8"><title>Shop</title></head>{body}'
        f'<h1>Shop</h1><script src="{chat}/static/chatbot/widget.js" defer></script></body></html>'
    )


def send(page: Page, text: str) -> None:
    textarea = page.locator("chatbot-widget").get_by_role("textbox", name="Message", exact=True)
    textarea.fill(text)
    textarea.press("Enter")


def test_a_tab_opened_before_the_first_message_follows_the_conversation_another_tab_started(
    browser: Browser, daphne_server: str
) -> None:
    """Before: the first tab's own first message started a second conversation and wrote it
    over the first in the browser's storage, so the other tab lost its chat on its next load."""
    with (
        host_site(free_port(), host_page(daphne_server)) as url,
        checked_page(browser) as first,
    ):
        first.goto(url)  # loaded while the browser has no conversation yet
        second = first.context.new_page()
        second.goto(url)
        second.locator("chatbot-widget").locator("button.launcher").click()
        second.wait_for_function(READY)
        send(second, "Do you sell gift cards?")
        visitor_rows = ".row.visitor .bubble"
        expect(second.locator("chatbot-widget").locator(visitor_rows)).to_have_text(
            ["Do you sell gift cards?"]
        )
        started = second.evaluate("() => window.__chatbotWidget.state().conversation")

        first.wait_for_function(
            "(id) => window.__chatbotWidget.state().conversation === id", arg=started
        )
        widget = first.locator("chatbot-widget")
        widget.locator("button.launcher").click()
        expect(widget.locator(visitor_rows)).to_have_text(["Do you sell gift cards?"])
        first.wait_for_function(READY)
        send(first, "And do they expire?")
        expect(widget.locator(visitor_rows)).to_have_text(
            ["Do you sell gift cards?", "And do they expire?"]
        )
        second.reload()
        expect(second.locator("chatbot-widget").locator(visitor_rows)).to_have_text(
            ["Do you sell gift cards?", "And do they expire?"]
        )
        assert second.evaluate("() => window.__chatbotWidget.state().conversation") == started


@pytest.mark.parametrize(
    "body_style",
    ["transform: translateZ(0)", "filter: saturate(1)", "will-change: transform", "contain: paint"],
)
def test_the_launcher_stays_in_the_corner_of_the_window_when_the_body_is_transformed(
    browser: Browser, daphne_server: str, body_style: str
) -> None:
    """Such a <body> is what position:fixed is measured from: the launcher sat at the foot of a
    5,000-pixel page, out of sight."""
    page_html = host_page(daphne_server, body=f'<body style="{body_style}; height: 5000px">')
    with (
        host_site(free_port(), page_html) as url,
        checked_page(browser, viewport={"width": 1200, "height": 800}) as page,
    ):
        page.goto(url)
        launcher = page.locator("chatbot-widget").locator("button.launcher")
        expect(launcher).to_be_visible()
        box = launcher.bounding_box()
        assert box and 700 < box["y"] + box["height"] <= 800, box
        launcher.click()
        panel = page.locator("chatbot-widget").locator(".panel")
        expect(panel).to_be_in_viewport()


def test_on_a_right_to_left_page_the_widget_still_reads_left_to_right(
    browser: Browser, daphne_server: str
) -> None:
    page_html = host_page(daphne_server, html='<html dir="rtl" lang="ar">')
    with host_site(free_port(), page_html) as url, checked_page(browser) as page:
        page.goto(url)
        widget = page.locator("chatbot-widget")
        widget.locator("button.launcher").click()
        direction = widget.locator(".panel").evaluate("(e) => getComputedStyle(e).direction")
        assert direction == "ltr"


def test_the_panel_and_an_unread_answer_are_as_the_tab_left_them_on_its_next_page(
    browser: Browser, daphne_server: str
) -> None:
    """A visitor browsing the shop mid-chat had to reopen the panel on every page, and an
    answer that came while it was closed lost its badge on the next page."""
    with (
        host_site(free_port(), host_page(daphne_server)) as url,
        checked_page(browser) as page,
    ):
        page.goto(url)
        widget = page.locator("chatbot-widget")
        launcher = widget.locator("button.launcher")
        launcher.click()
        page.wait_for_function(READY)
        send(page, "Do you sell gift cards?")
        expect(widget.locator(".row.bot:not(.welcome) .fb button")).to_have_count(2)
        page.reload()
        expect(widget.locator(".panel")).to_be_visible()
        expect(launcher).to_have_attribute("aria-expanded", "true")
        expect(widget.get_by_role("textbox", name="Message", exact=True)).not_to_be_focused()

        page.wait_for_function(READY)
        page.evaluate(  # asked, then closed at once: the answer comes while it is closed
            """() => {
              const root = window.__chatbotWidget.root;
              root.querySelector("textarea").value = "And do they expire?";
              root.querySelector("form").requestSubmit();
              window.__chatbotWidget.close();
            }"""
        )
        expect(launcher).to_have_attribute("aria-label", "Open chat, New message")
        page.reload()
        expect(widget.locator(".panel")).to_be_hidden()
        expect(launcher).to_have_attribute("aria-label", "Open chat, New message")
        launcher.click()
        expect(launcher).to_have_attribute("aria-label", "Close chat")
        page.reload()
        expect(widget.locator(".panel")).to_be_visible()
        expect(launcher).to_have_attribute("aria-label", "Close chat")

    with (  # on a phone the open panel would cover the page the visitor went to
        host_site(free_port(), host_page(daphne_server)) as url,
        checked_page(browser, viewport={"width": 390, "height": 844}) as phone,
    ):
        phone.goto(url)
        widget = phone.locator("chatbot-widget")
        widget.locator("button.launcher").click()
        phone.wait_for_function(READY)
        send(phone, "Do you sell gift cards?")
        expect(widget.locator(".row.bot:not(.welcome) .fb button")).to_have_count(2)
        phone.reload()
        expect(widget.locator("button.launcher")).to_be_visible()
        expect(widget.locator(".panel")).to_be_hidden()


def test_going_offline_under_an_open_socket_says_so_and_coming_back_reconnects(
    browser: Browser, daphne_server: str
) -> None:
    """The socket can stay open long after the network went: the notice waited for it (9-12 s
    of a frozen answer or "Sending…" in the walk)."""
    with (
        host_site(free_port(), host_page(daphne_server)) as url,
        checked_page(browser) as page,
    ):
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        page.goto(url)
        widget = page.locator("chatbot-widget")
        widget.locator("button.launcher").click()
        page.wait_for_function(READY)
        page.context.set_offline(True)
        expect(widget.locator(".conn")).to_have_text(
            "You are offline. We'll reconnect when you're back online."
        )
        send(page, "Do you sell gift cards?")
        page.context.set_offline(False)
        page.wait_for_function(READY)
        expect(widget.locator(".conn")).to_be_hidden()
        expect(widget.locator(".row.visitor .bubble")).to_have_text(["Do you sell gift cards?"])
        expect(widget.locator(".row.bot:not(.welcome) .fb button")).to_have_count(2)
        assert len(sockets) == 2, "back online, a fresh socket: the old one may be dead"


def test_a_socket_gone_quiet_without_closing_is_noticed_and_replaced(
    browser: Browser, daphne_server: str
) -> None:
    """A network walk froze the traffic under an open socket: the question sat at "Sending…"
    for 80 s with nothing said, since the browser learns of a dead socket only when TCP gives
    up. Now nothing back within 12 s of a frame that asks for an answer says "Reconnecting…",
    and a new socket sends the question once the network is back."""
    with (
        host_site(free_port(), host_page(daphne_server)) as url,
        checked_page(browser) as page,
    ):
        network = Stalling(page, "/ws/chat/")
        page.goto(url)
        widget = page.locator("chatbot-widget")
        widget.locator("button.launcher").click()
        page.wait_for_function(READY)
        network.stalled = True
        send(page, "Do you sell gift cards?")
        expect(widget.locator(".row.visitor .meta")).to_have_text("Sending…")
        expect(widget.locator(".conn")).to_have_text("Reconnecting…", timeout=20_000)
        network.stalled = False
        expect(widget.locator(".conn")).to_be_hidden(timeout=20_000)
        expect(widget.locator(".row.visitor .bubble")).to_have_text(["Do you sell gift cards?"])
        expect(widget.locator(".row.bot:not(.welcome) .fb button")).to_have_count(2)
        assert network.sockets >= 2


def test_a_single_page_app_tells_the_agents_the_page_the_visitor_is_on_now(
    browser: Browser, daphne_server: str
) -> None:
    with (
        host_site(free_port(), host_page(daphne_server)) as url,
        checked_page(browser) as page,
    ):
        sent: list[dict] = []
        page.on(
            "websocket", lambda ws: ws.on("framesent", lambda data: sent.append(json.loads(data)))
        )
        page.goto(url)
        widget = page.locator("chatbot-widget")
        widget.locator("button.launcher").click()
        page.wait_for_function(READY)
        send(page, "Do you sell gift cards?")
        expect(widget.locator(".row.bot:not(.welcome) .fb button")).to_have_count(2)
        page.evaluate("() => history.pushState({}, '', '/checkout?step=2')")
        send(page, "Can I pay with one at checkout?")
        expect(widget.locator(".row.bot:not(.welcome) .fb button")).to_have_count(4)
        kinds = [
            (f["type"], f.get("page", "")) for f in sent if f["type"] in ("context", "message")
        ]
        assert kinds == [
            ("message", ""),
            ("context", url + "checkout?step=2"),
            ("message", ""),
        ], kinds
        # Asking for a person after another navigation: the agents see that page too (the
        # handoff showed the old one to an integrator).
        page.evaluate("() => history.pushState({}, '', '/returns')")
        widget.get_by_role("button", name="Talk to a person").click()
        page.wait_for_function("() => window.__chatbotWidget.state().open")
        deadline = time.monotonic() + 10
        while not any(f["type"] == "handoff" for f in sent):
            assert time.monotonic() < deadline, "no handoff frame"
            page.wait_for_timeout(50)
        last = [(f["type"], f.get("page", "")) for f in sent if f["type"] != "ping"][-2:]
        assert last == [("context", url + "returns"), ("handoff", "")], last


def test_calls_a_page_makes_before_the_deferred_script_runs_wait_for_it(
    browser: Browser, daphne_server: str
) -> None:
    """The documented API threw in an inline script (the widget's script is deferred), and a
    site had no way to open the panel from its own "Chat with us" link (an integrator)."""
    early = (
        "<body><script>"
        "window.ChatbotWidget = window.ChatbotWidget || { q: [] };"
        "ChatbotWidget.q.push(['setAttributes', { order_id: 'A-78' }]);"
        "ChatbotWidget.q.push(['open']);"
        "window.addEventListener('chatbotwidget:ready', function () {"
        "  window.widgetReady = true;"
        "});"
        "</script>"
    )
    with (
        host_site(free_port(), host_page(daphne_server, body=early)) as url,
        checked_page(browser) as page,
    ):
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        page.goto(url)
        page.wait_for_function("() => window.widgetReady === true")
        assert page.evaluate("window.__chatbotWidget.state().open")
        send(page, "Do you sell gift cards?")
        page.wait_for_function(READY)
        assert "A-78" in unquote(sockets[0]), "the early attributes went with the connection"
        page.evaluate("window.ChatbotWidget.close()")
        assert not page.evaluate("window.__chatbotWidget.state().open")
        page.evaluate("window.ChatbotWidget.q.push(['open'])")  # after the start: at once
        assert page.evaluate("window.__chatbotWidget.state().open")


def test_attributes_the_server_would_drop_are_named_in_the_console(
    browser: Browser, daphne_server: str
) -> None:
    """An integrator's attribute went missing from the agents' visitor panel with nothing
    saying why: a key with a space, an object value, a 21st key were dropped silently."""
    tag_attributes = json.dumps({"plan": "pro", "order id": "A-1"}).replace('"', "&quot;")
    page_html = host_page(daphne_server).replace(
        'widget.js" defer>', f'widget.js" defer data-attributes="{tag_attributes}">'
    )
    with host_site(free_port(), page_html) as url, checked_page(browser) as page:
        warnings: list[str] = []
        page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
        page.goto(url)
        page.wait_for_function("() => window.__chatbotWidget")
        page.evaluate(
            "() => { const many = {cart: {items: 2}, ok: 1};"
            " for (let i = 0; i < 20; i++) many['k' + i] = i;"
            " window.ChatbotWidget.setAttributes(many); }"
        )
        kept = page.evaluate("() => window.__chatbotWidget.state().attributes")
        page.wait_for_timeout(200)
    assert "Chat widget: attributes dropped, keys are 1-40 letters" in warnings[0]
    assert warnings[0].endswith(": order id")
    assert warnings[1].endswith("values are strings, numbers or booleans: cart")
    assert "at most 20 are kept: k18, k19" in warnings[2]
    assert len(kept) == 20 and kept["plan"] == "pro" and "cart" not in kept
