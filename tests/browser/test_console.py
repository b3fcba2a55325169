"""Handoff end to end in chromium: a visitor asks for a person in the widget, an agent signs in
to the console, claims, they talk both ways, the agent hands back to the bot and the bot answers
the next question. Prints the delay from the agent's send to the visitor's screen."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser.scripted import Stalling
from tests.servers import create_agent, daphne, migrated, server_env, smtp_server

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

PASSWORD = "pw-ann-5531"

# Runs before the widget: notes when an agent's message and the agent typing dots first appear.
WATCH_WIDGET = """
(() => {
  window.__agentSeenAt = null;
  window.__sawAgentTyping = false;
  const attach = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function (init) {
    const root = attach.call(this, init);
    new MutationObserver(() => {
      if (root.querySelector(".row.peer-typing")) window.__sawAgentTyping = true;
      if (window.__agentSeenAt === null && root.querySelector(".row.agent .bubble")) {
        window.__agentSeenAt = Date.now();
      }
    }).observe(root, { childList: true, subtree: true, characterData: true });
    return root;
  };
})();
"""


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory, _simulator_server) -> Iterator[str]:
    """daphne with the upstream simulator as its model, and one agent, "ann"."""
    tmp = tmp_path_factory.mktemp("console-server")
    env = server_env(
        tmp / "db.sqlite3",
        LOCAL_LLM_BASE_URL=_simulator_server.base_url,
        LOCAL_LLM_MODEL="sim-model",
        HANDOFF_CLAIM_TIMEOUT_S="600",
    )
    migrated(env)
    create_agent(env, "ann", PASSWORD)
    with daphne(env, tmp / "daphne.log") as base:
        yield base


def _page(browser: Browser, locale: str = "en-US", width: int = 1280, **kwargs) -> Page:
    context = browser.new_context(viewport={"width": width, "height": 800}, locale=locale, **kwargs)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.on("pageerror", lambda exc: pytest.fail(f"page error: {exc}"))
    return page


def test_visitor_to_agent_and_back_to_the_bot(
    browser: Browser, console_server: str, screenshot_dir: Path, _simulator_server
) -> None:
    _simulator_server.reset()
    base = console_server

    # The agent signs in (the console sends anonymous users to the login form).
    agent = _page(browser)
    agent.goto(base + "/console/")
    expect(agent).to_have_url(base + "/console/login/?next=/console/")
    agent.get_by_label("Username").fill("ann")
    agent.get_by_label("Password").fill(PASSWORD)
    agent.get_by_role("button", name="Sign in").click()
    expect(agent).to_have_url(base + "/console/")
    expect(agent.locator("#online")).to_have_text("1 agent online")
    expect(agent.locator("#list")).to_have_text("Nothing here.")

    # The visitor asks for a person before writing anything.
    visitor = _page(browser)
    visitor.add_init_script(WATCH_WIDGET)
    visitor.goto(base + "/")
    widget = visitor.locator("chatbot-widget")
    widget.locator("button.launcher").click()
    widget.get_by_role("button", name="Talk to a person").click()
    notice = widget.locator(".row.notice").last
    expect(notice).to_contain_text("You're number 1 in the queue. Estimated wait:")
    expect(widget.get_by_role("button", name="Talk to a person")).to_be_hidden()
    expect(widget.get_by_role("button", name="Leave a message")).to_have_count(0)
    visitor.screenshot(path=str(screenshot_dir / "handoff-visitor-queued.png"))

    # It appears in the agent's queue without a reload.
    item = agent.locator("#list .item")
    expect(item).to_have_count(1)
    expect(item.locator(".item-meta")).to_contain_text("asked for a person")
    expect(agent.locator("#count-queue")).to_have_text("1")
    agent.screenshot(path=str(screenshot_dir / "handoff-console-queue.png"))
    item.locator("button").click()
    agent.get_by_role("button", name="Claim").click()
    expect(agent.locator("#conv-owner")).to_have_text("You own this conversation.")
    expect(agent.locator("#count-mine")).to_have_text("1")
    expect(agent.locator("#assign-form")).to_be_hidden()  # nobody else to transfer to
    expect(notice).to_contain_text("ann from our team has joined the chat.")

    # Agent -> visitor, timed from the keypress to the bubble on the visitor's screen.
    reply = agent.get_by_label("Reply")
    reply.press_sequentially("Hi, I'm Ann. ")
    reply.type("How can I help?")
    sent_at = agent.evaluate("Date.now()")
    reply.press("Enter")
    bubble = widget.locator(".row.agent .bubble")
    expect(bubble).to_have_text("Hi, I'm Ann. How can I help?")
    # "ann has joined" stays where she joined, above what she says.
    expect(widget.locator(".row").last).to_have_class(re.compile(r"\bagent\b"))
    expect(widget.locator(".row.agent .who")).to_have_text("ann")  # by name, with initials
    expect(widget.locator(".row.agent .who .avatar")).to_have_attribute("data-initials", "A")
    delay_ms = visitor.evaluate("window.__agentSeenAt") - sent_at
    print(f"\nagent send -> visitor screen: {delay_ms} ms")
    assert 0 <= delay_ms < 2000
    assert visitor.evaluate("window.__sawAgentTyping"), "the agent's typing never showed"

    # Visitor -> agent.
    textarea = widget.get_by_role("textbox", name="Message", exact=True)
    textarea.fill("My parcel is late, order 1234.")
    textarea.press("Enter")
    expect(agent.locator("#transcript .msg.visitor .text")).to_have_text(
        "My parcel is late, order 1234."
    )
    visitor.screenshot(path=str(screenshot_dir / "handoff-visitor-with-agent.png"))
    agent.screenshot(path=str(screenshot_dir / "handoff-console-chat.png"))

    # A reload restores that state: who has the chat is said after the history, not above it,
    # and the panel is open as the tab left it.
    visitor.reload()
    expect(widget.locator(".panel")).to_be_visible()
    expect(widget.locator(".row.agent .bubble")).to_have_text("Hi, I'm Ann. How can I help?")
    expect(widget.locator(".row.visitor .bubble").last).to_have_text(
        "My parcel is late, order 1234."
    )
    expect(widget.locator(".row").last).to_have_class(re.compile(r"\bnotice\b"))
    expect(widget.locator(".row").last).to_have_text("You're chatting with ann from our team.")
    # And where she joined, above her words (that notice was not stored: a walk).
    joined = widget.locator(".row.notice", has_text="ann from our team has joined the chat.")
    expect(joined).to_have_count(1)
    expect(widget.locator(".row.notice + .row.agent .bubble").first).to_have_text(
        "Hi, I'm Ann. How can I help?"
    )

    # Formatting shows the same on both sides (the console showed the raw "**").
    reply.fill("Found it: **order 1234** ships today.\n- tracking: https://example.com/t/1234")
    reply.press("Enter")
    formatted = agent.locator("#transcript .msg.agent .text").last
    expect(formatted.locator("strong")).to_have_text("order 1234")
    expect(formatted.locator("li a")).to_have_attribute("href", "https://example.com/t/1234")
    expect(formatted).not_to_contain_text("**")
    # By its author's name: after a transfer "Agent" could not tell whose words were whose.
    expect(agent.locator("#transcript .msg.agent .who").last).to_have_text("ann")
    expect(widget.locator(".row.agent .bubble").last.locator("strong")).to_have_text("order 1234")
    expect(agent.locator("#transcript .msg.visitor .text").last).to_have_text(
        "My parcel is late, order 1234."
    )

    # Offline (the socket can look open for minutes), a reply stays in the box and the console
    # says so; it emptied and nothing was sent. Back online, a fresh socket, and it goes.
    agent.context.set_offline(True)
    reply.fill("Are you still there?")
    reply.press("Enter")
    expect(agent.locator("#conn")).to_have_text(
        "You are offline: nothing is sent until the network is back."
    )
    expect(reply).to_have_value("Are you still there?")
    agent.context.set_offline(False)
    expect(agent.locator("#conn")).to_have_text("")
    reply.press("Enter")
    expect(agent.locator("#transcript .msg.agent .text").last).to_have_text("Are you still there?")
    expect(widget.locator(".row.agent .bubble").last).to_have_text("Are you still there?")

    # Back to the bot: the visitor is told, and the bot answers the next question.
    agent.get_by_role("button", name="Return to bot").click()
    expect(widget.locator(".row.notice").last).to_have_text(
        "You're chatting with our assistant again."
    )
    expect(widget.get_by_role("button", name="Talk to a person")).to_be_visible()
    textarea.fill("Do you sell gift cards?")
    textarea.press("Enter")
    answer = widget.locator(".row.bot:not(.welcome) .bubble")
    expect(answer).to_have_text(  # the first answer loads the FAQ embedder: allow for it
        "Thanks for asking. Here is what I know about: Do you sell gift cards?", timeout=60_000
    )
    expect(widget.locator(".row.bot:not(.welcome) .who")).to_have_text(
        re.compile(r"^Assistant\s*· AI-generated answer$")
    )
    expect(widget.locator(".row").last).to_have_class(re.compile(r"\bbot\b"))  # below the notice
    trace = agent.locator("#transcript .msg.bot .trace")
    expect(trace).to_contain_text("model sim-model")
    expect(trace).to_contain_text("source Model")  # the source's name, not its code "llm"
    visitor.screenshot(path=str(screenshot_dir / "handoff-visitor-back-to-bot.png"))
    agent.screenshot(path=str(screenshot_dir / "handoff-console-after-return.png"))


def test_a_left_message_is_acknowledged_answered_from_the_inbox_and_emailed(
    browser: Browser, tmp_path: Path, screenshot_dir: Path
) -> None:
    """Nobody online: the visitor leaves a message in the widget and gets an email; the agent
    answers it from the console's Left messages; the visitor sees the reply in the widget and
    gets it by email, then asks for the whole conversation by email. A real SMTP server
    (aiosmtpd) receives everything daphne sends."""
    with smtp_server() as (smtp, port):
        env = server_env(
            tmp_path / "db.sqlite3",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=str(port),
            DEFAULT_FROM_EMAIL="support@shop.example",
            EMAIL_TEAM_ADDRESS="team@shop.example",
        )
        migrated(env)
        create_agent(env, "ann", PASSWORD)
        with daphne(env, tmp_path / "daphne.log") as base:
            visitor = _page(browser)
            visitor.goto(base + "/")
            widget = visitor.locator("chatbot-widget")
            widget.locator("button.launcher").click()
            widget.get_by_role("button", name="Talk to a person").click()
            widget.get_by_role("button", name="Leave a message").click()
            widget.get_by_label("Your email").fill("ada@example.com")
            widget.get_by_label("Your message").fill("Can I still change my order 1042?")
            widget.get_by_role("button", name="Send message").click()
            thanks = widget.locator(".row.notice", has_text="Thanks! We'll reply to")
            expect(thanks).to_have_text(
                "Thanks! We'll reply to ada@example.com.Can I still change my order 1042?"
            )
            # A reload kept neither the words nor that a message was left, and offered the
            # form again: a re-walk left the same message twice.
            visitor.reload()
            expect(thanks).to_have_text(
                "Thanks! We'll reply to ada@example.com.Can I still change my order 1042?"
            )
            expect(widget.locator(".row.notice").last).to_contain_text("You're in the queue")
            expect(widget.get_by_role("button", name="Leave a message")).to_have_count(0)
            received = smtp.wait_for(2)
            assert sorted(r.message["Subject"] for r in received) == [
                "New message left by ada@example.com",
                "We received your message",
            ]
            [team] = smtp.to("team@shop.example")
            link = re.search(r"http://localhost:8000(/console/#\S+)", team.body).group(1)

            agent = _page(browser)
            agent.goto(base + "/console/")
            agent.get_by_label("Username").fill("ann")
            agent.get_by_label("Password").fill(PASSWORD)
            agent.get_by_role("button", name="Sign in").click()
            expect(agent.locator("#count-left")).to_have_text("1")
            agent.get_by_role("tab", name="Left messages").click()
            item = agent.locator("#list .left-item")
            expect(item).to_have_count(1)
            expect(item.locator(".preview")).to_have_text("Can I still change my order 1042?")
            expect(item.locator(".item-meta")).to_have_text("ada@example.com")
            expect(item.locator(".locale")).to_have_text("English")  # was "en" (a walk)
            agent.screenshot(path=str(screenshot_dir / "console-left-messages.png"))
            item.locator("button").click()
            left = agent.locator("#left .left-message")
            expect(left.locator(".left-meta")).to_have_text(
                "The visitor was emailed that we got it."
            )
            # A second console (the team email's link, signed in) is writing another reply.
            linked = _page(browser, storage_state=agent.context.storage_state())
            linked.goto(base + link)
            other = linked.locator("#left .left-message")
            draft = other.get_by_label("Reply by email to ada@example.com")
            draft.fill("Draft from the other tab.")
            left.get_by_label("Reply by email to ada@example.com").fill(
                "Yes: reply with the new address and we'll change it."
            )
            left.get_by_role("button", name="Send by email").click()
            # Answered first here: the other console keeps its draft and says it was not sent
            # (it vanished without a word: a mail walk).
            expect(other.locator(".left-failed")).to_have_text(
                "ann answered first: your reply below was not sent."
            )
            expect(other.get_by_label("Your unsent reply")).to_have_value(
                "Draft from the other tab."
            )
            expect(left.locator(".left-answer")).to_contain_text("Answered by ann")
            expect(left.locator(".left-meta").last).to_have_text("Emailed to the visitor.")
            expect(agent.locator("#count-left")).to_have_text("0")
            expect(agent.locator("#transcript .msg.agent .text")).to_have_text(
                "Yes: reply with the new address and we'll change it."
            )
            agent.screenshot(path=str(screenshot_dir / "console-left-message-answered.png"))

            expect(widget.locator(".row.agent .bubble")).to_have_text(
                "Yes: reply with the new address and we'll change it."
            )
            # The reply comes under the visitor's own words, which stay (they went with the
            # queue notice, and the reply sat under no question: a walk).
            expect(widget.locator(".row.notice").first).to_contain_text(
                "Can I still change my order 1042?"
            )
            expect(widget.locator(".row:not(.welcome)").nth(-2)).to_have_class(
                re.compile(r"\bagent\b")
            )
            visitor.reload()  # after a reload too, the words above the reply
            expect(widget.locator(".row.agent .bubble")).to_have_text(
                "Yes: reply with the new address and we'll change it."
            )
            rows = widget.locator(".row:not(.welcome)")
            expect(rows.nth(0)).to_contain_text("Can I still change my order 1042?")
            expect(rows.nth(1)).to_have_class(re.compile(r"\bagent\b"))
            # The team email's link opened the conversation in the console.
            expect(linked.locator("#conv-title")).to_have_text(
                "Conversation " + link.split("#", 1)[1]
            )
            expect(linked.locator("#left .left-answer")).to_contain_text("Answered by ann")
            visitor.screenshot(path=str(screenshot_dir / "widget-left-message-answered.png"))
            [reply] = [r for r in smtp.wait_for(3) if r.message["Subject"].startswith("Our reply")]
            assert reply.rcpt_tos == ["ada@example.com"]
            assert "we'll change it." in reply.body
            assert "> Can I still change my order 1042?" in reply.body

            # The visitor asks for the conversation by email from the widget's header.
            widget.get_by_role("button", name="Email me this conversation").click()
            widget.get_by_label("Your email").fill("ada.b@example.com")
            widget.get_by_role("button", name="Send it").click()
            expect(
                widget.get_by_text(
                    "We've emailed ada.b@example.com a link: open it to get this conversation."
                )
            ).to_be_visible()
            visitor.screenshot(path=str(screenshot_dir / "widget-transcript-emailed.png"))
            [ask] = [r for r in smtp.wait_for(4) if "ada.b@example.com" in r.rcpt_tos]
            assert ask.message["Subject"] == "Do you want your chat transcript?"
            (link,) = re.findall(r"https?://\S+/chat/transcript/\S+/", ask.body)
            mailbox = visitor.context.new_page()
            mailbox.goto(base + "/chat/transcript/" + link.rsplit("/chat/transcript/", 1)[1])
            mailbox.get_by_role("button", name="Send me the transcript").click()
            expect(mailbox.get_by_role("status")).to_contain_text("on its way to ada.b@example.com")
            [transcript] = [
                r for r in smtp.wait_for(5) if "ada.b@example.com" in r.rcpt_tos and r is not ask
            ]
            assert transcript.message["Subject"] == "Your chat transcript"
            assert "Yes: reply with the new address and we'll change it." in transcript.body


# The console and the widget for agents and visitors on the keyboard and with a screen reader
# (an accessibility walk): focus after a claim and a close, what is announced and what is not,
# the tabs' arrow keys, each message's language, and a narrow window.


def _sign_in(agent: Page, base: str) -> None:
    agent.goto(base + "/console/")
    agent.get_by_label("Username").fill("ann")
    agent.get_by_label("Password").fill(PASSWORD)
    agent.get_by_role("button", name="Sign in").click()
    expect(agent.locator("#online")).to_have_text("1 agent online")


def _asking_for_a_person(browser: Browser, base: str) -> Locator:
    """A new visitor's widget, open, after "Talk to a person"."""
    visitor = _page(browser)
    visitor.goto(base + "/")
    widget = visitor.locator("chatbot-widget")
    widget.locator("button.launcher").click()
    widget.get_by_role("button", name="Talk to a person").click()
    return widget


def test_claim_and_close_by_keyboard_move_focus_and_are_announced(
    browser: Browser, console_server: str, _simulator_server
) -> None:
    _simulator_server.reset()
    base = console_server
    agent = _page(browser)
    _sign_in(agent, base)
    widget = _asking_for_a_person(browser, base)

    # The tabs are one Tab stop; the arrow keys move between them.
    tabs = agent.get_by_role("tab")
    expect(agent.locator('[role="tab"][tabindex="0"]')).to_have_count(1)
    queue = tabs.filter(has_text="Queue")
    queue.focus()
    queue.press("ArrowRight")
    mine = tabs.filter(has_text="Mine")
    expect(mine).to_be_focused()
    expect(mine).to_have_attribute("aria-selected", "true")
    mine.press("ArrowLeft")
    expect(queue).to_be_focused()
    expect(queue).to_have_attribute("tabindex", "0")
    expect(mine).to_have_attribute("tabindex", "-1")

    item = agent.locator("#list .item button.open")
    expect(item).to_have_count(1)
    item.press("Enter")
    # The transcript is not a live region: opening a conversation read all of it out.
    expect(agent.locator("#transcript")).not_to_have_attribute("aria-live", "polite")
    claim = agent.get_by_role("button", name="Claim")
    claim.focus()
    claim.press("Enter")
    expect(agent.get_by_label("Reply")).to_be_focused()  # it fell to <body> with the button
    expect(agent.locator("#announce")).to_have_text("You own this conversation.")

    # A visitor's new message is announced, in its own language.
    composer = widget.get_by_role("textbox", name="Message")
    composer.fill("我的订单在哪里")
    composer.press("Enter")
    expect(agent.locator("#announce")).to_have_text("Visitor: 我的订单在哪里")
    expect(agent.locator("#transcript li.visitor").last).to_have_attribute("lang", "zh-Hans")

    # Search results are announced.
    search_tab = tabs.filter(has_text="Search")
    search_tab.click()
    agent.locator("#search").fill("订单")
    agent.locator("#search").press("Enter")
    expect(agent.locator("#announce")).to_have_text("1 conversation found.")
    queue.click()

    close = agent.locator("#close")
    close.focus()
    close.press("Enter")
    expect(agent.locator("#announce")).to_have_text("Conversation closed.")
    expect(queue).to_be_focused()
    # The header gives the reason and, once the visitor rates, the rating: a console walk saw
    # them only after opening the conversation again.
    meta = agent.locator("#conv-meta")
    expect(meta).to_contain_text("closed: Resolved")
    widget.get_by_role("button", name="4 out of 5").click()
    widget.get_by_role("textbox", name="Anything to add? (optional)").fill("Quick")
    widget.get_by_role("button", name="Send rating").click()
    expect(meta).to_contain_text("rated 4/5 — Quick")
    # The visitor writes again: the conversation is open, and its header no longer reads as
    # rated (a walk took the earlier rating for the new session's).
    composer.fill("One more thing: do you gift wrap?")
    composer.press("Enter")
    expect(meta).not_to_contain_text("closed")
    expect(meta).not_to_contain_text("rated")


def test_a_narrow_window_does_not_scroll_sideways(browser: Browser, console_server: str) -> None:
    agent = _page(browser, width=640)
    _sign_in(agent, console_server)
    assert agent.evaluate("document.documentElement.scrollWidth") <= 640
    reports = agent.get_by_role("link", name="Reports")
    header = agent.locator("header.top").bounding_box()
    link = reports.bounding_box()
    assert header and link and link["y"] + link["height"] <= header["y"] + header["height"], (
        "the Reports link left the header's dark background"
    )


def test_the_chinese_widget_marks_english_messages_as_english(
    browser: Browser, console_server: str, _simulator_server
) -> None:
    _simulator_server.reset()
    visitor = _page(browser, locale="zh-CN")
    visitor.goto(console_server + "/")
    widget = visitor.locator("chatbot-widget")
    widget.locator("button.launcher").click()
    expect(widget.locator(".wrap")).to_have_attribute("lang", "zh-Hans")
    composer = widget.locator("textarea")
    composer.fill("What colours does the travel mug come in?")
    composer.press("Enter")
    expect(widget.locator(".row.visitor .bubble").last).to_have_attribute("lang", "en")
    answer = widget.locator(".row.bot .bubble").last
    expect(answer).not_to_be_empty()
    expect(answer).to_have_attribute("lang", "en")


def test_a_link_to_a_conversation_survives_the_sign_in(
    browser: Browser, console_server: str
) -> None:
    """The team's email links /console/#<id>; signed out, the sign-in dropped the #<id> and
    the agent landed on the empty console (a mail walk)."""
    visitor = _page(browser)
    visitor.goto(console_server + "/")
    widget = visitor.locator("chatbot-widget")
    widget.locator("button.launcher").click()
    widget.get_by_role("button", name="Talk to a person").click()
    expect(widget.locator(".row.notice").last).to_contain_text("in the queue")
    agent = _page(browser)
    _sign_in(agent, console_server)
    expect(agent.locator("#list .item")).not_to_have_count(0)
    public_id = agent.evaluate(
        "window.__console.state().items.filter(i => i.status === 'queued').pop().conversation"
    )
    signed_out = _page(browser)
    signed_out.goto(f"{console_server}/console/#{public_id}")
    signed_out.get_by_label("Username").fill("ann")
    signed_out.get_by_label("Password").fill(PASSWORD)
    signed_out.get_by_role("button", name="Sign in").click()
    expect(signed_out.locator("#conv-title")).to_have_text(f"Conversation {public_id}")


def _claimed_behind_a_stalling_network(
    browser: Browser, base: str
) -> tuple[Page, Stalling, Locator, str]:
    """ann's console, its socket behind `Stalling`, owning a new visitor's conversation."""
    agent = _page(browser)
    network = Stalling(agent, "/ws/console/")
    _sign_in(agent, base)
    widget = _asking_for_a_person(browser, base)
    expect(widget.locator(".row.notice").last).to_contain_text("in the queue")
    conversation = widget.page.evaluate("window.__chatbotWidget.state().conversation")
    agent.evaluate("id => window.__console.open(id)", conversation)
    agent.get_by_role("button", name="Claim").click()
    expect(agent.locator("#conv-owner")).to_have_text("You own this conversation.")
    return agent, network, widget, conversation


def test_a_reply_on_a_socket_gone_quiet_is_sent_again_and_a_lost_note_is_said(
    browser: Browser, console_server: str, _simulator_server
) -> None:
    """The console sent a reply on a socket that had died without closing (a laptop asleep, a
    VPN dropping): the box emptied, nothing arrived and nothing said so. Now a `send` with no
    `ack` within 12 s drops the socket, and the new one sends the reply again, once."""
    _simulator_server.reset()
    agent, network, widget, _ = _claimed_behind_a_stalling_network(browser, console_server)

    network.stalled = True
    agent.get_by_label("Reply").fill("Back in a second with your tracking number.")
    agent.get_by_label("Reply").press("Enter")
    expect(agent.locator("#conn")).to_have_text("Reconnecting…", timeout=20_000)
    network.stalled = False
    expect(agent.locator("#conn")).to_have_text("", timeout=20_000)
    said = widget.locator(".row.agent .bubble")
    expect(said).to_have_text(["Back in a second with your tracking number."])
    expect(agent.locator("#transcript .msg.agent")).to_have_count(1)
    assert network.sockets >= 2

    # A note (like a claim or a close) lost with its socket was lost without a word: now the
    # agent is told to check, and the note is back in its box.
    network.stalled = True
    agent.get_by_label("New note").fill("Wants a refund, not a replacement.")
    agent.get_by_role("button", name="Add note").click()
    expect(agent.get_by_label("New note")).to_have_value("")
    expect(agent.locator("#conn")).to_have_text("Reconnecting…", timeout=20_000)
    network.stalled = False
    expect(agent.locator("#notice")).to_have_text(
        "The connection dropped before your last action was confirmed: check the conversation"
        " and do it again if it did not happen.",
        timeout=20_000,
    )
    expect(agent.get_by_label("New note")).to_have_value("Wants a refund, not a replacement.")

    # The browser's `online` event replaces the socket too; a note it carried unanswered went
    # without a word there.
    agent.get_by_label("New note").fill("Call back on Tuesday.")
    network.stalled = True
    agent.get_by_role("button", name="Add note").click()
    expect(agent.get_by_label("New note")).to_have_value("")
    agent.evaluate("window.dispatchEvent(new Event('online'))")
    network.stalled = False
    expect(agent.get_by_label("New note")).to_have_value("Call back on Tuesday.", timeout=20_000)

    # With no socket (the server refusing them), Enter did nothing and said nothing.
    network.refusing = True
    agent.evaluate("window.dispatchEvent(new Event('online'))")
    expect(agent.locator("#conn")).to_have_text(
        "Disconnected — reload the page (are you still signed in?)", timeout=20_000
    )
    agent.get_by_label("Reply").fill("Your parcel left the depot this morning.")
    agent.get_by_label("Reply").press("Enter")
    expect(agent.locator("#notice")).to_have_text(
        "Not connected yet: your text stays in the box. Send it again once the connection is back."
    )
    network.refusing = False
    expect(agent.locator("#conn")).to_have_text("", timeout=20_000)
    expect(agent.locator("#notice")).to_have_text("")
    agent.get_by_label("Reply").press("Enter")
    expect(said).to_have_text(
        ["Back in a second with your tracking number.", "Your parcel left the depot this morning."]
    )
    agent.locator("#close").click()
    expect(agent.locator("#announce")).to_have_text("Conversation closed.")


def test_a_reload_keeps_a_reply_not_acked_and_a_refused_reply_comes_back_to_its_box(
    browser: Browser, console_server: str, _simulator_server
) -> None:
    """Replies not acked lived in the page's memory: a reload within the 12 s lost them. And a
    reply the server refused (the conversation was no longer the agent's) emptied its box for
    good, with only a notice saying why."""
    _simulator_server.reset()
    agent, network, widget, conversation = _claimed_behind_a_stalling_network(
        browser, console_server
    )

    network.stalled = True
    agent.get_by_label("Reply").fill("Your refund went out this morning.")
    agent.get_by_label("Reply").press("Enter")
    expect(agent.get_by_label("Reply")).to_have_value("")
    network.stalled = False
    agent.reload()
    said = widget.locator(".row.agent .bubble")
    expect(said).to_have_text(["Your refund went out this morning."], timeout=20_000)
    agent.evaluate("id => window.__console.open(id)", conversation)
    expect(agent.locator("#conv-owner")).to_have_text("You own this conversation.")

    # "Visitor waiting" stops at every reply, not only the first (it went on counting, red).
    waiting = agent.locator('[data-timer="visitor_waiting"]')
    composer = widget.get_by_role("textbox", name="Message")
    composer.fill("Thanks! And the shipping fee?")
    composer.press("Enter")
    expect(waiting).to_be_visible()
    agent.get_by_label("Reply").fill("Refunded too.")
    agent.get_by_label("Reply").press("Enter")
    expect(said).to_have_text(["Your refund went out this morning.", "Refunded too."])
    expect(waiting).to_be_hidden()

    # Handed back to the bot from another tab while this one's socket is frozen: its reply
    # is refused when it gets through, and its words are given back.
    other = agent.context.new_page()
    other.goto(f"{console_server}/console/#{conversation}")
    network.stalled = True
    other.get_by_role("button", name="Return to bot").click()
    # "ann has joined" stays where it happened (it went at the hand-back, and ann's whole chat
    # sat under nothing: a walk).
    expect(widget.locator(".row.notice")).to_have_text(
        ["ann from our team has joined the chat.", "You're chatting with our assistant again."]
    )
    agent.get_by_label("Reply").fill("And the receipt is in your inbox.")
    agent.get_by_label("Reply").press("Enter")
    expect(agent.get_by_label("Reply")).to_have_value("")
    expect(agent.locator("#conn")).to_have_text("Reconnecting…", timeout=20_000)
    network.stalled = False
    expect(agent.locator("#notice")).to_have_text(
        "Claim the conversation first. Your reply was not sent: “And the receipt is in your"
        " inbox.”",
        timeout=20_000,
    )
    expect(said).to_have_text(["Your refund went out this morning.", "Refunded too."])
