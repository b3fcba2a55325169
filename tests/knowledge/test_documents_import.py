"""Imports of documents: a bad file imports nothing while the others proceed, the
import_documents command's lines and exit status, and a crawl of a small site served on
127.0.0.1 (conditional re-fetch, a page that is gone reported, not deleted), started from the
admin's crawl page."""

import hashlib
import io
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.utils import translation

from knowledge import content_version, services
from knowledge.documents.error_text import import_error_text
from knowledge.documents.indexing import stored_chunks
from knowledge.models import Chunk, Document, DocumentImport, Visibility
from knowledge.selectors import documents_versions
from tests.knowledge.test_documents import ARTICLES, write_articles

pytestmark = pytest.mark.django_db(transaction=True)

GOOD = "# Gift cards\n\nGift cards never expire and can be used for any order.\n"
CORRUPT_PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage without xref"


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_corrupt_file_imports_nothing_and_the_good_one_is_imported():
    upload = zip_of({"gift-cards.md": GOOD.encode(), "manual.pdf": CORRUPT_PDF})
    document_import = DocumentImport.objects.create(
        kind=DocumentImport.Kind.UPLOAD, source="help.zip", options={"locale": "en"}, upload=upload
    )

    done = services.documents_import(import_id=document_import.pk)

    assert (done.status, done.seen, done.created, done.failed) == ("done", 2, 1, 1)
    assert [e["name"] for e in done.errors] == ["manual.pdf"]
    assert done.errors[0]["code"] and done.errors[0]["message"]
    assert list(Document.objects.values_list("source_key", flat=True)) == ["gift-cards.md"]
    assert Chunk.objects.filter(document__source_key="gift-cards.md").exists()
    assert DocumentImport.objects.get(pk=done.pk).upload is None, "the upload is not kept"


def test_the_command_prints_a_line_per_file_and_fails_when_a_file_failed(tmp_path, capsys):
    folder = write_articles(tmp_path / "docs", {"en/returns.md": ARTICLES["en/returns.md"]})
    (folder / "en" / "empty.md").write_bytes(b"")

    with pytest.raises(SystemExit) as exit_:
        call_command("import_documents", str(folder / "en"), "--locale", "en", "--tags", "a,b")
    lines = capsys.readouterr().out.splitlines()

    assert exit_.value.code == 1
    assert lines[0].startswith("error") and "empty.md:" in lines[0]
    assert lines[1].split() == ["created", "returns.md"]
    assert lines[-1] == "2 file(s): 1 created, 0 updated, 0 unchanged, 1 failed."
    assert Document.objects.get().tags == ["a", "b"]

    (folder / "en" / "empty.md").unlink()
    call_command("import_documents", str(folder / "en"))
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "unchanged returns.md",
        "1 file(s): 0 created, 0 updated, 1 unchanged, 0 failed.",
    ]


class Site:
    """A tiny help centre with ETags, served by the test; pages can be changed or removed."""

    def __init__(self) -> None:
        self.pages = {
            "/help/": '<html><head><title>Help</title></head><body><h1>Help</h1><p>Our help '
            'centre.</p><a href="/help/returns">Returns</a> <a href="/help/points">Points</a>'
            "</body></html>",
            "/help/returns": "<html><head><title>Returns</title></head><body><h1>Returns</h1>"
            "<p>Return unworn items within 30 days for a full refund.</p></body></html>",
            "/help/points": "<html><head><title>Loyalty points</title></head><body>"
            "<h1>Loyalty points</h1><p>Every euro spent earns one loyalty point.</p>"
            "</body></html>",
        }  # fmt: skip
        self.requests: list[tuple[str, int]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                page = site.pages.get(self.path)
                if page is None:
                    site.requests.append((self.path, 404))
                    self.send_error(404)
                    return
                etag = '"' + hashlib.sha256(page.encode()).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    site.requests.append((self.path, 304))
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                site.requests.append((self.path, 200))
                body = page.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", etag)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/help/"

    def crawl(self) -> DocumentImport:
        document_import = DocumentImport.objects.create(
            kind=DocumentImport.Kind.CRAWL,
            source=self.url,
            options={"locale": "en", "limits": {"max_pages": 20, "max_depth": 3}},
        )
        return services.documents_crawl(import_id=document_import.pk)


@pytest.fixture
def site(settings) -> Iterator[Site]:
    settings.KNOWLEDGE_CRAWL_PRIVATE_NETWORKS = True  # the site listens on 127.0.0.1
    served = Site()
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()


def test_a_crawl_imports_the_pages_then_refetches_only_what_changed(site):
    first = site.crawl()
    assert (first.status, first.created, first.failed) == ("done", 3, 0), first.errors
    returns = Document.objects.get(source_url=site.url + "returns")
    assert returns.title == "Returns" and returns.etag

    site.pages["/help/points"] = site.pages["/help/points"].replace("one", "two")
    del site.pages["/help/returns"]
    site.requests.clear()
    second = site.crawl()

    assert (second.unchanged, second.updated, second.failed) == (1, 1, 1), second.errors
    assert ("/help/", 304) in site.requests, "the unchanged page was not sent again"
    (gone,) = second.errors
    assert (gone["name"], gone["code"]) == (site.url + "returns", "gone")
    returns.refresh_from_db()
    assert "404" in returns.error, "reported on the document"
    assert returns.chunks.exists(), "kept until an editor deletes it"
    points = Document.objects.get(source_url=site.url + "points")
    assert points.version == 2
    assert "two loyalty point" in points.chunks.get().text


def test_the_crawl_page_queues_a_crawl_within_the_limits_given(client, site):
    editor = User.objects.create_user("editor", password="pw-5521", is_staff=True)
    editor.user_permissions.add(
        *Permission.objects.filter(codename__in=["add_document", "view_documentimport"])
    )
    client.force_login(editor)
    form = client.get("/admin/knowledge/documentimport/crawl/").content.decode()
    assert 'name="max_pages"' in form and 'value="200"' in form, "defaults from settings"

    response = client.post(
        "/admin/knowledge/documentimport/crawl/",
        {"start_url": site.url, "locale": "en", "visibility": "agents", "tags": "",
         "max_pages": 2, "max_depth": 1, "max_seconds": 30},
    )  # fmt: skip

    crawl = DocumentImport.objects.get()
    assert response["Location"] == f"/admin/knowledge/documentimport/{crawl.pk}/change/"
    assert (crawl.kind, crawl.status, crawl.created) == ("crawl", "done", 2), crawl.errors
    assert crawl.options["limits"] == {"max_pages": 2, "max_depth": 1, "max_seconds": 30.0}
    assert set(Document.objects.values_list("visibility", flat=True)) == {Visibility.AGENTS}


@pytest.mark.parametrize(
    ("start_url", "error"),
    [
        ("ftp://help.example.com/docs/", "Only http:// and https:// sites can be crawled."),
        ("http://user:secret@help.example.com/", "Leave the user name and password out"),
        ("http://help.example.com:99999/help/", "The port must be a number from 1 to 65535."),
    ],
)
def test_a_start_url_the_crawler_cannot_take_is_a_form_error(admin_client, start_url, error):
    """ftp:// passed Django's URL field and the crawl answered 500; a password was stored and
    shown as the import's source."""
    response = admin_client.post(
        "/admin/knowledge/documentimport/crawl/",
        {"start_url": start_url, "locale": "en", "visibility": "public", "tags": "",
         "max_pages": 2, "max_depth": 1, "max_seconds": 30},
    )  # fmt: skip
    assert response.status_code == 200 and error in response.content.decode()
    assert not DocumentImport.objects.exists()


def test_a_crawl_that_stored_nothing_is_failed_not_done(settings):
    """Every page skipped (here the start page's private address) read as "Done, 0 failed"."""
    settings.KNOWLEDGE_CRAWL_PRIVATE_NETWORKS = False
    document_import = DocumentImport.objects.create(
        kind=DocumentImport.Kind.CRAWL, source="http://127.0.0.1:9/help/", options={}
    )
    crawled = services.documents_crawl(import_id=document_import.pk)
    assert (crawled.status, crawled.seen, crawled.failed) == ("failed", 1, 0)
    assert crawled.errors[0]["message"] == (
        "127.0.0.1 is on a private network: not crawled (set KNOWLEDGE_CRAWL_PRIVATE_NETWORKS=1 "
        "to crawl an intranet site)"
    ), "the address not repeated, and what allows an intranet crawl (a walk)"
    bad_scheme = DocumentImport.objects.create(
        kind=DocumentImport.Kind.CRAWL, source="ftp://help.example.com/", options={}
    )
    assert services.documents_crawl(import_id=bad_scheme.pk).status == "failed"  # no raise


def test_the_imports_list_counts_skipped_pages_as_problems_and_searches_sources(admin_client):
    DocumentImport.objects.create(
        kind=DocumentImport.Kind.CRAWL, source="https://help.example.com/", status="done",
        seen=2, created=1, errors=[{"name": "x", "code": "skipped", "message": "robots.txt"}],
    )  # fmt: skip
    DocumentImport.objects.create(kind=DocumentImport.Kind.UPLOAD, source="manual.pdf")
    listing = admin_client.get("/admin/knowledge/documentimport/").content.decode()
    assert 'class="field-problem_count">1<' in listing
    found = admin_client.get("/admin/knowledge/documentimport/", {"q": "manual"}).content
    assert b"manual.pdf" in found and b"help.example.com" not in found


def test_a_page_gone_from_its_site_is_not_cited_until_it_comes_back(site):
    """A writer deleted a page and re-crawled: the import said "gone", but the document stayed
    "Indexed" and visitors were still sent to its dead link."""
    site.crawl()
    returns = Document.objects.get(source_url=site.url + "returns")
    chunk_ids = list(returns.chunks.values_list("pk", flat=True))
    assert stored_chunks(chunk_ids) and documents_versions([returns.pk])
    page = site.pages.pop("/help/returns")
    version = content_version.knowledge_version()

    site.crawl()
    returns.refresh_from_db()
    assert returns.status == Document.Status.GONE and returns.chunks.exists()
    assert (
        stored_chunks(chunk_ids) == {} and stored_chunks(chunk_ids, include_agents_only=True) == {}
    )
    assert documents_versions([returns.pk]) == {}, "cached answers citing it are refused"
    assert content_version.knowledge_version() != version

    site.pages["/help/returns"] = page  # back, unchanged: a 304
    site.requests.clear()
    site.crawl()
    assert ("/help/returns", 304) in site.requests
    returns.refresh_from_db()
    assert (returns.status, returns.error) == (Document.Status.INDEXED, "")
    assert set(stored_chunks(chunk_ids)) == set(chunk_ids)


def test_a_page_under_two_addresses_is_stored_once(site):
    """A writer's crawl stored /help/ and /help/index.html as two "Outlet help" documents, both
    suggested side by side."""
    site.pages["/help/index.html"] = site.pages["/help/"]
    site.pages["/help/returns"] = site.pages["/help/returns"].replace(
        "</p>", '</p><a href="/help/index.html">Help home</a>'
    )
    crawled = site.crawl()
    assert (crawled.created, crawled.failed) == (3, 0)
    (duplicate,) = crawled.errors
    assert (duplicate["name"], duplicate["code"]) == (site.url + "index.html", "duplicate")
    assert duplicate["message"] == f"same content as {site.url}: not stored again"
    assert Document.objects.filter(title="Help").count() == 1
    with translation.override("zh-hans"):
        assert import_error_text(duplicate) == f"与 {site.url} 是同一页面：不再重复保存。"
