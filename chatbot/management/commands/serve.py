"""`make run`'s last step: the local model server (unless another LLM is configured), a Celery
worker (with REDIS_URL) and daphne, under chatbot.ops.supervisor; `--prod` starts the production
shape (docs/deploy.md). Exits non-zero, saying what failed, when the model or daphne does not
come up or daphne dies; docs/operations.md, "Health and processes"."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

from chatbot.management.commands.load_demo import admin_password_file
from chatbot.ops import localmodel, production
from chatbot.ops.orphan_guard import stopped_with_parent
from chatbot.ops.supervisor import ChildDied, ChildSpec, Supervisor, describe_exit, log_tail

PORTABLE_BUILD_HINT = (
    "If it crashed (SIGSEGV / SIGILL), llama-cpp-python was probably built for another CPU: "
    "`rm -rf ~/.cache/helpdesk-chatbot .venv && make run` rebuilds it with the Makefile's "
    "portable LLAMA_CMAKE_ARGS (any x86-64 CPU with AVX2). Otherwise check LOCAL_LLM_MODEL_FILE "
    "and LOCAL_LLM_CONTEXT, or run without the local model (`serve --no-local-llm` with "
    "OPENAI_API_KEY set)."
)


class Command(BaseCommand):
    help = "Start the local model, a Celery worker when REDIS_URL is set, and daphne."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-local-llm", action="store_true", help="do not start llama.cpp")
        parser.add_argument(
            "--ready-timeout", type=float, default=120.0, help="seconds for daphne to be ready"
        )
        parser.add_argument(
            "--log-dir",
            type=Path,
            help="the local model's and the Celery worker's logs (default: var/log); the app's "
            "own log is this command's output",
        )
        prod = parser.add_argument_group("the production shape (docs/deploy.md)")
        prod.add_argument(
            "--prod", action="store_true", help="PostgreSQL, Redis, daphnes, Celery, nginx"
        )
        prod.add_argument("--processes", type=int, default=2, help="daphne processes")
        prod.add_argument("--daphne-port", type=int, help="the first daphne's (default: port + 1)")
        prod.add_argument("--redis-port", type=int, default=6380)
        prod.add_argument("--postgres-port", type=int, default=5433)
        prod.add_argument("--celery-concurrency", type=int, default=1)
        prod.add_argument("--var-dir", type=Path, help="every file of it (default: var/prod)")
        prod.add_argument("--no-demo", action="store_true", help="do not load the demo data")
        prod.add_argument("--tls-cert", type=Path, help="nginx serves HTTPS with this certificate")
        prod.add_argument("--tls-key", type=Path, help="… and this key")

    def handle(
        self,
        *args,
        host: str,
        port: int,
        no_local_llm: bool,
        ready_timeout: float,
        log_dir: Path | None,
        prod: bool = False,
        **options,
    ) -> None:
        if prod:
            if log_dir is not None:
                raise CommandError(
                    "--log-dir is for the embedded default: with --prod every log is in "
                    "VAR_DIR/log (--var-dir, default var/prod)"
                )
            self._serve_prod(
                host=host,
                port=port,
                no_local_llm=no_local_llm,
                ready_timeout=ready_timeout,
                **options,
            )
            return
        _refuse_unapplied_migrations()
        logs = log_dir or Path(settings.BASE_DIR) / "var" / "log"
        logs.mkdir(parents=True, exist_ok=True)
        supervisor = Supervisor(on_event=self._say)

        _stop_on_signals()
        try:
            if not no_local_llm:
                self._start_local_model(supervisor, logs / "local-llm.log")
            if settings.REDIS_URL and not settings.CELERY_TASK_ALWAYS_EAGER:
                supervisor.start(_celery_worker(logs / "celery.log"))
            daphne = supervisor.start(_daphne(host, port))
            url = f"http://{host}:{port}/"
            _wait_ready(url, daphne, ready_timeout)
            self.stdout.write(self.style.SUCCESS(_ready_banner(url)))
            while True:
                supervisor.poll()
                time.sleep(0.5)
        except _Stop:
            _ignore_signals()
            self._say("Stopping…")
            supervisor.stop()
            self._say("Stopped.")
        except ChildDied as died:
            supervisor.stop()
            raise CommandError(f"{died}; stopping everything.{died.tail}") from None
        except CommandError:
            supervisor.stop()
            raise

    def _serve_prod(
        self,
        *,
        host: str,
        port: int,
        no_local_llm: bool,
        processes: int,
        daphne_port: int | None,
        redis_port: int,
        postgres_port: int,
        celery_concurrency: int,
        var_dir: Path | None,
        no_demo: bool,
        tls_cert: Path | None,
        tls_key: Path | None,
        ready_timeout: float = 120.0,
        **options,
    ) -> None:
        if host != "127.0.0.1":
            raise CommandError("--prod listens on 127.0.0.1 (docs/deploy.md for the rest)")
        if bool(tls_cert) != bool(tls_key):
            raise CommandError("--tls-cert and --tls-key go together")
        if processes < 1:
            raise CommandError("--processes: at least 1 daphne process")
        for path in (tls_cert, tls_key):
            if path is not None and not path.is_file():
                raise CommandError(f"{path}: no such file")
        ports = production.Ports(
            http=port,
            daphne=daphne_port or port + 1,
            processes=processes,
            redis=redis_port,
            postgres=postgres_port,
        )
        if outside := [port for port in ports.every if not 1 <= port <= 65535]:
            raise CommandError(f"Port(s) {outside} are not ports (1-65535)")
        if shared := production.ports_shared(ports):
            raise CommandError(
                f"Two parts of the shape would listen on port(s) {shared}: nginx on --port, "
                f"daphnes on --daphne-port and the {processes - 1} after it, Redis on "
                "--redis-port, PostgreSQL on --postgres-port"
            )
        if taken := production.ports_taken(ports):
            raise CommandError(f"Something listens on port(s) {taken} already (another run-prod?)")
        layout = production.Layout(var_dir or Path(settings.BASE_DIR) / "var" / "prod")
        if (running := layout.postgres_running()) is not None:
            raise CommandError(
                f"{layout.root} is in use: its PostgreSQL runs already (pid {running}), "
                "started by another serve --prod; stop that one, or give this one its own "
                "--var-dir"
            )
        layout.create()
        secrets_ = production.secrets_load(layout)
        env = production.app_env(
            dict(os.environ), secrets_=secrets_, ports=ports, layout=layout, tls=bool(tls_cert)
        )
        # The app's children stop before the database and Redis they write to.
        infra, app = Supervisor(on_event=self._say), Supervisor(on_event=self._say)

        _stop_on_signals()
        try:
            started = time.monotonic()

            def step(done: str) -> None:
                self._progress(f"{done} ({time.monotonic() - started:.0f} s)")

            tls = (tls_cert.resolve(), tls_key.resolve()) if tls_cert and tls_key else None
            shape = production.Shape(
                layout, ports, secrets_, env, production.nginx_binary(), tls=tls
            )
            self._start_prod_stores(shape, infra)
            step("PostgreSQL and Redis are up")
            shape.manage("migrate", "--noinput", "-v", "0")
            if not no_demo:  # embedded here, not queued for a worker that is not up yet
                shape.manage("load_demo", "--once", CELERY_TASK_ALWAYS_EAGER="1")
            shape.manage("collectstatic", "--noinput", "-v", "0")
            step("Migrated" + ("" if no_demo else ", demo data in place") + ", static collected")
            if not no_local_llm:
                self._start_local_model(app, shape.log("local-llm"))
            for name, command in (
                ("celery-worker", production.celery_worker_command(celery_concurrency)),
                ("celery-beat", production.celery_beat_command(layout.beat_schedule)),
            ):
                app.start(_prod_child(shape, name, command))
            self._start_daphnes(shape, app, ready_timeout)
            step(f"{processes} daphne process{'es' if processes > 1 else ''} ready")
            shape.render_nginx()
            nginx = app.start(
                _prod_child(shape, "nginx", production.nginx_command(shape.nginx, layout))
            )
            production.http_wait(shape.url + "readyz", nginx, "nginx", 30.0)
            self.stdout.write(self.style.SUCCESS(_prod_banner(shape)))
            banner = _ready_banner(shape.url, layout.admin_password)
            self.stdout.write(self.style.SUCCESS(banner))
            while True:
                infra.poll()
                app.poll()
                time.sleep(0.5)
        except _Stop:
            _ignore_signals()
            self._say("Stopping the app, then PostgreSQL and Redis…")
            app.stop()
            infra.stop()
            self._say("Stopped.")
        except (ChildDied, production.NotReady) as failed:
            app.stop()
            infra.stop()
            tail = getattr(failed, "tail", "")
            raise CommandError(f"{failed}; stopping everything.{tail}") from None
        except CommandError:
            app.stop()
            infra.stop()
            raise

    def _start_prod_stores(self, shape: production.Shape, infra: Supervisor) -> None:
        """PostgreSQL (created on first start) and Redis, each ready before anything uses it."""
        layout, ports = shape.layout, shape.ports
        owner = production.postgres_owner(layout)
        if production.postgres_init(layout, shape.secrets):
            self._progress(f"Created the PostgreSQL cluster in {layout.postgres_data}")
        database = production.database_url(shape.secrets, ports.postgres)
        postgres = production.postgres_command(layout, ports.postgres)
        spec = ChildSpec(
            "PostgreSQL",
            lambda: shape.spawn("postgres", postgres, **owner),
            restart=True,
            log_path=shape.log("postgres"),
            check_ready=lambda process: production.postgres_wait(database, process),
        )
        spec.check_ready(infra.start(spec))
        production.database_create(database)
        redis_url = production.redis_url(shape.secrets, ports.redis)
        redis = production.redis_command(layout, ports.redis, shape.secrets.redis_password)
        spec = ChildSpec(
            "Redis",
            lambda: shape.spawn("redis", redis),
            restart=True,
            log_path=shape.log("redis"),
            check_ready=lambda process: production.redis_wait(redis_url, process),
        )
        spec.check_ready(infra.start(spec))

    def _start_daphnes(self, shape: production.Shape, app: Supervisor, timeout_s: float) -> None:
        """Every daphne started at once, then each waited for (they load the embedding model
        side by side); one that dies later is restarted and counts once /readyz says so."""
        started = []
        for index, port in enumerate(shape.ports.daphnes, start=1):
            name = f"daphne {index} (port {port})"
            readyz = f"http://127.0.0.1:{port}/readyz"

            def check(process: subprocess.Popen, name: str = name, readyz: str = readyz) -> None:
                production.http_wait(readyz, process, name, timeout_s)

            spec = _prod_child(
                shape,
                f"daphne-{index}",
                production.daphne_command(port),
                env=production.daphne_env(shape.env),
            )
            spec = ChildSpec(name, spec.start, True, spec.log_path, check)
            started.append((spec, app.start(spec)))
        for spec, process in started:
            spec.check_ready(process)
            # Its pid, for a rolling restart by hand (kill -TERM): the banner gave ports only.
            self._progress(f"{spec.name} ready, pid {process.pid}")

    def _progress(self, text: str) -> None:
        """A start-up step, with the time as `_say`'s lines have it (docs/deploy.md said every
        line of serve's carried it; the start-up steps did not: an operator walk)."""
        self.stdout.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}")

    def _say(self, text: str) -> None:
        """With the time, to match against the children's logs (an operator walk could not)."""
        self.stderr.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}")

    def _start_local_model(self, supervisor: Supervisor, log_path: Path) -> None:
        """Starts the server and proves it with a real completion; a failure here stops serve
        (it is a build or configuration problem), a later death is restarted."""
        base_url, model = settings.LOCAL_LLM_BASE_URL, settings.LOCAL_LLM_MODEL

        def start() -> subprocess.Popen:
            return localmodel.start_server(
                host=settings.LOCAL_LLM_HOST,
                port=settings.LOCAL_LLM_PORT,
                model_alias=model,
                log_path=log_path,
                n_ctx=settings.LOCAL_LLM_CONTEXT,
                model_file=settings.LOCAL_LLM_MODEL_FILE,
            )

        def check_ready(process: subprocess.Popen) -> str:
            return localmodel.wait_until_answering(base_url, model, process=process)

        self._progress(f"Starting the local model on {base_url} …")
        spec = ChildSpec("the local model server", start, True, log_path, check_ready)
        process = start()
        try:
            answer = check_ready(process)
        except Exception as exc:
            time.sleep(0.5)  # a crash during the probe: let the exit status arrive
            code, tail = process.poll(), log_tail(log_path)
            if code is None:
                process.terminate()
                process.wait(timeout=10)
            status = describe_exit(code) if code is not None else "was still running (stopped now)"
            raise CommandError(
                f"The local model server did not answer a test completion ({exc}); "
                f"it {status}.{tail}\n{PORTABLE_BUILD_HINT}"
            ) from None
        supervisor.adopt(spec, process)
        self._progress(f"The local model answers (pid {process.pid}): {answer.strip()!r}")


class _Stop(BaseException):
    """SIGINT or SIGTERM, raised where the main thread is (past any `except Exception`, as
    KeyboardInterrupt is), so that the children are stopped from the main flow: stopping them
    inside the signal handler deadlocked when the signal came during the supervisor's
    `Popen.poll()`, whose lock the handler's `wait()` then waited for."""


def _raise_stop(*_: object) -> None:
    raise _Stop


def _refuse_unapplied_migrations() -> None:
    """A schema behind the code started, then failed a background job every 5 s ("no such
    column") until someone ran `migrate` (a model-tiers walk after a pull). `make run` migrates
    first; `serve --prod` migrates as one of its steps."""
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in pending[:5])
        more = f" and {len(pending) - 5} more" if len(pending) > 5 else ""
        raise CommandError(
            f"{len(pending)} migration(s) not applied ({names}{more}): run "
            "`manage.py migrate` first (`make run` does)."
        )


def _stop_on_signals() -> None:
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)


def _ignore_signals() -> None:
    """While stopping: a second Ctrl-C does not interrupt the children's shutdown."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _prod_child(
    shape: production.Shape, name: str, command: list[str], env: dict[str, str] | None = None
) -> ChildSpec:
    """A child of the production shape that is restarted when it dies, logging to its file."""
    return ChildSpec(
        name,
        lambda: shape.spawn(name, command, env=env or shape.env),
        restart=True,
        log_path=shape.log(name),
    )


def _prod_banner(shape: production.Shape) -> str:
    ports, layout = shape.ports, shape.layout
    daphnes = ", ".join(str(port) for port in ports.daphnes)
    return (
        f"\nThe production shape is ready behind nginx at {shape.url}\n"
        f"  nginx {ports.http} -> daphne x{ports.processes} ({daphnes}); Celery worker and beat\n"
        f"  PostgreSQL 127.0.0.1:{ports.postgres}, Redis 127.0.0.1:{ports.redis} "
        f"(passwords in {layout.secrets_file})\n"
        f"  logs in {layout.logs}/ and {layout.nginx_dir}/"
    )


def _celery_worker(log_path: Path) -> ChildSpec:
    def start() -> subprocess.Popen:
        log = log_path.open("ab")
        try:
            worker = [sys.executable, "-m", "celery", "-A", "chatbot", "worker", "-l", "info"]
            return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                [*worker, "-c", "1"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            log.close()

    return ChildSpec("the Celery worker", start, restart=True, log_path=log_path)


def _daphne(host: str, port: int) -> ChildSpec:
    env = {
        **os.environ,
        "SITE_URL": os.environ.get("SITE_URL") or production.site_url(host, port),
        # Static files looked up on each request: one changed while it runs (a rebuilt widget,
        # a pulled console.js) is served whole, not cut to the size seen at start.
        "WHITENOISE_AUTOREFRESH": os.environ.get("WHITENOISE_AUTOREFRESH", "1"),
    }

    daphne = [sys.executable, "-m", "chatbot.ops.daphne_server"]

    def start() -> subprocess.Popen:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [*daphne, "-b", host, "-p", str(port), "chatbot.asgi:application"],
            env=env,
            **stopped_with_parent(),
        )

    return ChildSpec("daphne", start, restart=False)


def _wait_ready(url: str, daphne: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if daphne.poll() is not None:
            raise ChildDied("daphne", daphne.returncode)
        try:
            if httpx.get(f"{url}readyz", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise CommandError(
        f"daphne did not become ready at {url}readyz within {timeout_s:g} s; "
        f"see the lines above and {url}readyz for the failing check."
    )


def _ready_banner(url: str, password: Path | None = None) -> str:
    """The last lines `make run` prints, after the workers' start-up logs: every page to open
    and how to log in (`password`: the demo admin's file, by default `load_demo`'s), so nobody
    scrolls back for them."""
    password = password or admin_password_file()
    demo = password.exists()
    login = f"admin, password in {password}" if demo else "your superuser"
    agent = "the same login" if demo else "a staff user in the agents group"
    return (
        f"\nDemo store with the chat widget: {url}\n"
        f"The same store in Chinese:       {url}?locale=zh-hans\n"
        f"Admin:                           {url}admin/   (login: {login})\n"
        f"Agent console:                   {url}console/   ({agent})\n"
        "Ctrl-C stops everything.\n"
    )
