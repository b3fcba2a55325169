"""`make run`'s last step: the local model server (unless another LLM is configured), a Celery
worker (when REDIS_URL is set), and daphne; prints the demo URL and stops them all together."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand

from chatbot import localmodel


class Command(BaseCommand):
    help = "Start the local model, a Celery worker when REDIS_URL is set, and daphne."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-local-llm", action="store_true", help="do not start llama.cpp")

    def handle(self, *args, host: str, port: int, no_local_llm: bool, **options) -> None:
        logs = Path(settings.BASE_DIR) / "var" / "log"
        logs.mkdir(parents=True, exist_ok=True)
        children: list[subprocess.Popen] = []

        def stop(*_: object) -> None:
            for child in reversed(children):
                if child.poll() is None:
                    child.terminate()
            for child in children:
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
            sys.exit(0)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

        if not no_local_llm:
            self.stdout.write(
                f"Starting the local model (SmolLM2-135M) on {settings.LOCAL_LLM_BASE_URL} …"
            )
            server = localmodel.start_server(
                host=settings.LOCAL_LLM_HOST,
                port=settings.LOCAL_LLM_PORT,
                model_alias=settings.LOCAL_LLM_MODEL,
                log_path=logs / "local-llm.log",
            )
            children.append(server)
            localmodel.wait_until_ready(settings.LOCAL_LLM_BASE_URL, process=server)
        if settings.REDIS_URL and not settings.CELERY_TASK_ALWAYS_EAGER:
            worker_log = open(logs / "celery.log", "ab")  # noqa: SIM115 - lives with the worker
            children.append(
                subprocess.Popen(
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
                    stdout=worker_log,
                    stderr=subprocess.STDOUT,
                )
            )
        daphne = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                host,
                "-p",
                str(port),
                "chatbot.asgi:application",
            ]
        )
        children.append(daphne)
        url = f"http://{host}:{port}/"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and daphne.poll() is None:
            try:
                if httpx.get(f"{url}readyz", timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stdout.write(
            self.style.SUCCESS(
                f"\nDemo store with the chat widget: {url}\n"
                f"Admin: {url}admin/   (Ctrl-C stops everything)\n"
            )
        )
        try:
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
        finally:
            stop()
