"""The FAQ admin end to end in a real browser: create an FAQ, generate variants with the real
local model, approve one, and the widget serves it."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import CHROMIUM_ARGS, REPO, running_daphne  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.llm]

QUESTION = "Can I return sale items?"
ANSWER = "Yes, sale items can be returned within 30 days, unworn and with their tags."
PASSWORD = "admin-test-password-123"


@pytest.fixture(scope="module")
def server_with_model(tmp_path_factory, local_model: str) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("admin-server")
    with running_daphne(tmp, LOCAL_LLM_BASE_URL=local_model) as base:
        env = {
            **os.environ,
            "DEBUG": "1",
            "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
            "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
        }
        subprocess.run(
            [sys.executable, "manage.py", "createsuperuser", "--noinput", "--username", "admin",
             "--email", "admin@example.com"],
            cwd=REPO, env=env, check=True, capture_output=True,
        )  # fmt: skip
        yield base


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def ask(page: Page, text: str) -> str:
    widget = page.locator("chatbot-widget")
    answers = widget.locator(".row.bot:not(.welcome) .bubble")
    before = answers.count()
    widget.locator("textarea").fill(text)
    widget.locator("textarea").press("Enter")
    expect(answers).to_have_count(before + 1, timeout=20_000)
    # Feedback buttons appear once the answer is done.
    rows = widget.locator(".row.bot:not(.welcome)")
    expect(rows.nth(before).locator(".fb button")).to_have_count(2, timeout=20_000)
    return answers.nth(before).inner_text()


def test_create_generate_approve_and_serve(page: Page, server_with_model: str, screenshot_dir):
    base = server_with_model
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()

    page.goto(f"{base}/admin/knowledge/faq/add/")
    page.fill("#id_question", QUESTION)
    page.fill("#id_answer", ANSWER)
    page.fill("#id_paraphrases-0-text", "are discounted items returnable")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist .success")).to_be_visible()

    page.locator("#result_list tbody tr").filter(has_text=QUESTION).locator(
        "input.action-select"
    ).check()
    page.select_option("select[name=action]", "generate_variants")
    page.click("button[name=index]")
    expect(page.locator(".messagelist")).to_contain_text("Generating variants for 1 FAQ")
    # The job runs off the request (a thread on the embedded default): the list says so on
    # a reload.
    row = page.locator("#result_list tbody tr").filter(has_text=QUESTION)
    deadline = time.monotonic() + 120
    while "done:" not in row.inner_text():
        assert time.monotonic() < deadline, row.inner_text()
        page.wait_for_timeout(1000)
        page.reload()
    page.screenshot(path=str(screenshot_dir / "admin-faq-generated.png"), full_page=True)

    page.goto(f"{base}/admin/knowledge/answervariant/?status__exact=draft&origin__exact=generated")
    drafts = page.locator("#result_list tbody tr")
    assert drafts.count() >= 1, "the local model produced at least one draft rewording"
    generated = drafts.first.locator("th, td.field-text").first.inner_text().strip()
    drafts.first.locator("input.action-select").check()
    page.select_option("select[name=action]", "approve")
    page.click("button[name=index]")
    review = page.locator("#variant-review tbody tr")
    expect(review).to_have_count(1)
    expect(review).to_contain_text(ANSWER)  # the text is read beside the answer it rewords
    flagged = review.get_attribute("class") == "variant-flagged"
    page.screenshot(path=str(screenshot_dir / "admin-variant-review.png"), full_page=True)
    submit = page.locator("#content form input[type=submit]")
    if flagged:  # a small model's rewording often drops a fact: approved on its own page
        expect(submit).to_be_disabled()  # "Approve 0 variant(s)" would do nothing
        page.goto(f"{base}/admin/knowledge/answervariant/?status__exact=draft")
        page.locator("#result_list tbody tr").first.locator("th a, td a").first.click()
        page.select_option("#id_status", "approved")
        page.click("input[name=_save]")
        expect(page.locator(".messagelist .success")).to_be_visible()
    else:
        submit.click()
        expect(page.locator(".messagelist")).to_contain_text("1 variant(s) approved")

    page.goto(f"{base}/")
    page.locator("chatbot-widget").locator("button.launcher").click()
    served = [ask(page, QUESTION), ask(page, QUESTION)]
    page.screenshot(path=str(screenshot_dir / "widget-serves-approved-variant.png"))
    assert ANSWER in served, "the canonical answer is one of the approved variants"
    assert generated in served, "the approved generated rewording is served too"
