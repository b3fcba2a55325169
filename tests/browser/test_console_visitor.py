"""The visitor's context in chromium, end to end: the store page embeds the widget with
`data-attributes`, then calls `window.ChatbotWidget.setAttributes`; the visitor (an iPhone in
Shanghai, come from a search engine) writes; the agent's console shows the page, referrer,
browser and device, the local time, the attributes as text (markup not run) and the visitor's
earlier conversation from the same browser, which opens on a click; a long conversation opens
at its end and loads earlier pages on request. And "Save as FAQ draft"
shows the draft without the greeting and the visitor's name for editing, refusing an edit
that adds an email address."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import checked_page
from tests.servers import create_agent, daphne, manage, migrated, server_env

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(180)]

PASSWORD = "pw-ann-8810"
VISITOR = "5b0f7c4e-visitor-id-000000000001"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
TAG_ATTRIBUTES = """new MutationObserver(function () {
  var s = document.querySelector('script[src*="chatbot/widget.js"]');
  if (s) s.setAttribute("data-attributes", %s);
}).observe(document, {childList: true, subtree: true});"""
READY = "() => window.__chatbotWidget && window.__chatbotWidget.state().ready"

SEED = f"""
from chatbot.inbox import visitor
from chatbot.models import Conversation, Message
old = Conversation.objects.create(public_id="earlier-one", status="closed", rating=5)
Message.objects.create(conversation=old, role="visitor", text="Did my refund go through?")
visitor.visitor_context_save(
    conversation_id=old.pk, context=visitor.Context(visitor_id="{VISITOR}")
)
src = Conversation.objects.create(public_id="faq-source")
Message.objects.create(conversation=src, role="visitor", text="Hi, I'm Alice. How do I return it?")
Message.objects.create(conversation=src, role="agent", text="Hi Alice, within 30 days, Alice.")
offered = Conversation.objects.create(public_id="offered-one")
asked = Message.objects.create(conversation=offered, role="visitor", text="delivery on weekends?")
Message.objects.create(
    conversation=offered, role="bot", source="fallback", reply_to=asked, text="Not sure.",
    trace={{"source": "fallback", "offers": [
        {{"faq_id": 1, "question": "How long does delivery take?"}},
        {{"faq_id": 2, "question": "Do you deliver on Saturdays?"}},
    ]}},
)
# Bot lines: unanswered visitor questions would be answered by the orphan sweep.
long = Conversation.objects.create(public_id="long-one")
Message.objects.bulk_create(
    Message(conversation=long, role="bot", text=f"line {{i:03d}}") for i in range(250)
)
"""


EMPTY_LIST_TEXT = "id => getComputedStyle(document.getElementById(id), '::before').content"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("visitor-server")
    env = server_env(tmp / "db.sqlite3")
    migrated(env)
    create_agent(env, "ann", PASSWORD)
    manage(env, "shell", "-c", SEED)
    with daphne(env, tmp / "daphne.log") as base:
        yield base


def _visitor_writes(browser: Browser, base: str) -> str:
    """The shop page with the widget; returns the conversation id once the message is stored."""
    attributes = json.dumps({"plan": "pro", "order_id": "A-77", "note": "<b>bold</b>"})
    with checked_page(
        browser, user_agent=IPHONE, timezone_id="Asia/Shanghai", locale="en-US"
    ) as page:
        # The same browser as the earlier conversation: its stored visitor id.
        page.add_init_script(
            "localStorage.setItem('chatbot:v1:' + location.origin, "
            f"JSON.stringify({{visitor: '{VISITOR}'}}))"
        )
        # The store page's widget tag gets the site's data-attributes before the deferred
        # script runs (a page fulfilled by the test itself would be a "public" page to chromium,
        # whose local network checks then block its socket to 127.0.0.1).
        page.add_init_script(TAG_ATTRIBUTES % json.dumps(attributes))
        page.goto(base + "/?order=77", referer="https://www.google.com/")
        page.evaluate("window.ChatbotWidget.setAttributes({order_id: 'A-78', coupon: 'XMAS'})")
        widget = page.locator("chatbot-widget")
        widget.locator("button.launcher").click()
        page.wait_for_function(READY)
        widget.locator("textarea").fill("Where is my order?")
        widget.locator("textarea").press("Enter")
        page.wait_for_function(
            "() => window.__chatbotWidget.state().lastSeenId > 0", timeout=20_000
        )
        return page.evaluate("window.__chatbotWidget.state().conversation")


def _console(browser: Browser, base: str, conversation: str) -> Page:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.on("pageerror", lambda exc: pytest.fail(f"page error: {exc}"))
    page.goto(base + "/console/")
    page.get_by_label("Username").fill("ann")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#online")).to_have_text("1 agent online")
    page.goto(base + "/console/#" + conversation)  # a link to it, as in the team's email
    page.reload()  # the same document: only a load reads the #id
    expect(page.locator("#conv-title")).to_have_text("Conversation " + conversation)
    return page


def test_the_console_shows_who_the_visitor_is_and_where_they_are(
    browser: Browser, server: str, screenshot_dir: Path
) -> None:
    conversation = _visitor_writes(browser, server)
    page = _console(browser, server, conversation)
    facts = page.locator("#visitor-facts")
    expect(facts).to_contain_text(server + "/?order=77")
    expect(facts.locator("a", has_text="/?order=77")).to_have_attribute(
        "href", server + "/?order=77"
    )
    expect(facts).to_contain_text("https://www.google.com/")
    expect(facts).to_contain_text("Safari 17 · iOS")
    expect(facts).to_contain_text("Mobile")
    expect(facts).to_contain_text("(Asia/Shanghai, UTC+08:00)")
    attributes = page.locator("#visitor-attributes")
    expect(attributes).to_contain_text("plan")
    expect(attributes).to_contain_text("A-78")  # setAttributes replaced the tag's order id
    expect(attributes).to_contain_text("XMAS")
    expect(attributes).to_contain_text("<b>bold</b>")  # text, not markup
    assert attributes.locator("b").count() == 0
    past = page.locator("#visitor-past a")
    expect(past).to_have_count(1)
    expect(past).to_have_text("earlier-one")
    page.locator("#visitor-context").screenshot(path=screenshot_dir / "console-visitor.png")
    past.click()
    expect(page.locator("#conv-title")).to_have_text("Conversation earlier-one")
    expect(page.locator("#visitor-past a")).to_have_text(conversation)
    # Nothing from the site on the earlier conversation: the list says so and stays a valid
    # <dl> (only dt/dd pairs; a lone "None" <dd> was one before, found by axe-core).
    expect(attributes.locator(":scope > *")).to_have_count(0)
    assert page.evaluate(EMPTY_LIST_TEXT, "visitor-attributes") == '"None"'
    assert page.evaluate(
        "() => [...document.querySelectorAll('#visitor-context dl > *')]"
        ".every(e => e.tagName === 'DT' || e.tagName === 'DD')"
    )
    page.context.close()


def test_save_as_faq_draft_shows_a_cleaned_draft_to_edit(browser: Browser, server: str) -> None:
    page = _console(browser, server, "faq-source")
    page.get_by_role("button", name="Save as FAQ draft").click()
    question, answer = page.get_by_label("FAQ question"), page.get_by_label("FAQ answer")
    expect(question).to_have_value("How do I return it?")
    expect(answer).to_have_value("Within 30 days.")
    expect(page.locator("form.faq-draft")).to_contain_text("Taken out: greeting, name.")
    answer.fill("Within 30 days; write to alice@example.com.")
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator("form.faq-draft [role=status]")).to_have_text(
        "Remove the personal details first: email address"
    )
    answer.fill("Within 30 days, with the label from your account.")
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator("form.faq-draft")).to_have_count(0)
    expect(page.locator("button.faq")).to_have_text("Saved as FAQ draft (awaiting approval)")
    page.context.close()


def test_a_long_conversation_opens_at_its_end_and_loads_earlier_pages(
    browser: Browser, server: str
) -> None:
    page = _console(browser, server, "long-one")
    transcript = page.locator("#transcript")
    expect(transcript.locator("li.msg")).to_have_count(100)
    expect(transcript.locator("li.msg").last).to_contain_text("line 249")
    expect(transcript.locator("li.msg").first).to_contain_text("line 150")
    earlier = page.get_by_role("button", name="Load earlier messages")
    earlier.click()
    expect(transcript.locator("li.msg")).to_have_count(200)
    expect(transcript.locator("li.msg").first).to_contain_text("line 050")
    earlier.click()
    expect(transcript.locator("li.msg")).to_have_count(250)
    expect(transcript.locator("li.msg").first).to_contain_text("line 000")
    expect(earlier).to_have_count(0)
    page.context.close()


def test_the_agent_sees_the_did_you_mean_questions_the_visitor_was_offered(
    browser: Browser, server: str
) -> None:
    page = _console(browser, server, "offered-one")
    expect(page.locator("#transcript .msg.bot .offers")).to_have_text(
        "Offered to the visitor, “Did you mean”: How long does delivery take? · "
        "Do you deliver on Saturdays?"
    )
    page.context.close()
