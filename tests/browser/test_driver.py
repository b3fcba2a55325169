"""The browser tests' own chromium comes back when its Playwright driver dies."""

import os
import signal
import subprocess

import pytest
from playwright.sync_api import Error as PlaywrightError

from tests.browser.conftest import Chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_dead_driver_is_replaced_before_the_next_test(chromium: Chromium):
    first = chromium.current()
    assert first.new_page().evaluate("1 + 1") == 2
    # Every driver this process runs: one replaced earlier in the session may linger beside
    # the current one (CI once found two).
    drivers = subprocess.run(
        ["pgrep", "-P", str(os.getpid()), "-f", "run-driver"], capture_output=True, text=True
    ).stdout.split()
    assert drivers
    for driver in drivers:
        os.kill(int(driver), signal.SIGKILL)
    with pytest.raises(PlaywrightError):
        first.new_context()  # the test it died under fails
    with pytest.warns(UserWarning, match="driver had gone"):
        second = chromium.current()
    assert second is not first
    assert second.new_page().evaluate("2 + 2") == 4
