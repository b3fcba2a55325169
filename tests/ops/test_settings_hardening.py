"""Production hardening that settings switch on, and what no setting may fall back to."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_debug_has_no_built_in_secret_key(tmp_path):
    """Not from the checkout's .env either (`make run` writes one there)."""
    database = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    result = _run({"DEBUG": "1", "DATABASE_URL": database, "ENV_FILE": ""}, "check")
    assert result.returncode != 0
    assert "Set the SECRET_KEY environment variable" in result.stderr


def test_a_missing_setting_is_one_clear_message_not_a_traceback(tmp_path):
    """An operator walk ran `serve --help` without SECRET_KEY and read a 40-line traceback."""
    result = _run({"ENV_FILE": str(tmp_path / "absent.env")}, "serve", "--help")
    assert result.returncode == 1
    assert result.stderr.startswith("Set the SECRET_KEY environment variable.\n")
    assert "docs/deploy.md" in result.stderr and "Traceback" not in result.stderr


def test_the_secret_key_can_come_from_the_file_env_file_names(tmp_path):
    secrets = tmp_path / "chatbot.env"
    secrets.write_text("SECRET_KEY=from-a-file-of-its-own-0123456789\n")
    database = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    found = _run({"DATABASE_URL": database, "ENV_FILE": str(secrets)}, "check")
    missing = _run({"DATABASE_URL": database, "ENV_FILE": str(tmp_path / "absent.env")}, "check")
    assert found.returncode == 0, found.stderr
    assert missing.returncode != 0
    assert "Set the SECRET_KEY environment variable" in missing.stderr


def test_check_deploy_is_clean_with_the_documented_production_settings(tmp_path):
    production = {
        "SECRET_KEY": "x" * 20 + "a-long-random-production-secret-0123456789",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "chat.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "TRUST_X_FORWARDED_PROTO": "1",
        "SECURE_COOKIES": "1",
        "SECURE_SSL_REDIRECT": "1",
        "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
        "SECURE_HSTS_PRELOAD": "1",
    }
    result = _run(production, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
