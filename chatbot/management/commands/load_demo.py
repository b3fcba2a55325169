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
from django.db import transaction
from django.db.models import QuerySet

from chatbot.handoff.selectors import AGENTS_GROUP
from chatbot.models import PageGreeting
from knowledge.content_version import knowledge_version_bump
from knowledge.importing import import_faqs
from knowledge.models import FAQ, Document, DocumentImport, Paraphrase
from knowledge.services import document_delete, documents_import
from statestore.counters import counter_add

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

# Demo FAQs of earlier releases, (locale, question, answer), taken out of a demo database that
# still holds them as loaded: each bundled the store's hours with its contact details, whose
# phrasings split its support and kept both kinds of question unmatched; two FAQs replace each.
# One an admin has edited since (another answer) is theirs and stays.
RETIRED_DEMO_FAQS = [
    (
        "en",
        "What are your store hours and how can I contact you?",
        "Our Portland store is open Monday-Saturday 9am-7pm and Sunday 10am-5pm. Customer service "
        "is available by live chat or on 1-800-555-0142 Monday-Friday 8am-8pm PT, or email "
        "help@northwindoutfitters.example and we'll reply within 24 hours.",
    ),
    (
        "zh-hans",
        "怎么联系客服？",
        "您可以通过在线客服或拨打 1-800-555-0142 联系我们，服务时间为太平洋时间周一至周五"
        "8:00-20:00；也可以发邮件到 help@northwindoutfitters.example，我们会在24小时内回复。"
        "波特兰门店的营业时间是周一至周六9:00-19:00、周日10:00-17:00。",
    ),
]


# Phrasings the demo once stored under FAQs whose answers they contradict (a QA walk got wrong
# answers from them, docs/faq-format.md, "The word check"): removed from a demo database.
RETIRED_DEMO_PHRASINGS = [
    (
        "en",
        "Can I change or cancel my order?",
        "Is it possible to add another item to an order I just placed?",
    ),
    ("zh-hans", "下单后还能取消或修改订单吗？", "能不能在订单里再加一件"),
    ("zh-hans", "可以寄到中国吗？", "支持寄到香港吗"),
]


def admin_password_file() -> Path:
    """Where the demo admin's generated password is kept (mode 600); `serve` names it too.
    `serve --prod` keeps its database's own in var/prod (DEMO_ADMIN_PASSWORD_FILE)."""
    if settings.DEMO_ADMIN_PASSWORD_FILE:
        return Path(settings.DEMO_ADMIN_PASSWORD_FILE)
    return Path(settings.BASE_DIR) / "var" / "admin-password.txt"


# How many times the demo was loaded into this database (statestore.SharedCounter).
LOADS_COUNTER = "demo_loads"


class Command(BaseCommand):
    help = "Load the demo store's data (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--once",
            action="store_true",
            help="only into a database the demo was never loaded into (make run): a store that "
            "edited or removed the demo content keeps it as it is",
        )
        parser.add_argument(
            "--remove",
            action="store_true",
            help="take the demo content out: its FAQs still as the demo wrote them, its help "
            "centre, greetings and analytics conversations (your own content stays)",
        )

    def handle(self, *args, once: bool = False, remove: bool = False, **options) -> None:
        if remove:
            self.remove_demo()
            return
        loads = counter_add(LOADS_COUNTER, 0, start=int)
        if once and loads:
            self.stdout.write(
                "Demo data: loaded into this database before, not again (your edits and "
                "removals stay; `manage.py load_demo` loads it again, `--remove` takes it out)."
            )
            if admin_password_file().exists():
                self.stdout.write(f"Admin login: admin, password in {admin_password_file()}")
            return
        counter_add(LOADS_COUNTER, 1, start=int)
        password_file = self.demo_admin()
        self.retire_demo_faqs()
        self.retire_demo_phrasings()
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

    def remove_demo(self) -> None:
        """The demo's FAQs whose answer is still the demo's (one edited since is the store's),
        the help centre it imported, its greetings as it wrote them and its analytics
        conversations. The admin account stays: it may be the only one."""
        demo_faqs = json.loads(DEMO_FAQS.read_text(encoding="utf-8"))["faqs"]
        faqs = _delete_matching(
            FAQ.objects.all(),
            [
                {"locale": f.get("locale", "en"), "question": f["question"], "answer": f["answer"]}
                for f in demo_faqs
            ],
        )
        documents = list(Document.objects.all())
        demo_documents = [d for d in documents if "demo" in (d.tags or [])]
        for document in demo_documents:
            document_delete(document=document)
        greetings = 0
        for locale, greeting, _suggestions in DEMO_GREETINGS:
            greetings += PageGreeting.objects.filter(
                path_pattern="/", locale=locale, greeting=greeting
            ).delete()[0]
        call_command("seed_analytics_demo", "--remove", stdout=self.stdout)
        self.stdout.write(
            f"Demo content removed: {faqs} FAQs, {len(demo_documents)} help-centre articles, "
            f"{greetings} greetings. `make run` does not load it again into this database."
        )

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

    def retire_demo_faqs(self) -> int:
        """Deletes the retired demo FAQs that are still as the demo loaded them."""
        return _delete_matching(
            FAQ.objects.all(),
            [
                {"locale": locale, "question": question, "answer": answer}
                for locale, question, answer in RETIRED_DEMO_FAQS
            ],
        )

    def retire_demo_phrasings(self) -> int:
        """Deletes the retired demo phrasings from the FAQs the demo stored them under."""
        return _delete_matching(
            Paraphrase.objects.all(),
            [
                {"faq__locale": locale, "faq__question": question, "text": text}
                for locale, question, text in RETIRED_DEMO_PHRASINGS
            ],
        )

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


def _delete_matching(rows: QuerySet, matches: list[dict[str, str]]) -> int:
    """Deletes the rows matching any of `matches`; the knowledge version moves if any went."""
    retired = [pk for match in matches for pk in rows.filter(**match).values_list("pk", flat=True)]
    if retired:
        rows.filter(pk__in=retired).delete()
        transaction.on_commit(knowledge_version_bump)
    return len(retired)
