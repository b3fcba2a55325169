"""The production shape's parts that need no running processes: the nginx configuration nginx
itself accepts, the visitor's address behind trusted proxies for every request, and a beat
schedule that names tasks the worker has (the shape itself: test_production_shape.py)."""

import os
import re
import socket
from pathlib import Path
from typing import Any

import pytest

from chatbot.celery import app as celery_app
from chatbot.ops import production
from chatbot.security.proxy import ForwardedClientMiddleware


@pytest.fixture(scope="module")
def nginx() -> str:
    try:
        return production.nginx_binary()
    except production.NotReady as missing:
        pytest.skip(str(missing))


def _site(tmp_path: Path, **options: Any) -> production.NginxSite:
    return production.NginxSite(
        listen="127.0.0.1:8000",
        upstreams=["127.0.0.1:8001", "127.0.0.1:8002", "127.0.0.1:8003"],
        static_root=tmp_path / "staticfiles",
        prefix=tmp_path / "nginx",
        **options,
    )


def test_nginx_accepts_the_rendered_configuration(tmp_path, nginx):
    layout = production.Layout(tmp_path)
    layout.create()
    config = production.nginx_config(_site(tmp_path))
    layout.nginx_conf.write_text(config)
    production.nginx_check(nginx, layout)  # raises with nginx's words when refused
    for port in (8001, 8002, 8003):
        assert f"server 127.0.0.1:{port} max_fails=0;" in config
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in config
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in config
    assert "proxy_read_timeout 3600s;" in config  # websockets outlive any answer


def test_nginx_refuses_a_broken_configuration_and_says_why(tmp_path, nginx):
    layout = production.Layout(tmp_path)
    layout.create()
    layout.nginx_conf.write_text(production.nginx_config(_site(tmp_path)) + "\nbroken;\n")
    with pytest.raises(production.NotReady, match="broken"):
        production.nginx_check(nginx, layout)


def test_nginx_with_tls_is_accepted_too(tmp_path, nginx):
    """The same site with a certificate (production terminates TLS at nginx)."""
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    layout = production.Layout(tmp_path)
    layout.create()
    config = production.nginx_config(_site(tmp_path, tls_certificate=cert, tls_key=key))
    layout.nginx_conf.write_text(config)
    production.nginx_check(nginx, layout)
    assert "listen 127.0.0.1:8000 ssl;" in config


async def _client_seen(scope: dict[str, Any]) -> Any:
    seen: dict[str, Any] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen["client"] = scope["client"]

    await ForwardedClientMiddleware(app)(scope, None, None)
    return seen["client"]


async def test_every_request_sees_the_address_the_trusted_proxy_saw(settings):
    through_nginx = {
        "type": "http",
        "client": ("127.0.0.1", 50000),
        # A client wrote the first entry; nginx appended the second (the peer it saw).
        "headers": [(b"x-forwarded-for", b"6.6.6.6, 198.51.100.4")],
    }
    settings.CHAT_TRUSTED_PROXY_COUNT = 0
    assert await _client_seen(through_nginx) == ("127.0.0.1", 50000), "no header trusted"
    settings.CHAT_TRUSTED_PROXY_COUNT = 1
    assert await _client_seen(through_nginx) == ("198.51.100.4", 50000)
    assert await _client_seen({**through_nginx, "type": "websocket"}) == ("198.51.100.4", 50000)
    direct = {**through_nginx, "headers": []}
    assert await _client_seen(direct) == ("127.0.0.1", 50000)


def test_the_beat_schedule_names_tasks_the_worker_has(settings):
    celery_app.loader.import_default_modules()
    assert settings.CELERY_BEAT_SCHEDULE, "periodic work is scheduled"
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in celery_app.tasks, entry
        assert entry["schedule"] > 0


def test_the_app_environment_points_at_this_shape_and_trusts_one_proxy(tmp_path):
    layout = production.Layout(tmp_path)
    secrets = production.secrets_load(layout)
    assert production.secrets_load(layout) == secrets, "made once, then kept"
    assert (layout.secrets_file.stat().st_mode & 0o777) == 0o600
    ports = production.Ports(http=8000, daphne=8001, processes=2, redis=6380, postgres=5433)
    env = production.app_env({"SECRET_KEY": "k"}, secrets_=secrets, ports=ports, layout=layout)
    assert env["DATABASE_URL"].endswith("@127.0.0.1:5433/chatbot")
    assert env["REDIS_URL"].endswith("@127.0.0.1:6380/0")
    assert env["CHAT_TRUSTED_PROXY_COUNT"] == "1"
    assert env["CELERY_TASK_ALWAYS_EAGER"] == "0"
    assert ports.daphnes == [8001, 8002]
    # Links in emails lead to where the shape answers, unless the operator named the site.
    assert env["SITE_URL"] == "http://127.0.0.1:8000"
    named = {"SECRET_KEY": "k", "SITE_URL": "https://chat.example.com"}
    env = production.app_env(named, secrets_=secrets, ports=ports, layout=layout)
    assert env["SITE_URL"] == "https://chat.example.com"
    assert "SECURE_COOKIES" not in env
    served_over_tls = production.app_env(
        named, secrets_=secrets, ports=ports, layout=layout, tls=True
    )
    assert served_over_tls["SECURE_COOKIES"] == "1", "session cookies never over plain HTTP"


def test_serve_prod_refuses_what_cannot_run_before_it_writes_anything(tmp_path):
    """An operator walk: nginx given a daphne's port got a ready banner and then failed to bind
    for ever; --log-dir was dropped without a word; a missing certificate was found 15 s in."""
    from django.core.management import CommandError, call_command

    var_dir = tmp_path / "prod"
    refused = {
        "Two parts of the shape would listen on port(s) [18197]": [
            "--port",
            "18197",
            "--daphne-port",
            "18197",
        ],
        "port(s) [18199]": ["--port", "18199", "--daphne-port", "18198", "--processes", "2"],
        "--log-dir is for the embedded default": ["--log-dir", str(tmp_path / "logs")],
        "no such file": ["--tls-cert", str(tmp_path / "c.pem"), "--tls-key", str(tmp_path / "k")],
        "at least 1 daphne process": ["--processes", "0"],
        "are not ports (1-65535)": ["--port", "99999"],
    }
    for message, arguments in refused.items():
        with pytest.raises(CommandError, match=re.escape(message)):
            call_command("serve", "--prod", "--no-local-llm", "--var-dir", str(var_dir), *arguments)
    assert not var_dir.exists()

    (var_dir / "postgres").mkdir(parents=True)
    lock = var_dir / "postgres" / "postmaster.pid"
    lock.write_text(f"{os.getpid()}\n/somewhere\n")  # a PostgreSQL that runs on this --var-dir
    with pytest.raises(CommandError, match="is in use: its PostgreSQL runs already"):
        call_command("serve", "--prod", "--no-local-llm", "--var-dir", str(var_dir))
    lock.write_text("2147480000\n")  # left by one that died: not in the way
    assert production.Layout(var_dir).postgres_running() is None


def test_serve_tells_its_web_process_where_it_answers_for_links_in_emails(monkeypatch):
    """A transcript's link pointed at localhost:8000 while `serve --port 8170` answered (a
    walk): the web process gets SITE_URL from the port it serves, unless one is set."""
    from chatbot.management.commands import serve

    started = []
    monkeypatch.setattr(serve.subprocess, "Popen", lambda args, env, **options: started.append(env))
    monkeypatch.delenv("SITE_URL", raising=False)
    monkeypatch.delenv("WHITENOISE_AUTOREFRESH", raising=False)
    serve._daphne("127.0.0.1", 8170).start()
    monkeypatch.setenv("SITE_URL", "https://chat.example.com")
    monkeypatch.setenv("WHITENOISE_AUTOREFRESH", "0")
    serve._daphne("127.0.0.1", 8170).start()
    assert [env["SITE_URL"] for env in started] == [
        "http://127.0.0.1:8170",
        "https://chat.example.com",
    ]
    # A static file changed under a running `serve` went out cut short (the size it saw at
    # start, a support-lead walk's console.js): it looks files up again unless told not to.
    assert [env["WHITENOISE_AUTOREFRESH"] for env in started] == ["1", "0"]


def test_a_web_process_embeds_on_one_thread_unless_the_operator_says_otherwise():
    assert production.daphne_env({"SECRET_KEY": "k"}) == {
        "SECRET_KEY": "k",
        "EMBEDDING_THREADS": "1",
    }
    assert production.daphne_env({"EMBEDDING_THREADS": "4"})["EMBEDDING_THREADS"] == "4"


def test_free_ports_for_the_shape_lie_outside_the_range_outgoing_connections_take():
    """A port picked inside the kernel's ephemeral range can be taken by any outgoing connection
    before its server binds it (a CI run lost a daphne so)."""
    ephemeral = production._ephemeral_ports()
    for _ in range(20):
        first = production.consecutive_free_ports(4)
        assert all(port not in ephemeral for port in range(first, first + 4))
        for port in range(first, first + 4):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.bind(("127.0.0.1", port))


def test_a_taken_port_is_not_offered(monkeypatch):
    with socket.create_server(("127.0.0.1", production.free_port())) as taken:
        port = taken.getsockname()[1]
        offers = iter([port, port - 1])
        monkeypatch.setattr(production.random, "choice", lambda candidates: next(offers))
        assert production.free_port() == port - 1
