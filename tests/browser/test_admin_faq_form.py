"""The FAQ change page in chromium: answer variants and paraphrases with long texts stay within
the page (they ran past its right edge), tags show as a comma list and the locale as a choice."""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import checked_page, running_daphne
from tests.servers import manage, server_env

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(120)]

PASSWORD = "faq-form-test-password-1"
SEED = """
from knowledge import services
faq = services.faq_save(question="How long is delivery?", answer="Three to five days.",
                        tags=["shipping", "time"])
long = "Orders usually arrive within three to five working days " * 8
services.variants_add(faq=faq, texts=[long], origin="human", status="draft", created_by="ann")
faq.paraphrases.create(text="When will my parcel arrive " * 10, origin="human")
print(faq.pk)
"""


@pytest.fixture(scope="module")
def admin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("faq-form-server")
    with running_daphne(tmp) as base:
        env = server_env(tmp / "db.sqlite3", DJANGO_SUPERUSER_PASSWORD=PASSWORD)
        manage(env, "createsuperuser", "--noinput", "--username", "owner", "--email", "o@x.io")
        manage(env, "shell", "-c", SEED)
        yield base


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with checked_page(browser, viewport={"width": 1280, "height": 900}) as page:
        yield page


def test_the_faq_page_fits_its_width(page: Page, admin_server: str) -> None:
    page.goto(admin_server + "/admin/login/?next=/admin/knowledge/faq/")
    page.get_by_label("Username").fill("owner")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    # The list's help on phrasings is not under the buttons that float up beside the title (a
    # walk read its first line cut off at this width).
    help_box = page.locator(".faq-phrasings-help").bounding_box()
    for tool in page.locator(".object-tools a").all():
        box = tool.bounding_box()
        apart = (
            box["y"] + box["height"] <= help_box["y"]
            or box["y"] >= help_box["y"] + help_box["height"]
        )
        assert apart, (box, help_box)
    page.get_by_role("link", name="How long is delivery?").click()
    expect(page.locator("#id_tags")).to_have_value("shipping, time")
    expect(page.locator("select#id_locale")).to_have_value("en")
    expect(page.locator(".field-hit_count .readonly")).to_have_text("0")
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"
    # Seen in an admin walk: the Origin choice's longest label sized its column to ~430 px and
    # left the phrasing's text box ~150 px wide.
    text = page.locator(".inline-group .tabular td.field-text textarea").first.bounding_box()
    origin = page.locator(".inline-group .tabular td.field-origin select").first.bounding_box()
    assert text["width"] > 2 * origin["width"], (text, origin)
