"""Request bodies at the web server: one over its path's limit is refused before it is read, and
no request leaves its body in memory after the answer (a security walk grew a daphne process
by 1.1 GB with anonymous 50 MB posts)."""

import asyncio
import gc
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from django.core.handlers.asgi import ASGIHandler, ASGIRequest

from chatbot.ops.http_handler import CycleFreeASGIHandler
from chatbot.security.body_limits import FORM_OVERHEAD_BYTES, body_limit, has_session_cookie
from tests.servers import daphne, migrated, server_env

BOUNDARY = "XyZ"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    tmp = tmp_path_factory.mktemp("bodies")
    env = server_env(tmp / "db.sqlite3")
    migrated(env)
    with daphne(env, tmp / "daphne.log") as base:
        address = urlsplit(base)
        yield address.hostname or "127.0.0.1", address.port or 80


def _exchange(
    address: tuple[str, int], head: bytes, body_chunks: list[bytes]
) -> tuple[bytes, float]:
    """Sends `head`, then the chunks one by one while the server lets it; the answer's first
    line and how long after the head it came."""
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(head)
        started = time.monotonic()
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except OSError:
            pass  # the server answered and closed: what is left is not read
        answer = sock.recv(4096)
        return answer.split(b"\r\n", 1)[0], time.monotonic() - started


@pytest.mark.slow
def test_a_body_declared_over_the_limit_is_refused_before_it_is_sent(server):
    head = (
        b"POST /widget/greeting HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: multipart/form-data; boundary=XyZ\r\n"
        b"Content-Length: 52428800\r\n\r\n"
    )
    status, after = _exchange(server, head, [])
    assert status == b"HTTP/1.1 413 Payload Too Large"
    assert after < 5, "answered without waiting for 50 MB that never came"


@pytest.mark.slow
def test_a_chunked_body_is_refused_once_it_passes_the_limit(server):
    head = (
        b"POST /chat/attachments/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: multipart/form-data; boundary=XyZ\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    megabyte = b"100000\r\n" + b"a" * 0x100000 + b"\r\n"
    status, _ = _exchange(server, head, [megabyte] * 40)  # 40 MB against 10 MB
    assert status == b"HTTP/1.1 413 Payload Too Large"


@pytest.mark.slow
def test_a_body_under_the_limit_reaches_the_application(server):
    form = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--{BOUNDARY}--\r\n'
    ).encode()
    head = (
        b"POST /widget/greeting HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: multipart/form-data; boundary=XyZ\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(form)
    )
    status, _ = _exchange(server, head, [form])
    assert status == b"HTTP/1.1 403 Forbidden", "Django's answer (no CSRF token), not 413"


def test_only_uploads_may_be_large(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_000_000
    settings.CHAT_ATTACHMENT_MAX_BYTES = 10_000_000
    settings.KNOWLEDGE_MAX_UPLOAD_BYTES = 100_000_000
    small = 2_000_000 + FORM_OVERHEAD_BYTES
    assert body_limit("/widget/greeting", has_session=False) == small
    assert body_limit("/admin/login/", has_session=False) == small, "anonymous: no upload"
    assert body_limit("/admin/knowledge/document/upload/", has_session=True) == (
        100_000_000 + FORM_OVERHEAD_BYTES
    )
    assert body_limit("/chat/attachments/", has_session=False) == 10_000_000 + FORM_OVERHEAD_BYTES
    assert body_limit("/console/conversations/x/attachments/", has_session=True) == (
        10_000_000 + FORM_OVERHEAD_BYTES
    )
    assert has_session_cookie([b"csrftoken=a; sessionid=b"])
    assert not has_session_cookie([b"xsessionid=b", b"csrftoken=sessionid=b"])


def _garbage_requests(handler: ASGIHandler) -> int:
    """ASGIRequest objects a request through `handler` leaves for the cycle collector."""
    body = b"a=" + b"b" * 100_000
    messages = [
        {"type": "http.request", "body": body, "more_body": False},
        {"type": "http.disconnect"},  # daphne says so once the answer is out
    ]

    async def receive() -> dict:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)
        raise AssertionError("not reached")

    async def send(message: dict) -> None:
        await asyncio.sleep(0)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/widget/greeting",
        "raw_path": b"/widget/greeting",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
        "scheme": "http",
        "http_version": "1.1",
    }
    gc.collect()
    gc.disable()
    try:
        asyncio.run(handler(scope, receive, send))
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        found = sum(isinstance(o, ASGIRequest) for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    return found


@pytest.mark.django_db(transaction=True)
def test_a_request_leaves_no_cycle_holding_it(settings):
    """Django's own handler does (ticket #36700): when it no longer does, the subclass can go."""
    settings.ALLOWED_HOSTS = ["testserver"]
    assert _garbage_requests(ASGIHandler()) == 1, "Django's handler still leaves the cycle"
    assert _garbage_requests(CycleFreeASGIHandler()) == 0
