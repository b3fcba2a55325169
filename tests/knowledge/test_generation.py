"""Generating answer variants and paraphrases as drafts, against the upstream simulator."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core.management import call_command
from django.utils import translation

from chatbot.llm.simulator import Faults
from knowledge import generation, services
from knowledge.generation import jobs_create, parse_lines
from knowledge.models import AnswerVariant, GenerationJob, Paraphrase
from knowledge.selectors import faq_lookup

pytestmark = pytest.mark.django_db(transaction=True)

LINES = "1. Delivery takes three to five working days.\n2) Expect it in 3-5 working days.\n- hi\n"


def numbered_lines(question: str) -> str:
    if question.startswith("Rewrite"):
        return "1. Your parcel arrives in 3-5 working days.\n2. Delivery needs 3-5 working days."
    return "1. how long is shipping\n2. when does my stuff arrive\n3. delivery duration?"


@pytest.fixture
def faq():
    return services.faq_save(question="How long does delivery take?", answer="3-5 working days.")


def test_parse_lines_strips_numbering_and_drops_echoes():
    assert parse_lines(LINES + "3. 3-5 working days.", exclude={"3-5 working days."}, limit=5) == [
        "Delivery takes three to five working days.",
        "Expect it in 3-5 working days.",
    ]
    assert parse_lines(LINES, exclude=set(), limit=1) == [
        "Delivery takes three to five working days."
    ]


def test_parse_lines_drops_what_a_small_model_writes_besides_rewordings():
    """SmolLM2's own output for these prompts (6 December): lead-ins, the prompt's labels,
    headings, lines in another language, and questions with figures the FAQ never asked."""
    text = (
        "Rewrite this customer-support answer in 3 different ways:\n"
        "Question: How long does delivery take?\n"
        "Answer: Expect it within 3-5 working days.\n"
        "Customer: Delivery takes 3-5 working days in all.\n"
        "### 1. Your parcel arrives in 3-5 working days.\n"
        "2. The standard delivery takes 6 working days, i.e., 28 hours.\n"
        "3. 标准配送需要3-5个工作日。\n"
        "4. Delivery needs 3-5 working days, 5 at most.\n"
    )
    assert parse_lines(
        text, exclude={"How long does delivery take?", "3-5 working days."}, limit=5, locale="en"
    ) == [
        "Expect it within 3-5 working days.",
        "Delivery takes 3-5 working days in all.",
        "Your parcel arrives in 3-5 working days.",
        "The standard delivery takes 6 working days, i.e., 28 hours.",
        "Delivery needs 3-5 working days, 5 at most.",
    ], "a reworded answer's figures are for the review's fact check"
    asked = "1. how long is shipping\n2. Demonstrative, 5.\n3、怎么退货\n4. when does it arrive?"
    assert parse_lines(
        asked, exclude=set(), limit=5, locale="en", numbers_of="How long does delivery take?"
    ) == ["how long is shipping", "when does it arrive?"]
    assert parse_lines(asked, exclude=set(), limit=5, locale="zh-hans", numbers_of="") == [
        "怎么退货"
    ]
    # What SmolLM2 wrote as questions for a zh shop's FAQs (a zh-shop walk, 7 December).
    labelled = "容器: 可以用花呗分期吗？\n性别：花呗能分期付款吗\n汇换＆\n#标签\n花呗支持分期吗"
    assert parse_lines(
        labelled,
        exclude={"可以用花呗分期吗？"},
        limit=5,
        locale="zh-hans",
        numbers_of="",
        questions=True,
    ) == ["花呗能分期付款吗", "花呗支持分期吗"], "the label gone, the FAQ's own question an echo"
    assert "Note: x applies." in parse_lines("Note: x applies.", exclude=set(), limit=5), (
        "an answer's label-like start is its own"
    )


def test_drafts_far_from_their_faq_in_meaning_are_dropped_in_either_language(upstream):
    """Chinese lines SmolLM2 wrote for "怎么退货？" (cosine 0.02-0.09 to it) are not offered
    for review; real rewordings are (docs/faq-format.md, "Generated drafts")."""
    faq = services.faq_save(
        question="怎么退货？", answer="收到商品30天内可以在订单页面申请退货。", locale="zh-hans"
    )

    def answer(prompt: str) -> str:
        assert "简体中文" in prompt, "a Chinese FAQ is asked about in Chinese"
        if prompt.startswith("用"):
            return (
                "1. 关于商业收款的确实有关，不过早毫30天。\n"
                "2. 商品签收后30天内，您可以在订单页面提交退货申请。"
            )
        return (
            "1. 你可能在这里是被诇家争议携制的一种狼，我将会用简监领双方面逗险。\n"
            "2. 功能欺制编辑，以及实艰的探略和分析。\n"
            "3. 我想退货，怎么操作？\n"
            "4. 买错了可以退吗\n"
            "5. How do I return an item?"
        )

    upstream.answer = answer
    (job,) = jobs_create(faq_ids=[faq.pk], answers=2, paraphrases=4, requested_by="t")
    job.refresh_from_db()
    assert (job.status, job.answers_created, job.paraphrases_created) == ("done", 1, 2)
    assert list(
        AnswerVariant.objects.filter(faq=faq, origin="generated").values_list("text", flat=True)
    ) == ["商品签收后30天内，您可以在订单页面提交退货申请。"]
    assert set(
        Paraphrase.objects.filter(faq=faq, origin="generated").values_list("text", flat=True)
    ) == {"我想退货，怎么操作？", "买错了可以退吗"}
    # Fewer than asked, and the job says why (a lead saw "0 answers" and nothing more).
    assert job.dropped["paraphrases"] == {"written": 5, "unusable": 1, "far": 2}
    assert job.dropped["answers"] == {"written": 2, "unusable": 0, "far": 1}
    with translation.override("en"):
        assert generation.shortfall_text(job) == (
            "answer variants: the model wrote 2 lines, 0 unusable (repeats, lead-ins, another "
            "language, new figures), 1 too far in meaning; paraphrases: the model wrote 5 lines, "
            "1 unusable (repeats, lead-ins, another language, new figures), 2 too far in meaning"
        )
    with translation.override("zh-hans"):
        assert generation.shortfall_text(job).startswith("答案变体：模型写了 2 行")
        assert "太远；问法：" in generation.shortfall_text(job), "joined the Chinese way"
    job.dropped["answers"]["written"] = 1
    with translation.override("en"):
        assert generation.shortfall_text(job).startswith("answer variants: the model wrote 1 line,")


def test_generated_variants_are_stored_as_drafts_and_not_served(upstream, faq):
    upstream.answer = numbered_lines
    call_command("generate_variants", "--faq", str(faq.pk), "--answers", "2", "--paraphrases", "3")
    job = GenerationJob.objects.get()
    assert (job.status, job.answers_created, job.paraphrases_created) == ("done", 2, 3)
    drafts = AnswerVariant.objects.filter(faq=faq, origin="generated")
    assert sorted(drafts.values_list("status", flat=True)) == ["draft", "draft"]
    assert Paraphrase.objects.filter(faq=faq, origin="generated", approved=False).count() == 3
    for _ in range(3):
        assert (
            faq_lookup(text="How long does delivery take?", locale="en").text == "3-5 working days."
        )
    services.variants_set_status(
        variant_ids=list(drafts.values_list("pk", flat=True)), status="approved"
    )
    served = {faq_lookup(text="How long does delivery take?", locale="en").text for _ in range(2)}
    assert served == {
        "Your parcel arrives in 3-5 working days.",
        "Delivery needs 3-5 working days.",
    }, "approved rewordings rotate in, least served first"


def test_a_failing_model_fails_that_faq_only_and_writes_nothing(upstream, faq):
    other = services.faq_save(question="Do you ship abroad?", answer="Yes.")
    upstream.faults = Faults(error_rate=1.0, error_status=503)
    jobs = jobs_create(faq_ids=[faq.pk, other.pk], answers=2, paraphrases=2, requested_by="test")
    statuses = {j.faq_id: j for j in GenerationJob.objects.filter(pk__in=[j.pk for j in jobs])}
    assert {j.status for j in statuses.values()} == {"failed"}
    assert "InternalServerError" in statuses[faq.pk].error
    assert upstream.stats.requests == 2 * 3, "three attempts per FAQ, then it gives up"
    assert AnswerVariant.objects.filter(origin="generated").count() == 0
    assert Paraphrase.objects.filter(origin="generated").count() == 0


def test_a_job_run_twice_writes_its_drafts_once(upstream, faq):
    """A task redelivered after its worker died runs the job again: a finished job is left as
    it is (no model call), and a run that finds the job finished by another writes nothing."""
    from knowledge.generation import job_run

    upstream.answer = numbered_lines
    (job,) = jobs_create(faq_ids=[faq.pk], answers=2, paraphrases=0, requested_by="t")
    assert job_run(job_id=job.pk).status == "done"
    requests = upstream.stats.requests
    assert job_run(job_id=job.pk).answers_created == 2
    assert upstream.stats.requests == requests, "a finished job is not run again"

    (second,) = jobs_create(faq_ids=[faq.pk], answers=2, paraphrases=0, requested_by="t")
    GenerationJob.objects.filter(pk=second.pk).update(status="running")  # left by a dead worker
    upstream.answer = lambda q: "1. It takes 3-5 working days.\n2. Allow 3-5 working days."
    real_complete = generation._complete

    def finished_meanwhile(model, prompt):
        text = real_complete(model, prompt)
        GenerationJob.objects.filter(pk=second.pk).update(status="done")  # the other run
        return text

    with mock.patch.object(generation, "_complete", finished_meanwhile):
        job_run(job_id=second.pk)
    assert AnswerVariant.objects.filter(faq=faq, origin="generated").count() == 2


def test_a_job_names_its_status_in_the_admins_language(faq):
    """The Chinese delete-confirmation page listed "生成任务: … (done)"."""
    job = GenerationJob.objects.create(faq=faq, status=GenerationJob.Status.DONE)
    with translation.override("zh-hans"):
        assert str(job).endswith("(已完成)")
    with translation.override("en"):
        assert str(job).endswith("(Done)")


def test_the_admins_generation_runs_off_the_request_on_the_embedded_default(upstream, faq):
    """Eager Celery ran every job inside the admin's request: 26 FAQs held the page for
    minutes until daphne killed it (a zh-shop walk). Off the request, in a thread."""
    import time

    upstream.answer = numbered_lines
    upstream.faults = Faults(latency_s=1.0)
    (job,) = jobs_create(
        faq_ids=[faq.pk], answers=2, paraphrases=0, requested_by="t", off_request=True
    )
    assert GenerationJob.objects.get(pk=job.pk).status in ("queued", "running"), (
        "back before the model answered"
    )
    deadline = time.monotonic() + 30
    while GenerationJob.objects.get(pk=job.pk).status != "done":
        assert time.monotonic() < deadline, GenerationJob.objects.get(pk=job.pk).status
        time.sleep(0.1)
    assert AnswerVariant.objects.filter(faq=faq, origin="generated").count() == 2


def test_the_admin_says_why_a_job_made_fewer_drafts(admin_client, faq):
    job = GenerationJob.objects.create(
        faq=faq,
        status=GenerationJob.Status.DONE,
        answers_requested=2,
        paraphrases_requested=0,
        dropped={"answers": {"written": 4, "unusable": 4, "far": 0}},
    )
    listed = admin_client.get("/admin/knowledge/generationjob/", HTTP_ACCEPT_LANGUAGE="en")
    shown = admin_client.get(f"/admin/knowledge/generationjob/{job.pk}/change/")
    faqs = admin_client.get("/admin/knowledge/faq/", HTTP_ACCEPT_LANGUAGE="en")
    why = "answer variants: the model wrote 4 lines, 4 unusable"
    for page in (listed, shown, faqs):
        assert page.status_code == 200 and why in page.content.decode()


def test_a_second_click_starts_no_second_job_for_an_faq_being_generated(admin_client, faq):
    """An owner clicked "Generate" twice: two jobs ran for the one FAQ, each adding drafts."""
    other = services.faq_save(question="Do you gift wrap?", answer="Yes, for $3.")
    action = {"action": "generate_variants", "_selected_action": [faq.pk]}
    with mock.patch.object(generation, "enqueue_after_commit"):
        admin_client.post("/admin/knowledge/faq/", action)
        page = admin_client.post(
            "/admin/knowledge/faq/", {**action, "_selected_action": [faq.pk, other.pk]}, follow=True
        ).content.decode()
    assert sorted(GenerationJob.objects.values_list("faq_id", flat=True)) == sorted(
        [faq.pk, other.pk]
    )
    assert "Already generating for 1 FAQ(s): no second job was started." in page
    assert "Generating variants for 1 FAQ(s)" in page


def test_a_job_whose_worker_died_stops_holding_its_faq_and_says_why(admin_client, faq, settings):
    """A worker killed mid-generation left the job "running", and the admin refused a new job
    for the broker's hour (a walk). Past GENERATION_JOB_STALE_S it is marked failed, saying
    why, and a new job starts. A model that cannot be reached reads as that, not as
    "APIConnectionError: Connection error."."""
    settings.GENERATION_JOB_STALE_S = 600
    from django.utils import timezone

    stuck = GenerationJob.objects.create(
        faq=faq,
        status=GenerationJob.Status.RUNNING,
        started_at=timezone.now() - timedelta(seconds=601),
    )
    action = {"action": "generate_variants", "_selected_action": [faq.pk]}
    with mock.patch.object(generation, "enqueue_after_commit"):
        page = admin_client.post(
            "/admin/knowledge/faq/", action, follow=True, HTTP_ACCEPT_LANGUAGE="en"
        ).content.decode()
    assert "Generating variants for 1 FAQ(s)" in page
    stuck.refresh_from_db()
    assert stuck.status == GenerationJob.Status.FAILED
    listed = admin_client.get("/admin/knowledge/generationjob/", HTTP_ACCEPT_LANGUAGE="en")
    assert "The job stopped with its worker (a restart). Start it again." in listed.content.decode()

    GenerationJob.objects.filter(faq=faq).update(
        status=GenerationJob.Status.FAILED, error="APIConnectionError: Connection error."
    )
    faqs = admin_client.get("/admin/knowledge/faq/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "失败：无法连接模型。请在模型恢复后重试。" in faqs.content.decode()


@pytest.mark.parametrize("page", ["/admin/knowledge/faq/", "/admin/knowledge/generationjob/"])
def test_the_admin_shows_a_lost_job_as_stopped_before_anyone_generates_again(
    admin_client, faq, settings, page
):
    """The list read "running" for a job whose worker was killed until someone clicked Generate
    again (a walk)."""
    settings.GENERATION_JOB_STALE_S = 600
    from django.utils import timezone

    started = timezone.now() - timedelta(seconds=601)
    lost = GenerationJob.objects.create(
        faq=faq, status=GenerationJob.Status.RUNNING, started_at=started
    )
    shown = admin_client.get(page, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "The job stopped with its worker (a restart). Start it again." in shown
    lost.refresh_from_db()
    assert lost.status == GenerationJob.Status.FAILED
    detail = admin_client.get(f"/admin/knowledge/faq/{faq.pk}/change/")
    assert detail.status_code == 200


def test_a_running_job_within_the_bound_still_holds_its_faq(faq, settings):
    settings.GENERATION_JOB_STALE_S = 600
    from django.utils import timezone

    GenerationJob.objects.create(
        faq=faq, status=GenerationJob.Status.RUNNING, started_at=timezone.now()
    )
    assert generation.faqs_being_generated([faq.pk]) == {faq.pk}
