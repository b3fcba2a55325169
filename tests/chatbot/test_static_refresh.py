"""`make run` serves a static file rebuilt while it runs whole: WhiteNoise sends the size it saw
when the process started unless it looks again (WHITENOISE_AUTOREFRESH, which `make run`
sets), and a widget rebuilt by `make widget` went out cut short, a script that does not parse."""

import uuid
from pathlib import Path

import httpx
import pytest

from tests.servers import REPO, daphne, migrated, server_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_a_file_rebuilt_while_serving_is_served_whole(tmp_path: Path) -> None:
    env = server_env(tmp_path / "db.sqlite3", WHITENOISE_AUTOREFRESH="1")
    migrated(env)
    probe = REPO / "static" / "chatbot" / f"probe-{uuid.uuid4().hex}.js"
    probe.write_text("var built = 1;\n", encoding="utf-8")
    try:
        with daphne(env, tmp_path / "daphne.log") as base:
            url = f"{base}/static/chatbot/{probe.name}"
            assert httpx.get(url).text == "var built = 1;\n"
            rebuilt = "var built = 2; // and longer than the first build\n"
            probe.write_text(rebuilt, encoding="utf-8")
            assert httpx.get(url).text == rebuilt
    finally:
        probe.unlink()
