"""The console's inbox in chromium: full-text search (Chinese too) with filters and a saved
view, labels put on and taken off, the canned-reply library managed in the console, `/refund`
expanding in the reply box with its variables filled in, a reply with an unfilled {{…}} not
sent, and the printable transcript and reports pages."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.servers import create_agent, daphne, manage, migrated, server_env

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

PASSWORD = "pw-ann-7720"

SEED = """
from datetime import timedelta
from django.utils import timezone
from chatbot.inbox.models import Label
from django.contrib.auth.models import User
from chatbot.handoff.models import Team
from chatbot.models import Conversation, Message
Label.objects.create(name="vip", color="#dc2626")
Label.objects.create(name="billing", color="#2563eb")
billing = Team.objects.create(name="Billing")
billing.members.add(User.objects.get(username="ann"))
zh = Conversation.objects.create(public_id="zh-refund", locale="zh-hans")
Message.objects.create(conversation=zh, role="visitor", text="你好，我想申请退款")
en = Conversation.objects.create(public_id="en-parcel")
Message.objects.create(conversation=en, role="visitor", text="Where is my parcel?")
queued = Conversation.objects.create(
    public_id="queued-one", status="queued", queued_at=timezone.now(),
    handoff_reason="visitor_request", team=billing,
)
Message.objects.create(conversation=queued, role="visitor", text="I need a refund")
hour_ago = timezone.now() - timedelta(hours=1)
back = Conversation.objects.create(
    public_id="back-with-bot", status="bot", queued_at=hour_ago, claimed_at=hour_ago,
    first_agent_reply_at=hour_ago + timedelta(minutes=20), handoff_reason="visitor_request",
)
Message.objects.create(conversation=back, role="visitor", text="Thanks, my invoice is fixed")
from knowledge import services
services.document_write(
    title="Refund override procedure", locale="en", visibility="agents", index_inline=True,
    text="## Steps\\n\\nAgents approve refund overrides up to $50 with code RF-OVR-7731.",
)
services.document_write(
    title="Refunds", locale="en", index_inline=True,
    text="## Timing\\n\\nRefunds and refund overrides reach your card within 5 working days.",
)
"""


@pytest.fixture(scope="module")
def inbox_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict]]:
    tmp = tmp_path_factory.mktemp("inbox-server")
    env = server_env(tmp / "db.sqlite3", HANDOFF_CLAIM_TIMEOUT_S="600")
    migrated(env)
    create_agent(env, "ann", PASSWORD)
    manage(env, "shell", "-c", SEED)
    with daphne(env, tmp / "daphne.log") as base:
        yield base, env


@pytest.fixture(scope="module")
def inbox_server(inbox_stack: tuple[str, dict]) -> str:
    return inbox_stack[0]


def _signed_in(browser: Browser, base: str) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.on("pageerror", lambda exc: pytest.fail(f"page error: {exc}"))
    # The app's strict Content-Security-Policy: nothing of the inbox may break it.
    context.on(
        "console",
        lambda m: pytest.fail(f"CSP: {m.text}") if "Content Security" in m.text else None,
    )
    page.goto(base + "/console/")
    page.get_by_label("Username").fill("ann")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#online")).to_have_text("1 agent online")
    return page


def test_search_filters_views_and_labels(
    browser: Browser, inbox_server: str, screenshot_dir: Path
) -> None:
    page = _signed_in(browser, inbox_server)
    page.get_by_role("tab", name="Search").click()
    page.get_by_label("Search conversations").fill("退款")
    page.get_by_role("button", name="Search", exact=True).click()
    items = page.locator("#list .item")
    expect(items).to_have_count(1)
    expect(items.first).to_have_attribute("data-conversation", "zh-refund")
    expect(items.first.locator(".match")).to_contain_text("我想申请退款")

    # Words of another conversation; then a status that excludes it.
    page.get_by_label("Search conversations").fill("parcel")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(items).to_have_count(1)
    expect(items.first).to_have_attribute("data-conversation", "en-parcel")
    page.get_by_label("Status").select_option("queued")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#list")).to_have_text("No results.")

    # A saved view brings its filters back.
    page.get_by_label("Search conversations").fill("refund")
    page.once("dialog", lambda dialog: dialog.accept("Queued refunds"))
    page.get_by_role("button", name="Save as view").click()
    view = page.locator("#saved-views button.view", has_text="Queued refunds")
    expect(view).to_be_visible()
    page.get_by_label("Search conversations").fill("")
    page.get_by_label("Status").select_option("")
    view.click()
    expect(page.get_by_label("Search conversations")).to_have_value("refund")
    expect(page.get_by_label("Status")).to_have_value("queued")
    expect(items).to_have_count(1)
    expect(items.first).to_have_attribute("data-conversation", "queued-one")

    # A label on the Chinese conversation, then found by it, then taken off.
    page.get_by_label("Status").select_option("")
    page.get_by_label("Search conversations").fill("退款")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(items.first).to_have_attribute("data-conversation", "zh-refund")
    items.first.locator("button.open").click()
    expect(page.locator("#conv-title")).to_have_text("Conversation zh-refund")
    page.get_by_label("Add a label").select_option(label="vip")
    chip = page.locator("#conv-label-list .label-chip")
    expect(chip).to_have_count(1)
    expect(chip).to_contain_text("vip")
    page.get_by_label("Search conversations").fill("")
    page.get_by_label("Label", exact=True).select_option(label="vip")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(items).to_have_count(1)
    expect(items.first.locator(".label-chip")).to_have_text("vip")
    page.screenshot(path=str(screenshot_dir / "inbox-search-label.png"))
    page.get_by_role("button", name="Remove label vip").click()
    expect(chip).to_have_count(0)
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#list")).to_have_text("No results.")

    # A conversation back with the bot has no SLA running: no timer, nothing red (it had one).
    page.get_by_label("Label", exact=True).select_option("")
    page.get_by_label("Search conversations").fill("invoice")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(items).to_have_count(1)
    expect(items.first).to_have_attribute("data-conversation", "back-with-bot")
    expect(items.first.locator(".wait")).to_have_text("")
    expect(page.locator("#list .over")).to_have_count(0)
    # Its handoff's reason is history now (it read as still waiting for a person).
    expect(items.first.locator(".item-meta")).to_have_text("earlier: asked for a person")
    items.first.locator("button.open").click()
    expect(page.locator("#conv-title")).to_have_text("Conversation back-with-bot")
    expect(page.locator("#conv-meta")).to_contain_text("earlier: asked for a person")
    expect(page.locator("#timers .timer.over")).to_have_count(0)
    expect(page.locator("#timers .timer:visible")).to_have_count(0)
    # Its labels read lost on the network, then answered by a proxy's error page (a restart):
    # asked again quietly, not "The label was not changed." to an agent who changed nothing
    # (walks).
    label_reads = []

    def a_proxy_error_first(route):
        label_reads.append(route.request.url)
        if len(label_reads) == 1:
            route.abort("connectionreset")
        elif len(label_reads) == 2:
            route.fulfill(status=502, content_type="text/html", body="<h1>502 Bad Gateway</h1>")
        else:
            route.continue_()

    page.route("**/conversations/zh-refund/labels/", a_proxy_error_first)
    page.get_by_label("Search conversations").fill("退款")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(items.first).to_have_attribute("data-conversation", "zh-refund")
    items.first.locator("button.open").click()
    expect(page.locator("#conv-title")).to_have_text("Conversation zh-refund")
    deadline = time.monotonic() + 15
    while len(label_reads) < 3:
        assert time.monotonic() < deadline, "the labels were not read again"
        page.wait_for_timeout(100)
    expect(page.locator("#notice")).not_to_contain_text("label")
    page.unroute("**/conversations/zh-refund/labels/")

    # The live lists show labels too: put one on the queued conversation, then reload.
    page.get_by_role("tab", name="Queue").click()
    queued = page.locator('#list .item[data-conversation="queued-one"]')
    expect(queued.locator(".label-chip")).to_have_count(0)
    queued.locator("button.open").click()
    expect(page.locator("#conv-title")).to_have_text("Conversation queued-one")
    page.get_by_label("Add a label").select_option(label="billing")
    expect(queued.locator(".label-chip")).to_have_text("billing")
    page.reload()
    expect(queued.locator(".label-chip")).to_have_text("billing")
    page.get_by_role("tab", name="Search").click()
    page.get_by_label("Search conversations").fill("退款")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(items.first).to_have_attribute("data-conversation", "zh-refund")
    items.first.locator("button.open").click()
    expect(page.locator("#conv-title")).to_have_text("Conversation zh-refund")

    # The printable transcript of the open conversation.
    href = page.locator("#transcript-link").get_attribute("href")
    assert href == "/console/conversations/zh-refund/transcript/"
    printable = page.context.new_page()
    printable.goto(inbox_server + href)
    expect(printable.locator(".msg.visitor .text")).to_have_text("你好，我想申请退款")
    printable.close()


def test_canned_replies_library_shortcut_and_variables(
    browser: Browser, inbox_server: str, screenshot_dir: Path
) -> None:
    page = _signed_in(browser, inbox_server)

    # The library: an unknown variable is refused, then the reply is saved and edited.
    page.get_by_role("button", name="Canned replies").click()
    dialog = page.locator("#replies")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Shortcut").fill("refund")
    dialog.get_by_label("Title").fill("Refund on its way")
    dialog.get_by_label("Text").fill("Hi {{visitor.name}}, order {{order.id}} is refunded.")
    dialog.get_by_role("button", name="Save").click()
    expect(page.locator("#reply-error")).to_have_text(
        "These variables cannot be filled in: order.id"
    )
    dialog.get_by_label("Text").fill(
        "Hi {{visitor.name|there}}, {{agent.name}} here: your refund is on its way."
    )
    dialog.get_by_role("button", name="Save").click()
    saved = dialog.locator('.canned-reply[data-shortcut="refund"][data-locale=""]')
    expect(saved).to_contain_text("/refund — Refund on its way")
    dialog.get_by_label("Shortcut").fill("thanks")
    dialog.get_by_label("Title").fill("Thanks")
    dialog.get_by_label("Text").fill("Thanks for waiting, {{visitor.name}}!")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.locator(".canned-reply")).to_have_count(2)
    page.once("dialog", lambda d: d.accept())
    dialog.locator('.canned-reply[data-shortcut="thanks"] button.delete').click()
    expect(dialog.locator(".canned-reply")).to_have_count(1)
    dialog.get_by_label("Shortcut").fill("refund-late")
    dialog.get_by_label("Title").fill("Refund late")
    dialog.get_by_label("Text").fill("Sorry {{visitor.name}}, your refund is late.")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.locator(".canned-reply")).to_have_count(2)
    # The same shortcut for Chinese conversations: not offered in an English one.
    dialog.get_by_label("Shortcut").fill("refund")
    dialog.get_by_label("For conversations in").select_option("zh-hans")
    dialog.get_by_label("Title").fill("退款")
    dialog.get_by_label("Text").fill("{{agent.name}}：您的退款已处理。")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.locator('.canned-reply[data-locale="zh-hans"]')).to_contain_text(
        "/refund [zh-hans]"
    )
    expect(dialog.locator(".canned-reply")).to_have_count(3)
    # Billing's own /refund: offered before everyone's in Billing's conversations.
    dialog.get_by_label("Shortcut").fill("refund")
    dialog.get_by_label("For conversations in").select_option("")
    dialog.locator("#reply-team").select_option(label="Billing")
    dialog.get_by_label("Title").fill("Card refund")
    dialog.get_by_label("Text").fill(
        "Hi {{visitor.name|there}}, {{agent.name}} from billing: your card refund is on its way."
    )
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.locator(".canned-reply")).to_have_count(4)
    expect(dialog.locator('.canned-reply[data-team]:not([data-team=""])')).to_contain_text(
        "/refund [Billing] — Card refund"
    )
    # A Chinese shortcut: the server took it, and the reply box now expands it too.
    dialog.get_by_label("Shortcut").fill("订单")
    dialog.locator("#reply-team").select_option("")
    dialog.get_by_label("Title").fill("订单已发出")
    dialog.get_by_label("Text").fill("您的订单已发出。")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.locator(".canned-reply")).to_have_count(5)
    page.screenshot(path=str(screenshot_dir / "inbox-canned-replies.png"))
    dialog.get_by_role("button", name="Close").click()

    # Claim the queued conversation, then use the reply by its shortcut.
    page.locator('#list .item[data-conversation="queued-one"] button.open').click()
    page.get_by_role("button", name="Claim").click()
    expect(page.locator("#conv-owner")).to_have_text("You own this conversation.")
    reply = page.get_by_label("Reply", exact=True)
    reply.press_sequentially("/ref")
    offered = page.locator("#canned-offers button.shortcut")
    expect(offered).to_have_count(2)
    expect(offered.first).to_contain_text("/refund Card refund")
    expect(offered.first).to_have_attribute("aria-selected", "true")
    # The arrow keys choose; Tab takes the chosen one. An unknown value without a fallback is
    # left out, with the space before it.
    reply.press("ArrowDown")
    expect(offered.nth(1)).to_have_attribute("aria-selected", "true")
    page.screenshot(path=str(screenshot_dir / "inbox-shortcut.png"))
    reply.press("Tab")
    expect(reply).to_have_value("Sorry, your refund is late.")
    reply.fill("")
    reply.press_sequentially("/refund")
    reply.press("Tab")
    # No visitor name is known: the fallback is written, never the raw variable.
    sent = "Hi there, ann from billing: your card refund is on its way."
    expect(reply).to_have_value(sent)
    reply.press("Enter")
    agent_text = page.locator("#transcript .msg.agent .text")
    expect(agent_text).to_have_text([sent])

    # A {{…}} typed by hand is not sent.
    reply.fill("Hello {{visitor.name}}")
    reply.press("Enter")
    expect(page.locator("#notice")).to_contain_text("Fill in or remove")
    expect(agent_text).to_have_count(1)
    expect(reply).to_have_value("Hello {{visitor.name}}")
    reply.fill("")
    reply.press_sequentially("/订")
    reply.press("Tab")
    expect(reply).to_have_value("您的订单已发出。")
    reply.fill("")

    # The reports page counts the claimed conversation for ann.
    page.get_by_role("link", name="Reports").click()
    row = page.locator("#report tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("th")).to_have_text("ann")
    expect(row.locator(".handled")).to_have_text("1")
    expect(row.locator(".reasons")).to_have_text("Visitor pressed “talk to a person” 1")
    team_row = page.locator("#team-report tbody tr")
    expect(team_row).to_have_count(1)
    expect(team_row.locator("th")).to_have_text("Billing")


def _wait_until(page, condition, timeout_s: float = 10.0) -> None:
    """Route handlers run only while the test waits on the page, so poll through the page."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        page.wait_for_timeout(20)


def test_a_label_added_before_the_pane_read_the_labels_stays(browser: Browser, inbox_server: str):
    """A clean-clone CI run lost the agent's new label: the pane's read of the conversation's
    labels, sent when it opened, was answered after the add and showed none. Here that read is
    held and answered with what it found, after the add."""
    page = _signed_in(browser, inbox_server)
    held = []

    def hold_reads(route) -> None:
        if route.request.method == "GET":
            held.append((route, route.fetch()))
        else:
            route.continue_()

    page.route("**/conversations/en-parcel/labels/", hold_reads)
    page.get_by_role("tab", name="Search").click()
    page.get_by_label("Search conversations").fill("parcel")
    page.get_by_role("button", name="Search", exact=True).click()
    item = page.locator('#list .item[data-conversation="en-parcel"]')
    item.locator("button.open").click()
    expect(page.locator("#conv-title")).to_have_text("Conversation en-parcel")
    _wait_until(page, lambda: held)
    page.get_by_label("Add a label").select_option(label="vip")
    chip = page.locator("#conv-label-list .label-chip")
    expect(chip).to_contain_text("vip")
    expect(item.locator(".label-chip")).to_have_text("vip")

    route, before_the_add = held[0]
    assert before_the_add.json()["labels"] == []
    route.fulfill(response=before_the_add)
    page.wait_for_timeout(500)
    expect(chip).to_contain_text("vip")
    expect(item.locator(".label-chip")).to_have_text("vip")


# A conversation ann owns already, made by the one test that needs it (the others count the
# queue).
ASKS_OVERRIDE = """
from django.contrib.auth.models import User
from django.utils import timezone
from chatbot.models import Conversation, Message
asks = Conversation.objects.create(
    public_id="asks-override", status="agent", queued_at=timezone.now(),
    claimed_at=timezone.now(), handoff_reason="visitor_request",
    assigned_to=User.objects.get(username="ann"),
)
Message.objects.create(conversation=asks, role="visitor", text="Can you override my refund?")
Message.objects.create(
    conversation=asks, role="bot", source="llm", text="I'm not sure; these may help.",
    trace={"source": "llm", "grounded": False},
    citations=[{"number": 1, "title": "Refunds", "heading": "Timing", "url": "/help/2/",
                "suggested": True, "document_id": 2, "document_version": 1}],
)
"""


def test_an_agent_finds_articles_agents_only_ones_marked_and_links_a_public_one(
    browser: Browser, inbox_stack: tuple[str, dict], screenshot_dir: Path
) -> None:
    """A walk's agent had no way from the console to any article, nor to the agents-only
    procedures at all."""
    inbox_server, env = inbox_stack
    manage(env, "shell", "-c", ASKS_OVERRIDE)
    page = _signed_in(browser, inbox_server)
    # Every tab in view (the walk's English console cut "Left messages" and "Search" off).
    bar = page.locator("nav.tabs").bounding_box()
    for tab in page.get_by_role("tab").all():
        box = tab.bounding_box()
        assert box and box["x"] + box["width"] <= bar["x"] + bar["width"] + 0.5, tab.inner_text()
    page.get_by_role("tab", name="Mine").click()
    page.locator('#list .item[data-conversation="asks-override"] button.open').click()
    suggested = page.locator("#transcript .msg.bot .cites")
    expect(suggested.locator(".suggested-label")).to_have_text(
        "Suggested to the visitor as articles that may help (cited by no answer):"
    )
    page.get_by_placeholder("Search approved answers and articles").fill("refund override")
    articles = page.locator("#canned-results .canned-article")
    internal = articles.filter(has_text="Refund override procedure")
    expect(internal.locator(".agents-only")).to_have_text("agents only")
    expect(internal.locator(".excerpt")).to_contain_text("RF-OVR-7731")
    expect(internal.get_by_role("button")).to_have_count(0)  # never a link for the visitor
    public = articles.filter(has_text="Refunds — Timing")
    public.get_by_role("button", name="Insert the link to: Refunds").click()
    reply = page.get_by_label("Reply", exact=True)
    expect(reply).to_have_value(inbox_server + "/help/" + reply.input_value().split("/help/")[1])
    assert reply.input_value().endswith("/#timing")
    href = internal.get_by_role("link").get_attribute("href")
    opened = page.context.new_page()
    opened.goto(href)
    expect(opened.locator("body")).to_contain_text(
        "For agents only: visitors cannot see this page."
    )
    page.screenshot(path=str(screenshot_dir / "console-articles.png"))
