"""The FAQ admin's form and import: tags as a comma list, the locale a choice, the hit count
read-only; an import's schema errors reported as such (they said "Not a JSON file"), bad JSON
with its line, and CSV files imported like JSON ones."""

import csv
import io
import json

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from knowledge import services
from knowledge.documents.parsing import parse_document
from knowledge.importing import ImportError_, export_faqs, parse_upload
from knowledge.models import FAQ, AnswerVariant, Document

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def _form(**fields: str) -> dict[str, str]:
    data = {
        "question": "How long is delivery?",
        "answer": "Three to five days.",
        "locale": "en",
        "tags": "",
        "active": "on",
    }
    for prefix in ("paraphrases", "variants"):
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    return data | fields


def _empty_inlines(client: Client, url: str) -> dict[str, str]:
    """The management fields of the change page's two inlines, with no rows."""
    html = client.get(url).content.decode()
    found = [p for p in ("paraphrases", "variants", "paraphrase_set", "answervariant_set") if
             f'name="{p}-TOTAL_FORMS"' in html]  # fmt: skip
    assert len(found) == 2, found
    return {f"{p}-{n}": "0" for p in found for n in ("TOTAL_FORMS", "INITIAL_FORMS")}


def test_tags_are_a_comma_list_the_locale_a_choice_and_hits_read_only(admin_client):
    faq = services.faq_save(question="How long is delivery?", answer="Three to five days.")
    FAQ.objects.filter(pk=faq.pk).update(hit_count=7, tags=["shipping", "time"])
    url = f"/admin/knowledge/faq/{faq.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert 'value="shipping, time"' in page
    assert '<select name="locale"' in page and 'value="zh-hans"' in page
    assert 'name="hit_count"' not in page  # shown, not a field
    inlines = _empty_inlines(admin_client, url)
    data = _form(tags="returns,  shipping , returns,", hit_count="999") | inlines
    data = {k: v for k, v in data.items() if not k.startswith(("paraphrases-", "variants-"))}
    data |= inlines
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    faq.refresh_from_db()
    assert faq.tags == ["returns", "shipping"] and faq.hit_count == 7
    refused = admin_client.post(url, data | {"locale": "fr"})
    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()


def test_a_question_in_another_case_or_spacing_is_refused_as_an_existing_faq(admin_client):
    """Seen in an admin walk: "do you offer gift wrapping? " was saved beside "Do you offer gift
    wrapping?", and the two FAQs then split the question's matches so that neither answered."""
    services.faq_save(question="Do you offer gift wrapping?", answer="Yes, for $3.")
    url = "/admin/knowledge/faq/add/"
    inlines = _empty_inlines(admin_client, url)
    twin = _form(question=" do you  offer GIFT wrapping? ") | inlines
    refused = admin_client.post(url, twin)
    assert refused.status_code == 200
    assert "This FAQ exists already: “Do you offer gift wrapping?”." in refused.content.decode()
    assert FAQ.objects.count() == 1
    in_chinese = admin_client.post(url, twin | {"locale": "zh-hans"})
    assert in_chinese.status_code == 302, "another locale's FAQ may ask the same"
    assert FAQ.objects.get(locale="zh-hans").question == "do you offer GIFT wrapping?"


@pytest.mark.parametrize(
    "url", ["/admin/knowledge/faq/import/", "/admin/knowledge/documentimport/crawl/"]
)
def test_a_page_says_its_title_once(admin_client, url):
    page = admin_client.get(url).content.decode()
    assert page.count("<h1>") == 1, "the admin's own header shows the title already"


def _import(client: Client, name: str, content: str | bytes, **headers: str) -> str:
    upload = SimpleUploadedFile(name, content if isinstance(content, bytes) else content.encode())
    response = client.post(
        "/admin/knowledge/faq/import/", {"file": upload}, follow=True, headers=headers
    )
    return response.content.decode()


def test_the_example_file_imports_as_it_is(admin_client):
    """The import page pointed an owner to docs/faq-format.md, a file they cannot see (a walk):
    it now names the columns and offers an example file, which imports as downloaded."""
    page = admin_client.get("/admin/knowledge/faq/import/").content.decode()
    assert 'href="/admin/knowledge/faq/import/example.csv"' in page and "相似问法" in page
    example = admin_client.get("/admin/knowledge/faq/import/example.csv")
    assert example["Content-Disposition"] == 'attachment; filename="faqs-example.csv"'
    _import(admin_client, "faqs-example.csv", example.content)
    english, chinese = FAQ.objects.order_by("locale")
    assert english.question == "How long does delivery take?" and english.paraphrases.count() == 3
    assert english.variants.filter(status=AnswerVariant.Status.APPROVED).count() == 2
    assert chinese.locale == "zh-hans" and chinese.paraphrases.count() == 3


def test_schema_errors_are_reported_as_such(admin_client):
    page = _import(admin_client, "faqs.json", '{"faqs": [{"question": "Q?"}]}')
    assert "Row 1: &quot;answer&quot; must be a non-empty string." in page
    assert "Not a JSON file" not in page
    page = _import(admin_client, "faqs.json", '{"faqs": [')
    assert "Not valid JSON (line 1, column 11: a value was expected)" in page
    assert not FAQ.objects.exists()


def test_import_errors_are_in_the_admin_users_language(admin_client):
    chinese = {"accept-language": "zh-hans"}
    page = _import(admin_client, "faqs.csv", "question,answer,locale\n,A,en\nQ?,A,fr\n", **chinese)
    assert "第 1 行：&quot;question&quot;（问题）不能为空。" in page
    assert (
        "第 2 行：&quot;locale&quot;（语言）必须是 &quot;en&quot; 或 &quot;zh-hans&quot;，"
        "而不是 &quot;fr&quot;。" in page
    )
    page = _import(admin_client, "faqs.json", '{"faqs": [', **chinese)
    assert "不是有效的 JSON（第 1 行第 11 列：此处应有一个值）" in page
    page = _import(admin_client, "faqs.json", '{"faqs": [],}', **chinese)
    assert "第 1 行第 13 列：此处应有带双引号的名称（最后一项之后不能有逗号）" in page
    assert not FAQ.objects.exists()


def test_csv_is_imported_like_json(admin_client):
    content = (
        "question,answer,locale,tags,active,paraphrases,variants\n"
        'How long is delivery?,3-5 days.,en,shipping|time,yes,"When will it come?|ship time",'
        "Usually 3-5 days.\n"
        "退货要多久？,7天内。,zh-hans,,false,,\n"
    )
    page = _import(admin_client, "faqs.csv", content)
    assert "Imported: 2 new, 0 updated." in page
    delivery = FAQ.objects.get(question="How long is delivery?")
    assert delivery.tags == ["shipping", "time"] and delivery.active
    texts = set(delivery.paraphrases.values_list("text", flat=True))
    assert {"When will it come?", "ship time"} <= texts
    assert delivery.variants.filter(text="Usually 3-5 days.", status="approved").exists()
    assert not FAQ.objects.get(locale="zh-hans").active
    # Again: nothing changes.
    assert "Imported: 0 new, 0 updated." in _import(admin_client, "faqs.csv", content)


def test_a_csv_export_imports_back_as_it_was(admin_client):
    """Excel round trip: what the CSV action writes, the import reads back, pipes and all."""
    table = "| size | EU |\n|---|---|\n| S | 36 |"
    content = json.dumps({
        "faqs": [
            {
                "question": "Size chart?",
                "answer": table,
                "tags": ["sizes", "a|b"],
                "paraphrases": ["Which size am I?", "S or M?"],
                "variants": ["Our chart: " + table, {"text": "Not reviewed.", "status": "draft"}],
            },
            {"question": "怎么退货？", "answer": "三十天内，“退货”页面。", "locale": "zh-hans",
             "active": False, "paraphrases": ["可以退吗"]},
            {"question": "What can I pay with?", "answer": "- cards\n- PayPal",
             "paraphrases": ['=HYPERLINK("x")', "@everyone payment?"]},
        ]
    }, ensure_ascii=False)  # fmt: skip
    assert "Imported: 3 new, 0 updated." in _import(admin_client, "faqs.json", content)
    before = export_faqs(FAQ.objects.order_by("question"))
    every = list(FAQ.objects.values_list("pk", flat=True))
    exported = admin_client.post(
        "/admin/knowledge/faq/", {"action": "export_selected_csv", "_selected_action": every}
    )
    assert exported["Content-Type"] == "text/csv; charset=utf-8"
    assert exported.content.startswith("\ufeffquestion,answer,".encode())
    assert b"Not reviewed." not in exported.content  # a CSV variant imports as approved
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    payment = next(row for row in rows if row[0] == "What can I pay with?")
    # Nothing a spreadsheet would run or show as #NAME?: a quote first, as Excel writes it.
    assert payment[1] == "'- cards\n- PayPal" and payment[5].startswith("'=HYPERLINK")

    FAQ.objects.all().delete()
    page = _import(admin_client, "faqs.csv", exported.content)
    assert "Imported: 3 new, 0 updated." in page
    after = export_faqs(FAQ.objects.order_by("question"))
    for faq in before["faqs"]:
        faq["variants"] = [v for v in faq["variants"] if v["status"] == "approved"]
    assert after == before


def test_csv_header_and_row_errors_name_the_problem():
    with pytest.raises(ImportError_) as bad_header:
        parse_upload("f.csv", b"q,answer,colour\nx,y,z\n")
    assert "missing question" in bad_header.value.errors[0]
    assert "unknown q, colour" in bad_header.value.errors[0]
    from knowledge.importing import validate

    data = parse_upload("f.csv", b"question,answer,active\nQ?,,maybe\nR?,A.,1,extra\n")
    with pytest.raises(ImportError_) as bad_rows:
        validate(data)
    assert bad_rows.value.errors == [
        'Row 1: "active" must be true or false (yes/no, 1/0); "answer" must be a non-empty string.',
        "Row 2: more cells than the header has columns.",
    ]
    with pytest.raises(ImportError_) as not_text:
        parse_upload("f.csv", bytes(range(256)) * 4)
    assert not_text.value.errors == ["The file holds binary data, not text."]
    # Bytes that decode as GB18030 into rare characters only (GBK's lead bytes 0x81-0xA0):
    # a walk's binary .csv read as columns of such noise.
    noise = bytes(b for i in range(400) for b in (0x81 + i % 32, 0x40 + i * 7 % 63, 0x2C))
    assert noise.decode("gb18030")
    with pytest.raises(ImportError_) as rare_characters:
        parse_upload("f.csv", noise)
    assert rare_characters.value.errors == ["The file holds binary data, not text."]
    with pytest.raises(ImportError_) as unknown_encoding:
        parse_upload(
            "f.csv", "question,answer\nq,r\u00e9sum\u00e9 \u00e0 la carte\n".encode("cp1252")
        )
    assert "save it as UTF-8" in unknown_encoding.value.errors[0]
    assert parse_upload("f.csv", io.BytesIO("\ufeffquestion,answer\nQ?,A.\n".encode()).read())[
        "faqs"
    ] == [{"question": "Q?", "answer": "A."}]


def test_an_imported_variant_the_fact_check_flags_comes_in_as_a_draft(admin_client):
    """A re-walk imported "No, we engrave watches for $10." as an approved variant of "Yes, we
    engrave watches for $10.", and the widget served it to two visitors in four."""
    csv = (
        "question,answer,variants\n"
        '"Do you engrave watches?","Yes, we engrave watches for $10.",'
        '"No, we engrave watches for $10.|We engrave watches, yes: $10."\n'
    )
    page = _import(admin_client, "faqs.csv", csv)
    assert "1 answer variant(s) the fact check flagged were kept as drafts" in page
    statuses = dict(AnswerVariant.objects.values_list("text", "status"))
    assert statuses["No, we engrave watches for $10."] == AnswerVariant.Status.DRAFT
    assert statuses["We engrave watches, yes: $10."] == AnswerVariant.Status.APPROVED
    # A person who approves it keeps it approved when the same file comes again.
    AnswerVariant.objects.filter(text__startswith="No,").update(
        status=AnswerVariant.Status.APPROVED
    )
    page = _import(admin_client, "faqs.csv", csv)
    assert "kept as drafts" not in page
    assert AnswerVariant.objects.get(text__startswith="No,").status == "approved"


def test_a_quote_left_open_is_named_not_taken_for_an_empty_answer():
    """An unclosed quote took the rest of the file into one cell: "answer must not be empty"
    for a row whose answer was there (an owner's walk)."""
    with pytest.raises(ImportError_) as unclosed:
        parse_upload("f.csv", b'question,answer\n"Do you ship abroad?,Yes.\nQ2?,A2.\n')
    assert unclosed.value.errors == [
        'A quoted cell is never closed: a " opens it and no " ends it.'
    ]
    with pytest.raises(ImportError_) as stray:
        parse_upload("f.csv", b'question,answer\nQ1?,A1.\nQ2?,"A "big" one"\n')
    assert stray.value.errors == [
        'Line 3 is not valid CSV: a " inside a quoted cell must be written twice ("").'
    ]


def test_a_csv_saved_by_excel_in_chinese_imports(admin_client):
    """Excel in Chinese saves "CSV (逗号分隔)" as GBK; UTF-16 with a byte-order mark is read too."""
    rows = "question,answer,locale\n怎么退货？,三十天内可以退货。,zh-hans\n"
    assert parse_upload("faqs.csv", rows.encode("gbk"))["faqs"] == [
        {"question": "怎么退货？", "answer": "三十天内可以退货。", "locale": "zh-hans"}
    ]
    assert parse_upload("faqs.csv", rows.encode("utf-16"))["faqs"][0]["question"] == "怎么退货？"
    assert "Imported: 1 new, 0 updated." in _import(admin_client, "faqs.csv", rows.encode("gbk"))
    assert FAQ.objects.get(question="怎么退货？").locale == "zh-hans"


def test_an_faq_links_a_source_document_of_its_own_language(admin_client):
    def document(key: str, locale: str) -> Document:
        parsed = parse_document(b"# Returns\nWithin 30 days.", filename=f"{key}.md", locale=locale)
        return services.document_upsert(parsed=parsed, source_key=key).document

    english, chinese = document("returns", "en"), document("returns-zh", "zh-hans")
    faq = services.faq_save(question="How long is delivery?", answer="Three to five days.")
    url = f"/admin/knowledge/faq/{faq.pk}/change/"
    inlines = _empty_inlines(admin_client, url)

    refused = admin_client.post(url, _form(source_document=str(chinese.pk)) | inlines)
    assert refused.status_code == 200
    assert "This document is in zh-hans; the FAQ is in en." in refused.content.decode()
    faq.refresh_from_db()
    assert faq.source_document is None

    saved = admin_client.post(url, _form(source_document=str(english.pk)) | inlines)
    assert saved.status_code == 302
    faq.refresh_from_db()
    assert faq.source_document == english
    listed = admin_client.get("/admin/knowledge/faq/").content.decode()
    assert "Returns" in listed


def test_the_faq_list_marks_faqs_with_few_phrasings_and_filters_them(admin_client):
    """A Chinese shop's owner never learnt that an FAQ answers only wordings like its phrasings
    (a walk): the list counts approved phrasings, marks the few, and says why."""
    few = services.faq_save(question="怎么开发票", answer="在订单页申请。", locale="zh-hans")
    services.paraphrases_add(faq=few, texts=["发票在哪里开"])
    enough = services.faq_save(question="How long is delivery?", answer="Three to five days.")
    services.paraphrases_add(
        faq=enough, texts=["when will it arrive", "delivery time", "how fast do you ship", "ETA"]
    )
    services.paraphrases_add(faq=few, texts=["开票"])
    few.paraphrases.filter(text="开票").update(approved=False)  # a draft
    url = "/admin/knowledge/faq/"
    page = admin_client.get(url).content.decode()
    assert "give each FAQ at least 5 phrasings" in page
    assert page.count('class="faq-few-phrasings"') == 1  # the English FAQ has 5
    assert "2 · few" in page  # the draft is not counted
    only_few = admin_client.get(url, {"phrasings": "few"}).content.decode()
    assert "怎么开发票" in only_few and "How long is delivery?" not in only_few
    only_enough = admin_client.get(url, {"phrasings": "enough"}).content.decode()
    assert "How long is delivery?" in only_enough and "怎么开发票" not in only_enough
    chinese = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "至少准备 5 个问法" in chinese and "偏少" in chinese


def test_saving_an_active_faq_with_few_phrasings_says_what_that_means(admin_client):
    """A lead activated an agent's draft, its question its only phrasing, and the next
    customer's wording went to the model: only the list's mark said so (a walk)."""
    url = "/admin/knowledge/faq/add/"
    inlines = _empty_inlines(admin_client, url)
    page = admin_client.post(url, _form() | inlines, follow=True).content.decode()
    assert "“How long is delivery?” has 1 phrasing(s)" in page
    assert "only near-repeats of it are answered" in page
    inactive = {k: v for k, v in (_form(question="Do you gift wrap?") | inlines).items()}
    inactive.pop("active")
    page = admin_client.post(url, inactive, follow=True).content.decode()
    assert "phrasing(s)" not in page, "a draft answers nothing yet"


def test_an_faq_does_not_link_an_agents_only_document(admin_client):
    """An agent's walk linked an internal procedure to an FAQ without a word from the form; its
    link could never show to a visitor."""
    parsed = parse_document(b"# Override\nCode RF-1.", filename="o.md", locale="en")
    internal = services.document_upsert(
        parsed=parsed, source_key="override.md", visibility="agents"
    ).document
    faq = services.faq_save(question="Can you override a refund?", answer="We can check.")
    url = f"/admin/knowledge/faq/{faq.pk}/change/"
    inlines = _empty_inlines(admin_client, url)
    refused = admin_client.post(url, _form(source_document=str(internal.pk)) | inlines)
    assert refused.status_code == 200
    assert "This document is for agents only" in refused.content.decode()
    faq.refresh_from_db()
    assert faq.source_document is None
