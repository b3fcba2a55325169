"""The console under a queue flood, in chromium (issue 16, finding 3): the tabs count the whole
queue and the agent pages to the real visitor queued behind the junk."""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.servers import create_agent, daphne, manage, migrated, server_env

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

PASSWORD = "pw-ann-7710"
JUNK = 12
SEED_JUNK = f"""
from datetime import timedelta
from django.utils import timezone
from chatbot.models import Conversation
now = timezone.now()
Conversation.objects.bulk_create([
    Conversation(status="queued", handoff_reason="visitor_request",
                 queued_at=now - timedelta(seconds=600 - n), visitor_seen_at=now)
    for n in range({JUNK})
])
"""


@pytest.fixture(scope="module")
def flooded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """daphne with a page size of 5 and 12 queued conversations before anyone."""
    tmp = tmp_path_factory.mktemp("queue-server")
    env = server_env(tmp / "db.sqlite3", HANDOFF_QUEUE_PAGE_SIZE="5")
    migrated(env)
    create_agent(env, "ann", PASSWORD)
    manage(env, "shell", "-c", SEED_JUNK)
    with daphne(env, tmp / "daphne.log") as base:
        yield base


def test_the_console_counts_and_pages_to_the_visitor_behind_a_flood(
    browser: Browser, flooded_server: str
) -> None:
    base = flooded_server
    # The agent signs in first: with nobody online the widget offers to leave a message.
    agent = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    agent.set_default_timeout(10_000)
    agent.on("pageerror", lambda exc: pytest.fail(f"page error: {exc}"))
    agent.goto(base + "/console/")
    agent.get_by_label("Username").fill("ann")
    agent.get_by_label("Password").fill(PASSWORD)
    agent.get_by_role("button", name="Sign in").click()
    expect(agent.locator("#count-queue")).to_have_text(str(JUNK))

    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    context.set_default_timeout(10_000)
    visitor = context.new_page()
    visitor.goto(base + "/")
    widget = visitor.locator("chatbot-widget")
    widget.locator("button.launcher").click()
    widget.get_by_role("button", name="Talk to a person").click()
    expect(widget.locator(".row.notice").last).to_contain_text(f"You're number {JUNK + 1}")

    expect(agent.locator("#count-queue")).to_have_text(str(JUNK + 1))
    expect(agent.locator("#count-open")).to_have_text(str(JUNK + 1))
    items = agent.locator("#list .item")
    expect(items).to_have_count(5)
    expect(agent.locator("#list .pager .range")).to_have_text(f"1–5 of {JUNK + 1}")
    newer = agent.get_by_role("button", name="Newer ›")
    newer.click()
    expect(agent.locator("#list .pager .range")).to_have_text(f"6–10 of {JUNK + 1}")
    newer.click()
    expect(agent.locator("#list .pager .range")).to_have_text(f"11–13 of {JUNK + 1}")
    expect(items).to_have_count(3)
    expect(newer).to_be_disabled()
    # The real visitor is the last one, with a preview-less item like any handoff by button.
    real = items.last
    expect(real.locator(".item-meta")).to_contain_text("asked for a person")
    real.locator("button").click()
    agent.get_by_role("button", name="Claim").click()
    expect(agent.locator("#conv-owner")).to_have_text("You own this conversation.")
    expect(widget.locator(".row.notice").last).to_contain_text("ann from our team has joined")
    expect(agent.locator("#count-queue")).to_have_text(str(JUNK))
    # The page shown is read again as the queue changes: 11-12 of 12 now.
    expect(agent.locator("#list .pager .range")).to_have_text(f"11–12 of {JUNK}")
    agent.get_by_role("button", name="‹ Older").click()
    expect(agent.locator("#list .pager .range")).to_have_text(f"6–10 of {JUNK}")
    context.close()
