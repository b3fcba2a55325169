"""Access and erasure for one visitor (GDPR articles 15 and 17; docs/security.md, "Privacy").

    python manage.py visitor_data export --email ann@example.com [--output ann.json]
    python manage.py visitor_data erase --user-id customer-981 --yes

The visitor is found by `--conversation` (a conversation id), `--user-id` (a verified user id,
docs/widget.md) or `--email` (verified, left with a message, given for a transcript or written
in a message); several may be given. `erase` lists what it would delete and deletes only with
`--yes`. Both are written to the audit log."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from chatbot.privacy import services


class Command(BaseCommand):
    help = "Export (JSON) or erase everything stored about one visitor."

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=["export", "erase"])
        parser.add_argument("--conversation", default="")
        parser.add_argument("--user-id", default="")
        parser.add_argument("--email", default="")
        parser.add_argument("--output", type=Path, help="export: write here, not to stdout")
        parser.add_argument("--yes", action="store_true", help="erase: really delete")

    def handle(
        self,
        *args,
        action: str,
        conversation: str,
        user_id: str,
        email: str,
        output: Path | None,
        yes: bool,
        **options,
    ) -> None:
        if not (conversation or user_id or email):
            raise CommandError("Name the visitor: --conversation, --user-id or --email.")
        if email and not services.looks_like_email(email.strip()):
            raise CommandError(
                f"--email {email!r}: give the visitor's whole address (name@example.com); a "
                "part of one would find other visitors too."
            )
        found_by = ",".join(
            name
            for name, value in (
                ("conversation", conversation),
                ("user_id", user_id),
                ("email", email),
            )
            if value
        )
        found = services.visitor_conversations(public_id=conversation, user_id=user_id, email=email)
        if action == "export":
            data = services.visitor_data_export(conversations=found, actor=None, found_by=found_by)
            text = json.dumps(data, ensure_ascii=False, indent=2)
            if output is None:
                self.stdout.write(text)
            else:
                output.write_text(text + "\n", encoding="utf-8")
                self.stderr.write(f"{len(found)} conversations written to {output}")
            return
        if not found:
            self.stderr.write("No conversations found: nothing to erase.")
            return
        for c in found:
            self.stderr.write(f"{c.public_id}  {c.status}  started {c.created_at:%Y-%m-%d}")
        if not yes:
            raise CommandError(f"{len(found)} conversations would be erased; add --yes to do it.")
        erased = services.visitor_data_erase(conversations=found, actor=None, found_by=found_by)
        self.stderr.write(f"{erased} conversations erased.")
