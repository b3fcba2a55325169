"""The widget's appearance page in the admin, in a real browser: the preview follows the form as
the owner types, and the snippet it shows is what the saved page embeds."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import checked_page, running_daphne
from tests.servers import manage, server_env

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(120)]

PASSWORD = "appearance-test-password-1"


@pytest.fixture(scope="module")
def admin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("appearance-server")
    with running_daphne(tmp) as base:
        env = server_env(tmp / "db.sqlite3", DJANGO_SUPERUSER_PASSWORD=PASSWORD)
        manage(env, "createsuperuser", "--noinput", "--username", "owner", "--email", "o@x.io")
        yield base


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with checked_page(browser, viewport={"width": 1400, "height": 1000}) as page:
        yield page


def test_the_preview_follows_the_form_and_the_snippet_is_saved(
    page: Page, admin_server: str, screenshot_dir: Path
) -> None:
    page.goto(admin_server + "/admin/login/?next=/admin/chatbot/widgetappearance/")
    page.get_by_label("Username").fill("owner")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(admin_server + "/admin/chatbot/widgetappearance/add/")

    preview = page.frame_locator("#widget-preview")
    launcher = preview.locator("chatbot-widget button.launcher")
    expect(launcher).to_be_visible()
    page.get_by_label("Color").fill("#b45309")
    page.get_by_label("Position").select_option("left")
    page.get_by_label("Launcher text").fill("Ask us")
    page.get_by_label("Welcome (English)").fill("Hello from Northwind!")
    expect(launcher).to_contain_text("Ask us")
    expect(launcher).to_have_css("background-color", "rgb(180, 83, 9)")
    box, frame = launcher.bounding_box(), page.locator("#widget-preview").bounding_box()
    assert box is not None and frame is not None
    assert box["x"] - frame["x"] < 100, (box, frame)  # bottom left of the page now
    expect(launcher).to_have_accessible_name("Ask us")  # named by the words it shows
    page.locator("#widget-preview").scroll_into_view_if_needed()
    launcher.click()
    expect(preview.locator("chatbot-widget .row.welcome .bubble")).to_have_text(
        "Hello from Northwind!"
    )
    expect(launcher).to_have_attribute("aria-expanded", "true")
    expect(launcher).to_have_accessible_name("Ask us")
    snippet = page.locator("#embed-snippet-text")
    expect(snippet).to_have_value(re.compile(r'data-color="#b45309".*data-position="left".*Ask us'))
    page.screenshot(path=str(screenshot_dir / "admin-widget-appearance.png"), full_page=True)

    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    expect(snippet).to_have_value(re.compile(r'data-welcome-en="Hello from Northwind!"'))
