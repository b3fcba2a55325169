"""Running the migrations from a test, for the tests of a model's move between apps
(tests/handoff/test_app_migration.py, tests/audit/test_app_migration.py). Call them from a
`django_db(transaction=True)` test: SQLite's schema editor refuses to run inside a transaction."""

from django.apps.registry import Apps
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate(targets: list[tuple[str, str | None]]) -> None:
    """Migrates to `targets` (an app at None: none of its migrations) and forgets the cached
    content types, whose rows the migrations may have relabelled."""
    MigrationExecutor(connection).migrate(targets)
    ContentType.objects.clear_cache()


def state_apps(app: str, migration: str) -> Apps:
    """The app registry as it was after one migration."""
    return MigrationExecutor(connection).loader.project_state((app, migration)).apps


def latest() -> list[tuple[str, str]]:
    """Every app's last migration."""
    return MigrationExecutor(connection).loader.graph.leaf_nodes()
