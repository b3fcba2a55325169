"""`manage.py prod_env`: the environment that points manage.py at the production shape's own
PostgreSQL and Redis (`serve --prod`), as shell exports: `eval "$(manage.py prod_env)"`, then
`manage.py reembed`, `createsuperuser`, `shell`… An operator walk had to read
chatbot/ops/production.py to build the database address; the passwords are made on the shape's
first start and kept in its var directory."""

import shlex
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from chatbot.ops import production


class Command(BaseCommand):
    help = __doc__.splitlines()[0]

    def add_arguments(self, parser) -> None:
        parser.add_argument("--var-dir", type=Path, help="as given to serve (default: var/prod)")
        parser.add_argument("--redis-port", type=int, default=6380, help="as given to serve")
        parser.add_argument("--postgres-port", type=int, default=5433, help="as given to serve")

    def handle(
        self, *args, var_dir: Path | None, redis_port: int, postgres_port: int, **options
    ) -> None:
        layout = production.Layout(var_dir or Path(settings.BASE_DIR) / "var" / "prod")
        if not layout.secrets_file.exists():
            raise CommandError(
                f"No production shape in {layout.root}: start it once with `manage.py serve "
                "--prod` (with the same --var-dir)."
            )
        secrets_ = production.secrets_load(layout)
        exports = {
            "DATABASE_URL": production.database_url(secrets_, postgres_port),
            "REDIS_URL": production.redis_url(secrets_, redis_port),
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "DEMO_ADMIN_PASSWORD_FILE": str(layout.admin_password),
        }
        for name, value in exports.items():
            self.stdout.write(f"export {name}={shlex.quote(value)}")
