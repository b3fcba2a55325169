"""Demo data for `make run`: an admin account (its password written to var/admin-password.txt),
which is an agent too (the banner's console link opens with the same login), the demo FAQs, the
demo help centre (indexed here, so the first question finds it) and whatever demo content the
installed apps provide. Safe to run again."""

import json
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand

from chatbot.handoff.selectors import AGENTS_GROUP
from chatbot.models import PageGreeting
from knowledge.importing import import_faqs
from knowledge.models import DocumentImport
from knowledge.services import documents_import

DEMO_ADMIN_EMAIL = "admin@example.com"
DEMO_FAQS = Path(settings.BASE_DIR) / "knowledge" / "fixtures" / "demo_faqs.json"
HELP_CENTRE = Path(settings.BASE_DIR) / "knowledge" / "fixtures" / "helpcentre"
# The demo store's proactive greeting: (locale, greeting, suggested questions).
DEMO_GREETINGS = [
    (
        "en",
        "Hi! Questions about sizes, shipping or returns? Ask me, I answer right away.",
        [
            "How long does delivery take and how much does shipping cost?",
            "How do I return an item?",
            "How do I find the right size?",
        ],
    ),
    (
        "zh-hans",
        "您好！关于尺码、配送或退货有任何问题，都可以问我，马上为您解答。",
        ["下单后多久能收到？运费多少？", "怎么退货？", "怎么选尺码？"],
    ),
]


def admin_password_file() -> Path:
    """Where the demo admin's generated password is kept (mode 600); `serve` names it too.
    `serve --prod` keeps its database's own in var/prod (DEMO_ADMIN_PASSWORD_FILE)."""
    if settings.DEMO_ADMIN_PASSWORD_FILE:
        return Path(settings.DEMO_ADMIN_PASSWORD_FILE)
    return Path(settings.BASE_DIR) / "var" / "admin-password.txt"


class Command(BaseCommand):
    help = "Load the demo store's data (idempotent)."

    def handle(self, *args, **options) -> None:
        password_file = self.demo_admin()
        result = import_faqs(json.loads(DEMO_FAQS.read_text(encoding="utf-8")), created_by="demo")
        self.stdout.write(f"Demo FAQs: {result.created} new, {result.updated} updated.")
        self.load_help_centre(HELP_CENTRE)
        for locale, greeting, suggestions in DEMO_GREETINGS:
            PageGreeting.objects.update_or_create(
                path_pattern="/",
                locale=locale,
                defaults={"greeting": greeting, "suggestions": "\n".join(suggestions)},
            )
        if password_file.exists():  # the path, not the password: terminals and CI logs keep it
            self.stdout.write(f"Admin login: admin, password in {password_file}")
        call_command("seed_analytics_demo", stdout=self.stdout)

    def demo_admin(self) -> Path:
        """Creates the `admin` superuser unless there is one, its password in the returned file,
        and makes the demo's admin an agent too; an `admin` someone else made is left as it is."""
        password_file = admin_password_file()
        user_model = get_user_model()
        if not user_model.objects.filter(username="admin").exists():
            password = secrets.token_urlsafe(12)
            user_model.objects.create_superuser("admin", DEMO_ADMIN_EMAIL, password)
            password_file.parent.mkdir(parents=True, exist_ok=True)
            password_file.touch(mode=0o600)
            password_file.chmod(0o600)  # only its owner reads it
            password_file.write_text(password + "\n")
        demo = user_model.objects.filter(username="admin", email=DEMO_ADMIN_EMAIL).first()
        if demo is not None:
            demo.groups.add(Group.objects.get_or_create(name=AGENTS_GROUP)[0])
        return password_file

    def load_help_centre(self, root: Path) -> None:
        """Each locale's folder of articles, imported and indexed in this process."""
        for folder in sorted(p for p in root.glob("*") if p.is_dir()):
            document_import = DocumentImport.objects.create(
                kind=DocumentImport.Kind.FILES,
                source=str(folder),
                options={
                    "locale": folder.name,
                    "visibility": "public",
                    "tags": ["demo"],
                    "key_prefix": f"{folder.name}/",
                },
            )
            result = documents_import(import_id=document_import.pk, index_inline=True)
            self.stdout.write(
                f"Demo help centre ({folder.name}): {result.created} new, {result.updated} "
                f"updated, {result.unchanged} unchanged, {result.failed} failed."
            )
