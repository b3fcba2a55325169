"""Turn a file's bytes (Markdown, HTML, plain text, PDF) into a ParsedDocument of structural
blocks, or a DocumentError whose message an admin can act on.

Text is decoded strictly (UTF-8, UTF-16 with a byte-order mark, then GB18030 for legacy Chinese
files) so that a wrongly encoded file is reported instead of being indexed as mojibake."""

import codecs
import io
import logging
import math
import re
import textwrap
import unicodedata
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath

import pypdf
from bs4 import BeautifulSoup, NavigableString, Tag, XMLParsedAsHTMLWarning
from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

from knowledge.documents.types import Block, BlockKind, DocumentError, ParsedDocument

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024


class ErrorCode(StrEnum):
    """The `code` of a DocumentError: what the admin's per-file list and services branch on."""

    EMPTY = "empty"
    TOO_LARGE = "too_large"
    BINARY = "binary"
    ENCODING = "encoding"
    CORRUPT_PDF = "corrupt_pdf"
    UNSUPPORTED = "unsupported"
    NO_TEXT = "no_text"
    # Folders and archives (knowledge.documents.files)
    NOT_FOUND = "not_found"
    CORRUPT_ZIP = "corrupt_zip"
    ZIP_TOO_MANY_FILES = "zip_too_many_files"
    ZIP_TOO_LARGE = "zip_too_large"
    ZIP_BOMB = "zip_bomb"
    UNSAFE_PATH = "unsafe_path"
    ENCRYPTED = "encrypted"


MARKDOWN, HTML, TEXT, PDF = "markdown", "html", "text", "pdf"
FORMAT_BY_EXTENSION = {
    ".md": MARKDOWN,
    ".markdown": MARKDOWN,
    ".html": HTML,
    ".htm": HTML,
    ".txt": TEXT,
    ".pdf": PDF,
}
SUPPORTED_EXTENSIONS = frozenset(FORMAT_BY_EXTENSION)
FORMAT_BY_CONTENT_TYPE = {
    "text/markdown": MARKDOWN,
    "text/x-markdown": MARKDOWN,
    "text/html": HTML,
    "application/xhtml+xml": HTML,
    "text/plain": TEXT,
    "application/pdf": PDF,
}

# CJK ideographs, CJK punctuation and full-width forms: text in which no spaces separate words.
_CJK_CHARS = (
    "\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u31bf\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0002fa1f"
)
CJK = f"[{_CJK_CHARS}]"
_CJK_IDEOGRAPH = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")
_LINE_BREAK_BETWEEN_CJK = re.compile(f"(?<={CJK})[^\\S\n]*\n\\s*(?={CJK})")
_WHITESPACE = re.compile(r"\s+")
_LETTER = re.compile(r"[^\W\d_]")  # ideographs count as letters too
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")  # Unicode Cc except \t\n\v\f\r
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")

# Share of CJK ideographs among all letters from which a text is taken as Chinese: Chinese help
# articles carry English product names and commands, so the share stays well below 1.
ZH_LETTER_SHARE = 0.25

_BINARY_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF87a": "a GIF image",
    b"GIF89a": "a GIF image",
    b"PK\x03\x04": "a zip archive or an Office document",
    b"%PDF-": "a PDF file",
    b"\x1f\x8b": "a gzip archive",
    b"\xd0\xcf\x11\xe0": "an old Office document",
    b"\x7fELF": "a program",
}
_HEADING_TAGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_DROPPED_HTML = {
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "aside",
    "form",
    "button",
    "select",
    "iframe",
    "svg",
    "footer",
    "header",
}
_CHROME_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search"}
# Class or id of page chrome that is not marked up as <nav>: documentation generators' previous /
# next bars (DocBook's navheader), breadcrumbs, sidebars, cookie banners, and the "¶" links
# that Sphinx and MkDocs put in headings.
_CHROME_CLASS = re.compile(
    r"^(?:nav|navbar|navheader|navfooter|navigation|nav-.+|breadcrumbs?|breadcrumb-.+|sidebar"
    r"|sidebar-.+|site-header|site-footer|skip-link|skip-to-content|cookie-.+|headerlink"
    r"|anchorjs-link|header-anchor)$",
    re.I,
)
_HTML_BLOCK_TAGS = sorted(
    {
        *_HEADING_TAGS,
        "p",
        "ul",
        "ol",
        "dl",
        "table",
        "pre",
        "div",
        "section",
        "article",
        "main",
        "blockquote",
        "figure",
        "figcaption",
        "details",
        "summary",
        "li",
        "body",
        "html",
        "address",
        "hr",
        "caption",
        "thead",
        "tbody",
        "tfoot",
        "tr",
        "th",
        "td",
        "dt",
        "dd",
    }
)
# A table holding headings or other tables lays out a page; its cells are read as blocks.
_LAYOUT_TABLE_MARKERS = ["table", *_HEADING_TAGS]
_TERMINAL_PUNCTUATION = tuple(".!?;:,。！？；：，、…)")
_LIST_MARKER = re.compile(r"^\s*(?:[-*+•·▪‣◦]|\d{1,3}[.)、]|[a-zA-Z][.)])\s+")
_PAGE_NUMBER = re.compile(
    r"^\s*(?:(?:page|p\.)\s*)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?\s*$|^\s*第\s*\d+\s*页", re.I
)
# A PDF line set at least this much larger than the body text, and not longer, is a heading.
HEADING_SIZE_RATIO = 1.15
MAX_PDF_HEADING_CHARS = 150
RUNNING_LINE_SHARE = 0.3
_PDF_HEADING_TEXT = re.compile(rf"[^\W\d_]|{CJK}")  # has a letter: not a bare number
# pypdf puts a space between characters a PDF places one by one, as Chinese PDFs often do.
_SPACE_BETWEEN_CJK = re.compile(f"(?<={CJK}) (?={CJK})")
# Titles that PDF producers fill in by themselves: no title at all.
_GENERATED_PDF_TITLE = re.compile(
    r"^(?:|untitled.*|about:blank|microsoft (?:word|powerpoint|excel) - .*|document\d*|"
    r".*\.(?:docx?|pptx?|xlsx?|indd|pdf|tex|dvi|html?))$",
    re.I,
)
_DOT_LEADER = re.compile(r"(?:\s*\.){4,}\s*")  # a table of contents' ". . . . 12"
_CODE_INDENT = ("\t", "    ")
_SETEXT_UNDERLINE = re.compile(r"^\s*(=+|-+)\s*$")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)---[ \t]*(?:\n|\Z)", re.S)
_FRONT_MATTER_TITLE = re.compile(r"^title:[ \t]*(.+?)[ \t]*$", re.M)
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([\w.:-]+)", re.I)

log = logging.getLogger(__name__)


def parse_document(
    data: bytes,
    *,
    filename: str,
    content_type: str | None = None,
    locale: str | None = None,
    max_bytes: int = MAX_DOCUMENT_BYTES,
) -> ParsedDocument:
    """Parse one file or page; raises DocumentError with a code and a message for the admin.

    The size is checked before anything else is done with the data."""
    if not data:
        raise DocumentError(ErrorCode.EMPTY, "The file is empty.")
    if len(data) > max_bytes:
        raise too_large_error(len(data), max_bytes)
    document_format = document_format_for(filename, content_type)
    if document_format is None:
        raise unsupported_error(filename, content_type)
    if document_format == PDF:
        title, blocks = _parse_pdf(data)
    else:
        declared_charset = _declared_charset(
            data, content_type, look_in_html=document_format == HTML
        )
        text = decode_text(data, declared_charset=declared_charset)
        if document_format == MARKDOWN:
            title, blocks = _parse_markdown(text)
        elif document_format == HTML:
            title, blocks = _parse_html(text)
        else:
            title, blocks = None, _parse_plain_text(text)
    blocks = tuple(block for block in blocks if block.text.strip())
    if not any(block.kind != BlockKind.HEADING for block in blocks):
        raise DocumentError(ErrorCode.NO_TEXT, "The file has no text to import.")
    title = (
        title
        or next((block.text for block in blocks if block.kind == BlockKind.HEADING), None)
        or PurePosixPath(filename.replace("\\", "/")).stem
        or filename
    )
    return ParsedDocument(
        title=title, blocks=blocks, locale=locale or guess_locale(b.text for b in blocks)
    )


def document_format_for(filename: str, content_type: str | None = None) -> str | None:
    """The format a server declared (a crawled URL may have no extension, or a misleading one),
    unless it only said text/plain or nothing known, then the file extension's."""
    declared = None
    if content_type:
        declared = FORMAT_BY_CONTENT_TYPE.get(content_type.split(";", 1)[0].strip().lower())
    if declared and declared != TEXT:
        return declared
    return FORMAT_BY_EXTENSION.get(PurePosixPath(filename).suffix.lower()) or declared


def unsupported_error(filename: str, content_type: str | None = None) -> DocumentError:
    kind = PurePosixPath(filename).suffix.lower() or content_type or "Files without an extension"
    return DocumentError(
        ErrorCode.UNSUPPORTED,
        f"{kind} files cannot be imported; use Markdown (.md), HTML (.html), "
        "plain text (.txt) or PDF (.pdf).",
    )


def too_large_error(size: int, max_bytes: int) -> DocumentError:
    return DocumentError(
        ErrorCode.TOO_LARGE,
        f"The file is {_megabytes(size)}; files up to {_megabytes(max_bytes)} can be imported.",
    )


def guess_locale(texts: Iterable[str]) -> str:
    """ "zh-hans" when CJK ideographs are at least ZH_LETTER_SHARE of the letters, else "en"."""
    ideographs = letters = 0
    for text in texts:
        ideographs += len(_CJK_IDEOGRAPH.findall(text))
        letters += len(_LETTER.findall(text))
    return "zh-hans" if letters and ideographs / letters >= ZH_LETTER_SHARE else "en"


def decode_text(data: bytes, *, declared_charset: str | None = None) -> str:
    """Decode strictly: a byte-order mark, the charset the source declared, UTF-8, GB18030;
    binary data and text that none of them decodes cleanly raise DocumentError."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ["utf-16"]
    else:
        _reject_binary(data)
        candidates = ["utf-8-sig", "gb18030"]
        if declared_charset:
            candidates.insert(0, declared_charset)
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
        if encoding == "gb18030" and not _plausible_gb18030(text):
            if _rare_hanzi_noise(text):
                raise DocumentError(ErrorCode.BINARY, "The file holds binary data, not text.")
            continue
        controls = len(_CONTROL.findall(text))
        if controls > max(2, len(text) // 100):
            raise DocumentError(ErrorCode.BINARY, "The file holds binary data, not text.")
        return text.lstrip("\ufeff")
    raise DocumentError(
        ErrorCode.ENCODING,
        "The file's text encoding is not supported: save it as UTF-8 "
        "(UTF-16 with a byte-order mark and GB18030/GBK are also read).",
    )


def clean_text(text: str) -> str:
    """Collapse whitespace to single spaces; a line break between CJK characters is dropped
    (a wrapped Chinese line), never replaced by a space."""
    text = _INVISIBLE.sub("", text)
    text = _LINE_BREAK_BETWEEN_CJK.sub("", text)
    return _WHITESPACE.sub(" ", text).strip()


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def _declared_charset(data: bytes, content_type: str | None, *, look_in_html: bool) -> str | None:
    """The charset of the HTTP Content-Type, else of an HTML page's <meta> tag."""
    if content_type:
        match = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", content_type, re.I)
        if match:
            return match.group(1)
    match = _META_CHARSET.search(data[:4096]) if look_in_html else None
    return match.group(1).decode("ascii") if match else None


def _reject_binary(data: bytes) -> None:
    for signature, what in _BINARY_SIGNATURES.items():
        if data.startswith(signature):
            raise DocumentError(ErrorCode.BINARY, f"The file looks like {what}, not text.")
    if b"\x00" in data[:8192]:
        raise DocumentError(ErrorCode.BINARY, "The file holds binary data, not text.")


def _plausible_gb18030(text: str) -> bool:
    """GB18030 decodes many byte strings. Chinese text decoded from it has no private-use or
    unassigned characters and its non-ASCII letters are CJK (punctuation such as “” — ℃ is
    not counted); other legacy text read as GB18030 often fails that."""
    non_ascii = _NON_ASCII.findall(text)
    categories = [unicodedata.category(char) for char in non_ascii]
    if any(category in ("Co", "Cn") for category in categories):
        return False
    letters = [c for c, category in zip(non_ascii, categories, strict=True) if category[0] == "L"]
    cjk = len(re.findall(CJK, "".join(letters)))
    return cjk >= 0.9 * len(letters) and not _rare_hanzi_noise(text)


def _rare_hanzi_noise(text: str) -> bool:
    """Bytes that are not text decode as GB18030 into rare characters: Chinese text draws more
    than 99% of its characters from GB2312's 3,755 common ones (the demo's help centre: 99.98%),
    binary data about a sixth (a walk's binary `.csv` came in as columns of such noise)."""
    hanzi = _CJK_IDEOGRAPH.findall(text)
    return len(hanzi) >= 10 and sum(map(_common_hanzi, hanzi)) < 0.5 * len(hanzi)


def _common_hanzi(char: str) -> bool:
    """In GB2312's first level (lead bytes 0xB0-0xD7: the characters everyday text uses)."""
    try:
        encoded = char.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return 0xB0 <= encoded[0] <= 0xD7


# --- Markdown ---------------------------------------------------------------------------------

_MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _parse_markdown(text: str) -> tuple[str | None, list[Block]]:
    title = None
    front_matter = _FRONT_MATTER.match(text)
    if front_matter:
        text = text[front_matter.end() :]
        title_line = _FRONT_MATTER_TITLE.search(front_matter.group(1))
        if title_line:
            title = clean_text(title_line.group(1).strip("\"'"))
    root = SyntaxTreeNode(_MARKDOWN.parse(text))
    blocks = list(_markdown_blocks(root.children))
    if title is None:
        title = next((b.text for b in blocks if b.kind == BlockKind.HEADING and b.level == 1), None)
    return title, blocks


def _markdown_blocks(nodes: Iterable[SyntaxTreeNode]) -> Iterator[Block]:
    for node in nodes:
        if node.type == "heading":
            yield Block(BlockKind.HEADING, _markdown_inline(node), level=int(node.tag[1]))
        elif node.type == "paragraph":
            yield Block(BlockKind.PARAGRAPH, _markdown_inline(node), links=_markdown_links(node))
        elif node.type in ("bullet_list", "ordered_list"):
            lines = "\n".join(_markdown_list_lines(node, depth=0))
            yield Block(BlockKind.LIST, lines, links=_markdown_links(node))
        elif node.type == "table":
            yield Block(BlockKind.TABLE, _markdown_table(node))
        elif node.type in ("fence", "code_block"):
            yield Block(BlockKind.CODE, node.content.strip("\n"))
        elif node.type == "html_block":
            yield from _html_blocks(_soup(node.content))
        elif node.type == "blockquote":
            yield from _markdown_blocks(node.children)


def _markdown_inline(node: SyntaxTreeNode) -> str:
    parts: list[str] = []
    for child in _walk(node):
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
    return clean_text("".join(parts))


def _markdown_links(node: SyntaxTreeNode) -> tuple[tuple[str, str], ...]:
    links = []
    for child in _walk(node):
        if child.type == "link":
            text, url = _markdown_inline(child), str(child.attrs.get("href", ""))
            if text and _LINK_URL.match(url):
                links.append((text, url))
    return tuple(links)


# What a help page may link to: the web and mail, nothing a browser would run.
_LINK_URL = re.compile(r"^(?:https?://\S+|mailto:[^\s@]+@\S+)$", re.IGNORECASE)


def _walk(node: SyntaxTreeNode) -> Iterator[SyntaxTreeNode]:
    for child in node.children:
        yield child
        yield from _walk(child)


def _markdown_list_lines(node: SyntaxTreeNode, *, depth: int) -> Iterator[str]:
    number = int(node.attrs.get("start", 1))
    for item in node.children:
        marker = f"{number}." if node.type == "ordered_list" else "-"
        number += 1
        texts = [_markdown_inline(c) for c in item.children if c.type == "paragraph"]
        texts += [c.content.strip() for c in item.children if c.type in ("fence", "code_block")]
        text = " ".join(t for t in texts if t)
        if text:
            yield f"{'  ' * depth}{marker} {text}"
        for child in item.children:
            if child.type in ("bullet_list", "ordered_list"):
                yield from _markdown_list_lines(child, depth=depth + 1)


def _markdown_table(node: SyntaxTreeNode) -> str:
    rows = [
        [_markdown_inline(cell) for cell in row.children]
        for section in node.children
        for row in section.children
    ]
    return _table_text(rows)


def _table_text(rows: list[list[str]]) -> str:
    """Markdown pipe rows; the first row is the header (repeated by the chunker when a table is
    split)."""
    rows = [row for row in rows if any(row)]
    if not rows:
        return ""
    width = max(len(row) for row in rows)
    lines = [
        "| "
        + " | ".join(cell.replace("|", "\\|") for cell in row + [""] * (width - len(row)))
        + " |"
        for row in rows
    ]
    lines.insert(1, "|" + " --- |" * width)
    return "\n".join(lines)


# --- HTML -------------------------------------------------------------------------------------


def _soup(text: str) -> BeautifulSoup:
    """XHTML pages (with an <?xml ?> line) parse fine as HTML; bs4's warning about them is noise."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        return BeautifulSoup(text, "lxml")


def _parse_html(text: str) -> tuple[str | None, list[Block]]:
    """The title is the first <h1> when <title> holds it plus decoration ("Returns | Shop"),
    else <title>, else the first <h1>."""
    soup = _soup(text)
    title_tag = soup.find("title")
    page_title = clean_text(title_tag.get_text()) if title_tag else ""
    blocks = list(_html_blocks(soup))
    first_h1 = next((b.text for b in blocks if b.kind == BlockKind.HEADING and b.level == 1), "")
    if first_h1 and (not page_title or first_h1 in page_title):
        return first_h1, blocks
    return page_title or None, blocks


def _html_blocks(soup: BeautifulSoup) -> Iterator[Block]:
    """Blocks of the page's main content: <main>, a single <article> or role=main when present,
    else the body, without scripts, navigation, forms and page chrome. A <header> inside the
    main content (an article's title) is kept."""
    mains, articles, role_mains = [], [], []
    for tag in soup.descendants:
        if not isinstance(tag, Tag):
            continue
        if tag.name == "main":
            mains.append(tag)
        elif tag.name == "article":
            articles.append(tag)
        elif tag.get("role") == "main":
            role_mains.append(tag)
    single_article = articles if len(articles) == 1 else []
    root = next(iter(mains or single_article or role_mains), None)
    content_root = root is not None
    root = root or soup.body or soup
    chrome, line_breaks, block_tags = [], [], []
    for tag in root.descendants:
        if not isinstance(tag, Tag):
            continue
        if tag.name == "br":
            line_breaks.append(tag)
        elif _is_chrome(tag, keep_header=content_root):
            chrome.append(tag)
        elif tag.name in _HTML_BLOCK_TAGS and tag.name != "pre":
            block_tags.append(tag)
    for line_break in line_breaks:
        line_break.replace_with("\n")
    for tag in block_tags:
        # Text of adjacent blocks (<li><p>a</p><p>b</p></li>) is separated when flattened, by a
        # line break that clean_text turns into a space, or into nothing between CJK characters.
        tag.insert(0, "\n")
        tag.append("\n")
    for tag in chrome:
        if not tag.decomposed:  # not inside chrome removed before it
            tag.decompose()
    yield from _html_element_blocks(root)


def _is_chrome(tag: Tag, *, keep_header: bool) -> bool:
    if tag.name in _DROPPED_HTML:
        return not (keep_header and tag.name == "header")
    if tag.has_attr("hidden") or tag.get("aria-hidden") == "true":
        return True
    if "display:none" in str(tag.get("style", "")).replace(" ", "").lower():
        return True
    if tag.get("role") in _CHROME_ROLES:
        return True
    names = [*tag.get("class", ()), tag.get("id") or ""]
    return any(_CHROME_CLASS.match(name) for name in names)


def _html_element_blocks(element: Tag) -> Iterator[Block]:
    inline: list[str] = []
    inline_links: list[tuple[str, str]] = []
    for child in element.children:
        if isinstance(child, NavigableString):
            if type(child) is NavigableString:  # not a comment, doctype or CDATA
                inline.append(str(child))
            continue
        if not isinstance(child, Tag):
            continue
        if child.name not in _HTML_BLOCK_TAGS and not child.find(_HTML_BLOCK_TAGS):
            inline.append(child.get_text())
            inline_links.extend(_html_links(child))
            continue
        yield from _paragraph_from(inline, inline_links)
        inline, inline_links = [], []
        if child.name in _HEADING_TAGS:
            yield Block(
                BlockKind.HEADING, clean_text(child.get_text()), level=_HEADING_TAGS[child.name]
            )
        elif child.name == "p":
            yield from _paragraph_from([child.get_text()], _html_links(child))
        elif child.name in ("ul", "ol"):
            links = tuple(_html_links(child))
            yield Block(BlockKind.LIST, "\n".join(_html_list_lines(child, depth=0)), links=links)
        elif child.name == "dl":
            yield Block(BlockKind.LIST, "\n".join(_html_definition_lines(child)))
        elif (
            child.name == "table"
            and child.get("role") != "presentation"
            and not child.find(_LAYOUT_TABLE_MARKERS)
        ):
            caption = child.find("caption")
            if caption:
                yield from _paragraph_from([caption.get_text()])
            yield Block(BlockKind.TABLE, _html_table(child))
        elif child.name == "pre":
            yield Block(BlockKind.CODE, child.get_text().strip("\n"))
        else:
            yield from _html_element_blocks(child)
    yield from _paragraph_from(inline, inline_links)


def _paragraph_from(parts: list[str], links: Iterable[tuple[str, str]] = ()) -> Iterator[Block]:
    text = clean_text("".join(parts))
    if text:
        yield Block(BlockKind.PARAGRAPH, text, links=tuple(links))


def _html_links(tag: Tag) -> list[tuple[str, str]]:
    """The element's absolute web and mail links (a relative one has no page to resolve it
    against here), with their text."""
    anchors = [tag] if tag.name == "a" else tag.find_all("a", href=True)
    links = []
    for anchor in anchors:
        text, url = clean_text(anchor.get_text()), str(anchor.get("href") or "").strip()
        if text and _LINK_URL.match(url):
            links.append((text, url))
    return links


def _html_list_lines(list_tag: Tag, *, depth: int) -> Iterator[str]:
    number = int(list_tag.get("start", 1)) if str(list_tag.get("start", "1")).isdigit() else 1
    for item in list_tag.find_all("li", recursive=False):
        sub_lists = [
            sub_list.extract()
            for sub_list in item.find_all(["ul", "ol"])
            if sub_list.find_parent("li") is item
        ]
        marker = f"{number}." if list_tag.name == "ol" else "-"
        number += 1
        text = clean_text(item.get_text())
        if text:
            yield f"{'  ' * depth}{marker} {text}"
        for sub_list in sub_lists:
            yield from _html_list_lines(sub_list, depth=depth + 1)


def _html_definition_lines(definitions: Tag, *, depth: int = 0) -> Iterator[str]:
    """ "- term: definition" per pair; a term without a definition (a table of contents) alone;
    a definition list nested in a definition is indented below it."""
    indent = "  " * depth
    term, term_used = "", True
    for child in definitions.find_all(["dt", "dd"]):
        if child.find_parent("dl") is not definitions:
            continue
        if child.name == "dt":
            if not term_used:
                yield f"{indent}- {term}"
            term, term_used = clean_text(child.get_text()), False
            continue
        nested = [dl.extract() for dl in child.find_all("dl") if dl.find_parent("dd") is child]
        definition = clean_text(child.get_text())
        yield f"{indent}- {f'{term}: {definition}' if term and definition else term or definition}"
        term_used = True
        for dl in nested:
            yield from _html_definition_lines(dl, depth=depth + 1)
    if not term_used:
        yield f"{indent}- {term}"


def _html_table(table: Tag) -> str:
    rows = []
    for row in table.find_all("tr"):
        if row.find_parent("table") is not table:
            continue
        rows.append(
            [clean_text(cell.get_text()) for cell in row.find_all(("th", "td"), recursive=False)]
        )
    return _table_text(rows)


# --- plain text -------------------------------------------------------------------------------


def _parse_plain_text(text: str) -> list[Block]:
    """Paragraphs split on blank lines; headings only where a reader would see one: a line
    underlined with === or ---, or a short line without final punctuation standing alone
    before more text."""
    groups = [
        [line.rstrip() for line in group.splitlines() if line.strip()]
        for group in re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    ]
    groups = [group for group in groups if group]
    blocks: list[Block] = []
    for index, lines in enumerate(groups):
        more_text_follows = index + 1 < len(groups)
        blocks.extend(_text_group_blocks(lines, more_text_follows, first=not blocks))
    return _merge_adjacent_lists(blocks)


def _merge_adjacent_lists(blocks: list[Block]) -> list[Block]:
    """Items separated by blank lines (or, in a PDF, by the paragraph guess) are one list."""
    merged: list[Block] = []
    for block in blocks:
        if block.kind == BlockKind.LIST and merged and merged[-1].kind == BlockKind.LIST:
            merged[-1] = Block(BlockKind.LIST, f"{merged[-1].text}\n{block.text}")
        else:
            merged.append(block)
    return merged


def _text_group_blocks(lines: list[str], more_text_follows: bool, *, first: bool) -> list[Block]:
    if all(line.startswith(_CODE_INDENT) for line in lines):
        return [Block(BlockKind.CODE, textwrap.dedent("\n".join(lines)).expandtabs(4))]
    if len(lines) >= 2 and _SETEXT_UNDERLINE.match(lines[1]) and _looks_like_heading(lines[0]):
        level = 1 if lines[1].strip().startswith("=") else 2
        heading = Block(BlockKind.HEADING, clean_text(lines[0]), level=level)
        rest = lines[2:]
        return [heading, *(_text_body_blocks(rest) if rest else [])]
    level = 1 if first else 2
    if len(lines) == 1 and more_text_follows and _looks_like_heading(lines[0]):
        return [Block(BlockKind.HEADING, clean_text(lines[0]), level=level)]
    if len(lines) >= 2 and _looks_like_heading(lines[0]) and len(lines[0]) < 0.6 * len(lines[1]):
        # A short line right above much longer text: a heading, not a wrapped line.
        heading = Block(BlockKind.HEADING, clean_text(lines[0]), level=level)
        return [heading, *_text_body_blocks(lines[1:])]
    return _text_body_blocks(lines)


def _text_body_blocks(lines: list[str]) -> list[Block]:
    """A list when the first line has a list marker (numbers are kept, bullets become "-"),
    else one paragraph of the wrapped lines."""
    if _LIST_MARKER.match(lines[0]):
        items: list[str] = []
        for line in lines:
            marker = _LIST_MARKER.match(line)
            if marker or not items:
                number = re.match(r"\s*(\d+)", marker.group()) if marker else None
                prefix = f"{number.group(1)}." if number else "-"
                items.append(f"{prefix} {line[marker.end() if marker else 0 :]}")
            else:
                items[-1] += "\n" + line
        return [Block(BlockKind.LIST, "\n".join(clean_text(item) for item in items))]
    return [Block(BlockKind.PARAGRAPH, clean_text("\n".join(lines)))]


def _looks_like_heading(line: str) -> bool:
    """Short, without final punctuation, not indented (code), not a list item, URL or rule."""
    if line.startswith(_CODE_INDENT) or "://" in line:
        return False
    line = line.strip()
    limit = 40 if re.search(CJK, line) else 80
    return (
        0 < len(line) <= limit
        and not line.endswith(_TERMINAL_PUNCTUATION)
        and not _LIST_MARKER.match(line)
        and not _SETEXT_UNDERLINE.match(line)
    )


# --- PDF --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PdfLine:
    text: str
    size: float  # the font size most of the line's characters are set in, in points


def _parse_pdf(data: bytes) -> tuple[str | None, list[Block]]:
    if b"%PDF-" not in data[:1024]:
        raise DocumentError(ErrorCode.CORRUPT_PDF, "The file is not a PDF (it has no PDF header).")
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError(
                ErrorCode.CORRUPT_PDF,
                "The PDF is password-protected; remove the password and import it again.",
            )
        metadata_title = (reader.metadata.title if reader.metadata else None) or ""
        pages = [_pdf_page_lines(page) for page in reader.pages]
    except DocumentError:
        raise
    except Exception as error:  # pypdf raises many types (ValueError, KeyError...) on bad input
        log.info("unreadable PDF: %r", error)
        raise DocumentError(
            ErrorCode.CORRUPT_PDF, "The PDF is damaged or not a PDF and cannot be read."
        ) from error
    if not any(_PDF_HEADING_TEXT.search(line.text) for lines in pages for line in lines):
        # No letter in any line (a Chinese PDF written without its font's character map came
        # out as NULs and a bare "90", and was imported as a document).
        raise DocumentError(
            ErrorCode.NO_TEXT,
            "The PDF has no text to extract (a scanned PDF needs OCR before it can be imported).",
        )
    pages = _without_running_lines(pages)
    heading_levels = _pdf_heading_levels([line for lines in pages for line in lines])
    blocks: list[Block] = []
    for lines in pages:
        blocks.extend(_pdf_page_blocks(lines, heading_levels, first=not blocks))
    title = clean_text(metadata_title)
    return (None if _GENERATED_PDF_TITLE.match(title) else title), _merge_adjacent_lists(blocks)


def _pdf_page_lines(page: pypdf.PageObject) -> list[_PdfLine]:
    """The lines of pypdf's extract_text (the visitor sees the same text, piece by piece), each
    with its font size, without page numbers and table-of-contents dot leaders."""
    lines: list[_PdfLine] = []
    parts: list[str] = []
    characters_by_size: Counter[float] = Counter()

    def end_line() -> None:
        # A PDF without its font's character map extracts as NULs and other control characters.
        text = _CONTROL.sub("", _DOT_LEADER.sub(" ", "".join(parts))).strip()
        text = _SPACE_BETWEEN_CJK.sub("", text)
        size = characters_by_size.most_common(1)[0][0] if characters_by_size else 0.0
        if not _PAGE_NUMBER.match(text):
            lines.append(_PdfLine(text, size))
        parts.clear()
        characters_by_size.clear()

    def visit(text: str, cm: list[float], tm: list[float], font: object, font_size: float) -> None:
        size = round(abs(font_size) * math.hypot(tm[2], tm[3]) * math.hypot(cm[2], cm[3]), 1)
        for index, part in enumerate(text.split("\n")):
            if index:
                end_line()
            parts.append(part)
            characters_by_size[size] += len(part.strip())

    page.extract_text(visitor_text=visit)
    end_line()
    return lines


def _without_running_lines(pages: list[list[_PdfLine]]) -> list[list[_PdfLine]]:
    """Drop running headers and footers: a first or last line of a page that, page numbers
    aside, is the first or last line of at least RUNNING_LINE_SHARE of the pages (3 at least).
    The first page keeps its lines: its top line is often the title the header repeats."""

    def key(line: _PdfLine) -> str:
        return re.sub(r"\d+", "#", line.text)

    edges: Counter[str] = Counter()
    for lines in pages:
        texts = [line for line in lines if line.text]
        edges.update({key(line) for line in (texts[:1] + texts[-1:])})
    threshold = max(3, RUNNING_LINE_SHARE * len(pages))
    running = {text for text, count in edges.items() if count >= threshold}
    if not running:
        return pages
    cleaned = pages[:1]
    for lines in pages[1:]:
        texts = [index for index, line in enumerate(lines) if line.text]
        edge_indexes = {texts[0], texts[-1]} if texts else set()
        cleaned.append(
            [
                line
                for index, line in enumerate(lines)
                if index not in edge_indexes or key(line) not in running
            ]
        )
    return cleaned


def _pdf_heading_levels(lines: list[_PdfLine]) -> dict[float, int]:
    """Heading font sizes and their levels: sizes at least HEADING_SIZE_RATIO above the body
    text's (the size most characters are set in), the largest level 1."""
    characters_by_size: Counter[float] = Counter()
    for line in lines:
        characters_by_size[line.size] += len(line.text)
    body_size = characters_by_size.most_common(1)[0][0]
    sizes = sorted(
        {line.size for line in lines if line.text and line.size >= body_size * HEADING_SIZE_RATIO},
        reverse=True,
    )
    return {size: min(level, 6) for level, size in enumerate(sizes, start=1)}


def _pdf_page_blocks(
    lines: list[_PdfLine], heading_levels: dict[float, int], *, first: bool
) -> list[Block]:
    """Headings by font size; paragraphs end at a blank line, or at a line that ends a sentence
    well short of the page's full line width. A PDF set in one size has its first short line
    without final punctuation as its title heading."""
    full_width = max((len(line.text) for line in lines), default=0)
    blocks: list[Block] = []
    group: list[str] = []
    previous_level = 0

    def end_group() -> None:
        if group:
            blocks.extend(_text_body_blocks(group))
            group.clear()

    for line in lines:
        level = heading_levels.get(line.size, 0) if _PDF_HEADING_TEXT.search(line.text) else 0
        if level and len(line.text) <= MAX_PDF_HEADING_CHARS:
            end_group()
            if previous_level == level and (
                len(blocks[-1].text) + len(line.text) < MAX_PDF_HEADING_CHARS
            ):  # a heading set on two lines
                text = clean_text(f"{blocks[-1].text}\n{line.text}")
                blocks[-1] = Block(BlockKind.HEADING, text, level=level)
            else:
                blocks.append(Block(BlockKind.HEADING, clean_text(line.text), level=level))
            previous_level = level
            continue
        previous_level = 0
        if not line.text:
            end_group()
            continue
        if group and _LIST_MARKER.match(line.text):
            end_group()
        first_line = first and not blocks and not group
        if first_line and not heading_levels and _looks_like_heading(line.text):
            blocks.append(Block(BlockKind.HEADING, clean_text(line.text), level=1))
            continue
        group.append(line.text)
        if line.text.endswith(_TERMINAL_PUNCTUATION) and len(line.text) < 0.8 * full_width:
            end_group()
    end_group()
    return blocks
