"""The web process's access log is the app's own JSON lines, without query strings: daphne wrote
NCSA text between them, and `/widget/greeting?path=…` carried the page a visitor was on."""

import asyncio
import json
import urllib.request
from collections.abc import Iterator

import pytest

from tests.servers import DaphneProcess, migrated, server_env, ws_connect


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneProcess]:
    tmp = tmp_path_factory.mktemp("access")
    env = server_env(tmp / "db.sqlite3")
    migrated(env)
    server = DaphneProcess(env, tmp / "daphne.log").start()
    try:
        yield server
    finally:
        server.stop()


def _access_lines(log: str) -> list[dict]:
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("logger") == "chatbot.access"]


async def _visit_socket(base: str) -> None:
    async with ws_connect(base, "/ws/chat/?locale=en") as ws:
        assert json.loads(await ws.recv())["type"] == "hello"


@pytest.mark.slow
def test_access_lines_are_json_without_query_strings(served: DaphneProcess) -> None:
    page = "/orders/4711?email=jane.roe%40example.com"
    greeting = f"/widget/greeting?path={urllib.request.quote(page, safe='')}&locale=en"
    with urllib.request.urlopen(served.base + greeting, timeout=10) as response:
        assert response.status == 200
    urllib.request.urlopen(served.base + "/healthz", timeout=10).close()
    asyncio.run(_visit_socket(served.base))
    served.stop()  # every line written
    log = served.log()

    assert "jane.roe" not in log and "4711" not in log
    assert '] "GET ' not in log and "WSCONNECT" not in log, "no NCSA lines beside the JSON ones"
    lines = _access_lines(log)
    [http] = [line for line in lines if line["path"] == "/widget/greeting"]
    assert http["method"] == "GET" and http["status"] == 200 and http["protocol"] == "http"
    assert http["duration_ms"] >= 0 and http["client"].startswith("127.0.0.1:")
    assert not [line for line in lines if line["path"] in ("/healthz", "/readyz")], "at DEBUG"
    sockets = [line["action"] for line in lines if line["path"] == "/ws/chat/"]
    assert sockets == ["connected", "disconnected"]
