"""An answer that broke off, in chromium: it ended "Please ask again if you need more" and the
visitor had to retype the question (a walk's finding). The widget now offers "Try again" under
the newest such answer; a click asks again, and a whole answer needs no such offer."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import running_daphne
from tests.browser.test_widget import READY, _ask, _english_page, frames

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def simulated_model_server(
    tmp_path_factory: pytest.TempPathFactory, grounded_simulator: object
) -> Iterator[str]:
    """No FAQs and no help centre: every question goes to the simulator (the session's, which
    each test that scripts it resets after itself), the only tier."""
    with running_daphne(
        tmp_path_factory.mktemp("cut-off-server"), LOCAL_LLM_BASE_URL=grounded_simulator.base_url
    ) as base:
        yield base


def test_a_cut_off_answer_offers_try_again_and_a_click_asks_again(
    browser: Browser, simulated_model_server: str, grounded_simulator, screenshot_dir: Path
) -> None:
    from chatbot.llm.simulator import Faults

    grounded_simulator.reset(Faults(cut_after_tokens=3))
    page = _english_page(browser)
    try:
        page.goto(simulated_model_server + "/")
        widget = page.locator("chatbot-widget")
        widget.get_by_role("button", name="Open chat").click()
        page.wait_for_function(READY)
        cut = _ask(page, "Explain your warranty", 1)
        assert cut["message"]["cut_off"] is True, cut
        answer = widget.locator(".row.bot:not(.welcome)").first
        expect(answer.locator(".bubble")).to_contain_text("my answer was cut off")
        again = answer.get_by_role("button", name="Try again")
        expect(again).to_be_visible()
        page.screenshot(path=str(screenshot_dir / "widget-cut-off-try-again.png"))
        answer.get_by_role("button", name="Not helpful").click()  # asks the whole question
        ask = answer.get_by_role("group", name="Want a person, or shall I try again?")
        expect(ask.get_by_role("button")).to_have_text(["Try again", "Talk to a person"])
        again = ask.get_by_role("button", name="Try again")

        grounded_simulator.reset()
        again.click()
        page.wait_for_function("() => window.__frames.filter((f) => f.type === 'done').length > 1")
        whole = frames(page, "done")[1]
        retries = page.evaluate("() => window.__sent.filter((f) => f.type === 'retry')")
        assert [r["message_id"] for r in retries] == [cut["message"]["id"]]
        assert "cut_off" not in whole["message"], whole
        expect(widget.locator(".row.visitor .bubble")).to_have_text(
            ["Explain your warranty", "Explain your warranty"]
        )
        expect(widget.get_by_role("button", name="Try again")).to_have_count(0)

        page.reload()
        expect(widget.locator(".panel")).to_be_visible()  # open, as this tab left it
        page.wait_for_function(READY)
        expect(widget.locator(".row.bot:not(.welcome)")).to_have_count(2)
        expect(widget.get_by_role("button", name="Try again")).to_have_count(0)
    finally:
        grounded_simulator.reset()
        page.context.close()
