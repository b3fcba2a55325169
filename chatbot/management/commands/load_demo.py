"""Demo data for `make run`: an admin account (its password written to var/admin-password.txt)
and whatever demo content the installed apps provide. Safe to run again."""

import json
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from knowledge.importing import import_faqs

DEMO_FAQS = Path(settings.BASE_DIR) / "knowledge" / "fixtures" / "demo_faqs.json"


class Command(BaseCommand):
    help = "Load the demo store's data (idempotent)."

    def handle(self, *args, **options) -> None:
        password_file = Path(settings.BASE_DIR) / "var" / "admin-password.txt"
        user_model = get_user_model()
        if not user_model.objects.filter(username="admin").exists():
            password = secrets.token_urlsafe(12)
            user_model.objects.create_superuser("admin", "admin@example.com", password)
            password_file.parent.mkdir(parents=True, exist_ok=True)
            password_file.write_text(password + "\n")
        result = import_faqs(json.loads(DEMO_FAQS.read_text(encoding="utf-8")), created_by="demo")
        self.stdout.write(f"Demo FAQs: {result.created} new, {result.updated} updated.")
        if password_file.exists():
            self.stdout.write(f"Admin login: admin / {password_file.read_text().strip()}")
        call_command("seed_analytics_demo", stdout=self.stdout)
