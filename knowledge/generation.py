"""Pre-generation of answer rewordings and question paraphrases with the configured model.

Drafts only: nothing generated is served or matched until a person approves it. Everything for
one FAQ is written in one transaction after the model answered, so a failure writes nothing."""

import logging
import re
from dataclasses import dataclass
from datetime import timedelta

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from knowledge import services
from knowledge.chinese import has_chinese
from knowledge.embeddings import get_embedder
from knowledge.models import FAQ, AnswerVariant, GenerationJob, Origin
from knowledge.task_queue import enqueue_after_commit
from knowledge.variant_check import NUMBER

logger = logging.getLogger(__name__)

_NUMBERING = re.compile(r"^\s*(?:#+\s*)?(?:[-*•]|\d+[.)、]|[a-z][.)])?\s*", re.IGNORECASE)
_LABEL = re.compile(
    r"^(?:question|answer|rewrite|customer|version \d+|问题|回答|答案|改写|顾客|客户)\s*[:：]\s*",
    re.IGNORECASE,
)

# For questions only: any short label before a colon ("容器: 可以用花呗分期吗？", "性别：…" came
# from the local model), and characters no customer's question is made of ("汇换＆").
_ANY_LABEL = re.compile(r"^[^\s:：?？]{1,12}[:：]\s*")
_NOT_IN_A_QUESTION = re.compile(r"[&＆#＃@*＊_=<>{}\[\]|\\^~]")


@dataclass(frozen=True)
class GenerationModel:
    base_url: str | None
    model: str
    api_key: str


def generation_model() -> GenerationModel:
    """The OpenAI model when a key is configured, the local model otherwise."""
    if settings.OPENAI_API_KEY:
        return GenerationModel(
            settings.OPENAI_BASE_URL or None, settings.OPENAI_MODEL, settings.OPENAI_API_KEY
        )
    return GenerationModel(settings.LOCAL_LLM_BASE_URL, settings.LOCAL_LLM_MODEL, "local-no-key")


def parse_lines(
    text: str,
    *,
    exclude: set[str],
    limit: int,
    locale: str = "",
    numbers_of: str | None = None,
    questions: bool = False,
) -> list[str]:
    """One candidate per line, numbering, headings, the prompt's labels ("Answer:") and quotes
    stripped; dropped: duplicates, echoes, lead-ins ("Here are five ways:"), a line in another
    language than `locale`'s, and, with `numbers_of`, a line with a number that text lacks (a
    question asked another way adds no figure; a reworded answer's figures are checked at
    review instead, knowledge.variant_check). With `questions`, any short label before a colon
    is stripped and a line with symbols no question is written with is dropped. Small local
    models write all of these, and each dropped line is one a reviewer need not read."""
    seen = {e.casefold().strip() for e in exclude}
    figures = set(NUMBER.findall(numbers_of)) if numbers_of is not None else None
    out = []
    for line in text.splitlines():
        candidate = _NUMBERING.sub("", line).strip()
        candidate = _LABEL.sub("", candidate).strip().strip('"“”').strip()
        if questions:
            candidate = _ANY_LABEL.sub("", candidate).strip()
            if _NOT_IN_A_QUESTION.search(candidate):
                continue
        key = candidate.casefold()
        if len(candidate) < 3 or len(candidate) > 500 or key in seen:
            continue
        if candidate.endswith((":", "：")):
            continue
        if locale and not in_language(candidate, locale):
            continue
        if figures is not None and not set(NUMBER.findall(candidate)) <= figures:
            continue
        seen.add(key)
        out.append(candidate)
        if len(out) == limit:
            break
    return out


def near_in_meaning(texts: list[str], source: str, *, locale: str, floor: float) -> list[str]:
    """The drafts whose cosine to their source (the FAQ's question or answer, by the locale's
    embedding model) reaches `floor`: a line about something else, or about nothing, is not a
    rewording (docs/faq-format.md, "Generated drafts")."""
    if not texts:
        return []
    vectors = get_embedder(locale).embed([source, *texts])
    scores = vectors[1:] @ vectors[0]
    return [text for text, score in zip(texts, scores, strict=True) if score >= floor]


def in_language(text: str, locale: str) -> bool:
    """Chinese for a zh locale, no Chinese characters for any other: a reply in the wrong
    language is the commonest failure of a small model asked about a Chinese FAQ."""
    chinese = locale.lower().startswith("zh")
    return has_chinese(text) == chinese


def _retryable(exc: BaseException) -> bool:
    import openai  # here: the admin imports this module at start-up, the SDK takes a second

    retryable = (
        openai.APIConnectionError,
        openai.APITimeoutError,
        openai.RateLimitError,
        openai.InternalServerError,
    )
    return isinstance(exc, retryable)


@retry(
    retry=retry_if_exception(_retryable),
    stop=stop_after_attempt(settings.GENERATION_ATTEMPTS),
    wait=wait_exponential_jitter(multiplier=0.5, max=8),
    reraise=True,
)
def _complete(model: GenerationModel, prompt: str) -> str:
    import openai

    client = openai.OpenAI(
        base_url=model.base_url,
        api_key=model.api_key,
        max_retries=0,
        timeout=httpx.Timeout(settings.GENERATION_TIMEOUT_S, connect=5.0),
    )
    response = client.chat.completions.create(
        model=model.model,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=400,
        temperature=0.7,
    )
    return response.choices[0].message.content or ""


def _in_english(faq: FAQ) -> str:
    return ", in English" if faq.locale.lower().startswith("en") else ""


def _answer_prompt(faq: FAQ, count: int) -> str:
    if faq.locale.lower().startswith("zh"):
        return (
            f"用 {count} 种不同的说法改写这条客服回答，所有事实和数字保持不变。"
            "用简体中文，每行写一种，不要写别的内容。\n\n"
            f"问题：{faq.question}\n回答：{faq.answer}"
        )
    return (
        f"Rewrite this customer-support answer in {count} different ways{_in_english(faq)}. "
        "Keep every fact and number the same. Write one version per line, nothing else.\n\n"
        f"Question: {faq.question}\nAnswer: {faq.answer}"
    )


def _paraphrase_prompt(faq: FAQ, count: int) -> str:
    if faq.locale.lower().startswith("zh"):
        return (
            f"写出顾客问这个问题的 {count} 种不同问法，用简体中文，每行一种，不要写别的内容。"
            f"\n\n问题：{faq.question}"
        )
    return (
        f"Write {count} different ways a customer might ask this question{_in_english(faq)}. "
        f"One per line, nothing else.\n\nQuestion: {faq.question}"
    )


FINISHED = (GenerationJob.Status.DONE, GenerationJob.Status.FAILED)


def _dropped(written: str, parsed: list[str], kept: list[str]) -> dict[str, int]:
    """What became of the model's lines: a job that made no drafts said nothing of why (a lead
    walk); small local models often write nothing usable."""
    lines = sum(1 for line in written.splitlines() if line.strip())
    return {
        "written": lines,
        "unusable": max(lines - len(parsed), 0),
        "far": len(parsed) - len(kept),
    }


def shortfall_text(job: GenerationJob) -> str:
    """Why a finished job made fewer drafts than asked, in the reader's language; "" if none."""
    parts = []
    for kind, label, requested, created in (
        ("answers", gettext("answer variants"), job.answers_requested, job.answers_created),
        ("paraphrases", gettext("paraphrases"), job.paraphrases_requested, job.paraphrases_created),
    ):
        counts = job.dropped.get(kind)
        if counts is None or created >= requested:
            continue
        parts.append(
            ngettext(
                "{kind}: the model wrote {written} line, {unusable} unusable (repeats, lead-ins, "
                "another language, new figures), {far} too far in meaning",
                "{kind}: the model wrote {written} lines, {unusable} unusable (repeats, lead-ins, "
                "another language, new figures), {far} too far in meaning",
                counts["written"],
            ).format(kind=label, **counts)
        )
    return gettext("; ").join(parts)


def job_run(*, job_id: int) -> GenerationJob:
    """Runs a job that has not finished; one that has is returned as it is. Its task may run
    twice (a worker killed mid-task hands it back: docs/operations.md, "Crashes and restarts"):
    a job left running is run again, and of two runs at once only the first to finish writes."""
    job = GenerationJob.objects.select_related("faq").get(pk=job_id)
    if job.status in FINISHED:
        return job
    faq = job.faq
    model = generation_model()
    job.status, job.model, job.started_at = (
        GenerationJob.Status.RUNNING,
        model.model,
        timezone.now(),
    )
    job.save(update_fields=["status", "model", "started_at"])
    dropped: dict[str, dict[str, int]] = {}
    try:
        answers, paraphrases = [], []
        if job.answers_requested:
            known = set(faq.variants.values_list("text", flat=True))
            written = _complete(model, _answer_prompt(faq, job.answers_requested))
            parsed = parse_lines(
                written,
                exclude=known | {faq.answer, faq.question},
                limit=3 * job.answers_requested,
                locale=faq.locale,
            )
            answers = near_in_meaning(
                parsed, faq.answer, locale=faq.locale, floor=settings.GENERATION_ANSWER_FLOOR
            )
            dropped["answers"] = _dropped(written, parsed, answers)
            answers = answers[: job.answers_requested]
        if job.paraphrases_requested:
            known = set(faq.paraphrases.values_list("text", flat=True))
            written = _complete(model, _paraphrase_prompt(faq, job.paraphrases_requested))
            parsed = parse_lines(
                written,
                exclude=known | {faq.question},
                limit=3 * job.paraphrases_requested,
                locale=faq.locale,
                numbers_of=faq.question,
                questions=True,
            )
            paraphrases = near_in_meaning(
                parsed,
                faq.question,
                locale=faq.locale,
                floor=settings.GENERATION_PARAPHRASE_FLOOR,
            )
            dropped["paraphrases"] = _dropped(written, parsed, paraphrases)
            paraphrases = paraphrases[: job.paraphrases_requested]
    except Exception as exc:
        logger.warning("variant generation for FAQ %s failed: %r", faq.pk, exc)
        job.status, job.error, job.finished_at = (
            GenerationJob.Status.FAILED,
            f"{type(exc).__name__}: {exc}"[:2000],
            timezone.now(),
        )
        job.save(update_fields=["status", "error", "finished_at"])
        return job
    with transaction.atomic():
        # Finishing first takes the job's row (and SQLite's write lock) for the transaction.
        if (
            not GenerationJob.objects.filter(pk=job.pk)
            .exclude(status__in=FINISHED)
            .update(status=GenerationJob.Status.DONE)
        ):
            job.refresh_from_db()
            return job  # another run finished it meanwhile
        created_answers = services.variants_add(
            faq=faq,
            texts=answers,
            origin=Origin.GENERATED,
            status=AnswerVariant.Status.DRAFT,
            created_by=model.model,
        )
        created_paraphrases = services.paraphrases_add(
            faq=faq, texts=paraphrases, origin=Origin.GENERATED, approved=False
        )
        job.status, job.finished_at, job.dropped = (
            GenerationJob.Status.DONE,
            timezone.now(),
            dropped,
        )
        job.answers_created, job.paraphrases_created = (
            len(created_answers),
            len(created_paraphrases),
        )
        job.save(
            update_fields=[
                "status",
                "finished_at",
                "dropped",
                "answers_created",
                "paraphrases_created",
            ]
        )
    return job


def faqs_being_generated(faq_ids: list[int]) -> set[int]:
    """Those of the FAQs with a job queued or running: a second click started a second job for
    the same FAQ, both running, each adding its drafts (an owner's walk)."""
    fail_stale_jobs()
    return set(
        GenerationJob.objects.filter(
            faq_id__in=faq_ids,
            status__in=(GenerationJob.Status.QUEUED, GenerationJob.Status.RUNNING),
        ).values_list("faq_id", flat=True)
    )


def fail_stale_jobs() -> int:
    """Marks failed the jobs running longer than GENERATION_JOB_STALE_S: their worker stopped
    (killed mid-task, a job stayed "running", the FAQ refused new jobs for the broker's hour and
    the admin showed "running" until someone clicked Generate again: walks). Called before the
    admin shows jobs and before it starts new ones."""
    stale_before = timezone.now() - timedelta(seconds=settings.GENERATION_JOB_STALE_S)
    running = GenerationJob.objects.filter(status=GenerationJob.Status.RUNNING)
    return running.filter(started_at__lt=stale_before).update(
        status=GenerationJob.Status.FAILED, error=WORKER_LOST, finished_at=timezone.now()
    )


WORKER_LOST = "worker_lost: it ran longer than GENERATION_JOB_STALE_S; its worker stopped"


def job_error_text(error: str) -> str:
    """A failed job's error as the admin reads it: what happened, in their language; the stored
    text keeps the exception (an owner read "APIConnectionError: Connection error.")."""
    kind = error.split(":", 1)[0]
    if kind in ("APIConnectionError", "APITimeoutError", "ConnectError", "ConnectTimeout"):
        return gettext("The model could not be reached. Try again once it is up.")
    if kind == "RateLimitError":
        return gettext("The model refused: too many requests. Try again in a while.")
    if kind == "worker_lost":
        return gettext("The job stopped with its worker (a restart). Start it again.")
    return gettext("The model failed (%(error)s).") % {"error": error[:200]}


def jobs_create(
    *,
    faq_ids: list[int],
    answers: int,
    paraphrases: int,
    requested_by: str,
    off_request: bool = False,
) -> list[GenerationJob]:
    """Creates queued jobs and enqueues them in batches once the transaction commits
    (`off_request`: knowledge.task_queue)."""
    jobs = [
        GenerationJob.objects.create(
            faq_id=faq_id,
            answers_requested=answers,
            paraphrases_requested=paraphrases,
            requested_by=requested_by,
        )
        for faq_id in faq_ids
    ]
    ids = [job.pk for job in jobs]
    batch = settings.GENERATION_BATCH_SIZE
    for start in range(0, len(ids), batch):
        enqueue_after_commit(
            "generate_variants", ids[start : start + batch], off_request=off_request
        )
    return jobs
