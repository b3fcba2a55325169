"""The widget on another site, in a real chromium: a site the chat server does not list in
CHAT_ALLOWED_ORIGINS is told so (the visitor in words, the site owner in the console) instead
of a "Sending…" that never ends and a socket that reconnects for ever."""

import html
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import checked_page, host_site, running_daphne
from tests.servers import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(120)]

HOST_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Another shop</title>
</head><body><h1>Shop</h1>
<script src="{chat}/static/chatbot/widget.js" data-locale="{locale}" defer></script>
</body></html>"""


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A chat server that serves 127.0.0.1 only and allows no other site to embed it."""
    tmp: Path = tmp_path_factory.mktemp("embedding-chat-server")
    with running_daphne(tmp, ALLOWED_HOSTS="127.0.0.1", CHAT_ALLOWED_ORIGINS="") as chat:
        yield chat


@pytest.mark.parametrize(
    ("locale", "refused"),
    [
        ("en", "Sorry, chat isn't available on this website."),
        ("zh-hans", "抱歉，本网站暂未开通在线客服。"),
    ],
)
def test_a_site_the_server_does_not_allow_is_told_so(
    browser: Browser, chat_server: str, locale: str, refused: str
) -> None:
    port = free_port()
    body = HOST_PAGE.format(chat=chat_server, locale=locale)
    with host_site(port, body) as url, checked_page(browser) as page:
        console: list[str] = []
        page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        page.goto(url.replace("127.0.0.1", "localhost"))  # another origin, not in ALLOWED_HOSTS
        widget = page.locator("chatbot-widget")
        widget.locator("button.launcher").click()  # opening connects: refused at once
        expect(widget.locator(".conn")).to_have_text(refused)
        expect(widget.locator("textarea")).to_be_disabled()
        expect(widget.locator("button.send")).to_be_disabled()
        owner_told = [line for line in console if "CHAT_ALLOWED_ORIGINS" in line]
        assert owner_told and f"http://localhost:{port}" in owner_told[0]
        page.wait_for_timeout(3_000)  # longer than the first reconnect's back-off
        assert len(sockets) == 1, "it gave up instead of reconnecting for ever"


def test_a_refused_site_whose_policy_blocks_the_check_is_told_once_in_the_console(
    browser: Browser, chat_server: str
) -> None:
    """A site the server does not accept, whose policy lets the socket through but not the
    HTTP check: the widget asked again on every reconnect, each blocked, and the developer read
    nothing of ours (an integrator's walk)."""
    chat_ws = chat_server.replace("http://", "ws://", 1)
    policy = f"default-src 'none'; script-src {chat_server}; connect-src {chat_ws}"
    body = HOST_PAGE.format(chat=chat_server, locale="en")
    with (
        host_site(free_port(), body, {"Content-Security-Policy": policy}) as url,
        checked_page(browser) as page,
    ):
        page.add_init_script(
            "window.__checks = 0; document.addEventListener('securitypolicyviolation', (e) => {"
            " if (e.blockedURI.includes('/widget/origin')) window.__checks++; }, true);"
        )
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(url.replace("127.0.0.1", "localhost"))  # another origin, not allowed
        page.locator("chatbot-widget").locator("button.launcher").click()  # connects: refused
        deadline = time.monotonic() + 10
        while not any("blocks asking which" in e for e in errors):
            assert time.monotonic() < deadline, errors
            page.wait_for_timeout(100)
        page.wait_for_timeout(6_000)  # reconnects go on meanwhile (about 1, 2, 4 s apart)
        assert page.evaluate("window.__checks") == 1, "asked once, not on every reconnect"
        told = [e for e in errors if "blocks asking which" in e]
        assert len(told) == 1 and "CHAT_ALLOWED_ORIGINS" in told[0]


def test_a_logo_the_pages_policy_blocks_leaves_no_broken_image(
    browser: Browser, chat_server: str
) -> None:
    port = free_port()
    body = (
        '<!doctype html><html><head><meta charset="utf-8"></head><body>'
        f'<script src="{chat_server}/static/chatbot/widget.js" data-logo="/static/favicon.svg" '
        "defer></script></body></html>"
    )
    chat_ws = chat_server.replace("http://", "ws://", 1)
    policy = f"default-src 'none'; script-src {chat_server}; connect-src {chat_server} {chat_ws}"
    with (
        host_site(port, body, {"Content-Security-Policy": policy}) as url,
        checked_page(browser) as page,
    ):
        page.goto(url)
        widget = page.locator("chatbot-widget")
        widget.locator("button.launcher").click()
        expect(widget.locator(".conn")).to_be_hidden()  # 127.0.0.1 is allowed: it chats
        expect(widget.locator("img.logo")).to_have_count(0)
    with host_site(port, body) as url, checked_page(browser) as page:  # no policy: it shows
        page.goto(url)
        page.locator("chatbot-widget").locator("button.launcher").click()
        logo = page.locator("chatbot-widget").locator("img.logo")
        expect(logo).to_be_visible()
        assert logo.evaluate("(img) => img.naturalWidth") > 0


def test_a_page_that_replaces_its_body_gets_the_same_widget_back(
    browser: Browser, chat_server: str
) -> None:
    """Turbo-style navigation swaps the whole <body> and runs the new body's scripts: the widget
    was gone for good, its second tag stopped by the "embedded twice" check."""
    port = free_port()
    tag = f'<script src="{chat_server}/static/chatbot/widget.js" defer></script>'
    page_html = f"<!doctype html><html><body><h1>Shop</h1>{tag}</body></html>"
    with host_site(port, page_html) as url, checked_page(browser) as page:
        page.goto(url)
        widget = page.locator("chatbot-widget")
        widget.locator("button.launcher").click()
        page.wait_for_function("() => window.__chatbotWidget.state().ready")
        page.evaluate(
            """(src) => {
              const body = document.createElement("body");
              body.innerHTML = "<h1>Another page</h1>";
              document.body.replaceWith(body);
              const again = document.createElement("script");
              again.src = src;
              document.body.appendChild(again);
            }""",
            f"{chat_server}/static/chatbot/widget.js",
        )
        expect(page.get_by_role("heading", name="Another page")).to_be_visible()
        expect(widget).to_have_count(1)
        expect(widget.locator(".panel")).to_be_visible()  # as it was: open, connected
        assert page.evaluate("() => window.__chatbotWidget.state().ready")


def test_a_sandboxed_frame_is_told_it_has_no_origin_that_could_be_allowed(
    browser: Browser, chat_server: str
) -> None:
    """The console told the site owner to add "(null)" to CHAT_ALLOWED_ORIGINS."""
    tag = f'<script src="{chat_server}/static/chatbot/widget.js" defer></script>'
    inner = html.escape(f"<!doctype html><html><body>{tag}</body></html>", quote=True)
    body = (
        '<!doctype html><html><body><iframe sandbox="allow-scripts" width="800" height="700" '
        f'srcdoc="{inner}"></iframe></body></html>'
    )
    with host_site(free_port(), body) as url, checked_page(browser) as page:
        console: list[str] = []
        page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
        page.goto(url)
        widget = page.frame_locator("iframe").locator("chatbot-widget")
        widget.locator("button.launcher").click()
        expect(widget.locator(".conn")).to_have_text("Sorry, chat isn't available on this website.")
        told = [line for line in console if line.startswith("Chat widget:")]
        assert told and "no origin of its own" in told[0], console
        assert "CHAT_ALLOWED_ORIGINS" not in told[0]
