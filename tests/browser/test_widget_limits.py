"""The widget refused for too many sockets from its network, in chromium (issue 16, finding 4):
one notice with the server's text, no reconnect before retry_after, then connected as usual."""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import running_daphne
from tests.browser.test_widget import READY, RECORDER, frames

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def one_socket_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A burst of one socket per client, refilled at one every 2 s."""
    with running_daphne(
        tmp_path_factory.mktemp("limits-server"), CHAT_CLIENT_LIMITS="connect=30/1"
    ) as base:
        yield base


def test_a_refused_widget_says_why_once_and_waits_before_reconnecting(
    browser: Browser, one_socket_server: str
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    context.set_default_timeout(10_000)
    context.add_init_script(RECORDER)
    first = context.new_page()
    first.goto(one_socket_server + "/")
    first.locator("chatbot-widget").locator("button.launcher").click()
    first.wait_for_function(READY)
    second = context.new_page()
    second.goto(one_socket_server + "/")
    widget = second.locator("chatbot-widget")
    widget.locator("button.launcher").click()
    notice = widget.locator(".row.notice")
    expect(notice).to_have_text(
        "There are too many chats from your network right now. Please wait a moment and try again."
    )
    second.wait_for_function(READY)  # reconnected once the bucket refilled
    errors = frames(second, "error")
    assert [e["code"] for e in errors] == ["too_many_requests"], "refused once, then waited"
    assert errors[0]["retry_after"] > 0
    expect(notice).to_have_count(0)
    context.close()
