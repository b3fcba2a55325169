"""The data that flows from a file or a web page to a cited answer."""

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import quote

from django.urls import reverse
from django.utils.text import slugify


class BlockKind(StrEnum):
    HEADING = "heading"
    PARAGRAPH = "paragraph"
    LIST = "list"
    TABLE = "table"
    CODE = "code"


@dataclass(frozen=True)
class Block:
    """One structural unit of a document; lists and tables are one block each, so a chunker can
    keep them whole. `text` is plain text (Markdown-like for lists and tables)."""

    kind: BlockKind
    text: str
    level: int = 0  # 1-6 for headings
    # (link text, http(s) or mailto URL) in the order they appear: the help page links them
    # (a writer's "See our store page" came out as plain text); the text itself stays plain.
    links: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ParsedDocument:
    title: str
    blocks: tuple[Block, ...]
    locale: str  # "en" or "zh-hans": given by the importer, else guessed from the text


class DocumentError(Exception):
    """A file or page that cannot become a document; `message` is shown to the admin as is."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk before it is stored: its place in the document and the headings above it."""

    position: int
    heading_path: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with what a citation needs."""

    chunk_id: int
    document_id: int
    document_version: int
    title: str
    url: str
    heading_path: tuple[str, ...]
    text: str
    score: float  # fused rank score (higher is better)
    vector_score: float  # cosine similarity, 0 when only the lexical side found it
    lexical_score: float  # BM25, 0 when only the vector side found it


def document_url(*, document_id: int, source_url: str) -> str:
    """The page a citation links to: the crawled page, else the help view of a file's document."""
    return source_url or reverse("help-article", args=[document_id])


def heading_anchor(heading: str) -> str:
    """The id of a heading on the help view (`/help/<id>/`), from its text, Chinese kept."""
    return slugify(heading, allow_unicode=True) or "section"


def heading_url(url: str, heading: str) -> str:
    """A citation's link to the heading its passage sits under, not the top of the page (a
    writer's walk: every citation landed at the top). The help view's headings have ids; a
    crawled page's ids are unknown, so its link carries a text fragment (`#:~:text=`), which
    browsers without support ignore. A URL with a fragment of its own is kept as it is."""
    if not heading or "#" in url:
        return url
    if url.startswith("/"):
        return f"{url}#{heading_anchor(heading)}"
    return f"{url}#:~:text={quote(heading, safe='').replace('-', '%2D')}"


@dataclass(frozen=True)
class DocumentLink:
    """The help-centre document an FAQ answer comes from, as its citation needs it."""

    document_id: int
    document_version: int
    title: str
    url: str


@dataclass(frozen=True)
class Retrieval:
    """The top passages for a question and whether any of them clears the relevance floor."""

    passages: tuple[Passage, ...]
    relevant: bool
    best_vector_score: float
    best_lexical_score: float
    elapsed_ms: float
    # Ranked by a copy older than the knowledge version (a newer one was loading): its answer
    # is not cached under the new version.
    stale: bool = False
    # The locale has searchable documents: without any, the help centre does not exist for it.
    # With some and no passage (all deleted since the copy loaded), nothing was found.
    searched: bool = True
