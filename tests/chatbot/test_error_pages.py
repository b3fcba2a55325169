"""The pages a visitor or an admin sees when a request goes wrong: Django's 400, 403, 404 and 500
in the visitor's language instead of Django's bare English ones, a refused host logged as one
line instead of a traceback, and nginx's own page while no web process answers."""

import logging
import socket
import subprocess
import time

import httpx
import pytest
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory
from django.utils import translation
from django.views import defaults

from chatbot.ops import production
from tests.servers import REPO, free_port

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("language", "heading", "body"),
    [
        ("en", "Page not found", "There is no page at this address"),
        ("zh-hans", "找不到页面", "这个地址没有页面"),
    ],
)
def test_a_missing_page_in_the_visitors_language(client, language, heading, body):
    page = client.get("/no-such-page/", headers={"accept-language": language})
    assert page.status_code == 404
    text = page.content.decode()
    assert f"<h1>{heading}</h1>" in text and body in text
    assert "/static/errors/errors.css" in text
    assert "The requested resource was not found on this server" not in text  # Django's own


@pytest.mark.parametrize(
    ("view", "error", "status", "english", "chinese"),
    [
        (defaults.permission_denied, PermissionDenied(), 403, "Not allowed", "无权访问"),
        (defaults.bad_request, ValueError(), 400, "Bad request", "请求有误"),
    ],
)
def test_refused_requests_in_both_languages(view, error, status, english, chinese):
    request = RequestFactory().get("/")
    for language, heading in (("en", english), ("zh-hans", chinese)):
        with translation.override(language):
            response = view(request, error)
        assert response.status_code == status
        assert f"<h1>{heading}</h1>" in response.content.decode()


def test_a_server_error_page_without_a_request_context():
    """Django renders 500.html with an empty context: the page may need nothing from it."""
    with translation.override("zh-hans"):
        response = defaults.server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    assert "<h1>出了点问题</h1>" in response.content.decode()


def test_a_refused_host_is_a_one_line_warning(client, caplog):
    with caplog.at_level(logging.INFO, logger="django.security.DisallowedHost"):
        page = client.get("/", headers={"host": "scanner.example"})
    assert page.status_code == 400
    assert "<h1>Bad request</h1>" in page.content.decode()
    [record] = [r for r in caplog.records if r.name == "django.security.DisallowedHost"]
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert "scanner.example" in record.getMessage()


def test_nginx_shows_its_own_page_while_no_web_process_answers(tmp_path):
    try:
        nginx = production.nginx_binary()
    except production.NotReady as missing:
        pytest.skip(str(missing))
    port = free_port()
    layout = production.Layout(tmp_path)
    layout.create()
    site = production.NginxSite(
        listen=f"127.0.0.1:{port}",
        upstreams=[f"127.0.0.1:{free_port()}"],  # nothing listens there
        static_root=REPO / "static",
        prefix=layout.nginx_dir,
        user=production.checkout_owner(),
    )
    layout.nginx_conf.write_text(production.nginx_config(site))
    process = subprocess.Popen(production.nginx_command(nginx, layout))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                page = httpx.get(f"{base}/", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        # Refused on its declared length, before any of the body is sent.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            raw.sendall(
                b"POST /admin/knowledge/documentimport/upload/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Length: 209715200\r\nConnection: close\r\n\r\n"
            )
            received = b""
            while b"</html>" not in received:  # nginx lingers on, reading the body it refused
                chunk = raw.recv(65536)
                if not chunk:
                    break
                received += chunk
            too_large = received.decode()
        missing = httpx.get(f"{base}/static/chatbot/no-such-file.js", timeout=2)
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert page.status_code == 502
    assert "We'll be back in a moment" in page.text and "我们马上回来" in page.text
    assert "<center>nginx</center>" not in page.text  # nginx's bare page
    assert too_large.startswith("HTTP/1.1 413")
    assert "That file is too large" in too_large and "文件过大" in too_large
    assert missing.status_code == 404
    assert "This file does not exist" in missing.text and "文件不存在" in missing.text


@pytest.mark.django_db
def test_a_form_sent_without_its_csrf_token_gets_the_sites_page():
    """Through the proxy a stale login form showed Django's own "Forbidden (403) CSRF
    verification failed" page, title in English under the zh-hans admin."""
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    for language, heading in (("en", "The form expired"), ("zh-hans", "表单已失效")):
        response = client.post(
            "/admin/login/", {"username": "a", "password": "b"}, HTTP_ACCEPT_LANGUAGE=language
        )
        page = response.content.decode()
        assert response.status_code == 403
        assert f"<h1>{heading}</h1>" in page and f"<title>{heading}</title>" in page
        assert "CSRF verification failed" not in page
