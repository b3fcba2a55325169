"""A polite, bounded crawler that fetches a help centre's pages for the document parser.
Synchronous (it runs inside a Celery task) and fetch-only (parsing is knowledge.documents.parsing);
it refuses loopback and private addresses unless `private_networks` is set. Scope, frontier and
the server-side request forgery checks: docs/knowledge-base.md, "From a file to a cited answer"."""

import ipaddress
import socket
import time
import warnings
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import httpx
import idna
from bs4 import BeautifulSoup, SoupStrainer, XMLParsedAsHTMLWarning
from lxml import etree
from protego import Protego

# XHTML pages (with an <?xml?> line) served as text/html are read as HTML, as browsers do;
# BeautifulSoup warns about each one (all 1,169 pages of the PostgreSQL manual).
warnings.filterwarnings("ignore", category=XMLParsedAsHTMLWarning, module=__name__)

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
    """A crawl's budget and pace; the defaults fit a help centre of a few hundred articles."""

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
    """fetched: body to parse; not_modified: the stored document stands; error: the page
    should be there and is not (HTTP 404, timeout, too large); skipped: not ours to fetch
    (robots.txt, another site, not a document type)."""

    FETCHED = "fetched"
    NOT_MODIFIED = "not_modified"
    ERROR = "error"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class CrawledPage:
    """One URL's outcome. `url` is the final URL after same-host redirects; `content_type` is
    the Content-Type header as sent (parameters such as charset included), or the type implied
    by the URL's suffix when the server sent none or a generic one; `error` is a message for
    the admin when status is error or skipped; `http_status` is the site's last answer (None
    when none came), for code that acts on it (404 / 410: the page is gone) without reading
    `error`; `links` are the in-scope links of an HTML page (normalised, in page order) to keep
    in `PreviousFetch.links`."""

    url: str
    status: PageStatus
    depth: int
    body: bytes = b""
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    links: tuple[str, ...] = ()
    http_status: int | None = None


DEFAULT_PORTS = {"http": 80, "https": 443}
# RFC 3986 characters that stay as they are in a path and a query; "%" keeps existing escapes.
PATH_SAFE = "/:@!$&'()*+,;=%~"
QUERY_SAFE = PATH_SAFE + "?"


def normalise_url(url: str, base: str | None = None) -> str | None:
    """The URL (resolved against `base`) in one spelling, fragment dropped; None unless it is a
    valid http(s) URL. Scheme and host are lowercased (IDNA for non-ASCII hosts), the default
    port, user info and dot segments go, non-ASCII is percent-encoded as UTF-8.

    urllib.parse, not httpx.URL: every link of every page comes here, and httpx's parser took
    175 us a link against 27 us (a page's links took 23 ms instead of 6 ms)."""
    try:
        parts = urlsplit(urljoin(base, url.strip()) if base else url.strip())
        port = parts.port
        host = parts.hostname or ""
        if not host.isascii():  # as httpx does: IDNA 2008 with UTS 46 mapping
            host = idna.encode(host, uts46=True).decode("ascii")
    except (ValueError, UnicodeError, idna.IDNAError):
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not host:
        return None
    if ":" in host:  # IPv6
        host = f"[{host}]"
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = parts.path or "/"
    if "/." in path:  # urljoin resolves dot segments in a reference's path
        path = urlsplit(urljoin("http://h/", path)).path if path.startswith("/") else path
    return urlunsplit(
        (scheme, netloc, quote(path, safe=PATH_SAFE), quote(parts.query, safe=QUERY_SAFE), "")
    )


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
        """`start_url` is normalised (`normalise_url`), as are the URLs asked about."""
        parts = urlsplit(start_url)
        path = parts.path
        last_segment = path.rsplit("/", 1)[-1]
        if path.endswith("/"):
            prefix = path
        elif "." in last_segment:
            prefix = path[: len(path) - len(last_segment)]
        else:
            prefix = path + "/"
        return cls(origin=f"{parts.scheme}://{parts.netloc}", start_path=path, prefix=prefix)

    def same_origin(self, url: str) -> bool:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}" == self.origin

    def contains(self, url: str) -> bool:
        path = urlsplit(url).path
        return self.same_origin(url) and (path == self.start_path or path.startswith(self.prefix))


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
    path = urlsplit(url).path.lower()
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
    """The page's `<a href>` links inside the scope, normalised, in order, once each.

    Only <a> and <base> become a tree: 4.4 ms a page instead of 9.9 ms with the whole tree
    (300 pages of the PostgreSQL manual, the same 8,696 links)."""
    soup = BeautifulSoup(body, "lxml", parse_only=SoupStrainer(["a", "base"]))
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


def _is_public(address: str) -> bool:
    """Whether `address` is a global unicast address (not loopback, private, link-local,
    shared, reserved or multicast); an IPv4-mapped IPv6 address is judged by its IPv4 part."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


PRIVATE_NETWORK_HINT = "set KNOWLEDGE_CRAWL_PRIVATE_NETWORKS=1 to crawl an intranet site"


def private_network_refusal(host: str, addresses: Sequence[str]) -> str:
    """Why a host was not crawled, with the setting that allows it; its addresses only when
    they are not the host itself (a walk read "127.0.0.1 is on a private network
    (127.0.0.1)" and nothing on how to crawl an intranet)."""
    shown = "" if list(addresses) == [host] else f" ({', '.join(addresses)})"
    return f"{host} is on a private network{shown}: not crawled ({PRIVATE_NETWORK_HINT})"


def _private_addresses(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to that are not public; empty when it does not resolve
    (the request then fails as a network error)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return sorted({info[4][0] for info in infos if not _is_public(info[4][0])})


class _Crawler:
    """One crawl's state: the scope, the client, the budget, robots.txt's rules and the
    pacing."""

    def __init__(
        self,
        start: str,
        *,
        client: httpx.Client,
        limits: CrawlLimits,
        user_agent: str,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        private_networks: bool,
    ) -> None:
        self.client = client
        self.limits = limits
        self.private_networks = private_networks
        self.user_agent = user_agent
        self.clock = clock
        self.sleep = sleep
        self.deadline = clock() + limits.max_seconds
        self.delay = limits.delay_seconds
        self.last_request_end: float | None = None
        self.robots = Protego.parse("")
        self.start = start
        self.scope = _Scope.of(start)

    def run(self, previous: Mapping[str, PreviousFetch]) -> Iterator[CrawledPage]:
        refusal = self.private_refusal() or self.read_robots(self.scope.origin)
        if refusal is not None:
            yield CrawledPage(self.start, PageStatus.SKIPPED, depth=0, error=refusal)
            return
        listed = self.sitemap_urls()
        follow_links = not listed
        frontier = deque((url, 0) for url in listed or [self.start])
        seen = {url for url, _ in frontier}
        counted = 0
        while frontier and counted < self.limits.max_pages:
            url, depth = frontier.popleft()
            links_needed = follow_links and depth < self.limits.max_depth
            page = self.fetch_page(
                url,
                depth=depth,
                previous=previous,
                seen=seen,
                links_needed=links_needed,
                rescope=follow_links and url == self.start,
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

    def private_refusal(self) -> str | None:
        if self.private_networks:
            return None
        parts = urlsplit(self.start)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        private = _private_addresses(parts.hostname or "", port)
        if private:
            return private_network_refusal(parts.hostname or "", private)
        return None

    def _check_peer(self, response: httpx.Response) -> None:
        if self.private_networks:
            return
        stream = response.extensions.get("network_stream")
        peer = stream.get_extra_info("server_addr") if stream is not None else None
        if peer and not _is_public(str(peer[0])):
            raise _FetchFailed(f"answered from a private network address ({peer[0]}): not read")

    def fetch_page(
        self,
        url: str,
        *,
        depth: int,
        previous: Mapping[str, PreviousFetch],
        seen: set[str],
        links_needed: bool,
        rescope: bool,
    ) -> CrawledPage | None:
        """Fetch one URL, following same-host redirects; None when it redirects to a URL
        this crawl already has (fetched or queued). With `rescope` (the start URL, links to
        follow), a redirect out of the scope's folder moves the scope to the target's folder:
        `/docs` answering with `/en/docs/` says where the help centre lives."""
        current, status = url, None
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
            status = response.status_code
            if status not in REDIRECT_STATUSES:
                return self._page(current, depth, response, prior=prior)
            target = normalise_url(response.headers.get("Location", ""), base=current)
            if target is None:
                return CrawledPage(
                    current,
                    PageStatus.ERROR,
                    depth,
                    error=f"HTTP {response.status_code} without a valid redirect target",
                    http_status=response.status_code,
                )
            if not self.scope.same_origin(target):
                return CrawledPage(
                    current,
                    PageStatus.SKIPPED,
                    depth,
                    error=f"redirects to {target}, outside {self.scope.origin}: not followed",
                    http_status=response.status_code,
                )
            if rescope and not self.scope.contains(target):
                self.scope = _Scope.of(target)
            if target in seen:
                return None
            seen.add(target)
            current = target
        return CrawledPage(
            url,
            PageStatus.ERROR,
            depth,
            error=f"more than {MAX_REDIRECTS} redirects",
            http_status=status,
        )

    def _page(
        self,
        url: str,
        depth: int,
        response: _Response,
        *,
        prior: PreviousFetch | None,
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
                http_status=304,
            )
        if not 200 <= response.status_code < 300:
            reason = httpx.codes.get_reason_phrase(response.status_code)
            return CrawledPage(
                url,
                PageStatus.ERROR,
                depth,
                error=f"HTTP {response.status_code} {reason}".strip(),
                http_status=response.status_code,
            )
        media_type = response.media_type
        if media_type not in SUPPORTED_TYPES:
            return CrawledPage(
                url,
                PageStatus.SKIPPED,
                depth,
                content_type=response.content_type,
                error=f"not HTML, Markdown, text or PDF ({media_type or 'no Content-Type'})",
                http_status=response.status_code,
            )
        return CrawledPage(
            url,
            PageStatus.FETCHED,
            depth,
            body=response.body,
            content_type=response.content_type,
            etag=headers.get("ETag"),
            last_modified=headers.get("Last-Modified"),
            links=_page_links(response.body, url, self.scope) if media_type in HTML_TYPES else (),
            http_status=response.status_code,
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
            ) as response:
                self._check_peer(response)
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
            response = self._robots_response(f"{origin}/robots.txt")
        except _FetchFailed as failure:
            return self._disallow_all(f"robots.txt could not be read ({failure.message})")
        if response.status_code >= 500 or response.status_code == 429:
            return self._disallow_all(
                f"robots.txt answered HTTP {response.status_code}: the whole site counts as "
                "disallowed until robots.txt can be read"
            )
        text = ""
        if response.status_code < 300:
            text = response.body.decode("utf-8-sig", errors="replace")
        # Protego, not urllib.robotparser: it knows the wildcards (* and $) of RFC 9309 that
        # help centres use ("Disallow: /*.pdf$") and picks the longest matching rule.
        self.robots = Protego.parse(text)
        crawl_delay = self.robots.crawl_delay(self.user_agent)
        if crawl_delay:
            capped = min(float(crawl_delay), self.limits.max_crawl_delay_seconds)
            self.delay = max(self.delay, capped)
        return None

    def _robots_response(self, url: str) -> _Response:
        """robots.txt, its redirects followed one by one, to other hosts too (http to https,
        the bare domain to www.) but never to a private address: httpx's own following would
        send the request before anything could look where it goes."""
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise _FetchFailed(f"redirects to {url}: not followed")
            port = parts.port or (443 if parts.scheme == "https" else 80)
            private = [] if self.private_networks else _private_addresses(parts.hostname, port)
            if private:
                raise _FetchFailed(private_network_refusal(parts.hostname, private))
            response = self.get(url, max_bytes=ROBOTS_MAX_BYTES)
            target = response.headers.get("Location", "")
            if response.status_code not in REDIRECT_STATUSES or not target:
                return response
            url = urljoin(url, target)
        raise _FetchFailed("too many redirects")

    def _disallow_all(self, reason: str) -> str:
        self.robots = Protego.parse("User-agent: *\nDisallow: /")
        return reason

    def allowed(self, url: str) -> bool:
        return self.robots.can_fetch(url, self.user_agent)

    def sitemap_urls(self) -> list[str]:
        """The in-scope page URLs of the site's sitemaps, in order, once each; sitemaps on
        other hosts are not read."""
        scope = self.scope
        declared = [normalise_url(url) for url in self.robots.sitemaps]
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
    private_networks: bool = False,
) -> Iterator[CrawledPage]:
    """Yield each page of the site under `start_url` as it is fetched, within `limits`.
    With `private_networks` false (the default) a host on a loopback or private address is
    not crawled: the start page comes back skipped, saying why.

    `previous` maps URLs (as `CrawledPage.url` gave them) to what the last crawl saw, for
    conditional requests. Raises ValueError at once when `start_url` is not an http(s) URL;
    every other problem is a page with status error or skipped, and the crawl goes on. The
    time budget starts with the first page asked for."""
    start = normalise_url(start_url)
    if start is None:
        raise ValueError(f"Not an http or https URL: {start_url!r}")
    known = {normalise_url(url) or url: fetch for url, fetch in previous.items()}
    return _crawl(
        start,
        known,
        limits=limits,
        user_agent=user_agent,
        client=client,
        clock=clock,
        sleep=sleep,
        private_networks=private_networks,
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
    private_networks: bool,
) -> Iterator[CrawledPage]:
    own_client = client is None
    http = client if client is not None else httpx.Client()
    crawler = _Crawler(
        start,
        client=http,
        limits=limits,
        user_agent=user_agent,
        clock=clock,
        sleep=sleep,
        private_networks=private_networks,
    )
    try:
        yield from crawler.run(previous)
    except _OutOfTime:
        return
    finally:
        if own_client:
            http.close()
