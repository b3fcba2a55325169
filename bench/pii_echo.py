"""How many answers the echo rule (chatbot/cache/echo.py) keeps out of the cache: the labelled
questions of tests/cache/data/personal_questions.jsonl answered by the real local model
(SmolLM2-135M through llama.cpp, the system prompt of the settings, no help-centre sources),
checked against the demo knowledge base (`load_demo`) in a fresh SQLite database. Harmless
questions whose answer is dropped are the rule's cost; personal ones whose answer is dropped
are what it catches on its own, behind the detector; `stored_after_every_check` counts the
answers the cache would keep with both checks and the answer-side detector (docs/security.md).

    python -m bench.pii_echo [--out bench/results/pii_echo.json] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
from collections import Counter
from pathlib import Path

_DB_DIR = tempfile.mkdtemp(prefix="bench-pii-echo-")
os.environ["DATABASE_URL"] = f"sqlite:///{_DB_DIR}/db.sqlite3"
# load_demo makes this database an admin: its password is not `make run`'s (var/).
os.environ["DEMO_ADMIN_PASSWORD_FILE"] = f"{_DB_DIR}/admin-password.txt"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")
os.environ["REDIS_URL"] = ""

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from chatbot.cache.echo import private_echoes  # noqa: E402
from chatbot.cache.pii import answer_is_personal, is_personal  # noqa: E402
from chatbot.ops import localmodel, production  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "cache" / "data" / "personal_questions.jsonl"
MODEL = "smollm2-135m-instruct"


def _answer(base_url: str, question: str, max_tokens: int) -> str:
    response = httpx.post(
        f"{base_url}/chat/completions",
        json={
            "model": MODEL,
            "messages": [
                {"role": "system", "content": settings.LLM_SYSTEM_PROMPT},
                {"role": "user", "content": question},
            ],
            "max_tokens": max_tokens,
            "temperature": 0,
        },
        timeout=120,
    )
    response.raise_for_status()
    return response.json()["choices"][0]["message"]["content"]


def run(max_tokens: int) -> dict:
    call_command("migrate", "--noinput", verbosity=0)
    call_command("load_demo", verbosity=0, stdout=io.StringIO())
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line]
    port = production.free_port()
    process = localmodel.start_server(host="127.0.0.1", port=port, model_alias=MODEL)
    base_url = f"http://127.0.0.1:{port}/v1"
    counts: Counter[tuple[str, str, str]] = Counter()
    examples: list[dict] = []
    try:
        localmodel.wait_until_answering(base_url, MODEL, process=process, timeout_s=180)
        for row in rows:
            answer = _answer(base_url, row["text"], max_tokens)
            echoes = private_echoes(row["text"], answer)
            key = (row["lang"], row["label"])
            counts[(*key, "all")] += 1
            counts[(*key, "echo")] += bool(echoes)
            counts[(*key, "answer_personal")] += answer_is_personal(answer)
            counts[(*key, "stored")] += not (
                is_personal(row["text"]) or echoes or answer_is_personal(answer)
            )
            if echoes and len(examples) < 12:
                examples.append({"question": row["text"], "answer": answer, "echoes": echoes})
    finally:
        process.terminate()
        process.wait(timeout=20)
    figures = {
        f"{lang} {label}": {
            "questions": counts[(lang, label, "all")],
            "answer_echoes_private_text": counts[(lang, label, "echo")],
            "answer_has_personal_details": counts[(lang, label, "answer_personal")],
            # Neither the question nor the answer stops it: the cache would keep it.
            "stored_after_every_check": counts[(lang, label, "stored")],
        }
        for lang in ("en", "zh-hans")
        for label in ("personal", "harmless")
    }
    return {"model": MODEL, "max_tokens": max_tokens, "figures": figures, "examples": examples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "pii_echo.json"))
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    result = run(args.max_tokens)
    Path(args.out).write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    print(json.dumps(result["figures"], indent=2))


if __name__ == "__main__":
    main()
