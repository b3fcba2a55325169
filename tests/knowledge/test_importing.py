"""Import/export of the FAQ store, and what editing an FAQ does to its variants."""

import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from knowledge import services, tasks
from knowledge.importing import ImportError_, export_faqs, import_faqs
from knowledge.models import FAQ, AnswerVariant, Paraphrase

pytestmark = pytest.mark.django_db

GOOD = {
    "version": 1,
    "faqs": [
        {
            "question": "How long does delivery take?",
            "answer": "Standard delivery takes 3-5 working days.",
            "tags": ["shipping"],
            "paraphrases": ["When will my order arrive?", "shipping time"],
            "variants": [
                "Orders usually arrive within 3-5 working days.",
                {"text": "Expect it in 3 to 5 working days.", "status": "draft"},
            ],
        },
        {"question": "退货政策是什么？", "answer": "30天内可免费退货。", "locale": "zh-hans"},
    ],
}


def test_import_creates_faqs_with_canonical_paraphrase_and_variant():
    result = import_faqs(GOOD)
    assert (result.created, result.updated) == (2, 0)
    faq = FAQ.objects.get(question="How long does delivery take?")
    assert sorted(faq.paraphrases.values_list("text", "origin")) == [
        ("How long does delivery take?", "canonical"),
        ("When will my order arrive?", "human"),
        ("shipping time", "human"),
    ]
    variants = dict(faq.variants.values_list("text", "status"))
    assert variants == {
        "Standard delivery takes 3-5 working days.": "approved",
        "Orders usually arrive within 3-5 working days.": "approved",
        "Expect it in 3 to 5 working days.": "draft",
    }
    assert FAQ.objects.get(locale="zh-hans").answer == "30天内可免费退货。"


def test_reimport_is_idempotent():
    import_faqs(GOOD)
    counts = (FAQ.objects.count(), Paraphrase.objects.count(), AnswerVariant.objects.count())
    result = import_faqs(GOOD)
    assert (result.created, result.updated) == (0, 0)
    assert (
        FAQ.objects.count(),
        Paraphrase.objects.count(),
        AnswerVariant.objects.count(),
    ) == counts


def test_a_bad_row_imports_nothing_and_every_problem_is_reported():
    bad = {
        "faqs": [
            GOOD["faqs"][0],
            {"question": "", "answer": "x"},
            {"question": "q", "locale": "fr"},
            {"question": "q2", "answer": "a", "paraphrase": ["p"], "tag": ["t"], "Locale": "en"},
        ]
    }
    with pytest.raises(ImportError_) as err:
        import_faqs(bad)
    assert err.value.errors == [
        'Row 2: "question" must be a non-empty string.',
        'Row 3: "answer" must be a non-empty string; "locale" must be "en" or "zh-hans", not "fr".',
        "Row 4: unknown fields Locale, paraphrase, tag (the fields are: question, answer, locale, "
        "tags, active, paraphrases, variants).",
    ], "a misspelt field was dropped without a word (an onboarding walk)"
    assert FAQ.objects.count() == 0


def test_a_row_without_a_locale_is_in_the_language_of_its_text():
    """A Chinese CSV without a locale column went in as English: its own questions asked word
    for word in Chinese found nothing."""
    result = import_faqs(
        {
            "faqs": [
                {"question": "支持货到付款吗？", "answer": "暂不支持货到付款。"},
                {"id": "paypal", "question": "Do you take PayPal?", "answer": "Yes."},
                {"question": "灯具保修多久？", "answer": "两年。", "locale": "zh-Hans"},
            ]
        }
    )
    assert result.created == 3
    assert dict(FAQ.objects.values_list("question", "locale")) == {
        "支持货到付款吗？": "zh-hans",
        "Do you take PayPal?": "en",
        "灯具保修多久？": "zh-hans",
    }


def test_a_chinese_shops_spreadsheet_imports_with_its_own_column_names_and_locales():
    """A zh-shop walk's CSV headed 问题,答案 was refused, and so was the locale "zh-CN"."""
    from knowledge.importing import parse_upload

    rows = "问题,答案,语言,问法\n怎么开发票？,下单后在订单页申请。,zh-CN,发票怎么开|能开发票吗\n"
    data = parse_upload("faqs.csv", rows.encode("utf-8"))
    result = import_faqs(data)
    assert result.created == 1
    faq = FAQ.objects.get()
    assert (faq.question, faq.answer, faq.locale) == (
        "怎么开发票？",
        "下单后在订单页申请。",
        "zh-hans",
    )
    assert set(faq.paraphrases.values_list("text", flat=True)) >= {"发票怎么开", "能开发票吗"}
    english = parse_upload("f.csv", b"Question,Answer,Locale\nQ?,A.,English\n")
    assert import_faqs(english).created == 1
    assert FAQ.objects.get(question="Q?").locale == "en"
    with pytest.raises(ImportError_):
        import_faqs({"faqs": [{"question": "運費多少", "answer": "十元。", "locale": "zh-TW"}]})


def test_export_round_trips():
    import_faqs(GOOD)
    exported = export_faqs(FAQ.objects.order_by("id"))
    assert exported["faqs"][0]["paraphrases"] == ["When will my order arrive?", "shipping time"]
    FAQ.objects.all().delete()
    assert import_faqs(exported).created == 2
    assert export_faqs(FAQ.objects.order_by("id")) == exported


def test_export_leaves_out_phrasings_awaiting_review():
    """A model-proposed phrasing nobody approved came back approved through export and import."""
    import_faqs(GOOD)
    faq = FAQ.objects.get(question="How long does delivery take?")
    services.paraphrases_add(faq=faq, texts=["delivery to the moon?"], origin="llm", approved=False)
    exported = export_faqs([faq])
    assert exported["faqs"][0]["paraphrases"] == ["When will my order arrive?", "shipping time"]


def test_a_question_in_another_case_or_spacing_is_the_same_faq():
    """Two FAQs for "QA3 dup case?" and "qa3 dup case? " split the question's matches, and
    neither answered it."""
    twice = {
        "faqs": [
            {"question": "Gift wrap?", "answer": "Yes."},
            {"question": " gift  WRAP? ", "answer": "No."},
        ]
    }
    with pytest.raises(ImportError_) as err:
        import_faqs(twice)
    assert err.value.errors == ["Row 2: the same question appears twice in this file."]
    import_faqs(GOOD)
    again = {"faqs": [{"question": "how long  does delivery take? ", "answer": "Two days."}]}
    result = import_faqs(again)
    assert (result.created, result.updated) == (0, 1)
    assert FAQ.objects.filter(locale="en").count() == 1
    assert FAQ.objects.get(locale="en").answer == "Two days."


def test_commands_import_and_export(tmp_path, capsys):
    path = tmp_path / "faqs.json"
    path.write_text(json.dumps(GOOD), encoding="utf-8")
    call_command("import_faqs", str(path))
    call_command("export_faqs", "--locale", "zh-hans")
    out = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert [f["question"] for f in out["faqs"]] == ["退货政策是什么？"]
    call_command("export_faqs", "--locale", "zh-hans", "--format", "csv")
    csv_path = tmp_path / "faqs.csv"
    csv_path.write_text(capsys.readouterr().out, encoding="utf-8")
    FAQ.objects.filter(locale="zh-hans").delete()
    call_command("import_faqs", str(csv_path))
    assert FAQ.objects.filter(locale="zh-hans").get().question == "退货政策是什么？"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(CommandError, match="Not valid JSON"):
        call_command("import_faqs", str(path))


def test_editing_the_answer_makes_generated_variants_stale():
    faq = services.faq_save(question="Do you ship abroad?", answer="Yes, to 30 countries.")
    services.variants_add(
        faq=faq, texts=["We ship to 30 countries."], origin="generated", status="approved"
    )
    services.faq_save(faq=faq, question=faq.question, answer="Yes, to 45 countries.")
    statuses = dict(faq.variants.values_list("text", "status"))
    assert statuses == {"Yes, to 45 countries.": "approved", "We ship to 30 countries.": "stale"}


def test_saving_content_embeds_paraphrases(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        faq = services.faq_save(question="Can I pay with PayPal?", answer="Yes.")
        services.paraphrases_add(faq=faq, texts=["paypal accepted?"])
    vectors = [p.vector() for p in faq.paraphrases.all()]
    assert len(vectors) == 2 and all(v is not None and v.shape == (384,) for v in vectors)


class UnitEmbedder:
    """Counts forward passes; any unit vectors will do."""

    dimension = 384
    identity = "unit/384"

    def __init__(self) -> None:
        self.passes: list[int] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.passes.append(len(texts))
        return np.full((len(texts), 384), 384**-0.5, dtype=np.float32)


def many_faqs(count: int) -> dict:
    return {
        "version": 1,
        "faqs": [
            {"question": f"question {i}", "answer": f"answer {i}", "paraphrases": [f"q{i}"]}
            for i in range(count)
        ],
    }


@pytest.mark.django_db(transaction=True)  # committed for real: PostgreSQL indexes a new model
def test_a_large_import_embeds_one_batch_per_task(settings, monkeypatch, swap_embedder):
    settings.EMBEDDING_BATCH_SIZE = 256
    embedder = UnitEmbedder()
    swap_embedder(embedder)
    enqueued: list[list[int]] = []
    seen_faqs: list[int] = []
    delay = tasks.embed_paraphrases.delay

    def spy(ids: list[int]):
        enqueued.append(ids)
        seen_faqs.append(FAQ.objects.count())
        return delay(ids)

    monkeypatch.setattr(tasks.embed_paraphrases, "delay", spy)
    import_faqs(many_faqs(300))  # 600 paraphrases: a question and a paraphrase each
    assert [len(ids) for ids in enqueued] == [256, 256, 88]
    assert seen_faqs == [300, 300, 300], "enqueued once every row was saved, not row by row"
    assert embedder.passes == [256, 256, 88], "one forward pass per task"
    all_ids = sorted(Paraphrase.objects.values_list("pk", flat=True))
    assert sorted(pk for ids in enqueued for pk in ids) == all_ids
    assert not Paraphrase.objects.exclude(embedding_model="unit/384").exists()


def test_an_import_that_fails_midway_enqueues_nothing(
    monkeypatch, django_capture_on_commit_callbacks
):
    enqueued: list[list[int]] = []
    monkeypatch.setattr(tasks.embed_paraphrases, "delay", enqueued.append)
    add = services.paraphrases_add

    def fail_on_the_third(**kwargs):
        if FAQ.objects.count() == 3:
            raise RuntimeError("disk full")
        return add(**kwargs)

    monkeypatch.setattr(services, "paraphrases_add", fail_on_the_third)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        import_faqs(many_faqs(5))
    assert enqueued == [] and not FAQ.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        services.faq_save(question="Saved alone", answer="A task of its own.")
    assert len(enqueued) == 1, "after the failed import, saves are no longer held for a batch"
