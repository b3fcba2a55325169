"""The knowledge base in the admin: uploading a zip needs the permission to add documents (a
staff user without it gets 403), the import's page lists each file's error, documents show
their chunks and are re-indexed by an action; and the public help page escapes HTML."""

import hashlib
import re

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile

from knowledge import content_version, selectors, services
from knowledge.admin import DocumentForm
from knowledge.documents.indexing import reset_chunk_index
from knowledge.documents.parsing import parse_document
from knowledge.documents.types import Block, BlockKind, ParsedDocument, heading_url
from knowledge.embeddings import get_embedder
from knowledge.models import Chunk, Document, DocumentImport, Visibility
from tests.knowledge.test_documents import ARTICLES, CountingEmbedder
from tests.knowledge.test_documents_import import CORRUPT_PDF, zip_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_chunk_index():
    reset_chunk_index()
    yield
    reset_chunk_index()


def staff(*codenames: str) -> User:
    user = User.objects.create_user("editor", password="pw-5521", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def upload(client, data: bytes, name: str = "help.zip", **fields):
    return client.post(
        "/admin/knowledge/documentimport/upload/",
        {"file": SimpleUploadedFile(name, data), "locale": "en", "visibility": "public",
         "tags": "returns, demo", **fields},
    )  # fmt: skip


HELP_ZIP = zip_of(
    {"returns.md": ARTICLES["en/returns.md"].encode(), "broken/manual.pdf": CORRUPT_PDF}
)


def test_a_staff_user_without_the_permission_to_add_documents_gets_403(client):
    client.force_login(staff("view_documentimport", "view_document"))
    assert "/admin/knowledge/documentimport/upload/" not in client.get("/admin/").content.decode()
    assert client.get("/admin/knowledge/documentimport/upload/").status_code == 403
    assert upload(client, HELP_ZIP).status_code == 403
    assert client.get("/admin/knowledge/documentimport/crawl/").status_code == 403
    response = client.post(
        "/admin/knowledge/documentimport/crawl/",
        {"start_url": "http://127.0.0.1:9/", "visibility": "public", "max_pages": 5,
         "max_depth": 1, "max_seconds": 5},
    )  # fmt: skip
    assert response.status_code == 403
    assert not DocumentImport.objects.exists()


def test_uploading_a_zip_imports_its_good_files_and_lists_the_bad_one(client):
    client.force_login(staff("add_document", "view_documentimport", "view_document"))
    assert client.get("/admin/").content.decode().count("/admin/knowledge/documentimport/") >= 2

    response = upload(client, HELP_ZIP)

    document_import = DocumentImport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/knowledge/documentimport/{document_import.pk}/change/"
    assert (document_import.status, document_import.created, document_import.failed) == (
        "done",
        1,
        1,
    )
    assert document_import.created_by.username == "editor"
    document = Document.objects.get()
    assert (document.source_key, document.tags) == ("returns.md", ["returns", "demo"])
    assert document.status == Document.Status.INDEXED
    page = client.get(response["Location"]).content.decode()
    assert 'http-equiv="refresh"' not in page, "a finished import's page stays put"
    assert "broken/manual.pdf" in page
    assert document_import.errors[0]["message"] in page.replace("&#x27;", "'")
    # The options as the form asked for them, not the stored JSON (an owner's walk).
    assert "Locale: English<br>Visibility: Public<br>Tags: returns, demo" in page
    assert "&quot;visibility&quot;" not in page
    DocumentImport.objects.filter(pk=document_import.pk).update(status="running")
    assert 'http-equiv="refresh"' in client.get(response["Location"]).content.decode()
    # In Chinese, what the error means; the stored English, with its specifics, in the tooltip.
    chinese = client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert ">PDF 文件已损坏或并非 PDF，无法读取。</td>" in chinese
    assert "可见范围：公开" in chinese
    error = document_import.errors[0]
    tooltip = f'title="{error["code"]}: {error["message"]}"'
    assert tooltip in chinese.replace("&#x27;", "'"), "the stored code and English, for support"
    assert "<th>处理情况</th>" in chinese and ">corrupt_pdf<" not in chinese, "no raw code column"


def test_a_document_page_shows_its_chunks_and_the_reindex_action_embeds_again(
    client, swap_embedder
):
    counting = CountingEmbedder(get_embedder("en"))
    swap_embedder(counting, "en")
    parsed = ParsedDocument(
        title="Returns",
        blocks=(
            Block(BlockKind.HEADING, "Refund timing", 2),
            Block(BlockKind.PARAGRAPH, "Refunds reach your card within 7 working days."),
        ),
        locale="en",
    )
    document = services.document_upsert(parsed=parsed, source_key="returns.md").document
    embedded = len(counting.texts)
    client.force_login(staff("view_document", "change_document"))

    page = client.get(f"/admin/knowledge/document/{document.pk}/change/").content.decode()
    assert "Refund timing" in page and "within 7 working days" in page

    chunk_before = Chunk.objects.get().pk
    response = client.post(
        "/admin/knowledge/document/",
        {"action": "reindex", "_selected_action": [document.pk]},
    )
    assert response.status_code == 302
    assert len(counting.texts) == 2 * embedded, "embedded again"
    assert Chunk.objects.get().pk != chunk_before, "chunks replaced"


def test_the_reindex_action_needs_the_permission_to_change_documents(client):
    parsed = ParsedDocument(
        title="Returns", blocks=(Block(BlockKind.PARAGRAPH, "Within 30 days."),), locale="en"
    )
    document = services.document_upsert(parsed=parsed, source_key="returns.md").document
    chunk_before = Chunk.objects.get().pk
    client.force_login(staff("view_document"))
    client.post(
        "/admin/knowledge/document/", {"action": "reindex", "_selected_action": [document.pk]}
    )
    assert Chunk.objects.get().pk == chunk_before


def test_deleting_a_document_in_the_admin_moves_the_knowledge_version(client):
    parsed = ParsedDocument(
        title="Returns", blocks=(Block(BlockKind.PARAGRAPH, "Within 30 days."),), locale="en"
    )
    document = services.document_upsert(parsed=parsed, source_key="returns.md").document
    before = content_version.knowledge_version()
    client.force_login(staff("view_document", "delete_document"))
    response = client.post(f"/admin/knowledge/document/{document.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Document.objects.exists() and not Chunk.objects.exists()
    assert content_version.knowledge_version() > before


def test_the_help_page_renders_blocks_with_their_text_escaped(client):
    document = Document.objects.create(
        title="Returns <b>now</b>",
        source_key="returns.md",
        content_hash="x",
        blocks=[
            {"kind": "heading", "text": "Returns <b>now</b>", "level": 1},
            {"kind": "heading", "text": "Steps", "level": 2},
            {"kind": "paragraph", "text": "Click <script>alert(1)</script> here.", "level": 0},
            {"kind": "list", "text": "1. Print the label\n2. Post the <i>parcel</i>", "level": 0},
            {"kind": "table", "text": "| Days | Fee |\n| --- | --- |\n| 30 | free |", "level": 0},
        ],
    )

    page = client.get(f"/help/{document.pk}/").content.decode()

    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<h1>Returns &lt;b&gt;now&lt;/b&gt;</h1>" in page
    assert page.count("Returns &lt;b&gt;now") == 2, "<title> and <h1>; the repeated heading dropped"
    assert '<h2 id="steps">Steps</h2>' in page, "the top heading under the title is h2, with an id"
    assert "<ol>" in page and "<li>Post the &lt;i&gt;parcel&lt;/i&gt;</li>" in page
    assert "<th>Days</th>" in page and "<td>free</td>" in page
    assert "Version 1 · " in page
    Document.objects.filter(pk=document.pk).update(locale="zh-hans")
    page = client.get(f"/help/{document.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "版本 1 · " in page, "in the article's language (a zh shop saw English there)"


def test_the_help_page_does_not_show_agents_only_documents(client):
    document = Document.objects.create(
        title="Escalation", source_key="escalation.md", content_hash="x",
        visibility=Visibility.AGENTS, blocks=[{"kind": "paragraph", "text": "x", "level": 0}],
    )  # fmt: skip
    assert client.get(f"/help/{document.pk}/").status_code == 404
    assert client.get("/help/999999/").status_code == 404


def test_a_document_lists_the_questions_answered_from_it_page_by_page(client):
    parsed = ParsedDocument(
        title="Returns", blocks=(Block(BlockKind.PARAGRAPH, "Within 30 days."),), locale="en"
    )
    document = services.document_upsert(parsed=parsed, source_key="returns.md").document
    for n in range(55):
        services.document_cited(
            citations=[(document.pk, 1)],
            question=f"question <{n}>",
            conversation_id=1000 + n,
            message_id=n,
        )
    url = f"/admin/knowledge/document/{document.pk}/questions/"
    client.force_login(staff("view_document"))
    assert client.get(url).status_code == 403, "visitor text needs the conversations permission"

    User.objects.all().delete()
    client.force_login(staff("view_document", "view_conversation"))
    change = client.get(f"/admin/knowledge/document/{document.pk}/change/").content.decode()
    assert f'<a href="{url}">55 cited it, 0 suggested it</a>' in change
    first = client.get(url).content.decode()
    assert len(re.findall(r'href="/admin/chatbot/conversation/\d+/change/"', first)) == 50
    assert first.index("question &lt;54&gt;") < first.index("question &lt;53&gt;"), "newest first"
    assert 'href="/admin/chatbot/conversation/1054/change/"' in first
    assert "page 1 of 2" in first
    second = client.get(url, {"page": 2}).content.decode()
    assert len(re.findall(r'href="/admin/chatbot/conversation/\d+/change/"', second)) == 5
    assert "question &lt;0&gt;" in second
    services.document_cited(
        citations=[(document.pk, 1)],
        question="only suggested",
        conversation_id=2000,
        message_id=999,
        suggested=True,
    )
    document.refresh_from_db()
    assert (document.cited_count, document.suggested_count) == (55, 1)
    newest = re.sub(r"\s+", " ", client.get(url).content.decode())
    assert "<td>only suggested</td> <td>1</td> <td>suggested</td>" in newest
    assert "<td>question &lt;54&gt;</td> <td>1</td> <td>cited</td>" in newest


def test_a_documents_tags_are_edited_as_a_comma_list():
    """Seen in an admin walk: "qa3, kayak" in a document's Tags answered "Enter a valid JSON"."""
    parsed = ParsedDocument(
        title="Kayaks",
        blocks=(Block(BlockKind.PARAGRAPH, "Tandem kayaks rent by the day."),),
        locale="en",
    )
    document = services.document_upsert(parsed=parsed, source_key="kayaks.md").document
    document.tags = ["rentals"]
    shown = DocumentForm(instance=document)
    assert 'value="rentals"' in str(shown["tags"])
    form = DocumentForm(
        instance=document,
        data={"locale": "en", "visibility": "public", "tags": "qa3, kayak , qa3,"},
    )
    assert form.is_valid(), form.errors
    form.save()
    document.refresh_from_db()
    assert document.tags == ["qa3", "kayak"]


def test_a_documents_locale_is_corrected_in_its_form_and_indexed_again(client):
    """A page read as the wrong language is never found by its visitors; the locale could only
    be changed by importing it again with a forced one (a walk)."""
    parsed = ParsedDocument(
        title="退货", blocks=(Block(BlockKind.PARAGRAPH, "签收后30天内可以退货。"),), locale="en"
    )
    document = services.document_upsert(parsed=parsed, source_key="tuihuo.txt").document
    assert Chunk.objects.get().embedding_model == get_embedder("en").identity
    version = content_version.knowledge_version()
    client.force_login(staff("view_document", "change_document"))
    chunk = Chunk.objects.get()
    inline = {"chunks-TOTAL_FORMS": "1", "chunks-INITIAL_FORMS": "1",
              "chunks-MIN_NUM_FORMS": "0", "chunks-MAX_NUM_FORMS": "1000",
              "chunks-0-id": str(chunk.pk), "chunks-0-document": str(document.pk)}  # fmt: skip
    response = client.post(
        f"/admin/knowledge/document/{document.pk}/change/",
        {"locale": "zh-hans", "visibility": "public", "tags": "", **inline},
    )
    assert response.status_code == 302
    document.refresh_from_db()
    assert document.locale == "zh-hans"
    assert Chunk.objects.get().embedding_model == get_embedder("zh-hans").identity
    assert content_version.knowledge_version() != version


def test_an_import_lists_how_many_of_its_documents_still_wait_to_be_indexed(admin_client):
    """An owner read "Done" while the import's document waited for an index task its killed
    worker had taken: the list and the page count the documents not yet searchable."""
    done = DocumentImport.objects.create(kind="files", source="/help", status="done")
    for key, status in (("a.md", "pending"), ("b.md", "indexed"), ("c.md", "pending")):
        Document.objects.create(
            title=key, source_key=key, content_hash=key, status=status, source_import=done
        )
    DocumentImport.objects.create(kind="files", source="/other", status="done")

    listed = admin_client.get("/admin/knowledge/documentimport/", HTTP_ACCEPT_LANGUAGE="en")
    cells = re.findall(r'<td class="field-waiting">(\d+)</td>', listed.content.decode())
    assert sorted(cells) == ["0", "2"]
    page = admin_client.get(f"/admin/knowledge/documentimport/{done.pk}/change/").content.decode()
    assert re.search(r"Waiting to be indexed:</label>\s*<div class=\"readonly\">2</div>", page)


def test_an_imports_options_name_its_language_in_the_readers_language(admin_client):
    """The import page read "Locale: English" in a Chinese admin, where its lists say 英语."""
    forced = DocumentImport.objects.create(
        kind="files", source="/help", status="done", options={"locale": "en"}
    )
    guessed = DocumentImport.objects.create(kind="files", source="/help", status="done")
    url = "/admin/knowledge/documentimport/{}/change/"
    zh = admin_client.get(url.format(forced.pk), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "英语" in zh and "English" not in zh
    en = admin_client.get(url.format(forced.pk), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Locale: English" in en
    unset = admin_client.get(url.format(guessed.pk), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Locale: Guess from the text" in unset


def test_the_help_pages_headings_keep_their_levels_and_ids_a_citation_links_to(client):
    """A writer's walk: "##" sections came out as h3 and "####" as h5 (h2 and h4 skipped), and a
    citation landed at the top of the article whatever heading it quoted."""
    document = Document.objects.create(
        title="退货与退款",
        source_key="tuihuo.md",
        content_hash="x",
        locale="zh-hans",
        blocks=[
            {"kind": "heading", "text": "退货与退款", "level": 1},
            {"kind": "heading", "text": "如何退货", "level": 2},
            {"kind": "heading", "text": "运费", "level": 3},
            {"kind": "heading", "text": "如何退货", "level": 2},
        ],
    )
    page = client.get(f"/help/{document.pk}/").content.decode()
    assert '<h2 id="如何退货">如何退货</h2>' in page and '<h3 id="运费">运费</h3>' in page
    assert page.count('id="如何退货"') == 1, "a repeated heading gets no second id"
    assert heading_url(f"/help/{document.pk}/", "如何退货") == f"/help/{document.pk}/#如何退货"


def test_a_citation_of_a_crawled_page_points_at_its_heading_by_text():
    url = "https://shop.example/help/returns"
    assert heading_url(url, "Drop-off & fees") == url + "#:~:text=Drop%2Doff%20%26%20fees"
    assert heading_url(url, "") == url
    assert heading_url(url + "#top", "Fees") == url + "#top", "the page's own fragment kept"


def test_a_documents_page_links_to_the_article_its_visitors_see(admin_client):
    """A writer found no way from the admin to the public article (nor a "View on site")."""
    uploaded = Document.objects.create(
        title="Gift wrapping", source_key="gift.md", content_hash="x"
    )
    crawled = Document.objects.create(
        title="Points", source_key="p", content_hash="y", source_url="https://shop.example/points"
    )
    hidden = Document.objects.create(
        title="Escalation", source_key="esc.md", content_hash="z", visibility=Visibility.AGENTS
    )
    change = "/admin/knowledge/document/{}/change/"

    def view_on_site(document: Document) -> str | None:
        page = admin_client.get(change.format(document.pk), HTTP_ACCEPT_LANGUAGE="en")
        found = re.search(r'<a href="([^"]+)" class="viewsitelink">', page.content.decode())
        return None if found is None else found.group(1)

    assert view_on_site(uploaded) == f"/help/{uploaded.pk}/"
    assert view_on_site(crawled) == "https://shop.example/points"
    assert view_on_site(hidden) == f"/help/{hidden.pk}/", "readable by staff (agents)"
    page = admin_client.get(change.format(uploaded.pk), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Locale:</label>" in page, "capitalised as every other label"


CLICK_AND_COLLECT = """# Click and collect

See [our store page](https://northwind.example/store) for opening hours, or
[write to us](mailto:help@northwind.example). Never [this](javascript:alert(1)). Ask where to
park [here](https://northwind.example/parking).

- Weekdays: ready in two hours
  - Orders with a pre-order item: when the item arrives
- Weekends: ready the next day, [see the map](https://northwind.example/map)
"""


def test_the_help_page_keeps_an_articles_links_and_nested_lists(client):
    """A writer's Markdown article lost its links ("See our store page" in plain text) and its
    sub-item under "Weekdays" became a rule of its own."""
    parsed = parse_document(CLICK_AND_COLLECT.encode(), filename="collect.md", locale="en")
    document = services.document_upsert(parsed=parsed, source_key="collect.md").document
    page = client.get(f"/help/{document.pk}/").content.decode()

    assert 'See <a href="https://northwind.example/store">our store page</a> for' in page
    assert '<a href="mailto:help@northwind.example">write to us</a>' in page
    assert 'where to park <a href="https://northwind.example/parking">here</a>' in page, (
        "whole words"
    )
    assert 'href="javascript' not in page, "never a link a browser would run"
    nested = re.sub(r"\s+", " ", page.split("<ul>", 1)[1])
    assert nested.startswith(
        "<li>Weekdays: ready in two hours<ul><li>Orders with a pre-order item: when the item "
        "arrives</li></ul></li><li>Weekends: ready the next day, "
        '<a href="https://northwind.example/map">see the map</a></li></ul>'
    )
    chunk_text = " ".join(document.chunks.values_list("text", flat=True))
    assert "northwind.example" not in chunk_text, "the indexed text stays the words alone"


def test_a_document_without_links_keeps_its_content_hash():
    """Blocks keep their links now; a document with none must not look changed (and be embedded
    again) on its next import."""
    plain = ParsedDocument(
        title="Returns", blocks=(Block(BlockKind.PARAGRAPH, "30 days."),), locale="en"
    )
    linked = ParsedDocument(
        title="Returns",
        blocks=(Block(BlockKind.PARAGRAPH, "30 days.", links=(("30 days", "https://x.example"),)),),
        locale="en",
    )
    before_links = hashlib.sha256(b"Returns\nparagraph:0:30 days.").hexdigest()
    assert services.content_hash(plain) == before_links
    assert services.content_hash(linked) != before_links


def test_a_writer_writes_an_article_in_the_admin_and_edits_it_there(client):
    """A help-centre writer could only import files: to change one number in an article they
    had to find its original file and upload it under exactly the same name."""
    writer = staff("view_document", "add_document", "change_document")
    client.force_login(writer)
    listed = client.get("/admin/knowledge/document/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'href="/admin/knowledge/document/write/"' in listed and "Write an article" in listed

    body = "## Prices\n\nGift wrapping costs $3.00 per item.\n\n- Paper: red or gold\n"
    response = client.post(
        "/admin/knowledge/document/write/",
        {"title": "Gift wrapping", "text": body, "locale": "en", "visibility": "public",
         "tags": "gifts"},
        HTTP_ACCEPT_LANGUAGE="en",
    )  # fmt: skip
    document = Document.objects.get(title="Gift wrapping")
    assert response.status_code == 302 and response["Location"].endswith(f"/{document.pk}/change/")
    assert document.source_key.startswith("written/") and document.written_text == body.strip()
    assert (document.status, document.tags, document.version) == ("indexed", ["gifts"], 1)
    question = "How much is gift wrapping?"
    assert "$3.00" in selectors.passages_retrieve(text=question, locale="en").passages[0].text

    change = client.get(f"/admin/knowledge/document/{document.pk}/change/").content.decode()
    rewrite = f"/admin/knowledge/document/{document.pk}/write/"
    assert f'<a href="{rewrite}">Edit the text</a>' in change
    form = client.get(rewrite, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Gift wrapping costs $3.00 per item." in form and 'value="Gift wrapping"' in form
    client.post(
        rewrite,
        {"title": "Gift wrapping", "text": body.replace("3.00", "4.50"), "locale": "en",
         "visibility": "public", "tags": "gifts"},
    )  # fmt: skip
    document.refresh_from_db()
    assert (document.version, Document.objects.count()) == (2, 1)
    texts = [p.text for p in selectors.passages_retrieve(text=question, locale="en").passages]
    assert any("$4.50" in t for t in texts) and not any("$3.00" in t for t in texts)

    again = client.post(
        "/admin/knowledge/document/write/",
        {"title": "gift wrapping", "text": "Wrapping is free in December.", "locale": "en",
         "visibility": "public", "tags": ""},
        HTTP_ACCEPT_LANGUAGE="en",
        follow=True,
    )  # fmt: skip
    warned = again.content.decode()
    other = f'<a href="/admin/knowledge/document/{document.pk}/change/">another article of its'
    assert other in warned, "the warning links the article it clashes with"
    listed = client.get("/admin/knowledge/document/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert listed.count('<td class="field-source">written in the admin</td>') == 2
    upload = DocumentImport.objects.create(
        kind=DocumentImport.Kind.UPLOAD,
        source="gift.md",
        options={"locale": "en"},
        upload=b"# Gift wrapping\n\nFree in December.\n",
    )
    (notice,) = services.documents_import(import_id=upload.pk).errors
    assert notice["code"] == "same_title"
    assert f"same title as document {document.pk}, written in the admin" in notice["message"]


def test_only_articles_written_in_the_admin_are_edited_there_and_by_whom_may(client):
    imported = services.document_upsert(
        parsed=ParsedDocument(
            title="Returns", blocks=(Block(BlockKind.PARAGRAPH, "30 days."),), locale="en"
        ),
        source_key="en/returns.md",
    ).document
    client.force_login(staff("view_document", "change_document"))
    assert client.get(f"/admin/knowledge/document/{imported.pk}/write/").status_code == 404
    change = client.get(
        f"/admin/knowledge/document/{imported.pk}/change/", HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert "Imported: change its file or page and import or crawl it again." in change
    assert client.get("/admin/knowledge/document/write/").status_code == 403, "add permission"
    User.objects.all().delete()
    client.force_login(staff("view_document", "add_document"))
    refused = client.post(
        "/admin/knowledge/document/write/",
        {"title": "Empty", "text": "   ", "locale": "en", "visibility": "public"},
    )
    assert refused.status_code == 200 and not Document.objects.filter(title="Empty").exists()


def test_a_documents_page_lists_the_faqs_on_its_topic_to_review_when_it_changes(admin_client):
    """A writer changed "30 days" to "45 days" in the returns article; the returns FAQ went on
    answering "30 days" first, and nothing pointed at it."""
    article = parse_document(
        b"# Returns and refunds\n\n## How to return an item\n\nReturn unworn items within 30 "
        b"days of delivery for a full refund. Print the label from your account.\n",
        filename="returns.md",
        locale="en",
    )
    document = services.document_upsert(
        parsed=article, source_key="returns.md", index_inline=True
    ).document
    returns = services.faq_save(question="How do I return an item?", answer="Within 30 days.")
    services.faq_save(question="Do you sell gift cards?", answer="Yes, from $10.")
    assert [f.pk for f in selectors.faqs_on_document(document)] == [returns.pk]

    page = admin_client.get(
        f"/admin/knowledge/document/{document.pk}/change/", HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    faq_link = f'<a href="/admin/knowledge/faq/{returns.pk}/change/">How do I return an item?</a>'
    assert faq_link in page and "check them when you change it" in page
    assert "Do you sell gift cards?" not in page


def test_an_article_written_in_the_chinese_admin_takes_the_language_of_its_text(admin_client):
    """A Chinese admin's English article was saved as 简体中文 (the form's default followed the
    admin's language) and never reached English visitors."""
    form = admin_client.get(
        "/admin/knowledge/document/write/", HTTP_ACCEPT_LANGUAGE="zh-hans"
    ).content.decode()
    assert '<option value="" selected>根据文本自动识别</option>' in form
    admin_client.post(
        "/admin/knowledge/document/write/",
        {"title": "Store pickup", "text": "Orders placed before noon can be picked up today. "
         "Bring your order number and photo ID.", "locale": "", "visibility": "public"},
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )  # fmt: skip
    assert Document.objects.get(title="Store pickup").locale == "en"
