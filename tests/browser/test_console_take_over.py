"""A lead takes over a conversation another agent owns, in chromium: Ann claimed the visitor
and went quiet; Lena, who may change conversations, opens it from "All open", assigns it to
herself and answers. Before, only the owner could move a claimed conversation."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.test_console_assign import PASSWORD, _signed_in, _visitor_asks_for_a_person
from tests.servers import create_agent, daphne, manage, migrated, server_env

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

LEAD = """
from django.contrib.auth.models import Permission, User
User.objects.get(username="lena").user_permissions.add(
    Permission.objects.get(codename="change_conversation")
)
"""


@pytest.fixture(scope="module")
def lead_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """daphne with an agent, ann, and a lead, lena."""
    tmp = tmp_path_factory.mktemp("take-over-server")
    env = server_env(tmp / "db.sqlite3", HANDOFF_CLAIM_TIMEOUT_S="600")
    migrated(env)
    create_agent(env, "ann", PASSWORD)
    create_agent(env, "lena", PASSWORD)
    manage(env, "shell", "-c", LEAD)
    with daphne(env, tmp / "daphne.log") as base:
        yield base


def test_a_lead_takes_over_what_another_agent_owns(
    browser: Browser, lead_server: str, screenshot_dir: Path
) -> None:
    base = lead_server
    ann = _signed_in(browser, base, "ann")
    lena = _signed_in(browser, base, "lena")
    try:
        _visitor_asks_for_a_person(browser, base)
        ann.locator("#list .item button").click()
        ann.get_by_role("button", name="Claim").click()
        expect(ann.locator("#conv-owner")).to_have_text("You own this conversation.")
        ann.get_by_label("Reply").fill("Let me check that for you")

        lena.get_by_role("tab", name="All open").click()
        lena.locator("#list .item button").click()
        expect(lena.locator("#conv-owner")).to_have_text("Owned by ann.")
        assign_to = lena.get_by_label("Assign to")
        expect(assign_to.locator("option")).to_have_text(["lena (online, 0 of 3 open)"])
        lena.get_by_role("button", name="Assign").click()
        expect(lena.locator("#conv-owner")).to_have_text("You own this conversation.")
        line = "lena took this conversation over from ann."
        lines = ["ann claimed this conversation.", line]
        expect(lena.locator("#transcript .msg.event .text")).to_have_text(lines)
        expect(lena.get_by_label("Reply")).to_be_visible()
        lena.screenshot(path=str(screenshot_dir / "console-take-over.png"))

        expect(ann.locator("#conv-owner")).to_have_text("Owned by lena.")
        expect(ann.locator("#notice")).to_have_text(
            "lena has this conversation now; it is no longer yours. "
            "Your reply was not sent: “Let me check that for you”"
        )
        expect(ann.locator("#assign-form")).to_be_hidden()
        expect(ann.locator("#composer")).to_be_hidden()
        expect(ann.locator("#transcript .msg.event .text")).to_have_text(lines)
    finally:
        for context in list(browser.contexts):
            context.close()
