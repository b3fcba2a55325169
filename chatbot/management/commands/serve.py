"""`make run`'s last step: the local model server (unless another LLM is configured), a Celery
worker (when REDIS_URL is set), and daphne, kept running by chatbot.supervisor; prints the demo
URL once the server is ready and stops them all together.

It exits non-zero, saying what failed, when the local model does not answer a real completion
at start, when daphne does not become ready, or when daphne dies; the local model server and
the Celery worker are restarted when they die."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from chatbot import localmodel
from chatbot.management.commands.load_demo import admin_password_file
from chatbot.supervisor import ChildDied, ChildSpec, Supervisor, describe_exit, log_tail

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
        parser.add_argument("--log-dir", type=Path, help="child logs (default: var/log)")

    def handle(
        self,
        *args,
        host: str,
        port: int,
        no_local_llm: bool,
        ready_timeout: float,
        log_dir: Path | None,
        **options,
    ) -> None:
        logs = log_dir or Path(settings.BASE_DIR) / "var" / "log"
        logs.mkdir(parents=True, exist_ok=True)
        supervisor = Supervisor(on_event=self._say)

        def stop(*_: object) -> None:
            supervisor.stop()
            sys.exit(0)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
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
        except ChildDied as died:
            supervisor.stop()
            raise CommandError(f"{died}; stopping everything.{died.tail}") from None
        except CommandError:
            supervisor.stop()
            raise

    def _say(self, text: str) -> None:
        self.stderr.write(text)

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

        self.stdout.write(f"Starting the local model on {base_url} …")
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
        self.stdout.write(f"The local model answers (pid {process.pid}): {answer.strip()!r}")


def _celery_worker(log_path: Path) -> ChildSpec:
    def start() -> subprocess.Popen:
        log = log_path.open("ab")
        try:
            return subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "chatbot",
                    "worker",
                    "-l",
                    "info",
                    "-c",
                    "1",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            log.close()

    return ChildSpec("the Celery worker", start, restart=True, log_path=log_path)


def _daphne(host: str, port: int) -> ChildSpec:
    def start() -> subprocess.Popen:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                host,
                "-p",
                str(port),
                "chatbot.asgi:application",
            ],
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


def _ready_banner(url: str) -> str:
    """The last lines `make run` prints, after the workers' start-up logs: every page to open
    and how to log in, so nobody scrolls back for them."""
    password = admin_password_file()
    login = f"admin, password in {password}" if password.exists() else "your superuser"
    return (
        f"\nDemo store with the chat widget: {url}\n"
        f"The same store in Chinese:       {url}?locale=zh-hans\n"
        f"Admin:                           {url}admin/   (login: {login})\n"
        f"Agent console:                   {url}console/\n"
        "Ctrl-C stops everything.\n"
    )
