"""Sends again the emails a process lost: acknowledgements, agents' replies and transcripts
recorded but never sent (the process died with them pending; docs/operations.md, "Mail").

    python manage.py mail_resend [--hours 24] [--settle-minutes 15]

Only rows from the last `--hours`, and not from the last `--settle-minutes`, whose retries may
still be running. Each email still goes out at most once (a send finding it recorded does
nothing), and an address's daily acknowledgement limit still holds."""

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from chatbot.handoff import mail, tasks

TASKS = {
    "acknowledgements": tasks.left_message_acknowledge,
    "replies": tasks.left_message_reply_email,
    "transcripts": tasks.transcript_email,
}


class Command(BaseCommand):
    help = "Send again the left-message and transcript emails that were never sent."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--hours", type=float, default=24.0)
        parser.add_argument("--settle-minutes", type=float, default=15.0)

    def handle(self, *args, hours: float, settle_minutes: float, **options) -> None:
        now = timezone.now()
        found = mail.unsent(
            since=now - timedelta(hours=hours), until=now - timedelta(minutes=settle_minutes)
        )
        for kind, ids in found.items():
            for row_id in ids:
                tasks.send_or_enqueue(TASKS[kind], row_id)
            self.stdout.write(f"{kind}: {len(ids)}")
