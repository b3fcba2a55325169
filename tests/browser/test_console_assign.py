"""Assignment and notifications in chromium, two agents in two browser contexts: Ann claims a
visitor and transfers them to Bob, whose console (in a background tab) gets it live with a
desktop notification and a count in the tab's title, as it does for a new queued conversation
and for the visitor writing; the transfer is a line in both agents' transcripts."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import wait_until
from tests.servers import create_agent, daphne, manage, migrated, server_env

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

PASSWORD = "pw-agents-4410"
TEAM = """
from django.contrib.auth.models import User
from chatbot.handoff.models import Team
Team.objects.create(name="Billing").members.add(User.objects.get(username="bob"))
"""

# Runs before the console: records every Notification the page makes, and lets the test put
# the tab in the background (visibilityState "hidden", no focus) and back.
BACKGROUND_TAB = """
(() => {
  window.__hidden = false;
  window.__notifications = [];
  Object.defineProperty(Document.prototype, "visibilityState", {
    configurable: true, get() { return window.__hidden ? "hidden" : "visible"; },
  });
  Object.defineProperty(Document.prototype, "hidden", {
    configurable: true, get() { return window.__hidden; },
  });
  Document.prototype.hasFocus = function () { return !window.__hidden; };
  // A recorder in place of the browser's notifications, permission granted: what the console
  // asks for is what is tested, not chromium's notification service. Twice in CI the
  // Playwright driver died at this test's first step with the real ones and a granted
  // "notifications" permission (never here when run alone).
  function Recording(title, options) {
    window.__notifications.push({ title: title, body: (options || {}).body || "" });
    return { close() {} };
  }
  Recording.requestPermission = () => Promise.resolve("granted");
  Object.defineProperty(Recording, "permission", { get: () => "granted" });
  window.Notification = Recording;
  window.__setHidden = (hidden) => {
    window.__hidden = hidden;
    document.dispatchEvent(new Event("visibilitychange"));
  };
})();
"""


@pytest.fixture(autouse=True)
def close_contexts(browser: Browser) -> Iterator[None]:
    """The tests open a context per agent and visitor: closed after each test, or the shared
    browser runs out of renderers for the tests after these."""
    yield
    for context in list(browser.contexts):
        context.close()


@pytest.fixture(scope="module")
def agents_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """daphne with agents ann and bob, aaron who never signs in, and a team "Billing" of bob."""
    tmp = tmp_path_factory.mktemp("assign-server")
    env = server_env(tmp / "db.sqlite3", HANDOFF_CLAIM_TIMEOUT_S="600")
    migrated(env)
    create_agent(env, "aaron", PASSWORD)
    create_agent(env, "ann", PASSWORD)
    create_agent(env, "bob", PASSWORD)
    manage(env, "shell", "-c", TEAM)
    with daphne(env, tmp / "daphne.log") as base:
        yield base


def _signed_in(browser: Browser, base: str, name: str, **context) -> Page:
    page = browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="en-US", **context
    ).new_page()
    page.set_default_timeout(10_000)
    page.on("pageerror", lambda exc: pytest.fail(f"page error: {exc}"))
    page.goto(base + "/console/")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(base + "/console/")
    return page


def _notifications(page: Page) -> list[dict]:
    return page.evaluate("window.__notifications")


def test_a_transfer_reaches_the_other_agent_in_a_background_tab(
    browser: Browser, agents_server: str, screenshot_dir: Path
) -> None:
    base = agents_server
    bob = _signed_in(browser, base, "bob")
    bob.add_init_script(BACKGROUND_TAB)
    bob.reload()
    # Desktop notifications are off until the agent turns them on; the choice is stored.
    desktop = bob.get_by_label("Desktop notifications")
    expect(desktop).not_to_be_checked()
    desktop.click()
    wait_until(bob, "window.__console.state().prefs.desktop === true")
    bob.reload()
    expect(bob.get_by_label("Desktop notifications")).to_be_checked()
    expect(bob.get_by_label("Sound")).to_be_checked()
    expect(bob.locator("#online")).to_contain_text("agent")

    ann = _signed_in(browser, base, "ann")
    expect(ann.locator("#online")).to_have_text("2 agents online")
    bob.evaluate("window.__setHidden(true)")

    # A new conversation in the queue: Bob's background tab notifies and counts.
    visitor = browser.new_context(locale="en-US").new_page()
    visitor.set_default_timeout(10_000)
    visitor.goto(base + "/")
    widget = visitor.locator("chatbot-widget")
    widget.locator("button.launcher").click()
    widget.get_by_role("button", name="Talk to a person").click()
    expect(bob).to_have_title("(1) Agent console")
    assert _notifications(bob) == [{"title": "New conversation in the queue", "body": ""}]

    # Ann claims, answers and transfers to Bob.
    ann.locator("#list .item button").click()
    ann.get_by_role("button", name="Claim").click()
    expect(ann.locator("#conv-owner")).to_have_text("You own this conversation.")
    ann.get_by_label("Reply").fill("Hi, I'm Ann. Let me get Bob for you.")
    ann.get_by_label("Reply").press("Enter")
    expect(ann.locator("#transcript .msg.agent")).to_have_count(1)
    assign_to = ann.get_by_label("Assign to")
    # Online agents first: the list's first choice was an offline agent (a console walk).
    expect(assign_to.locator("option")).to_have_text(
        ["bob (online, 0 of 3 open)", "aaron (offline, 0 of 3 open)", "Billing"]
    )
    # Aaron signs in: the list says so without being opened again (it said "offline", a walk).
    _signed_in(browser, base, "aaron")
    expect(assign_to.locator("option", has_text="aaron")).to_have_text(
        "aaron (online, 0 of 3 open)"
    )
    assign_to.select_option(label="bob (online, 0 of 3 open)")
    ann.get_by_role("button", name="Transfer").click()
    line = "ann transferred this conversation to bob."
    lines = ["ann claimed this conversation.", line]
    expect(ann.locator("#transcript .msg.event .text")).to_have_text(lines)
    expect(ann.locator("#conv-owner")).to_have_text("Owned by bob.")
    expect(ann.locator("#assign-form")).to_be_hidden()
    expect(ann.locator("#composer")).to_be_hidden()
    expect(widget.locator(".row.notice").last).to_have_text(
        "bob from our team has joined the chat."
    )
    ann.screenshot(path=str(screenshot_dir / "console-transferred.png"))

    # Bob's console has it, live, and told him in the background.
    expect(bob).to_have_title("(2) Agent console")
    expect(bob.locator("#count-mine")).to_have_text("1")
    assert _notifications(bob)[1] == {"title": "A conversation was assigned to you", "body": line}

    # The visitor writes: Bob, who owns it but is not viewing it, is told.
    textarea = widget.get_by_role("textbox", name="Message", exact=True)
    textarea.fill("Hello Bob, it's about a refund.")
    textarea.press("Enter")
    expect(bob).to_have_title("(3) Agent console")
    assert _notifications(bob)[2] == {
        "title": "Your visitor wrote",
        "body": "Hello Bob, it's about a refund.",
    }

    # Back in the foreground: the count goes; nothing more pops up while he is looking.
    bob.evaluate("window.__setHidden(false)")
    expect(bob).to_have_title("Agent console")
    bob.get_by_role("tab", name="Mine").click()
    bob.locator("#list .item button").click()
    expect(bob.locator("#conv-owner")).to_have_text("You own this conversation.")
    expect(bob.locator("#transcript .msg.event .text")).to_have_text(lines)
    events_after = bob.locator("#transcript .msg.event + .msg.visitor .text")
    expect(events_after).to_have_text("Hello Bob, it's about a refund.")
    textarea.fill("Still there?")
    textarea.press("Enter")
    expect(bob.locator("#transcript .msg.visitor .text").last).to_have_text("Still there?")
    assert len(_notifications(bob)) == 3
    expect(bob).to_have_title("Agent console")
    bob.screenshot(path=str(screenshot_dir / "console-transfer-received.png"))

    # Bob passes it to his team: back in the queue, marked for Billing.
    bob.get_by_label("Assign to").select_option(label="Billing")
    bob.get_by_role("button", name="Transfer").click()
    expect(bob.locator("#transcript .msg.event .text").last).to_have_text(
        "bob transferred this conversation to the Billing team."
    )
    expect(ann.locator("#count-queue")).to_have_text("1")
    expect(ann.locator("#list .item .item-meta")).to_contain_text("team Billing")


def _visitor_asks_for_a_person(browser: Browser, base: str) -> None:
    visitor = browser.new_context(locale="en-US").new_page()
    visitor.goto(base + "/")
    widget = visitor.locator("chatbot-widget")
    widget.locator("button.launcher").click()
    widget.get_by_role("button", name="Talk to a person").click()


def test_keyboard_shortcuts(browser: Browser, agents_server: str) -> None:
    base = agents_server
    ann = _signed_in(browser, base, "ann")
    expect(ann.locator("#online")).to_contain_text("online")
    before = int(ann.locator("#count-queue").inner_text())
    for _ in range(2):
        _visitor_asks_for_a_person(browser, base)
    expect(ann.locator("#count-queue")).to_have_text(str(before + 2))
    queued = ann.evaluate(
        "window.__console.state().items.filter(i => i.status === 'queued').map(i => i.conversation)"
    )
    title = ann.locator("#conv-title")
    ann.locator("body").press("j")
    expect(title).to_have_text("Conversation " + queued[0])
    ann.locator("body").press("j")
    expect(title).to_have_text("Conversation " + queued[1])
    ann.locator("body").press("k")
    expect(title).to_have_text("Conversation " + queued[0])
    ann.locator("body").press("c")
    expect(ann.locator("#conv-owner")).to_have_text("You own this conversation.")
    ann.locator("body").press("r")
    expect(ann.get_by_label("Reply")).to_be_focused()
    ann.keyboard.type("Sent from the keyboard.")
    ann.keyboard.press("Control+Enter")
    expect(ann.locator("#transcript .msg.agent .text").last).to_have_text("Sent from the keyboard.")
    ann.keyboard.press("Escape")
    ann.locator("body").press("n")
    expect(ann.get_by_label("New note")).to_be_focused()
    ann.keyboard.type("Noted by keyboard.")
    ann.keyboard.press("Control+Enter")
    expect(ann.locator("#notes .note")).to_contain_text("Noted by keyboard.")
    assert ann.get_by_label("New note").input_value() == ""  # "n" was not typed into it
    ann.keyboard.press("Escape")
    ann.locator("body").press("?")
    expect(ann.locator("#shortcuts dl")).to_be_visible()
    ann.keyboard.press("Escape")

    # A Tab user's place in the list survives the list being drawn again (a visitor queues).
    item = ann.locator(f'#list li[data-conversation="{queued[1]}"] button.open')
    item.focus()
    waiting = int(ann.locator("#count-queue").inner_text())
    _visitor_asks_for_a_person(browser, base)
    expect(ann.locator("#count-queue")).to_have_text(str(waiting + 1))
    expect(item).to_be_focused()


def test_the_console_in_chinese(browser: Browser, agents_server: str) -> None:
    page = browser.new_context(locale="zh-CN").new_page()
    page.set_default_timeout(10_000)
    page.on("pageerror", lambda exc: pytest.fail(f"page error: {exc}"))
    page.goto(agents_server + "/console/")
    page.get_by_label("用户名").fill("bob")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.locator("#online")).to_contain_text(" 位客服在线")  # others may still be on
    expect(page.get_by_role("tab", name="排队")).to_be_visible()
    page.get_by_role("tab", name="排队").click()
    page.locator("#list .item button").first.click()
    expect(page.locator("#conv-title")).to_contain_text("对话 ")
    expect(page.get_by_role("button", name="接入")).to_be_visible()
    # Times and languages in words a Chinese agent reads (a walk saw "1m 32s" and "zh-hans").
    expect(page.locator("#conv-meta")).to_contain_text("English")
    expect(page.locator("#list .item").first).to_contain_text(re.compile(r"\d+(秒|分)"))
    assert "en" not in page.locator("#list .item .locale").first.inner_text().split()
