"""Browser tests: a real daphne server in a subprocess and Debian's chromium through Playwright.

Never runs `playwright install`; chromium comes from apt (installed here when missing and we
are root). Screenshots go to test-output/browser/."""

import os
import shutil
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.servers import daphne, demo_loaded, migrated, server_env

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT_DIR = REPO / "test-output" / "browser"


def _ensure_chromium() -> str:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], check=True, env=env, capture_output=True)
    subprocess.run(
        ["apt-get", "install", "-y", "chromium"], check=True, env=env, capture_output=True
    )
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium could not be installed")
    return CHROMIUM


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    return SCREENSHOT_DIR


@contextmanager
def running_daphne(tmp: Path, **env_overrides: str) -> Iterator[str]:
    """A migrated SQLite database in `tmp` and daphne on a free port; yields the base URL."""
    env = server_env(tmp / "db.sqlite3", **env_overrides)
    migrated(env)
    with daphne(env, tmp / "daphne.log") as base:
        yield base


@pytest.fixture(scope="session")
def daphne_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A daphne server on a free port with a fresh SQLite database; the LLM points at a closed
    port, so every answer comes from the fallback stage, paced word by word here (stored
    answers go out whole by default) so the widget's streaming is what the tests see."""
    with running_daphne(
        tmp_path_factory.mktemp("browser-server"), CHAT_STORED_ANSWER_TOKEN_DELAY_S="0.015"
    ) as base:
        yield base


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A daphne server with the demo store's FAQs (`manage.py load_demo`), English and Chinese;
    the LLM points at a closed port."""
    tmp = tmp_path_factory.mktemp("demo-server")
    env = server_env(tmp / "db.sqlite3")
    demo_loaded(env)
    with daphne(env, tmp / "daphne.log") as base:
        yield base


@pytest.fixture(scope="session")
def grounded_simulator() -> Iterator[object]:
    """The upstream simulator `grounded_demo_server` answers with; a test that scripts it
    (`reset(Faults(...))`) resets it after itself."""
    from chatbot.llm.simulator import UpstreamSimulator

    simulator = UpstreamSimulator().start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture(scope="session")
def grounded_demo_server(
    tmp_path_factory: pytest.TempPathFactory, grounded_simulator: object
) -> Iterator[str]:
    """The demo store (FAQs and help centre, `manage.py load_demo`) with the upstream simulator
    as its model: by default it answers from the sources it is given and cites them."""
    tmp = tmp_path_factory.mktemp("grounded-demo-server")
    env = server_env(tmp / "db.sqlite3", LOCAL_LLM_BASE_URL=grounded_simulator.base_url)
    demo_loaded(env)
    with daphne(env, tmp / "daphne.log") as base:
        yield base


class Chromium:
    """One chromium per test process, started again when its Playwright driver has gone: a
    driver that died (seen once in CI, "Playwright connection closed") would otherwise fail
    every later browser test of the process, not only the one it died in."""

    def __init__(self, executable: str) -> None:
        self.executable = executable
        self.playwright = None
        self.browser = None

    def current(self) -> object:
        if self.browser is not None and self._driver_alive():
            return self.browser
        if self.browser is not None:
            warnings.warn("the Playwright driver had gone; chromium started again", stacklevel=1)
            self.stop()
        from playwright.sync_api import sync_playwright

        self.playwright = sync_playwright().start()
        self.browser = self.playwright.chromium.launch(
            executable_path=self.executable, args=CHROMIUM_ARGS, headless=True
        )
        return self.browser

    def _driver_alive(self) -> bool:
        """Playwright has no public word for this: its connection knows it has closed, and
        the fiber running its event loop ends soon after."""
        closed = self.browser._impl_obj._connection._closed_error is not None
        return not closed and not self.browser._dispatcher_fiber.dead

    def stop(self) -> None:
        with suppress(Exception):
            self.browser.close()
        with suppress(Exception):
            self.playwright.stop()
        self.playwright = self.browser = None


@pytest.fixture(scope="session")
def chromium() -> Iterator[Chromium]:
    running = Chromium(_ensure_chromium())
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def browser(chromium: Chromium) -> object:
    return chromium.current()


@contextmanager
def checked_page(browser, **context_options: object) -> Iterator:
    """A page in a fresh context that fails the test on any uncaught script error or dialog
    (an injected `alert` shows as one)."""
    context = browser.new_context(**context_options)
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: errors.append("dialog: " + dialog.message))
    yield page
    context.close()
    assert errors == [], errors


def wait_until(page, expression: str, timeout_s: float = 10.0) -> None:
    """`page.wait_for_function` for pages whose Content-Security-Policy has no 'unsafe-eval'
    (the console): Playwright polls a string predicate through eval in the page, which such a
    page refuses once the first check was false (CI: EvalError in a console test under load);
    `evaluate` is not subject to the page's policy."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"not true within {timeout_s:g} s: {expression}"
        page.wait_for_timeout(100)


@contextmanager
def host_site(port: int, body: str, headers: dict[str, str] | None = None) -> Iterator[str]:
    """Another site on 127.0.0.1:`port` (its own origin) serving one HTML page that embeds the
    widget; yields its URL."""
    page = body.encode()

    class HostPage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), HostPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.shutdown()
