"""Browser tests: a real daphne server in a subprocess and Debian's chromium through Playwright.

Never runs `playwright install`; chromium comes from apt (installed here when missing and we
are root). Screenshots go to test-output/browser/."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    return SCREENSHOT_DIR


@contextmanager
def running_daphne(tmp: Path, **env_overrides: str) -> Iterator[str]:
    """A migrated SQLite database in `tmp` and daphne on a free port; yields the base URL."""
    env = {
        **os.environ,
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "LOCAL_LLM_BASE_URL": "http://127.0.0.1:9/v1",
        "OPENAI_API_KEY": "",
        "OPENAI_BASE_URL": "",
        "REDIS_URL": "",
        "PYTHONUNBUFFERED": "1",
        **env_overrides,
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
    )
    port = _free_port()
    log_path = tmp / "daphne.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [_bin("daphne"), "-b", "127.0.0.1", "-p", str(port), "chatbot.asgi:application"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"daphne exited early:\n{log_path.read_text(errors='replace')}")
            try:
                # Ready once the embedding model is loaded, not merely listening.
                with urllib.request.urlopen(base + "/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"daphne did not answer:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def daphne_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A daphne server on a free port with a fresh SQLite database; the LLM points at a closed
    port, so every answer comes from the fallback stage (streamed word by word)."""
    with running_daphne(tmp_path_factory.mktemp("browser-server")) as base:
        yield base


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    executable = _ensure_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
