"""The crawler against small sites served on 127.0.0.1 by a real HTTP server in a thread; every
request the sites get is recorded, so "never fetched" is asserted on the server's side."""

import gzip
import hashlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from knowledge.documents.crawler import (
    CrawledPage,
    CrawlLimits,
    PageStatus,
    PreviousFetch,
    crawl,
    normalise_url,
)
from tests.servers import free_port

RETURNS_ZH = "/help/%E9%80%80%E8%B4%A7%E6%94%BF%E7%AD%96"  # /help/退货政策 as sent
LAST_MODIFIED = "Wed, 01 Jan 2025 00:00:00 GMT"
ROBOTS = "User-agent: *\nDisallow: /help/private/\nCrawl-delay: 0\n"


@dataclass
class Resource:
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    location: str | None = None
    validators: bool = True  # ETag + Last-Modified, 304 when the request carries them
    length: bool = True  # without Content-Length a client only learns the size by reading
    hang_up: bool = False  # close the connection without an answer
    headers: dict[str, str] = field(default_factory=dict)


def html(*hrefs: str, title: str = "Help") -> Resource:
    links = "".join(f'<li><a href="{href}">{href}</a></li>' for href in hrefs)
    return Resource(f"<html><head><title>{title}</title></head><body><ul>{links}</ul>".encode())


@dataclass
class Request:
    path: str
    headers: dict[str, str]


@dataclass
class Site:
    """A website on 127.0.0.1: `resources` by path (query included), 404 for anything else."""

    resources: dict[str, Resource] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    on_request: Callable[[str], None] = lambda path: None
    base: str = ""

    @property
    def paths(self) -> list[str]:
        return [request.path for request in self.requests]

    def respond(self, handler: BaseHTTPRequestHandler) -> None:
        self.requests.append(Request(handler.path, dict(handler.headers.items())))
        self.on_request(handler.path)
        resource = self.resources.get(handler.path)
        if resource is None:
            resource = Resource(b"not found", "text/plain", status=404, validators=False)
        if resource.hang_up:
            return
        headers = {"Content-Type": resource.content_type, **resource.headers}
        if resource.location:
            headers["Location"] = resource.location
        if resource.validators:
            etag = '"' + hashlib.sha256(resource.body).hexdigest()[:16] + '"'
            headers |= {"ETag": etag, "Last-Modified": LAST_MODIFIED}
            if (
                handler.headers.get("If-None-Match") == etag
                or handler.headers.get("If-Modified-Since") == LAST_MODIFIED
            ):
                handler.send_response(304)
                for name in ("ETag", "Last-Modified"):
                    handler.send_header(name, headers[name])
                handler.end_headers()
                return
        if resource.length:
            headers["Content-Length"] = str(len(resource.body))
        handler.send_response(resource.status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(resource.body)


@pytest.fixture
def serve() -> Iterator[Callable[[], Site]]:
    """Starts sites (HTTP/1.0: one request per connection) and stops them after the test."""
    servers: list[ThreadingHTTPServer] = []

    def start() -> Site:
        site = Site()

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart

            def do_GET(self) -> None:
                site.respond(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        site.base = f"http://127.0.0.1:{server.server_port}"
        return site

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def other(serve) -> Site:
    """Another site (another port, so another origin) that the help site links and redirects
    to; the crawler must never reach it."""
    site = serve()
    site.resources = {
        "/help/elsewhere.html": html(),
        "/help/moved-here": html(),
        "/sitemap.xml": Resource(b"<urlset/>", "application/xml"),
    }
    return site


@pytest.fixture
def help_site(serve, other: Site) -> Site:
    """A help centre under /help/ without a sitemap: links to follow, pages of each kind."""
    site = serve()
    site.resources = {
        "/robots.txt": Resource(ROBOTS.encode(), "text/plain"),
        "/help/": html(
            "returns",
            "/help/returns#policy",
            "./returns",
            "shipping.txt",
            "退货政策",
            "manual.pdf",
            "logo.png",
            "private/secret.html",
            "missing",
            "broken",
            "old",
            "moved",
            "/blog/news.html",
            f"{other.base}/help/elsewhere.html",
            "mailto:help@example.com",
            "javascript:void(0)",
        ),
        "/help/returns": html("/help/", "returns/exchanges", title="Returns"),
        "/help/returns/exchanges": html("exchanges/deep", title="Exchanges"),
        "/help/returns/exchanges/deep": html("/help/too-deep", title="Deep"),
        "/help/too-deep": html(),
        "/help/broken": Resource(hang_up=True),
        "/help/shipping.txt": Resource(
            "Shipping takes 3-5 days. 配送需要 3 到 5 天。".encode(), "text/plain; charset=utf-8"
        ),
        RETURNS_ZH: Resource("<h1>退货政策</h1><p>30 天内可退货。</p>".encode()),
        "/help/manual.pdf": Resource(b"%PDF-1.4\n1 0 obj <<>> endobj\n%%EOF\n", "application/pdf"),
        "/help/logo.png": Resource(b"\x89PNG\r\n\x1a\n" + bytes(64), "image/png"),
        "/help/private/secret.html": html(),
        "/help/old": Resource(status=301, location="/help/new", validators=False),
        "/help/new": html(title="New"),
        "/help/moved": Resource(
            status=302, location=f"{other.base}/help/moved-here", validators=False
        ),
        "/blog/news.html": html(),
    }
    return site


def run(site: Site, path: str = "/help/", **kwargs) -> list[CrawledPage]:
    kwargs.setdefault("limits", CrawlLimits())
    kwargs.setdefault("private_networks", True)  # the test sites listen on 127.0.0.1
    return list(crawl(site.base + path, **kwargs))


def by_path(site: Site, pages: list[CrawledPage]) -> dict[str, CrawledPage]:
    return {page.url.removeprefix(site.base): page for page in pages}


def counted(pages: list[CrawledPage]) -> list[CrawledPage]:
    return [p for p in pages if p.status in (PageStatus.FETCHED, PageStatus.NOT_MODIFIED)]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_without_a_sitemap_links_are_followed_under_the_start_path(help_site, other) -> None:
    pages = by_path(help_site, run(help_site))

    fetched = {path for path, page in pages.items() if page.status == PageStatus.FETCHED}
    assert fetched == {
        "/help/",
        "/help/returns",
        "/help/returns/exchanges",
        "/help/returns/exchanges/deep",
        "/help/shipping.txt",
        RETURNS_ZH,
        "/help/manual.pdf",
        "/help/new",
    }
    assert pages["/help/returns/exchanges/deep"].depth == 3
    assert pages["/help/new"].depth == 1  # reached through /help/old's redirect
    shipping = pages["/help/shipping.txt"]
    assert shipping.body.decode() == "Shipping takes 3-5 days. 配送需要 3 到 5 天。"
    assert shipping.content_type == "text/plain; charset=utf-8"
    assert pages["/help/manual.pdf"].body.startswith(b"%PDF-1.4")
    assert "30 天内可退货" in pages[RETURNS_ZH].body.decode()
    assert pages["/help/returns"].links == (
        f"{help_site.base}/help/",
        f"{help_site.base}/help/returns/exchanges",
    )
    assert pages["/help/"].etag and pages["/help/"].last_modified == LAST_MODIFIED

    assert pages["/help/logo.png"].status == PageStatus.SKIPPED
    assert pages["/help/logo.png"].error == "not HTML, Markdown, text or PDF (image/png)"
    assert pages["/help/logo.png"].body == b""
    assert pages["/help/private/secret.html"].status == PageStatus.SKIPPED
    assert pages["/help/private/secret.html"].error == "disallowed by robots.txt"
    assert pages["/help/moved"].status == PageStatus.SKIPPED
    assert pages["/help/moved"].error == (
        f"redirects to {other.base}/help/moved-here, outside {help_site.base}: not followed"
    )
    assert pages["/help/moved"].http_status == 302
    assert pages["/help/new"].http_status == 200

    # Never requested: disallowed, outside the path prefix, beyond max_depth, another host.
    for path in ("/help/private/secret.html", "/blog/news.html", "/help/too-deep"):
        assert path not in help_site.paths
    assert other.requests == []
    # Fragments and spellings of one URL are one request.
    assert max(Counter(help_site.paths).values()) == 1
    assert help_site.paths[:2] == ["/robots.txt", "/sitemap.xml"]
    assert {r.headers["User-Agent"] for r in help_site.requests} == {"HelpdeskChatbotCrawler/1.0"}


def test_a_404_and_a_dropped_connection_are_errors_and_the_crawl_goes_on(help_site) -> None:
    pages = run(help_site)
    urls = [page.url.removeprefix(help_site.base) for page in pages]

    missing = pages[urls.index("/help/missing")]
    assert (missing.status, missing.error) == (PageStatus.ERROR, "HTTP 404 Not Found")
    assert missing.http_status == 404
    broken = pages[urls.index("/help/broken")]
    assert (broken.status, broken.error) == (
        PageStatus.ERROR,
        "network error: Server disconnected without sending a response.",
    )
    assert broken.http_status is None
    assert urls.index("/help/returns/exchanges") > urls.index("/help/broken")


def test_the_sitemap_index_and_its_sitemaps_make_the_frontier(serve, other) -> None:
    site = serve()
    listed = f"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>{site.base}/help/</loc></url>
  <url><loc>{site.base}/help/only-in-sitemap</loc><lastmod>2025-01-01</lastmod></url>
  <url><loc>{site.base}/help/private/secret.html</loc></url>
  <url><loc>{site.base}/blog/news.html</loc></url>
  <url><loc>{other.base}/help/elsewhere.html</loc></url>
  <url><loc>{site.base}/help/#top</loc></url>
</urlset>"""
    index = f"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>{site.base}/sitemaps/help.xml.gz</loc></sitemap>
  <sitemap><loc>{other.base}/sitemap.xml</loc></sitemap>
</sitemapindex>"""
    site.resources = {
        "/robots.txt": Resource(
            f"{ROBOTS}Sitemap: {site.base}/sitemap_index.xml\n".encode(), "text/plain"
        ),
        "/sitemap_index.xml": Resource(index.encode(), "application/xml"),
        "/sitemaps/help.xml.gz": Resource(gzip.compress(listed.encode()), "application/gzip"),
        "/help/": html("linked-not-listed"),
        "/help/only-in-sitemap": html(),
        "/help/linked-not-listed": html(),
        "/help/private/secret.html": html(),
        "/blog/news.html": html(),
    }

    pages = run(site)

    assert [(p.url.removeprefix(site.base), p.status) for p in pages] == [
        ("/help/", PageStatus.FETCHED),
        ("/help/only-in-sitemap", PageStatus.FETCHED),
        ("/help/private/secret.html", PageStatus.SKIPPED),
    ]
    assert {p.depth for p in pages} == {0}
    assert site.paths == [
        "/robots.txt",
        "/sitemap_index.xml",
        "/sitemaps/help.xml.gz",
        "/help/",
        "/help/only-in-sitemap",
    ]
    assert other.requests == []


def test_sitemap_xml_is_used_when_robots_txt_names_none(serve) -> None:
    site = serve()
    site.resources = {
        "/sitemap.xml": Resource(
            f"""<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<url><loc>{site.base}/help/a</loc></url><url><loc>{site.base}/help/b</loc></url>
</urlset>""".encode(),
            "text/xml",
        ),
        "/help/": html("c"),
        "/help/a": html(),
        "/help/b": html(),
        "/help/c": html(),
    }

    pages = run(site)

    assert [p.url.removeprefix(site.base) for p in counted(pages)] == ["/help/a", "/help/b"]
    assert site.paths == ["/robots.txt", "/sitemap.xml", "/help/a", "/help/b"]


def test_a_sitemap_with_nothing_under_the_start_path_leaves_link_following(serve) -> None:
    site = serve()
    site.resources = {
        "/sitemap.xml": Resource(
            f"""<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<url><loc>{site.base}/blog/news.html</loc></url></urlset>""".encode(),
            "application/xml",
        ),
        "/help/": html("a"),
        "/help/a": html(),
        "/blog/news.html": html(),
    }

    pages = run(site)

    assert [(p.url.removeprefix(site.base), p.depth) for p in pages] == [
        ("/help/", 0),
        ("/help/a", 1),
    ]
    assert "/blog/news.html" not in site.paths


def test_a_start_url_redirecting_elsewhere_on_the_host_moves_the_scope_there(serve) -> None:
    site = serve()
    site.resources = {
        "/docs": Resource(status=301, location="/en/docs/", validators=False),
        "/en/docs/": html("install", "/en/blog/"),
        "/en/docs/install": html(),
        "/en/blog/": html(),
    }

    pages = run(site, path="/docs")

    assert [p.url.removeprefix(site.base) for p in pages] == ["/en/docs/", "/en/docs/install"]
    assert "/en/blog/" not in site.paths


def test_robots_txt_rules_for_this_crawler_apply_and_other_crawlers_rules_do_not(serve) -> None:
    site = serve()
    site.resources = {
        "/robots.txt": Resource(
            b"User-agent: OtherBot\nDisallow: /\n\n"
            b"User-agent: HelpdeskChatbotCrawler\nDisallow: /help/drafts/\n",
            "text/plain",
        ),
        "/help/": html("drafts/new-policy", "faq"),
        "/help/drafts/new-policy": html(),
        "/help/faq": html(),
    }

    pages = by_path(site, run(site))

    assert pages["/help/faq"].status == PageStatus.FETCHED
    assert pages["/help/drafts/new-policy"].status == PageStatus.SKIPPED
    assert "/help/drafts/new-policy" not in site.paths


def test_robots_txt_wildcards_apply(serve) -> None:
    """RFC 9309's `*` and `$`, and the longest match winning over an earlier shorter rule."""
    site = serve()
    site.resources = {
        "/robots.txt": Resource(
            b"User-agent: *\nDisallow: /*.pdf$\nDisallow: /help/old-*\nAllow: /help/old-but-kept\n",
            "text/plain",
        ),
        "/help/": html("manual.pdf", "old-returns", "old-but-kept", "faq"),
        "/help/manual.pdf": Resource(b"%PDF-1.4", "application/pdf"),
        "/help/old-returns": html(),
        "/help/old-but-kept": html(),
        "/help/faq": html(),
    }

    pages = by_path(site, run(site))

    assert pages["/help/manual.pdf"].status == PageStatus.SKIPPED
    assert pages["/help/old-returns"].status == PageStatus.SKIPPED
    assert pages["/help/old-but-kept"].status == PageStatus.FETCHED
    assert pages["/help/faq"].status == PageStatus.FETCHED
    assert not {"/help/manual.pdf", "/help/old-returns"} & set(site.paths)


def test_a_redirect_chain_longer_than_five_is_an_error(serve) -> None:
    site = serve()
    site.resources = {"/help/": html("r0")} | {
        f"/help/r{i}": Resource(status=307, location=f"r{i + 1}", validators=False)
        for i in range(7)
    }

    pages = run(site)

    assert (pages[1].url, pages[1].status) == (f"{site.base}/help/r0", PageStatus.ERROR)
    assert (pages[1].error, pages[1].http_status) == ("more than 5 redirects", 307)
    assert site.paths[2:] == ["/help/", *(f"/help/r{i}" for i in range(6))]


def test_relative_links_resolve_against_the_pages_base_element(serve) -> None:
    site = serve()
    site.resources = {
        "/help/": Resource(b'<base href="/help/articles/"><a href="refunds">Refunds</a>'),
        "/help/articles/refunds": html(),
    }

    pages = run(site)

    assert pages[0].links == (f"{site.base}/help/articles/refunds",)
    assert site.paths[-1] == "/help/articles/refunds"


def test_a_missing_robots_txt_allows_everything(serve) -> None:
    site = serve()
    site.resources = {"/help/": html("private/page"), "/help/private/page": html()}

    pages = run(site)

    assert [p.status for p in pages] == [PageStatus.FETCHED, PageStatus.FETCHED]
    assert "/help/private/page" in site.paths


@pytest.mark.parametrize("status", [500, 503])
def test_robots_txt_failing_with_a_5xx_disallows_the_whole_site(serve, status: int) -> None:
    site = serve()
    site.resources = {
        "/robots.txt": Resource(b"down", "text/plain", status=status, validators=False),
        "/help/": html("a"),
        "/sitemap.xml": Resource(b"<urlset/>", "application/xml"),
    }

    pages = run(site)

    assert len(pages) == 1
    assert (pages[0].url, pages[0].status) == (f"{site.base}/help/", PageStatus.SKIPPED)
    assert f"HTTP {status}" in pages[0].error
    assert site.paths == ["/robots.txt"]


def test_max_depth_bounds_link_following(help_site) -> None:
    pages = run(help_site, limits=CrawlLimits(max_depth=1))

    assert max(p.depth for p in pages) == 1
    assert "/help/returns" in help_site.paths
    assert "/help/returns/exchanges" not in help_site.paths


def test_max_depth_zero_fetches_the_start_page_only(help_site) -> None:
    pages = run(help_site, limits=CrawlLimits(max_depth=0))

    assert [p.url.removeprefix(help_site.base) for p in pages] == ["/help/"]
    assert help_site.paths == ["/robots.txt", "/sitemap.xml", "/help/"]


def test_max_pages_stops_the_crawl_after_that_many_pages(help_site) -> None:
    pages = run(help_site, limits=CrawlLimits(max_pages=3))

    assert len(counted(pages)) == 3
    assert pages[-1].status == PageStatus.FETCHED
    assert help_site.paths[-1] == pages[-1].url.removeprefix(help_site.base)


def test_max_seconds_stops_the_crawl_on_the_injected_clock(help_site) -> None:
    clock = FakeClock()

    def slow_site(path: str) -> None:
        clock.now += 30  # each answer takes 30 s of the crawl's time

    help_site.on_request = slow_site
    limits = CrawlLimits(max_seconds=100, request_timeout_seconds=60)

    pages = run(help_site, limits=limits, clock=clock, sleep=clock.sleep)

    # robots.txt at 0 s, sitemap.xml at 30 s, /help/ at 60 s, /help/returns at 90 s; then the
    # budget is spent.
    assert [p.url.removeprefix(help_site.base) for p in pages] == ["/help/", "/help/returns"]
    assert help_site.paths == ["/robots.txt", "/sitemap.xml", "/help/", "/help/returns"]


def test_a_body_slower_than_the_request_timeout_is_an_error(help_site) -> None:
    clock = FakeClock()

    def slow_returns(path: str) -> None:
        if path == "/help/returns":
            clock.now += 11

    help_site.on_request = slow_returns

    pages = by_path(help_site, run(help_site, clock=clock, sleep=clock.sleep))

    assert pages["/help/returns"].status == PageStatus.ERROR
    assert pages["/help/returns"].error == "timed out after 10 s"
    assert pages["/help/shipping.txt"].status == PageStatus.FETCHED


@pytest.mark.parametrize(
    ("crawl_delay", "expected_pause"), [("2", 2.0), ("3600", 5.0)], ids=["honoured", "capped"]
)
def test_robots_crawl_delay_paces_requests(help_site, crawl_delay, expected_pause) -> None:
    help_site.resources["/robots.txt"] = Resource(
        f"User-agent: *\nCrawl-delay: {crawl_delay}\n".encode(), "text/plain"
    )
    clock = FakeClock()
    limits = CrawlLimits(max_pages=2, max_crawl_delay_seconds=5)

    run(help_site, limits=limits, clock=clock, sleep=clock.sleep)

    # One pause before every request after robots.txt: sitemap.xml and the two pages.
    assert len(help_site.requests) == 4
    assert clock.sleeps == [expected_pause] * 3


def test_a_configured_delay_larger_than_crawl_delay_wins(help_site) -> None:
    clock = FakeClock()

    run(
        help_site,
        limits=CrawlLimits(max_pages=1, delay_seconds=1.5),
        clock=clock,
        sleep=clock.sleep,
    )

    assert clock.sleeps == [1.5, 1.5]


@pytest.mark.parametrize(("retry_after", "expected_pause"), [("3", 3.0), ("", 1.0), ("600", 5.0)])
def test_a_429_slows_the_rest_of_the_crawl_down(help_site, retry_after, expected_pause) -> None:
    help_site.resources["/help/"] = html("busy", "a", "b")
    help_site.resources |= {
        "/help/busy": Resource(b"slow down", "text/plain", status=429, validators=False),
        "/help/a": html(),
        "/help/b": html(),
    }
    if retry_after:
        help_site.resources["/help/busy"].headers = {"Retry-After": retry_after}
    clock = FakeClock()

    pages = run(
        help_site, limits=CrawlLimits(max_crawl_delay_seconds=5), clock=clock, sleep=clock.sleep
    )

    assert [p.status for p in pages] == [PageStatus.FETCHED, PageStatus.ERROR] + [
        PageStatus.FETCHED
    ] * 2
    assert pages[1].error == "HTTP 429 Too Many Requests"
    assert clock.sleeps == [expected_pause, expected_pause]  # before /help/a and /help/b


def test_pages_larger_than_max_page_bytes_are_errors(help_site) -> None:
    help_site.resources["/help/"] = html("declared.txt", "streamed.txt", "small.txt")
    help_site.resources |= {
        "/help/declared.txt": Resource(b"x" * 5000, "text/plain"),
        "/help/streamed.txt": Resource(b"y" * 5000, "text/plain", length=False),
        "/help/small.txt": Resource(b"z" * 1000, "text/plain", length=False),
    }

    pages = by_path(help_site, run(help_site, limits=CrawlLimits(max_page_bytes=4096)))

    declared, streamed = pages["/help/declared.txt"], pages["/help/streamed.txt"]
    assert (declared.status, declared.error) == (
        PageStatus.ERROR,
        "too large: 5 KB, the limit is 4 KB",
    )
    assert (streamed.status, streamed.error) == (
        PageStatus.ERROR,
        "too large: more than 4 KB, stopped reading",
    )
    assert declared.body == streamed.body == b""
    assert pages["/help/small.txt"].body == b"z" * 1000


def previous_of(pages: list[CrawledPage], *, keep_links: bool) -> dict[str, PreviousFetch]:
    return {
        page.url: PreviousFetch(
            etag=page.etag,
            last_modified=page.last_modified,
            links=page.links if keep_links else None,
        )
        for page in pages
        if page.status == PageStatus.FETCHED
    }


def test_a_re_crawl_with_previous_validators_gets_304s_and_still_reaches_every_page(
    help_site,
) -> None:
    first = run(help_site)
    help_site.requests.clear()

    second = run(help_site, previous=previous_of(first, keep_links=True))

    before = by_path(help_site, first)
    after = by_path(help_site, second)
    assert after.keys() == before.keys()
    for path, page in before.items():
        if page.status == PageStatus.FETCHED:
            assert after[path].status == PageStatus.NOT_MODIFIED, path
            assert after[path].body == b""
            assert after[path].http_status == 304
            assert (after[path].etag, after[path].last_modified) == (page.etag, page.last_modified)
    conditional = [r for r in help_site.requests if "If-None-Match" in r.headers]
    assert {r.headers["If-Modified-Since"] for r in conditional} == {LAST_MODIFIED}
    assert len(conditional) == len(counted(first))


def test_without_kept_links_html_pages_whose_links_are_needed_are_fetched_in_full(
    help_site,
) -> None:
    first = run(help_site)

    second = by_path(help_site, run(help_site, previous=previous_of(first, keep_links=False)))

    # Links are needed below max_depth, and only HTML can have them.
    assert second["/help/"].status == PageStatus.FETCHED
    assert second["/help/returns"].status == PageStatus.FETCHED
    assert second["/help/shipping.txt"].status == PageStatus.NOT_MODIFIED
    assert second["/help/manual.pdf"].status == PageStatus.NOT_MODIFIED
    assert second["/help/returns/exchanges/deep"].status == PageStatus.NOT_MODIFIED
    assert second.keys() == by_path(help_site, first).keys()


def test_only_http_and_https_start_urls_are_accepted() -> None:
    with pytest.raises(ValueError, match="Not an http or https URL"):
        crawl("ftp://example.com/help/", limits=CrawlLimits())


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("HTTP://Help.Example.COM:80/a/../b?x=1#top", None, "http://help.example.com/b?x=1"),
        ("https://example.com", None, "https://example.com/"),
        ("https://example.com:8443/a", None, "https://example.com:8443/a"),
        ("../faq#q1", "https://example.com/help/a/b", "https://example.com/help/faq"),
        ("mailto:help@example.com", "https://example.com/", None),
        ("javascript:void(0)", "https://example.com/", None),
        ("/退货", "https://example.com/", "https://example.com/%E9%80%80%E8%B4%A7"),
        (
            "https://帮助.例子.中国/文章?q=退货 政策",
            None,
            "https://xn--7frx1y.xn--fsqu00a.xn--fiqs8s/%E6%96%87%E7%AB%A0"
            "?q=%E9%80%80%E8%B4%A7%20%E6%94%BF%E7%AD%96",
        ),
        ("//cdn.example.com/a", "https://example.com/", "https://cdn.example.com/a"),
        ("http://user:secret@example.com/a b", None, "http://example.com/a%20b"),
        ("?page=2", "https://example.com/help/list?page=1", "https://example.com/help/list?page=2"),
        ("http://[::1]:8080/a", None, "http://[::1]:8080/a"),
        ("http://example.com:99999/", None, None),
        ("http://[broken/", None, None),
        ("https://Straße.de/", None, "https://xn--strae-oqa.de/"),
        ("http://my_host.internal/a", None, "http://my_host.internal/a"),
    ],
)
def test_urls_are_normalised(url: str, base: str | None, expected: str | None) -> None:
    assert normalise_url(url, base=base) == expected


def test_an_unreachable_site_is_one_skipped_page_saying_why() -> None:
    start = f"http://127.0.0.1:{free_port()}/help/"  # nothing listens there

    pages = list(crawl(start, limits=CrawlLimits(), private_networks=True))

    assert [(p.url, p.status) for p in pages] == [(start, PageStatus.SKIPPED)]
    assert pages[0].error.startswith("robots.txt could not be read (network error: ")


@pytest.mark.parametrize(
    "start",
    [
        "/help/",  # the test site itself, on 127.0.0.1
        "http://localhost:{port}/help/",
        "http://[::ffff:127.0.0.1]:{port}/help/",
        "http://10.1.2.3/help/",
        "http://169.254.169.254/latest/meta-data/",  # a cloud's metadata service
        "http://[::1]:{port}/help/",
    ],
)
def test_hosts_on_private_networks_are_not_crawled_by_default(help_site: Site, start: str) -> None:
    port = help_site.base.rsplit(":", 1)[1]
    url = help_site.base + start if start.startswith("/") else start.format(port=port)

    pages = list(crawl(url, limits=CrawlLimits()))

    assert [p.status for p in pages] == [PageStatus.SKIPPED]
    assert "private network" in pages[0].error
    assert help_site.requests == [], "nothing was asked of the private host"


def test_an_answer_from_a_private_address_is_not_read(help_site: Site, monkeypatch) -> None:
    """A public name that resolves to a private address when connecting (DNS rebinding) is
    caught by the address the answer came from: here the check before the crawl is passed by
    a name resolution of our own, and the connection goes to 127.0.0.1 all the same."""
    monkeypatch.setattr("knowledge.documents.crawler._private_addresses", lambda host, port: [])

    pages = list(crawl(help_site.base + "/help/", limits=CrawlLimits()))

    assert [p.status for p in pages] == [PageStatus.SKIPPED]
    assert "private network address (127.0.0.1)" in pages[0].error


def test_robots_txt_redirecting_to_a_private_address_sends_it_nothing(
    help_site: Site, other: Site, monkeypatch
) -> None:
    """A public help centre whose robots.txt redirects to an internal service (a blind SSRF
    once: httpx followed the redirect before anything looked where it went). Here the help
    site counts as public and the other site as private, both listening on 127.0.0.1."""
    private_port = int(other.base.rsplit(":", 1)[1])
    monkeypatch.setattr(
        "knowledge.documents.crawler._private_addresses",
        lambda host, port: ["10.0.0.7"] if port == private_port else [],
    )
    monkeypatch.setattr("knowledge.documents.crawler._is_public", lambda address: True)
    help_site.resources["/robots.txt"] = Resource(
        status=302, location=f"{other.base}/admin/delete-everything?confirm=1"
    )

    pages = list(crawl(help_site.base + "/help/", limits=CrawlLimits()))

    assert other.requests == [], "nothing was asked of the private host"
    assert [p.status for p in pages] == [PageStatus.SKIPPED]
    assert pages[0].error == (
        "robots.txt could not be read (127.0.0.1 is on a private network (10.0.0.7): not crawled"
        " (set KNOWLEDGE_CRAWL_PRIVATE_NETWORKS=1 to crawl an intranet site))"
    )


def test_robots_txt_redirected_to_another_public_host_is_read_there(
    help_site: Site, other: Site
) -> None:
    """RFC 9309 follows robots.txt's redirects (http to https, the bare domain to www.)."""
    help_site.resources["/robots.txt"] = Resource(status=301, location=f"{other.base}/robots.txt")
    other.resources["/robots.txt"] = Resource(
        b"User-agent: *\nDisallow: /help/returns\n", "text/plain"
    )

    pages = by_path(help_site, run(help_site))

    assert other.paths == ["/robots.txt"]
    assert pages["/help/returns"].error == "disallowed by robots.txt"
