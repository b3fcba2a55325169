"""`manage.py prod_env`: the exports that point manage.py at a production shape's own
PostgreSQL and Redis (an operator walk built them by reading chatbot/ops/production.py)."""

import io
import json
import shlex

import pytest
from django.core.management import CommandError, call_command

from chatbot.ops import production


def test_it_prints_the_shapes_own_addresses_as_shell_exports(tmp_path):
    layout = production.Layout(tmp_path / "prod")
    layout.secrets_file.parent.mkdir(parents=True)
    layout.secrets_file.write_text(
        json.dumps({"postgres_password": "p@ss/word", "redis_password": "r e d"})
    )
    out = io.StringIO()
    call_command("prod_env", "--var-dir", str(layout.root), "--postgres-port", "5441", stdout=out)
    exports = dict(
        shlex.split(line)[1].split("=", 1) for line in out.getvalue().splitlines() if line
    )
    secrets_ = production.secrets_load(layout)
    assert exports["DATABASE_URL"] == production.database_url(secrets_, 5441)
    assert exports["REDIS_URL"] == production.redis_url(secrets_, 6380)
    assert exports["DEMO_ADMIN_PASSWORD_FILE"] == str(layout.admin_password)


def test_without_a_shape_it_says_how_to_make_one(tmp_path):
    with pytest.raises(CommandError, match=r"start it once with `manage\.py serve --prod`"):
        call_command("prod_env", "--var-dir", str(tmp_path / "none"))
    assert not (tmp_path / "none").exists(), "no passwords made for a shape that is not there"
