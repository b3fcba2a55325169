"""Importing many FAQs: the wall time of `manage.py import_faqs` on a generated file of `--faqs`
FAQs (a question, an answer and two paraphrases each), the embedding tasks it ran and the log
lines it wrote, on a fresh SQLite database with eager Celery (the embedded default, where the
embeddings are computed inside the command).

    python -m bench.faq_import [--faqs 4000] [--root DIR] [--out FILE]

`--root` runs another checkout's manage.py against the same file, e.g. an export of the commit
before a change (`git archive <commit> | tar -x -C DIR`) for a before/after figure. Figures:
docs/faq-format.md ("Importing many FAQs")."""

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TASK = "knowledge.tasks.embed_paraphrases"


def faq_file(count: int) -> dict:
    return {
        "version": 1,
        "faqs": [
            {
                "question": f"How does feature {i} of product line {i % 37} work?",
                "answer": f"Feature {i} works like this: step one, step two.",
                "paraphrases": [f"explain feature {i}", f"what is feature number {i} for"],
            }
            for i in range(count)
        ],
    }


def measure(*, faqs: int, root: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-import-") as folder:
        data, database = Path(folder) / "faqs.json", Path(folder) / "db.sqlite3"
        data.write_text(json.dumps(faq_file(faqs)))
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{database}",
            "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only"),
            "EMBEDDING_MODEL_DIR": str(ROOT / "var" / "models"),
            "REDIS_URL": "",
        }
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "-v", "0"], cwd=root, env=env, check=True)
        started = time.perf_counter()
        done = subprocess.run(
            [*manage, "import_faqs", str(data)], cwd=root, env=env, capture_output=True, text=True
        )
        seconds = time.perf_counter() - started
        if done.returncode:
            raise SystemExit(done.stderr[-3000:])
        logged = done.stderr.splitlines()
        with sqlite3.connect(database) as db:
            embedded, total = db.execute(
                "SELECT count(embedding), count(*) FROM knowledge_paraphrase"
            ).fetchone()
    return {
        "faqs": faqs,
        "paraphrases": total,
        "embedded": embedded,
        "seconds": round(seconds, 1),
        "embedding_tasks": sum(TASK in line for line in logged),
        "log_lines": len(logged),
        "root": str(root),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--faqs", type=int, default=4000)
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    report = measure(faqs=args.faqs, root=args.root.resolve())
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
