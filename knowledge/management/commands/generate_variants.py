from django.core.management.base import BaseCommand

from knowledge.generation import jobs_create
from knowledge.models import FAQ, GenerationJob


class Command(BaseCommand):
    help = "Ask the configured model for answer rewordings and question paraphrases (as drafts)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--faq", type=int, action="append", help="FAQ id (repeatable); default all active"
        )
        parser.add_argument("--answers", type=int, default=3)
        parser.add_argument("--paraphrases", type=int, default=5)

    def handle(
        self, *args, faq: list[int] | None, answers: int, paraphrases: int, **options
    ) -> None:
        ids = faq or list(FAQ.objects.filter(active=True).values_list("pk", flat=True))
        jobs = jobs_create(
            faq_ids=ids, answers=answers, paraphrases=paraphrases, requested_by="command"
        )
        for job in GenerationJob.objects.filter(pk__in=[j.pk for j in jobs]).select_related("faq"):
            line = f"FAQ {job.faq_id} {job.faq.question!r}: {job.status}"
            if job.status == GenerationJob.Status.DONE:
                line += f" ({job.answers_created} answers, {job.paraphrases_created} paraphrases)"
            elif job.error:
                line += f" — {job.error}"
            self.stdout.write(line)
