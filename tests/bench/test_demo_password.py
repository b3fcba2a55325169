"""Benchmarks that load the demo into a database of their own leave `make run`'s admin password
file alone: `make bench` once overwrote var/admin-password.txt with its throwaway database's."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("module", ["bench.grounding", "bench.pii_echo"])
def test_a_bench_with_its_own_database_keeps_its_own_admin_password(module: str) -> None:
    script = (
        f"import os, {module}; "
        "print(os.environ['DATABASE_URL']); print(os.environ['DEMO_ADMIN_PASSWORD_FILE'])"
    )
    shown = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    database, password_file = shown[-2], Path(shown[-1])
    assert password_file.parent == Path(database.removeprefix("sqlite:///")).parent
    assert REPO / "var" not in password_file.parents
