"""A change made by another process reaches a running server on the embedded default (no
Redis): `manage.py import_faqs` and `manage.py import_documents` run in processes of their own,
and the server once kept serving the old answer until someone saved something in the admin
(the knowledge version lived in each process's memory; a content walk)."""

import asyncio
import json
import time
from pathlib import Path

import pytest

from tests.servers import JsonSocket, daphne, manage, migrated, server_env, ws_connect

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def faqs_file(tmp_path: Path, answer: str) -> Path:
    path = tmp_path / "faqs.json"
    faq = {"question": "Do you ship to Norway?", "answer": answer, "paraphrases": []}
    path.write_text(json.dumps({"faqs": [faq]}))
    return path


async def answer_to(base: str, question: str) -> dict:
    async with ws_connect(base, "/ws/chat/") as ws:
        visitor = JsonSocket(ws)
        await visitor.until("hello")
        await visitor.send({"type": "message", "client_id": "q-1", "text": question})
        return await visitor.until("done", timeout=30)


def test_an_faq_import_from_the_command_line_reaches_the_running_server(tmp_path):
    env = server_env(tmp_path / "db.sqlite3", CELERY_TASK_ALWAYS_EAGER="1")
    migrated(env)
    manage(env, "import_faqs", str(faqs_file(tmp_path, "Yes, in 4-6 working days.")))
    with daphne(env, tmp_path / "daphne.log") as base:
        before = asyncio.run(answer_to(base, "Do you ship to Norway?"))
        assert (before["source"], before["message"]["text"]) == ("faq", "Yes, in 4-6 working days.")

        manage(env, "import_faqs", str(faqs_file(tmp_path, "Yes, now in 2 working days.")))
        deadline = time.monotonic() + 10
        while True:
            after = asyncio.run(answer_to(base, "Do you ship to Norway?"))
            if after["message"]["text"] != before["message"]["text"] or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert (after["source"], after["message"]["text"]) == ("faq", "Yes, now in 2 working days.")
