"""A polite, bounded crawler that fetches a help centre's pages for the document parser.

Framework-free and synchronous (it runs inside a Celery task). It stays on the start URL's
scheme, host and path prefix, respects robots.txt, re-fetches conditionally (ETag /
Last-Modified) and stops at a page, depth and time budget. It only fetches: parsing is
`knowledge.documents.parsing`.

The frontier is the site's sitemap when it lists pages under the start URL (`Sitemap:` lines of
robots.txt, else `/sitemap.xml`; sitemap index files are followed); otherwise links are followed
breadth first from the start URL.
"""

import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from urllib.robotparser import RobotFileParser

import httpx
from bs4 import BeautifulSoup
from lxml import etree

MiB = 1024 * 1024

# Media types the parser reads; Markdown is often served as text/x-markdown.
SUPPORTED_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "text/markdown",
        "text/x-markdown",
        "text/plain",
        "application/pdf",
    }
)
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# When a server sends no type or a generic one, the URL's suffix decides.
TYPES_BY_SUFFIX = {
    ".html": "text/html",
    ".htm": "text/html",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".txt": "text/plain",
    ".pdf": "application/pdf",
}
GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
# RFC 9309 lets a crawler stop reading robots.txt after 500 KiB; Google does.
ROBOTS_MAX_BYTES = 500 * 1024
# The sitemap protocol's own limits: 50 MB uncompressed and 50,000 URLs per file.
SITEMAP_MAX_BYTES = 50 * MiB
SITEMAP_MAX_URLS = 50_000
SITEMAP_MAX_FILES = 50  # an index and its sitemaps; bounds the requests spent on them

ACCEPT = (
    "text/html,application/xhtml+xml,text/markdown,text/plain;q=0.9,application/pdf;q=0.9,*/*;q=0.1"
)


@dataclass(frozen=True)
class CrawlLimits:
    max_pages: int = 200  # pages fetched or not modified; errors and skips do not count
    max_depth: int = 3  # link hops from the start URL; sitemap URLs are depth 0
    max_seconds: float = 300.0  # checked before each request: one request may overrun it
    max_page_bytes: int = 5 * MiB  # decoded size, so a gzip bomb stops here too
    request_timeout_seconds: float = 10.0  # per request, the whole body included
    delay_seconds: float = 0.0  # between requests; robots.txt Crawl-delay wins when larger
    max_crawl_delay_seconds: float = 10.0  # caps Crawl-delay and the back-off after 429 / 503


@dataclass(frozen=True)
class PreviousFetch:
    """What the last crawl saw at a URL, for a conditional re-fetch.

    `links` are the page's links from then (`CrawledPage.links`): with them a link-following
    crawl goes on past a page that answers 304. Without them (None) such a page is fetched
    unconditionally when its links are needed, so that no page behind it is missed."""

    etag: str | None = None
    last_modified: str | None = None
    links: tuple[str, ...] | None = None


class PageStatus(StrEnum):
    FETCHED = "fetched"
    NOT_MODIFIED = "not_modified"
    ERROR = "error"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class CrawledPage:
    """One URL's outcome. `url` is the final URL after same-host redirects; `content_type` is
    the Content-Type header as sent (parameters such as charset included), or the type implied
    by the URL's suffix when the server sent none or a generic one; `error` is a message for
    the admin when status is error or skipped; `links` are the in-scope links of an HTML page
    (normalised, in page order) to keep in `PreviousFetch.links`."""

    url: str
    status: PageStatus
    depth: int
    body: bytes = b""
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    links: tuple[str, ...] = ()


def normalise_url(url: str, base: str | None = None) -> str | None:
    """The URL (resolved against `base`) in one spelling, fragment dropped; None unless it is a
    valid http(s) URL. Scheme and host are lowercased, the default port and dot segments go."""
    try:
        parsed = httpx.URL(base).join(url.strip()) if base else httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError, ValueError):
        return None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return None
    default_port = {"http": 80, "https": 443}[parsed.scheme]
    port = None if parsed.port in (None, default_port) else parsed.port
    return str(parsed.copy_with(fragment=None, port=port, raw_path=parsed.raw_path or b"/"))


@dataclass(frozen=True)
class _Scope:
    """The start URL's scheme, host and path prefix: the only pages a crawl fetches.

    The prefix is the start URL's folder: `/help/` for `/help/` and `/help/index.html`, and
    `/help/` for `/help` too (a path without a suffix names a folder), which also admits
    `/help` itself."""

    origin: str
    start_path: str
    prefix: str

    @classmethod
    def of(cls, start_url: str) -> "_Scope":
        url = httpx.URL(start_url)
        path = url.path
        last_segment = path.rsplit("/", 1)[-1]
        if path.endswith("/"):
            prefix = path
        elif "." in last_segment:
            prefix = path[: len(path) - len(last_segment)]
        else:
            prefix = path + "/"
        return cls(origin=_origin(url), start_path=path, prefix=prefix)

    def same_origin(self, url: str) -> bool:
        return _origin(httpx.URL(url)) == self.origin

    def contains(self, url: str) -> bool:
        path = httpx.URL(url).path
        return self.same_origin(url) and (path == self.start_path or path.startswith(self.prefix))


def _origin(url: httpx.URL) -> str:
    default_port = {"http": 80, "https": 443}.get(url.scheme)
    port = "" if url.port in (None, default_port) else f":{url.port}"
    return f"{url.scheme}://{url.host}{port}"


class _OutOfTime(Exception):
    """The time budget is spent: the crawl ends quietly, as at its page limit."""


class _FetchFailed(Exception):
    """No usable answer: `message` is shown to the admin as is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class _Response:
    status_code: int
    headers: httpx.Headers
    media_type: str  # lowercase, no parameters; from the URL's suffix when the header is generic
    content_type: str | None  # the header as sent, or the media type when that came from the URL
    body: bytes  # read only for 2xx answers of a wanted media type


def _size(n_bytes: int) -> str:
    return f"{n_bytes / MiB:.1f} MB" if n_bytes >= MiB else f"{n_bytes / 1024:.0f} KB"


def _content_type(sent: str | None, url: str) -> tuple[str, str | None]:
    """(media type, Content-Type for the page): the header decides unless it is missing or
    generic (application/octet-stream), then the URL's suffix does."""
    media_type = (sent or "").split(";", 1)[0].strip().lower()
    if media_type not in GENERIC_TYPES:
        return media_type, sent
    path = httpx.URL(url).path.lower()
    guessed = next((t for s, t in TYPES_BY_SUFFIX.items() if path.endswith(s)), None)
    return (guessed, guessed) if guessed else (media_type, sent)


def _may_link(url: str) -> bool:
    """Whether the URL may name an HTML page: its suffix names no other supported type."""
    guessed, _ = _content_type(None, url)
    return guessed in HTML_TYPES or guessed not in SUPPORTED_TYPES


def _parse_sitemap(body: bytes) -> tuple[str, list[str]]:
    """("urlset" or "sitemapindex", its <loc> values); ("", []) for anything else.

    Gzipped sitemaps (sitemap.xml.gz) are inflated up to the protocol's size limit; entities
    are not resolved and nothing is fetched while parsing."""
    if body[:2] == b"\x1f\x8b":
        try:
            body = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16).decompress(body, SITEMAP_MAX_BYTES)
        except zlib.error:
            return "", []
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError:
        return "", []
    kind = etree.QName(root).localname
    if kind not in ("urlset", "sitemapindex"):
        return "", []
    locations = [
        (child.text or "").strip()
        for entry in root
        for child in entry
        if isinstance(child.tag, str) and etree.QName(child).localname == "loc"
    ]
    return kind, locations[:SITEMAP_MAX_URLS]


def _page_links(body: bytes, page_url: str, scope: _Scope) -> tuple[str, ...]:
    """The page's `<a href>` links inside the scope, normalised, in order, once each."""
    soup = BeautifulSoup(body, "lxml")
    base = page_url
    base_tag = soup.find("base", href=True)
    if base_tag is not None:
        base = normalise_url(str(base_tag["href"]), base=page_url) or page_url
    links: dict[str, None] = {}
    for anchor in soup.find_all("a", href=True):
        url = normalise_url(str(anchor["href"]), base=base)
        if url is not None and scope.contains(url):
            links.setdefault(url)
    return tuple(links)


class _Crawler:
    """One crawl's state: the client, the budget, robots.txt's rules and the pacing."""

    def __init__(
        self,
        *,
        client: httpx.Client,
        limits: CrawlLimits,
        user_agent: str,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self.client = client
        self.limits = limits
        self.user_agent = user_agent
        self.clock = clock
        self.sleep = sleep
        self.deadline = clock() + limits.max_seconds
        self.delay = limits.delay_seconds
        self.last_request_end: float | None = None
        self.robots = RobotFileParser()

    def run(self, start: str, previous: Mapping[str, PreviousFetch]) -> Iterator[CrawledPage]:
        scope = _Scope.of(start)
        refusal = self.read_robots(scope.origin)
        if refusal is not None:
            yield CrawledPage(start, PageStatus.SKIPPED, depth=0, error=refusal)
            return
        listed = self.sitemap_urls(scope)
        follow_links = not listed
        frontier = deque((url, 0) for url in listed or [start])
        seen = {url for url, _ in frontier}
        counted = 0
        while frontier and counted < self.limits.max_pages:
            url, depth = frontier.popleft()
            links_needed = follow_links and depth < self.limits.max_depth
            page = self.fetch_page(
                url,
                depth=depth,
                scope=scope,
                previous=previous,
                seen=seen,
                links_needed=links_needed,
            )
            if page is None:
                continue
            yield page
            if page.status in (PageStatus.FETCHED, PageStatus.NOT_MODIFIED):
                counted += 1
            if links_needed:
                for link in page.links:
                    if link not in seen:
                        seen.add(link)
                        frontier.append((link, depth + 1))

    def fetch_page(
        self,
        url: str,
        *,
        depth: int,
        scope: _Scope,
        previous: Mapping[str, PreviousFetch],
        seen: set[str],
        links_needed: bool,
    ) -> CrawledPage | None:
        """Fetch one URL, following same-host redirects; None when it redirects to a URL
        this crawl already has (fetched or queued)."""
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            if not self.allowed(current):
                return CrawledPage(
                    current, PageStatus.SKIPPED, depth, error="disallowed by robots.txt"
                )
            prior = previous.get(current)
            # A 304 carries no links: an HTML page whose links are needed and were not kept
            # is fetched in full.
            links_unknown = links_needed and prior is not None and prior.links is None
            conditional = prior is not None and not (links_unknown and _may_link(current))
            headers = {}
            if conditional and prior.etag:
                headers["If-None-Match"] = prior.etag
            if conditional and prior.last_modified:
                headers["If-Modified-Since"] = prior.last_modified
            try:
                response = self.get(
                    current,
                    max_bytes=self.limits.max_page_bytes,
                    headers=headers,
                    wanted_types=SUPPORTED_TYPES,
                )
            except _FetchFailed as failure:
                return CrawledPage(current, PageStatus.ERROR, depth, error=failure.message)
            if response.status_code in (429, 503):
                self._slow_down(response.headers.get("Retry-After", ""))
            if response.status_code not in REDIRECT_STATUSES:
                return self._page(current, depth, response, prior=prior, scope=scope)
            target = normalise_url(response.headers.get("Location", ""), base=current)
            if target is None:
                return CrawledPage(
                    current,
                    PageStatus.ERROR,
                    depth,
                    error=f"HTTP {response.status_code} without a valid redirect target",
                )
            if not scope.same_origin(target):
                return CrawledPage(
                    current,
                    PageStatus.SKIPPED,
                    depth,
                    error=f"redirects to {target}, outside {scope.origin}: not followed",
                )
            if target in seen:
                return None
            seen.add(target)
            current = target
        return CrawledPage(current, PageStatus.ERROR, depth, error="too many redirects")

    def _page(
        self,
        url: str,
        depth: int,
        response: _Response,
        *,
        prior: PreviousFetch | None,
        scope: _Scope,
    ) -> CrawledPage:
        headers = response.headers
        if response.status_code == 304:
            return CrawledPage(
                url,
                PageStatus.NOT_MODIFIED,
                depth,
                content_type=headers.get("Content-Type"),
                etag=headers.get("ETag") or (prior.etag if prior else None),
                last_modified=headers.get("Last-Modified")
                or (prior.last_modified if prior else None),
                links=(prior.links or ()) if prior else (),
            )
        if not 200 <= response.status_code < 300:
            reason = httpx.codes.get_reason_phrase(response.status_code)
            return CrawledPage(
                url,
                PageStatus.ERROR,
                depth,
                error=f"HTTP {response.status_code} {reason}".strip(),
            )
        media_type = response.media_type
        if media_type not in SUPPORTED_TYPES:
            return CrawledPage(
                url,
                PageStatus.SKIPPED,
                depth,
                content_type=response.content_type,
                error=f"not HTML, Markdown, text or PDF ({media_type or 'no Content-Type'})",
            )
        return CrawledPage(
            url,
            PageStatus.FETCHED,
            depth,
            body=response.body,
            content_type=response.content_type,
            etag=headers.get("ETag"),
            last_modified=headers.get("Last-Modified"),
            links=_page_links(response.body, url, scope) if media_type in HTML_TYPES else (),
        )

    # Requests: each waits its turn (the delay since the previous one ended), ends the crawl
    # when the time budget is spent, and reads at most `max_bytes` within the request timeout.

    def _slow_down(self, retry_after: str) -> None:
        """A page answered 429 or 503: wait as long as Retry-After asks (in seconds), or twice
        as long as before (at least 1 s), up to the Crawl-delay cap, before every later
        request. The page itself is reported as an error, not retried."""
        asked = float(retry_after) if retry_after.isdigit() else max(1.0, 2 * self.delay)
        self.delay = max(self.delay, min(asked, self.limits.max_crawl_delay_seconds))

    def _wait_turn(self) -> None:
        now = self.clock()
        wait = 0.0
        if self.last_request_end is not None:
            wait = max(0.0, self.last_request_end + self.delay - now)
        if now + wait >= self.deadline:
            raise _OutOfTime
        if wait:
            self.sleep(wait)

    def get(
        self,
        url: str,
        *,
        max_bytes: int,
        headers: Mapping[str, str] | None = None,
        wanted_types: frozenset[str] | None = None,
        follow_redirects: bool = False,
    ) -> _Response:
        """GET `url`; the body is read for 2xx answers whose media type is wanted (any when
        `wanted_types` is None). Raises _FetchFailed when no answer came or it is too large."""
        self._wait_turn()
        timeout = self.limits.request_timeout_seconds
        started = self.clock()
        request_headers = {"User-Agent": self.user_agent, "Accept": ACCEPT, **(headers or {})}
        try:
            with self.client.stream(
                "GET",
                url,
                headers=request_headers,
                timeout=timeout,
                follow_redirects=follow_redirects,
            ) as response:
                media_type, content_type = _content_type(response.headers.get("Content-Type"), url)
                body = b""
                if response.is_success and (wanted_types is None or media_type in wanted_types):
                    body = self._read(response, max_bytes=max_bytes, started=started)
                return _Response(
                    response.status_code, response.headers, media_type, content_type, body
                )
        except httpx.TimeoutException:
            raise _FetchFailed(f"timed out after {timeout:g} s") from None
        except httpx.TooManyRedirects:
            raise _FetchFailed("too many redirects") from None
        except httpx.DecodingError:
            raise _FetchFailed("the response could not be decoded (Content-Encoding)") from None
        except httpx.TransportError as exc:
            raise _FetchFailed(f"network error: {exc or type(exc).__name__}") from None
        finally:
            self.last_request_end = self.clock()

    def _read(self, response: httpx.Response, *, max_bytes: int, started: float) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise _FetchFailed(
                f"too large: {_size(int(declared))}, the limit is {_size(max_bytes)}"
            )
        chunks, received = [], 0
        for chunk in response.iter_bytes():
            received += len(chunk)
            if received > max_bytes:
                raise _FetchFailed(f"too large: more than {_size(max_bytes)}, stopped reading")
            # httpx's timeout bounds each read; this bounds a server that trickles bytes.
            if self.clock() - started > self.limits.request_timeout_seconds:
                raise httpx.ReadTimeout("the body took longer than the request timeout")
            chunks.append(chunk)
        return b"".join(chunks)

    # robots.txt and sitemaps

    def read_robots(self, origin: str) -> str | None:
        """Load robots.txt; returns why the whole site is disallowed, or None.

        As RFC 9309 (2.3.1) and Google's crawlers do: a 4xx (no robots.txt) allows everything;
        a 5xx, a 429 or no answer at all disallows everything, because the site cannot say
        what it forbids right now. robots.txt's own redirects are followed (RFC 9309: at least
        five)."""
        try:
            response = self.get(
                f"{origin}/robots.txt", max_bytes=ROBOTS_MAX_BYTES, follow_redirects=True
            )
        except _FetchFailed as failure:
            return self._disallow_all(f"robots.txt could not be read ({failure.message})")
        if response.status_code >= 500 or response.status_code == 429:
            return self._disallow_all(
                f"robots.txt answered HTTP {response.status_code}: the whole site counts as "
                "disallowed until robots.txt can be read"
            )
        lines = []
        if response.status_code < 300:
            lines = response.body.decode("utf-8-sig", errors="replace").splitlines()
        self.robots.parse(lines)
        crawl_delay = self.robots.crawl_delay(self.user_agent)
        if crawl_delay:
            capped = min(float(crawl_delay), self.limits.max_crawl_delay_seconds)
            self.delay = max(self.delay, capped)
        return None

    def _disallow_all(self, reason: str) -> str:
        self.robots.parse(["User-agent: *", "Disallow: /"])
        return reason

    def allowed(self, url: str) -> bool:
        return self.robots.can_fetch(self.user_agent, url)

    def sitemap_urls(self, scope: _Scope) -> list[str]:
        """The in-scope page URLs of the site's sitemaps, in order, once each; sitemaps on
        other hosts are not read."""
        declared = [normalise_url(url) for url in self.robots.site_maps() or []]
        same_host = [url for url in declared if url is not None and scope.same_origin(url)]
        queue = deque(same_host or [f"{scope.origin}/sitemap.xml"])
        read: set[str] = set()
        pages: dict[str, None] = {}
        while queue and len(read) < SITEMAP_MAX_FILES and len(pages) < SITEMAP_MAX_URLS:
            sitemap = queue.popleft()
            if sitemap in read or not self.allowed(sitemap):
                continue
            read.add(sitemap)
            try:
                response = self.get(sitemap, max_bytes=SITEMAP_MAX_BYTES)
            except _FetchFailed:
                continue
            if response.status_code in REDIRECT_STATUSES:
                target = normalise_url(response.headers.get("Location", ""), base=sitemap)
                if target is not None and scope.same_origin(target):
                    queue.append(target)
                continue
            kind, locations = _parse_sitemap(response.body)
            for location in locations:
                url = normalise_url(location)
                if url is None or not scope.same_origin(url):
                    continue
                if kind == "sitemapindex":
                    queue.append(url)
                elif scope.contains(url):
                    pages.setdefault(url)
        return list(pages)[:SITEMAP_MAX_URLS]


_NOTHING_BEFORE: Mapping[str, PreviousFetch] = MappingProxyType({})


def crawl(
    start_url: str,
    *,
    limits: CrawlLimits,
    previous: Mapping[str, PreviousFetch] = _NOTHING_BEFORE,
    user_agent: str = "HelpdeskChatbotCrawler/1.0",
    client: httpx.Client | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[CrawledPage]:
    """Yield each page of the site under `start_url` as it is fetched, within `limits`.

    `previous` maps URLs (as `CrawledPage.url` gave them) to what the last crawl saw, for
    conditional requests. Raises ValueError at once when `start_url` is not an http(s) URL;
    every other problem is a page with status error or skipped, and the crawl goes on. The
    time budget starts with the first page asked for."""
    start = normalise_url(start_url)
    if start is None:
        raise ValueError(f"Not an http or https URL: {start_url!r}")
    known = {normalise_url(url) or url: fetch for url, fetch in previous.items()}
    return _crawl(
        start, known, limits=limits, user_agent=user_agent, client=client, clock=clock, sleep=sleep
    )


def _crawl(
    start: str,
    previous: Mapping[str, PreviousFetch],
    *,
    limits: CrawlLimits,
    user_agent: str,
    client: httpx.Client | None,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> Iterator[CrawledPage]:
    own_client = client is None
    http = client if client is not None else httpx.Client()
    crawler = _Crawler(client=http, limits=limits, user_agent=user_agent, clock=clock, sleep=sleep)
    try:
        yield from crawler.run(start, previous)
    except _OutOfTime:
        return
    finally:
        if own_client:
            http.close()
