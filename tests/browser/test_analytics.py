"""The analytics page in a real browser: a superuser signs in to the admin, follows the link
from the admin index, and sees the seeded demo figures drawn as charts."""

import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import REPO, running_daphne

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "analytics-test-password-123"


@pytest.fixture(scope="module")
def seeded_server(tmp_path_factory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("analytics-server")
    with running_daphne(tmp) as base:
        env = {
            **os.environ,
            "DEBUG": "1",
            "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
            "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
        }
        env.pop("DJANGO_SETTINGS_MODULE", None)
        for args in (
            ["createsuperuser", "--noinput", "--username", "admin", "--email", "a@example.com"],
            ["seed_analytics_demo"],
        ):
            subprocess.run(
                [sys.executable, "manage.py", *args], cwd=REPO, env=env, check=True,
                capture_output=True,
            )  # fmt: skip
        yield base


def test_the_dashboard_draws_the_seeded_figures(browser: Browser, seeded_server, screenshot_dir):
    base = seeded_server
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{base}/admin/login/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.click("#reports-module a:text('Analytics')")
        expect(page).to_have_url(f"{base}/admin/analytics/")

        cards = page.locator("#analytics .card")
        expect(cards.filter(has_text="conversations").locator(".value")).to_have_text("44")
        expect(cards.filter(has_text="deflected").locator(".value")).to_have_text(
            re.compile(r"[1-9]\d%")
        )
        charts = page.locator("svg.chart")
        expect(charts).to_have_count(7)
        for index in range(7):
            expect(charts.nth(index)).to_be_visible()
        # Every source appears as coloured bars in the per-day chart.
        source_bars = page.locator("#sources svg.chart rect")
        assert source_bars.count() > 10
        for name in ("FAQ", "Cache", "Model", "Fallback", "Agent"):  # named, not `llm`
            assert page.locator(f"#sources rect title:text-matches(' {name}: ')").count() > 0
        expect(page.locator("#ttft table")).to_contain_text("Model")
        expect(page.locator("#unanswered table")).to_contain_text("gift wrapping")
        expect(page.locator("#resolution")).to_contain_text("Re-contact")
        expect(page.locator("#analytics .empty")).to_have_count(0)
        # A visitor's question of one unbroken run wraps in its cell: the page scrolled 57,000
        # px sideways in an admin walk.
        page.locator("#unanswered table td").first.evaluate(
            "td => td.textContent = 'a'.repeat(5000)"
        )
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

        page.screenshot(path=str(screenshot_dir / "analytics-dashboard.png"), full_page=True)
    finally:
        context.close()
