"""Real daphne processes for the browser and cross-process tests: a migrated SQLite file they
share, agents created in it, and sign-in through the real login form; the whole production
shape (`manage.py serve --prod`); websockets speaking JSON frames; a real SMTP server."""

import asyncio
import atexit
import email
import email.policy
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import redis
import websockets
from aiosmtpd.controller import Controller

from chatbot.ops.production import free_port

REPO = Path(__file__).resolve().parents[1]


def server_env(db_path: Path, **overrides: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{db_path}",
        "LOCAL_LLM_BASE_URL": "http://127.0.0.1:9/v1",
        "OPENAI_API_KEY": "",
        "OPENAI_BASE_URL": "",
        "REDIS_URL": "",
        "PYTHONUNBUFFERED": "1",
        # Every page comes from 127.0.0.1; the per-client limits are tested in
        # tests/chatbot/test_client_limits.py.
        "CHAT_CLIENT_LIMITS": "connect=0/0,conversation=0/0,message=0/0,handoff=0/0,model=0/0",
        **overrides,
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


_TEMPLATES = Path(tempfile.mkdtemp(prefix="chatbot-test-databases-"))
atexit.register(shutil.rmtree, _TEMPLATES, ignore_errors=True)
_templates_lock = threading.Lock()


def _sqlite_file(env: dict[str, str]) -> Path | None:
    url = env.get("DATABASE_URL", "")
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def sqlite_rows(env: dict[str, str], query: str) -> list[tuple[Any, ...]]:
    """`query`'s rows, read straight from the env's SQLite file: what a server or worker wrote,
    without a `manage.py shell` (2-3 s of Django start-up) per look."""
    database = _sqlite_file(env)
    assert database is not None, "a SQLite database"
    with closing(sqlite3.connect(database)) as db:
        return db.execute(query).fetchall()


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's backup API: a consistent copy whatever journal mode the source was left in."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def _template(name: str, *commands: tuple[str, ...]) -> Path:
    """A SQLite database made once per test session by running `commands` on an empty one."""
    with _templates_lock:
        template = _TEMPLATES / f"{name}.sqlite3"
        if not template.exists():
            build = _TEMPLATES / f"{name}-build.sqlite3"
            env = server_env(
                build, DEMO_ADMIN_PASSWORD_FILE=str(_TEMPLATES / f"{name}-admin-password.txt")
            )
            for command in commands:
                manage(env, *command)
            _sqlite_copy(build, template)
        return template


def _prepared(env: dict[str, str], name: str, *commands: tuple[str, ...]) -> None:
    target = _sqlite_file(env)
    if target is None:
        for command in commands:
            manage(env, *command)
    else:
        _sqlite_copy(_template(name, *commands), target)


def migrated(env: dict[str, str]) -> None:
    """The env's database at the current schema. A SQLite file is a copy of one migrated once
    per session (each `migrate` costs ~5 s of Django start-up and DDL; the suite migrated two
    dozen servers); any other database is migrated."""
    _prepared(env, "migrated", ("migrate", "--noinput"))


def demo_loaded(env: dict[str, str]) -> None:
    """The env's database migrated and holding the demo store (`load_demo`), copied from a
    template on SQLite as `migrated` does."""
    _prepared(env, "demo", ("migrate", "--noinput"), ("load_demo",))


CREATE_AGENT = """
from django.contrib.auth.models import Group, User
user = User.objects.create_user({name!r}, password={password!r}, first_name={name!r})
user.is_staff = True
user.save(update_fields=["is_staff"])
user.groups.add(Group.objects.get(name="agents"))
"""


def create_agent(env: dict[str, str], name: str, password: str) -> None:
    manage(env, "shell", "-c", CREATE_AGENT.format(name=name, password=password))


class DaphneProcess:
    """One daphne process, to stop, kill -9 and start again (on the same port, so a visitor
    reconnects to the same address as after a restart)."""

    def __init__(self, env: dict[str, str], log_path: Path, port: int | None = None) -> None:
        self.env = env
        self.log_path = log_path
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> "DaphneProcess":
        """Returns once /readyz answers 200 (the embedding model loaded, not merely listening)."""
        with self.log_path.open("ab") as log:
            self.process = proc = subprocess.Popen(
                [sys.executable, "-m", "chatbot.ops.daphne_server",
                 "-b", "127.0.0.1", "-p", str(self.port),
                 "chatbot.asgi:application"],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"daphne exited:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.base + "/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"daphne did not answer:\n{self.log()}")
            time.sleep(0.2)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """kill -9: nothing in the process runs after this (no finally, no shutdown)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextmanager
def daphne(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """One daphne process on a free port; yields its base URL."""
    server = DaphneProcess(env, log_path)
    try:
        yield server.start().base
    finally:
        server.stop()


class JsonSocket:
    """A websocket to a real server that speaks JSON frames."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []  # every frame received, in order

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def until(
        self, match: str | Callable[[dict[str, Any]], bool], timeout: float = 10
    ) -> dict[str, Any]:
        """The first frame of that type (or matching), reading past the others."""
        predicate = match if callable(match) else (lambda f: f["type"] == match)
        async with asyncio.timeout(timeout):
            while True:
                frame = json.loads(await self.ws.recv())
                self.seen.append(frame)
                if predicate(frame):
                    return frame


def ws_connect(
    base: str,
    path: str,
    cookie: str | None = None,
    *,
    source: str | None = None,
    headers: dict[str, str] | None = None,
    origin: str | None = None,
):
    """`websockets.connect` to `base` + `path` with the page's own origin; `source` binds the
    client's end to another loopback address (127.0.0.x), for a visitor nginx tells apart."""
    extra = {**({"Cookie": f"sessionid={cookie}"} if cookie else {}), **(headers or {})}
    options = {"local_addr": (source, 0)} if source else {}
    return websockets.connect(
        base.replace("http://", "ws://") + path,
        origin=origin or base,
        additional_headers=extra or None,
        **options,
    )


def login_cookie(base: str, name: str, password: str) -> str:
    """Signs in through the console's login form (with its CSRF token); the session cookie."""
    with httpx.Client(base_url=base) as client:
        page = client.get("/console/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        response = client.post(
            "/console/login/",
            data={"username": name, "password": password, "csrfmiddlewaretoken": token},
            headers={"Referer": base + "/console/login/"},
        )
        assert response.status_code == 302, response.text
        return client.cookies["sessionid"]


@dataclass
class ProductionShape:
    url: str  # nginx
    daphnes: list[str]  # each daphne process, straight
    env: dict[str, str]  # for manage.py against its PostgreSQL and Redis
    layout: Any  # chatbot.ops.production.Layout


@contextmanager
def production_shape(
    tmp: Path, *, processes: int, demo: bool = False, timeout_s: float = 300, **env_overrides: str
) -> Iterator[ProductionShape]:
    """`manage.py serve --prod` on free ports (PostgreSQL, Redis, nginx, daphne x `processes`,
    Celery worker and beat, the demo data), its files in a temporary folder, its output in
    `tmp`; the model points at a closed port. Stopped with SIGINT, as Ctrl-C does."""
    from chatbot.ops import production

    ports = production.Ports(
        http=free_port(),
        daphne=production.consecutive_free_ports(processes),
        processes=processes,
        redis=free_port(),
        postgres=free_port(),
    )
    # Not under pytest's folder (mode 700): as root, PostgreSQL runs as another user, who must
    # reach its data folder.
    var_dir = Path(tempfile.mkdtemp(prefix="chatbot-prod-"))
    var_dir.chmod(0o755)
    layout = production.Layout(var_dir)
    env = server_env(tmp / "unused.sqlite3", DEBUG="0", **env_overrides)
    command = [
        sys.executable, "manage.py", "serve", "--prod", "--no-local-llm",
        "--processes", str(processes), "--port", str(ports.http),
        "--daphne-port", str(ports.daphne), "--redis-port", str(ports.redis),
        "--postgres-port", str(ports.postgres), "--var-dir", str(layout.root),
        *([] if demo else ["--no-demo"]),
    ]  # fmt: skip
    out, err = tmp / "serve.out", tmp / "serve.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=stdout, stderr=stderr)
    try:
        deadline = time.monotonic() + timeout_s
        while "Ctrl-C stops everything" not in out.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"serve --prod did not start:\n{err.read_text(errors='replace')[-4000:]}"
                )
            time.sleep(0.5)
        app_env = production.app_env(
            env, secrets_=production.secrets_load(layout), ports=ports, layout=layout
        )
        daphnes = [f"http://127.0.0.1:{port}" for port in ports.daphnes]
        yield ProductionShape(f"http://127.0.0.1:{ports.http}", daphnes, app_env, layout)
    finally:
        running = process.poll() is None  # not exited by itself
        if running:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        left = production.ports_taken(ports)
        shutil.rmtree(var_dir, ignore_errors=True)
    # Ctrl-C stops every part and exits 0 (after the tests: a failure here is the shutdown's).
    assert running and process.returncode == 0, err.read_text(errors="replace")[-3000:]
    assert not left, f"still listening after serve stopped: {left}"


LOAD_FAQS = """
import json
from knowledge.importing import import_faqs
data = json.loads(open({path!r}, encoding="utf-8").read())
data["faqs"] = [faq for faq in data["faqs"] if faq["locale"] == {locale!r}]
import_faqs(data, created_by="test")
"""


def load_faqs(env: dict[str, str], locale: str = "en") -> None:
    """The demo store's FAQs of one locale, embedded in this call (not queued for a worker):
    the demo data without its help centre and analytics, for tests that only ask FAQs."""
    path = REPO / "knowledge" / "fixtures" / "demo_faqs.json"
    manage(
        {**env, "CELERY_TASK_ALWAYS_EAGER": "1"},
        "shell",
        "-c",
        LOAD_FAQS.format(path=str(path), locale=locale),
    )


class RedisServer:
    """A redis-server of the test's own on a free port, to stop, hang and start again mid-test
    (never the machine's shared one on 6379)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> "RedisServer":
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def stop(self) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=10)

    def hang(self) -> None:
        """Still accepts connections, never answers (a stopped process)."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True)


class PostgresServer:
    """A PostgreSQL with pgvector of the test's own (the `pgserver` package's programs, set up as
    `serve --prod` sets up its own) on a free port, to stop and start again mid-test."""

    def __init__(self) -> None:
        from chatbot.ops import production

        # Not under pytest's folder (mode 700): as root, PostgreSQL runs as another user, who
        # must reach its files (as in production_shape below).
        root = Path(tempfile.mkdtemp(prefix="chatbot-pg-"))
        root.chmod(0o755)
        self.layout = production.Layout(root)
        self.secrets = production.secrets_load(self.layout)
        self.port = free_port()
        self.url = production.database_url(self.secrets, self.port)
        self.process: subprocess.Popen | None = None

    def start(self) -> "PostgresServer":
        from chatbot.ops import production

        owner = production.postgres_owner(self.layout)
        production.postgres_init(self.layout, self.secrets)
        self.process = subprocess.Popen(
            production.postgres_command(self.layout, self.port),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **owner,
        )
        production.postgres_wait(self.url, self.process)
        production.database_create(self.url)
        return self

    def stop(self) -> None:
        """A fast shutdown (SIGINT): open connections are cut, as in a restart or a failover."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=30)

    def remove(self) -> None:
        """Its files, once stopped."""
        shutil.rmtree(self.layout.root, ignore_errors=True)


# --- a real SMTP server (aiosmtpd) ----------------------------------------------------------


@dataclass
class Received:
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def body(self) -> str:
        text = self.message.get_body(preferencelist=("plain",)).get_content()
        return text.replace("\r\n", "\n")


@dataclass
class MailServer:
    """What the SMTP server received, and how it should answer the next DATA commands."""

    received: list[Received] = field(default_factory=list)
    attempts: int = 0
    refuse: list[str] = field(default_factory=list)  # replies for the next attempts, in order
    delay_s: float = 0.0
    greylisted: set[str] = field(default_factory=set)  # refused for now at RCPT
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if address in self.greylisted:
            return "451 4.7.1 Greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        with self.lock:
            self.attempts += 1
            if self.refuse:
                return self.refuse.pop(0)
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            self.received.append(Received(list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        """The messages received once there are `count` (or the timeout passed)."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.received)


@contextmanager
def smtp_server() -> Iterator[tuple[MailServer, int]]:
    """An SMTP server on a free port of 127.0.0.1, on a thread of its own; yields it, port."""
    server = MailServer()
    controller = Controller(server, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield server, controller.port
    finally:
        controller.stop()
