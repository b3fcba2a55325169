"""The production shape on one machine (`manage.py serve --prod`, `make run-prod`;
docs/deploy.md): PostgreSQL with pgvector, Redis, N daphne processes, a Celery worker and beat,
and nginx in front, each a foreground child with its files under one folder (var/prod).

This module knows what each part is: its command line, its configuration, its environment and
how to tell it is ready. `serve --prod` starts them under chatbot.ops.supervisor; the tests start
the parts they need the same way (tests/servers.py). PostgreSQL comes from the `pgserver`
package's binaries (PostgreSQL 16 with pgvector; Debian's has no pgvector), run as a child of
ours rather than pgserver's background server, so that it starts and stops with the rest."""

import importlib.util
import json
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from chatbot.ops.orphan_guard import stopped_with_parent

REPO = Path(__file__).resolve().parents[2]
NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/bin/nginx")
DATABASE_NAME = "chatbot"
DATABASE_USER = "postgres"


class NotReady(RuntimeError):
    """A part did not become ready in time; the message says which and where its log is."""


@dataclass(frozen=True)
class Ports:
    """nginx listens on `http`; daphne processes on `daphne`, `daphne + 1`, …"""

    http: int
    daphne: int
    processes: int
    redis: int
    postgres: int

    @property
    def daphnes(self) -> list[int]:
        return [self.daphne + index for index in range(self.processes)]

    @property
    def every(self) -> list[int]:
        """Each part's port: nginx, the daphnes, Redis, PostgreSQL."""
        return [self.http, *self.daphnes, self.redis, self.postgres]


def _ephemeral_ports() -> range:
    """The kernel's range for outgoing connections and port-0 binds."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


def consecutive_free_ports(count: int) -> int:
    """The first of `count` consecutive ports free on 127.0.0.1 now, from outside the kernel's
    ephemeral range: a port picked by binding port 0 lies inside it, where any outgoing
    connection may take it before the server binds it (a CI run lost a daphne so, "exited with
    code 1", while the suite's other workers were connecting)."""
    ephemeral = _ephemeral_ports()
    below, above = range(10_000, ephemeral.start - count), range(ephemeral.stop, 65_536 - count)
    candidates = below if len(below) >= len(above) else above
    for _ in range(200):
        first = random.choice(candidates)
        try:
            for port in range(first, first + count):
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                    probe.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
    raise NotReady(f"no {count} consecutive free ports")


def free_port() -> int:
    """One port free now, outside the ephemeral range (see `consecutive_free_ports`)."""
    return consecutive_free_ports(1)


def ports_shared(ports: Ports) -> list[int]:
    """Ports two parts of the shape would both listen on (nginx on a daphne's port, daphnes
    over Redis's): an operator walk saw the ready banner, then nginx failing to bind for ever."""
    return sorted({port for port in ports.every if ports.every.count(port) > 1})


def ports_taken(ports: Ports) -> list[int]:
    """The shape's ports something already listens on (another run, say): the readiness checks
    would otherwise take a stranger's PostgreSQL or Redis for ours."""
    taken = []
    for port in ports.every:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                taken.append(port)
    return taken


@dataclass(frozen=True)
class Layout:
    """Every file of the production shape lives under `root`; nothing outside it is written."""

    root: Path

    @property
    def logs(self) -> Path:
        return self.root / "log"

    @property
    def postgres_data(self) -> Path:
        return self.root / "postgres"

    @property
    def sockets(self) -> Path:
        """PostgreSQL's unix socket (its owner only: local connections are trusted)."""
        return self.root / "run"

    @property
    def redis_dir(self) -> Path:
        return self.root / "redis"

    @property
    def nginx_dir(self) -> Path:
        return self.root / "nginx"

    @property
    def nginx_conf(self) -> Path:
        return self.nginx_dir / "nginx.conf"

    @property
    def beat_schedule(self) -> Path:
        return self.root / "celerybeat-schedule"

    @property
    def admin_password(self) -> Path:
        return self.root / "admin-password.txt"

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.json"

    def postgres_running(self) -> int | None:
        """The pid of a PostgreSQL that runs on this layout's data now (another `serve --prod`
        on the same --var-dir, whatever its ports), from its lock file; None otherwise."""
        try:
            pid = int((self.postgres_data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except PermissionError:
            return pid  # another user's (PostgreSQL runs as the checkout's owner under root)
        except OSError:
            return None  # a lock file left by a PostgreSQL that died: it starts over it
        return pid

    def create(self) -> None:
        for folder in (self.logs, self.postgres_data.parent, self.redis_dir, self.nginx_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir(mode=0o700, parents=True, exist_ok=True)
        for temp in ("body", "proxy"):
            (self.nginx_dir / "temp" / temp).mkdir(parents=True, exist_ok=True)


@dataclass(frozen=True)
class Secrets:
    postgres_password: str
    redis_password: str


def secrets_load(layout: Layout) -> Secrets:
    """The passwords of this machine's PostgreSQL and Redis, made once and kept (mode 600)."""
    path = layout.secrets_file
    if not path.exists():
        values = {
            "postgres_password": secrets.token_urlsafe(24),
            "redis_password": secrets.token_urlsafe(24),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            json.dump(values, out)
    return Secrets(**json.loads(path.read_text()))


def database_url(secrets_: Secrets, port: int) -> str:
    return (
        f"postgres://{DATABASE_USER}:{quote(secrets_.postgres_password, safe='')}"
        f"@127.0.0.1:{port}/{DATABASE_NAME}"
    )


def redis_url(secrets_: Secrets, port: int) -> str:
    return f"redis://:{quote(secrets_.redis_password, safe='')}@127.0.0.1:{port}/0"


def app_env(
    base: dict[str, str], *, secrets_: Secrets, ports: Ports, layout: Layout, tls: bool = False
) -> dict[str, str]:
    """The environment of the app's processes (daphne, Celery, manage.py): the caller's, with
    the database and Redis of this shape and the proxy headers nginx sets trusted (nginx
    overwrites X-Forwarded-Proto and -Host and appends the peer to X-Forwarded-For, so a
    client's own values never reach Django as the proxy's)."""
    env = {
        **base,
        **({"SECURE_COOKIES": "1"} if tls else {}),  # HTTPS only: cookies never over plain HTTP
        "DATABASE_URL": database_url(secrets_, ports.postgres),
        "REDIS_URL": redis_url(secrets_, ports.redis),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CHAT_TRUSTED_PROXY_COUNT": "1",
        "TRUST_X_FORWARDED_PROTO": "1",
        "USE_X_FORWARDED_HOST": "1",
        # Not var/admin-password.txt: that is `make run`'s SQLite admin's.
        "DEMO_ADMIN_PASSWORD_FILE": str(layout.admin_password),
        "PYTHONUNBUFFERED": "1",
        # Links in emails (a transcript's, the team's) lead here unless the caller says where.
        "SITE_URL": base.get("SITE_URL") or site_url("127.0.0.1", ports.http),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def site_url(host: str, port: int) -> str:
    """The address `serve` answers on, for links in emails when SITE_URL is not set: its
    default (localhost:8000) made a transcript's link dead on any other port (a walk)."""
    return f"http://{host}:{port}"


# --- PostgreSQL -------------------------------------------------------------------------------


def postgres_bin(name: str) -> Path:
    """A program of the PostgreSQL that the `pgserver` package ships (with pgvector)."""
    spec = importlib.util.find_spec("pgserver")  # found, not imported: it sets up a server
    if spec is None or not spec.submodule_search_locations:
        raise NotReady("the pgserver package is not installed (pip install pgserver)")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin" / name


def postgres_init(layout: Layout, secrets_: Secrets) -> bool:
    """Creates the database cluster once (local socket trusted, TCP by password); False when it
    existed. Call after `postgres_owner` handed the folders over."""
    data = layout.postgres_data
    if (data / "PG_VERSION").exists():
        return False
    owner = postgres_owner(layout)
    password_file = layout.sockets / "initdb-password"
    descriptor = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(secrets_.postgres_password + "\n")
    if owner:
        os.chown(password_file, owner["user"], owner["group"])
    try:
        done = subprocess.run(  # noqa: S603 - pgserver's initdb, our arguments
            [
                str(postgres_bin("initdb")),
                "-D", str(data), "-U", DATABASE_USER, "-E", "UTF8", "--locale=C",
                "--auth-local=trust", "--auth-host=scram-sha-256",
                f"--pwfile={password_file}",
            ],
            capture_output=True,
            text=True,
            **owner,
        )  # fmt: skip
    finally:
        password_file.unlink()
    if done.returncode != 0:
        shutil.rmtree(data, ignore_errors=True)
        raise NotReady(f"initdb failed:\n{done.stdout}{done.stderr}")
    return True


def postgres_command(layout: Layout, port: int) -> list[str]:
    """PostgreSQL in the foreground on 127.0.0.1:`port` and a unix socket of its own."""
    return [
        str(postgres_bin("postgres")),
        "-D", str(layout.postgres_data),
        "-p", str(port),
        "-k", str(layout.sockets),
        "-c", "listen_addresses=127.0.0.1",
        "-c", "max_connections=200",
        "-c", "logging_collector=off",
    ]  # fmt: skip


def postgres_wait(url_: str, process: subprocess.Popen, timeout_s: float = 60.0) -> None:
    """Until PostgreSQL takes a connection to the `postgres` database (ours may not exist
    yet)."""
    import psycopg

    admin_url = url_.rsplit("/", 1)[0] + "/postgres"
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise NotReady(f"PostgreSQL exited with code {process.returncode}")
        try:
            psycopg.connect(admin_url, connect_timeout=2).close()
            return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise NotReady(f"PostgreSQL did not take connections: {exc}") from None
        time.sleep(0.2)


def database_create(url_: str) -> bool:
    """Creates the app's database when missing; True when it did."""
    import psycopg
    from psycopg import sql

    admin_url = url_.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        found = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)
        ).fetchone()
        if found:
            return False
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE_NAME)))
    return True


def postgres_owner(layout: Layout) -> dict[str, Any]:
    """Popen options for PostgreSQL's programs: as root (which PostgreSQL refuses to run as),
    the user owning the checkout, or `nobody` when that is root too, with its folders handed to
    that user; nothing otherwise."""
    if os.name != "posix" or os.geteuid() != 0:
        return {}
    import pwd

    owner = REPO.stat().st_uid
    user = pwd.getpwuid(owner) if owner != 0 else pwd.getpwnam("nobody")
    for path in (layout.postgres_data, layout.sockets):
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chown(path, user.pw_uid, user.pw_gid)
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


# --- Redis ------------------------------------------------------------------------------------


def redis_command(layout: Layout, port: int, password: str) -> list[str]:
    """redis-server in the foreground, on 127.0.0.1 only, with a password, appending every
    write to its own file in `layout.redis_dir` (the broker's queued tasks survive a
    restart)."""
    return [
        "redis-server",
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(layout.redis_dir),
        "--appendonly", "yes",
        "--save", "",
        "--requirepass", password,
        "--daemonize", "no",
        "--logfile", "",
    ]  # fmt: skip


def redis_wait(url_: str, process: subprocess.Popen, timeout_s: float = 20.0) -> None:
    import redis

    client = redis.Redis.from_url(url_, socket_connect_timeout=0.5, socket_timeout=0.5)
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise NotReady(f"redis-server exited with code {process.returncode}")
        try:
            client.ping()
            return
        except redis.RedisError as exc:
            if time.monotonic() > deadline:
                raise NotReady(f"Redis did not answer: {exc}") from None
        time.sleep(0.1)


# --- the app's processes ------------------------------------------------------------------------


def daphne_env(env: dict[str, str]) -> dict[str, str]:
    """The app's environment for a web process: one ONNX Runtime thread for the embedding model
    unless EMBEDDING_THREADS is set. A web process embeds one short question at a time, where a
    second thread saves no time (3.1 vs 3.2 ms a question) and costs half as much CPU again
    (4.5 vs 3.1 ms), taken from the machine's other processes; bulk embedding runs in the
    Celery worker, which keeps the default (docs/deploy.md)."""
    return {"EMBEDDING_THREADS": "1", **env}


def daphne_command(port: int) -> list[str]:
    return [
        sys.executable, "-m", "chatbot.ops.daphne_server",
        "-b", "127.0.0.1", "-p", str(port),
        # A stopping process waits this long for its handlers (answers streaming) to finish.
        "--application-close-timeout", "10",
        "chatbot.asgi:application",
    ]  # fmt: skip


def celery_worker_command(concurrency: int) -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", "chatbot", "worker",
        "-l", "info", "-c", str(concurrency),
    ]  # fmt: skip


def celery_beat_command(schedule_file: Path) -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", "chatbot", "beat",
        "-l", "info", "-s", str(schedule_file),
    ]  # fmt: skip


def http_wait(url_: str, process: subprocess.Popen, name: str, timeout_s: float) -> None:
    """Until `url_` answers 200 (a process's /readyz, or nginx's route to one; nginx's own
    certificate is not checked)."""
    import httpx

    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while True:
        if process.poll() is not None:
            raise NotReady(f"{name} exited with code {process.returncode}")
        try:
            response = httpx.get(url_, timeout=2.0, verify=False)  # noqa: S501
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}: {response.text[:300]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        if time.monotonic() > deadline:
            raise NotReady(f"{name} was not ready at {url_} within {timeout_s:g} s ({last})")
        time.sleep(0.2)


# --- nginx ------------------------------------------------------------------------------------


def nginx_binary(*, install: bool = True) -> str:
    """Debian's nginx, installed with apt-get when missing and we may (root, apt-get present)."""
    for candidate in (shutil.which("nginx"), *NGINX_CANDIDATES):
        if candidate and Path(candidate).exists():
            return candidate
    if not install or os.name != "posix" or os.geteuid() != 0 or not shutil.which("apt-get"):
        raise NotReady("nginx is not installed (apt-get install nginx)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in (["apt-get", "update"], ["apt-get", "install", "-y", "nginx"]):
        done = subprocess.run(step, env=env, capture_output=True, text=True)  # noqa: S603
        if done.returncode != 0:
            raise NotReady(f"{' '.join(step)} failed:\n{done.stderr[-2000:]}")
    return nginx_binary(install=False)


@dataclass(frozen=True)
class NginxSite:
    listen: str  # [host:]port
    upstreams: Sequence[str]  # host:port of each daphne
    static_root: Path
    # pid, logs and temp files; None: nginx's built-in paths, logs to stdout and stderr (the
    # container in deploy/)
    prefix: Path | None
    user: str | None = None  # the workers' user and group, when nginx starts as root
    worker_processes: int | str = 1
    # Websockets are proxied this long without a byte either way (daphne pings every 20 s, so
    # an open socket never gets near it; a stalled one is closed).
    websocket_timeout_s: int = 3600
    # Plain HTTP requests: the admin's document imports take the longest.
    http_timeout_s: int = 300
    max_body: str = "100m"  # KNOWLEDGE_MAX_UPLOAD_BYTES
    tls_certificate: Path | None = None
    tls_key: Path | None = None


# deploy/nginx.conf, the compose file's nginx (tests/ops/test_deploy_files.py keeps it equal).
COMPOSE_NGINX = NginxSite(
    listen="80", upstreams=["web:8000"], static_root=Path("/srv/static"), prefix=None,
    worker_processes="auto",
)  # fmt: skip


def checkout_owner() -> str | None:
    """`user group` owning the checkout, for nginx's workers when we are root (nginx would run
    them as `nobody`, who may not read the static files nor write the temp folders)."""
    if os.name != "posix" or os.geteuid() != 0:
        return None
    import grp
    import pwd

    stat = REPO.stat()
    return f"{pwd.getpwuid(stat.st_uid).pw_name} {grp.getgrgid(stat.st_gid).gr_name}"


def nginx_config(site: NginxSite) -> str:
    """nginx.conf for the shape: static files from disk, websockets upgraded and kept open,
    everything else proxied to the daphne processes (least connections: sockets are long and
    uneven), with the X-Forwarded-* headers Django trusts (chatbot.settings)."""
    # No process is ever marked down (max_fails=0): a refused connection goes straight to the
    # next process, and each new one tries them all again. Marked down for a while (max_fails=1),
    # a process that had only carried websockets since its restart stayed down, since a socket
    # "succeeds" only when it ends, and a socket ending in an error marked the healthy one down
    # too: "no live upstreams" and 10-15 s of "Reconnecting…" after a kill (an operator walk).
    servers = "\n".join(f"        server {address} max_fails=0;" for address in site.upstreams)
    prefix = site.prefix
    tls = ""
    if site.tls_certificate and site.tls_key:
        tls = (
            f"        ssl_certificate {site.tls_certificate};\n"
            f"        ssl_certificate_key {site.tls_key};\n"
            "        ssl_protocols TLSv1.2 TLSv1.3;\n"
        )
    listen = f"{site.listen} ssl" if tls else site.listen
    forwarded = """
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Real-IP $remote_addr;"""
    if prefix is None:
        error_log = "stderr"
        files = "error_log stderr warn;\n"
        http_files = "    access_log /dev/stdout chatbot;\n"
    else:
        error_log = f"{prefix}/error.log"
        files = f"pid {prefix}/nginx.pid;\nerror_log {error_log} warn;\n"
        http_files = (
            f"    access_log {prefix}/access.log chatbot;\n"
            f"    client_body_temp_path {prefix}/temp/body;\n"
            f"    proxy_temp_path {prefix}/temp/proxy;\n"
        )
    user = f"user {site.user};\n" if site.user else ""
    return f"""# Rendered by chatbot.ops.production.nginx_config: change it there, not here.
{user}worker_processes {site.worker_processes};
{files}
events {{
    worker_connections 8192;
}}

http {{
    types {{
        text/html html;
        text/css css;
        text/javascript js mjs;
        application/json json map;
        image/svg+xml svg;
        image/png png;
        image/x-icon ico;
        font/woff2 woff2;
        text/plain txt;
    }}
    default_type application/octet-stream;
    # Paths without their query strings: the chat socket's carries its conversation's token (a
    # key to the whole transcript) and the visitor's page address; an operator walk replayed a
    # conversation from the access log. No referer either (the visitor's page, again).
    log_format chatbot '$remote_addr [$time_local] "$request_method $uri $server_protocol" '
                       '$status $body_bytes_sent $request_time "$http_user_agent"';
{http_files}    sendfile on;
    tcp_nodelay on;
    server_tokens off;
    client_max_body_size {site.max_body};
    # The widget's script and the pages, compressed (widget.js: 99 kB, 28 kB gzipped).
    gzip on;
    gzip_vary on;
    gzip_min_length 1024;
    gzip_types text/css text/javascript application/json image/svg+xml text/plain;

    map $http_upgrade $connection_upgrade {{
        default upgrade;
        "" "";
    }}

    upstream chatbot {{
        least_conn;
{servers}
        keepalive 32;
    }}

    server {{
        listen {listen};
        server_name _;
{tls}
        # While no web process answers (a restart, all busy): a page of ours, not nginx's.
        error_page 502 503 504 /static/errors/unavailable.html;
        # An upload over client_max_body_size: a page saying so, not nginx's bare one.
        error_page 413 /static/errors/too-large.html;

        location /static/ {{
            alias {site.static_root}/;
            error_page 404 /static/errors/not-found.html;
            add_header Cache-Control "public, max-age=3600";
            add_header Access-Control-Allow-Origin "*";
            access_log off;
        }}

        location /ws/ {{
            # nginx's error lines carry the request line, query string and all: the chat
            # socket's is its conversation's token (an operator walk found 44 in error.log
            # after a few restarts). A socket's upstream failures show in the access log (502).
            error_log {error_log} crit;
            proxy_pass http://chatbot;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;{forwarded}
            proxy_buffering off;
            proxy_read_timeout {site.websocket_timeout_s}s;
            proxy_send_timeout {site.websocket_timeout_s}s;
        }}

        location / {{
            proxy_pass http://chatbot;
            proxy_http_version 1.1;
            proxy_set_header Connection $connection_upgrade;{forwarded}
            proxy_read_timeout {site.http_timeout_s}s;
            proxy_send_timeout {site.http_timeout_s}s;
        }}
    }}
}}
"""


def nginx_command(binary: str, layout: Layout) -> list[str]:
    """nginx in the foreground (its master a child of ours) with our config and prefix."""
    return [
        binary,
        "-p", str(layout.nginx_dir),
        "-c", str(layout.nginx_conf),
        "-e", str(layout.nginx_dir / "error.log"),
        "-g", "daemon off;",
    ]  # fmt: skip


def nginx_check(binary: str, layout: Layout) -> None:
    """`nginx -t` on the rendered file; raises with nginx's own words when it is refused."""
    done = subprocess.run(  # noqa: S603 - the nginx binary, our arguments
        [*nginx_command(binary, layout)[:-2], "-t"], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise NotReady(f"nginx refused {layout.nginx_conf}:\n{done.stderr}")


# --- the whole shape ----------------------------------------------------------------------------


@dataclass
class Shape:
    """What `serve --prod` starts, in order; `stop()` in `serve` stops the app's children before
    PostgreSQL and Redis (two supervisors), so nothing loses its database mid-write."""

    layout: Layout
    ports: Ports
    secrets: Secrets
    env: dict[str, str]
    nginx: str
    tls: tuple[Path, Path] | None = None  # nginx's certificate and key: it serves HTTPS

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.ports.http}/"

    def log(self, name: str) -> Path:
        return self.layout.logs / f"{name}.log"

    def spawn(self, name: str, command: list[str], **options: Any) -> subprocess.Popen:
        """A child writing to its own log (appended across restarts), in a process group of its
        own: Ctrl-C reaches `serve` alone, which stops the children in order; and stopped when
        `serve` dies anyway (chatbot.ops.orphan_guard)."""
        with self.log(name).open("ab") as log:
            return subprocess.Popen(  # noqa: S603 - our own programs and arguments
                command,
                cwd=REPO,
                env=options.pop("env", self.env),
                stdout=log,
                stderr=subprocess.STDOUT,
                process_group=0,
                **stopped_with_parent(),
                **options,
            )

    def manage(self, *args: str, **env: str) -> None:
        """One `manage.py` step against this shape's database; raises with its output."""
        started = time.monotonic()
        done = subprocess.run(  # noqa: S603 - our interpreter and manage.py
            [sys.executable, "manage.py", *args],
            cwd=REPO,
            env={**self.env, **env},
            capture_output=True,
            text=True,
        )
        with self.log("manage").open("a") as log:
            took = time.monotonic() - started
            log.write(f"$ manage.py {' '.join(args)} ({took:.1f} s)\n{done.stdout}{done.stderr}\n")
        if done.returncode != 0:
            raise NotReady(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")

    def render_nginx(self, *, worker_processes: int = 1) -> None:
        site = NginxSite(
            listen=f"127.0.0.1:{self.ports.http}",
            upstreams=[f"127.0.0.1:{port}" for port in self.ports.daphnes],
            static_root=REPO / "staticfiles",
            prefix=self.layout.nginx_dir,
            user=checkout_owner(),
            worker_processes=worker_processes,
            tls_certificate=self.tls[0] if self.tls else None,
            tls_key=self.tls[1] if self.tls else None,
        )
        self.layout.nginx_conf.write_text(nginx_config(site))
        nginx_check(self.nginx, self.layout)
