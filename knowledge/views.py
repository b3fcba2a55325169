"""Staff pages of the FAQ store outside the model admin, and the public page of a help article."""

import re
from collections.abc import Iterable, Sequence

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext

from knowledge.admin_languages import language_name
from knowledge.documents.types import BlockKind, heading_anchor
from knowledge.models import FAQ, Document, Visibility
from knowledge.quality import MAX_PHRASINGS, locale_quality


@staff_member_required
@permission_required("knowledge.view_faq", raise_exception=True)
def matching_quality(request: HttpRequest) -> HttpResponse:
    """Per locale: the model and its operating point with the wrong rate measured for it, the
    FAQs whose own phrasings the matcher does not recognise, and FAQs that overlap."""
    locales = sorted(set(FAQ.objects.filter(active=True).values_list("locale", flat=True)))
    reports = [(language_name(locale), locale_quality(locale=locale)) for locale in locales]
    context = {
        **admin.site.each_context(request),
        "title": gettext("FAQ matching quality"),
        "reports": reports,
        "max_phrasings": MAX_PHRASINGS,
    }
    return render(request, "admin/knowledge/quality.html", context)


_LIST_MARKER = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+")
_ORDERED_MARKER = re.compile(r"^\s*\d+[.)]\s+")
_TABLE_RULE = re.compile(r"^\|?\s*:?-{3,}")


def _table_rows(text: str) -> tuple[list[str], list[list[str]]]:
    """(header cells, body rows) of a Markdown-like table block."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    if len(lines) > 1 and _TABLE_RULE.match(lines[1]):
        return rows[0], rows[2:]
    return [], rows


def article_parts(document: Document) -> list[dict]:
    """The document's blocks as the help page's template shows them (all text is escaped
    there): headings, paragraphs, lists, tables and code."""

    def is_title(block: dict) -> bool:
        level = int(block.get("level", 0))
        return level <= 1 and block["text"].strip() == document.title.strip()

    headings = [b for b in document.blocks if b["kind"] == BlockKind.HEADING and not is_title(b)]
    # The top heading level under the title is h2, whatever the source used: "##" sections of
    # an article with one "#" title were h3 under the h1, skipping h2.
    top = min((int(b.get("level", 0)) for b in headings), default=1)
    parts = []
    anchors: set[str] = set()
    for block in document.blocks:
        kind, text, level = block["kind"], block["text"], int(block.get("level", 0))
        if kind == BlockKind.HEADING:
            if is_title(block):
                continue  # the page's own title
            anchor = heading_anchor(text)
            if anchor in anchors:  # a citation links to the first heading of that name
                anchor = ""
            anchors.add(anchor)
            level = min(max(level - top + 2, 2), 6)
            parts.append({"kind": kind, "text": text, "level": level, "anchor": anchor})
        elif kind == BlockKind.LIST:
            lines = [line for line in text.splitlines() if line.strip()]
            links = _Links(block.get("links", ()))
            parts.append({"kind": kind, "html": _list_html(lines, links)})
        elif kind == BlockKind.TABLE:
            header, rows = _table_rows(text)
            parts.append({"kind": kind, "header": header, "rows": rows})
        elif kind == BlockKind.PARAGRAPH:
            html = _Links(block.get("links", ())).linked(text)
            parts.append({"kind": kind, "html": mark_safe(html.replace("\n", "<br>"))})  # noqa: S308 - _Links escaped it
        else:
            parts.append({"kind": kind, "text": text})
    return parts


class _Links:
    """A block's links, in document order, put back on their text: each link text is linked at
    its first place after the previous link's, the rest of the text escaped."""

    def __init__(self, links: Iterable[Sequence[str]]) -> None:
        self.pending = [(text, url) for text, url in links]

    def linked(self, text: str) -> str:
        out, at = [], 0
        while self.pending:
            label, url = self.pending[0]
            # Whole words: "here" is not linked inside "where" before it.
            found = re.compile(rf"(?<![A-Za-z0-9]){re.escape(label)}(?![A-Za-z0-9])").search(
                text, at
            )
            if found is None:
                break  # in a later line of the list
            out += [
                escape(text[at : found.start()]),
                format_html('<a href="{}">{}</a>', url, label),
            ]
            at = found.end()
            self.pending.pop(0)
        out.append(escape(text[at:]))
        return "".join(out)


def _list_html(lines: list[str], links: _Links) -> str:
    """A Markdown-like list as nested <ul>/<ol>: two spaces of indent a level (a writer's
    sub-item under "Weekdays" came out as a rule of its own)."""

    def depth(line: str) -> int:
        return (len(line) - len(line.lstrip(" "))) // 2

    def level(start: int, at_depth: int) -> tuple[str, int]:
        ordered = bool(_ORDERED_MARKER.match(lines[start]))
        items, i = [], start
        while i < len(lines) and depth(lines[i]) >= at_depth:
            if depth(lines[i]) > at_depth:
                nested, i = level(i, depth(lines[i]))
                items[-1] = items[-1] + nested if items else nested
                continue
            items.append(links.linked(_LIST_MARKER.sub("", lines[i], count=1)))
            i += 1
        tag = "ol" if ordered else "ul"
        return f"<{tag}>" + "".join(f"<li>{item}</li>" for item in items) + f"</{tag}>", i

    return mark_safe(level(0, depth(lines[0]))[0]) if lines else ""  # noqa: S308 - _Links escaped it


def help_article(request: HttpRequest, pk: int) -> HttpResponse:
    """A public document as a page, so a citation of an imported file has somewhere to link.
    Agents-only documents are not found here, but by staff (agents read internal procedures
    here from the console; a walk's agent could not read them anywhere)."""
    documents = Document.objects.all()
    if not (request.user.is_active and request.user.is_staff):
        documents = documents.filter(visibility=Visibility.PUBLIC)
    document = get_object_or_404(documents, pk=pk)
    context = {
        "document": document,
        "parts": article_parts(document),
        "agents_only": document.visibility == Visibility.AGENTS,
    }
    response = render(request, "knowledge/help_article.html", context)
    if context["agents_only"]:
        response["Cache-Control"] = "private, no-store"
    return response
