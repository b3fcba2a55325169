"""Sends again the emails a process lost: acknowledgements, agents' replies and transcripts
recorded but never sent (the process died with them pending; docs/operations.md, "Mail").

    python manage.py mail_resend [--hours 24] [--settle-minutes 15]

Only rows from the last `--hours`, and not from the last `--settle-minutes`, whose retries may
still be running. Each email still goes out at most once (a send finding it recorded does
nothing), and an address's daily acknowledgement limit still holds."""

from django.core.management.base import BaseCommand

from chatbot.handoff.tasks import unsent_resend


class Command(BaseCommand):
    help = "Send again the left-message and transcript emails that were never sent."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--hours", type=float, default=24.0)
        parser.add_argument("--settle-minutes", type=float, default=15.0)

    def handle(self, *args, hours: float, settle_minutes: float, **options) -> None:
        for kind, count in unsent_resend(hours=hours, settle_minutes=settle_minutes).items():
            self.stdout.write(f"{kind}: {count}")
