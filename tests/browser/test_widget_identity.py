"""A logged-in visitor in chromium: the store page signs its user (HMAC with the site's secret)
and calls `window.ChatbotWidget.identify`; the visitor writes on a laptop, opens the store on a
phone (another browser, nothing stored), finds the conversation there and opens an older one
from the list; a forged hash gets a fresh, empty chat; the agent's console shows the verified
name and email."""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from chatbot.security.identity import identity_signature
from tests.browser.conftest import checked_page
from tests.servers import create_agent, daphne, manage, migrated, server_env

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(180)]

SECRET = "browser-identity-secret"
PASSWORD = "pw-ann-4412"
READY = "() => window.__chatbotWidget && window.__chatbotWidget.state().ready"
# An earlier, closed conversation of the same signed-in user, from some other device.
SEED = """
from chatbot.security.identity import Identity
from chatbot.inbox import visitor
from chatbot.models import Conversation, Message
old = Conversation.objects.create(public_id="older-one", status="closed")
Message.objects.create(conversation=old, role="visitor", text="Can I return shoes?")
Message.objects.create(conversation=old, role="agent", text="Yes, within 30 days.")
visitor.visitor_context_save(
    conversation_id=old.pk, context=visitor.Context(identity=Identity("customer-981"))
)
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("identity-server")
    env = server_env(tmp / "db.sqlite3", CHAT_IDENTITY_SECRET=SECRET)
    migrated(env)
    create_agent(env, "ann", PASSWORD)
    manage(env, "shell", "-c", SEED)
    with daphne(env, tmp / "daphne.log") as base:
        yield base


def _identify(page, *, signed_with: str = SECRET) -> None:
    user = {"id": "customer-981", "name": "Ann Lee", "email": "ann@example.com"}
    user["hash"] = identity_signature(
        secret=signed_with, user_id=user["id"], name=user["name"], email=user["email"]
    )
    page.evaluate("(user) => window.ChatbotWidget.identify(user)", user)


def test_identify_connects_at_once_so_a_waiting_reply_shows_before_the_panel_opens(
    browser: Browser, server: str
) -> None:
    """`identify` waited for the launcher (an integrator's walk); `data-user-*` connected at
    page load."""
    with checked_page(browser, locale="en-US") as page:
        page.goto(server + "/")
        assert not page.evaluate("window.__chatbotWidget.state().connected")
        _identify(page)
        page.wait_for_function("() => window.__chatbotWidget.state().connected")
        assert not page.evaluate("window.__chatbotWidget.state().open")


def test_a_logged_in_visitor_finds_their_conversation_on_another_device(
    browser: Browser, server: str
) -> None:
    with checked_page(browser, locale="en-US") as laptop:
        laptop.goto(server + "/")
        _identify(laptop)
        widget = laptop.locator("chatbot-widget")
        widget.locator("button.launcher").click()
        laptop.wait_for_function(READY)
        widget.locator("textarea").fill("Has my order shipped yet?")
        widget.locator("textarea").press("Enter")
        laptop.wait_for_function("() => window.__chatbotWidget.state().lastSeenId > 0")
        conversation = laptop.evaluate("window.__chatbotWidget.state().conversation")

    with checked_page(browser, locale="en-US", viewport={"width": 390, "height": 844}) as phone:
        phone.goto(server + "/")
        _identify(phone)
        widget = phone.locator("chatbot-widget")
        widget.locator("button.launcher").click()
        phone.wait_for_function(READY)
        expect(widget.locator(".log")).to_contain_text("Has my order shipped yet?")
        assert phone.evaluate("window.__chatbotWidget.state().conversation") == conversation
        # Their other conversations are listed above; one click opens the closed one.
        older = widget.locator(".row.past button", has_text="Can I return shoes?")
        expect(older).to_have_count(1)
        older.click()
        expect(widget.locator(".log")).to_contain_text("Yes, within 30 days.")
        expect(widget.locator(".row.visitor", has_text="Has my order")).to_have_count(0)
        assert phone.evaluate("window.__chatbotWidget.state().conversation") == "older-one"
        expect(widget.locator(".row.past button", has_text="Has my order")).to_have_count(1)

    with checked_page(browser, locale="en-US") as stranger:
        stranger.goto(server + "/")
        _identify(stranger, signed_with="guessed-secret")
        widget = stranger.locator("chatbot-widget")
        widget.locator("button.launcher").click()
        stranger.wait_for_function(READY)
        assert stranger.evaluate("window.__chatbotWidget.state().conversation") != conversation
        expect(widget.locator(".log")).not_to_contain_text("Has my order shipped yet?")

    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    context.set_default_timeout(10_000)
    console = context.new_page()
    console.goto(server + "/console/")
    console.get_by_label("Username").fill("ann")
    console.get_by_label("Password").fill(PASSWORD)
    console.get_by_role("button", name="Sign in").click()
    console.goto(server + "/console/#" + conversation)
    console.reload()
    facts = console.locator("#visitor-facts")
    expect(facts).to_contain_text("Signed-in user (verified)")
    expect(facts).to_contain_text("customer-981")
    expect(facts).to_contain_text("Ann Lee")
    expect(facts).to_contain_text("ann@example.com")
    context.close()
