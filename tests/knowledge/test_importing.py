"""Import/export of the FAQ store, and what editing an FAQ does to its variants."""

import json

import pytest
from django.core.management import CommandError, call_command

from knowledge import services
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
        ]
    }
    with pytest.raises(ImportError_) as err:
        import_faqs(bad)
    assert err.value.errors == [
        'Row 2: "question" must be a non-empty string.',
        'Row 3: "answer" must be a non-empty string; "locale" must be "en" or "zh-hans".',
    ]
    assert FAQ.objects.count() == 0


def test_export_round_trips():
    import_faqs(GOOD)
    exported = export_faqs(FAQ.objects.order_by("id"))
    assert exported["faqs"][0]["paraphrases"] == ["When will my order arrive?", "shipping time"]
    FAQ.objects.all().delete()
    assert import_faqs(exported).created == 2
    assert export_faqs(FAQ.objects.order_by("id")) == exported


def test_commands_import_and_export(tmp_path, capsys):
    path = tmp_path / "faqs.json"
    path.write_text(json.dumps(GOOD), encoding="utf-8")
    call_command("import_faqs", str(path))
    call_command("export_faqs", "--locale", "zh-hans")
    out = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert [f["question"] for f in out["faqs"]] == ["退货政策是什么？"]
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(CommandError, match="Cannot read"):
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
