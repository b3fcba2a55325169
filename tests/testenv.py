"""Loaded with `-p tests.testenv` (pyproject addopts) so it runs before pytest-django reads the
settings: tests get a throwaway secret key and never reach a model hub.

With CHATBOT_TEST_POSTGRES=1 the run uses a real PostgreSQL 16 with pgvector from the `pgserver`
package (Debian's PostgreSQL here has no pgvector), started for this run in a temporary folder."""

import os
import tempfile
from urllib.parse import quote

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# The ASGI app, imported by conftest before the test database exists, would read the database
# from its warm-up thread; the test of the warm-up turns it on.
os.environ.setdefault("WARM_UP_RETRIEVAL", "0")
# A copy that loads slowly on a busy machine would load in the background and answer the next
# question from the content before an edit; the tests of that path set the limit to 0.
os.environ.setdefault("KNOWLEDGE_COPY_BACKGROUND_LOAD_MS", "600000")
# Nor may a thread reload copies behind the tests' backs (the test of the follower runs it).
os.environ.setdefault("KNOWLEDGE_FOLLOW_S", "0")
# Nor a process's own beat kick drains between a test's steps (the test of that beat runs it).
os.environ.setdefault("QUEUED_ANSWERS_IN_PROCESS", "0")

if os.environ.get("CHATBOT_TEST_POSTGRES") == "1":
    import logging

    import pgserver

    # pgserver logs its shutdown at exit, after pytest closed the streams.
    logging.getLogger("pgserver").setLevel(logging.WARNING)

    _pg = pgserver.get_server(tempfile.mkdtemp(prefix="chatbot-pg-"), cleanup_mode="delete")
    _socket_dir = _pg.get_uri().split("host=", 1)[1]
    os.environ["DATABASE_URL"] = f"postgres://postgres@{quote(_socket_dir, safe='')}/postgres"
