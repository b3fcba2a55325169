"""An import's stored errors in the admin user's language. The messages are written in English
by whatever ran the import (a Celery task has no user's language) and kept so, for logs and for
support; an admin reading another language gets each known message translated, its specifics
(sizes, addresses, HTTP statuses) carried over, and the stored English in the cell's tooltip."""

import re

from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from knowledge.documents.parsing import ErrorCode

# A file error by its code, where the message has no specifics worth keeping.
_FILE_ERRORS = {
    ErrorCode.EMPTY: _("The file is empty."),
    ErrorCode.TOO_LARGE: _("The file is larger than the import allows."),
    ErrorCode.BINARY: _("The file holds binary data, not text."),
    ErrorCode.ENCODING: _("The file's text encoding could not be read."),
    ErrorCode.CORRUPT_PDF: _("The PDF is damaged or not a PDF and cannot be read."),
    ErrorCode.UNSUPPORTED: _("This kind of file cannot be imported (Markdown, HTML, text, PDF)."),
    ErrorCode.NO_TEXT: _("The file has no text to import."),
    ErrorCode.NOT_FOUND: _("No such file or folder."),
    ErrorCode.CORRUPT_ZIP: _("The zip archive or one of its files is damaged."),
    ErrorCode.ZIP_TOO_MANY_FILES: _("The zip archive holds more files than the import allows."),
    ErrorCode.ZIP_TOO_LARGE: _("The zip archive unpacks to more than the import allows."),
    ErrorCode.ZIP_BOMB: _("The zip archive expands suspiciously much and was not unpacked."),
    ErrorCode.UNSAFE_PATH: _("A file in the zip archive has an unsafe path."),
    ErrorCode.ENCRYPTED: _("The file is password-protected."),
}

# Messages with specifics (knowledge.documents.parsing, .files and .crawler write them), first
# match wins; the named groups fill the translation.
_MESSAGES: tuple[tuple[re.Pattern[str], Promise], ...] = tuple(
    (re.compile(pattern), text)
    for pattern, text in (
        (
            r"The file is (?P<size>\S+ MB); files up to (?P<limit>\S+ MB) can be imported\.",
            _("The file is %(size)s; files up to %(limit)s can be imported."),
        ),
        (
            r"(?P<host>\S+) is on a private network: not crawled \(set "
            r"KNOWLEDGE_CRAWL_PRIVATE_NETWORKS=1 to crawl an intranet site\)",
            _(
                "%(host)s is on a private network: not crawled (set "
                "KNOWLEDGE_CRAWL_PRIVATE_NETWORKS=1 to crawl an intranet site)."
            ),
        ),
        (
            r"(?P<host>\S+) is on a private network \((?P<addresses>[^)]*)\): not crawled "
            r"\(set KNOWLEDGE_CRAWL_PRIVATE_NETWORKS=1 to crawl an intranet site\)",
            _(
                "%(host)s is on a private network (%(addresses)s): not crawled (set "
                "KNOWLEDGE_CRAWL_PRIVATE_NETWORKS=1 to crawl an intranet site)."
            ),
        ),
        (  # as imports before 7 December stored it
            r"(?P<host>\S+) is on a private network \((?P<addresses>[^)]*)\): not crawled",
            _("%(host)s is on a private network (%(addresses)s): not crawled."),
        ),
        (
            r"robots\.txt could not be read \((?P<detail>.*)\)",
            _("The site's robots.txt could not be read (%(detail)s): nothing was crawled."),
        ),
        (
            r"robots\.txt answered HTTP (?P<status>\d+): .*",
            _(
                "The site's robots.txt answered HTTP %(status)s: nothing is crawled until it "
                "can be read."
            ),
        ),
        (r"disallowed by robots\.txt", _("The site's robots.txt does not allow this page.")),
        (
            r"answered from a private network address \((?P<address>[^)]*)\): not read",
            _("Answered from a private network address (%(address)s): not read."),
        ),
        (
            r"redirects to (?P<target>\S+), outside (?P<origin>\S+): not followed",
            _("Redirects to %(target)s, outside %(origin)s: not followed."),
        ),
        (
            r"HTTP (?P<status>\d+) without a valid redirect target",
            _("The site answered HTTP %(status)s without a valid redirect target."),
        ),
        (r"(?:more than \d+|too many) redirects", _("Too many redirects.")),
        (r"HTTP (?P<status>\d+)(?: .*)?", _("The site answered HTTP %(status)s.")),
        (
            r"not HTML, Markdown, text or PDF \((?P<type>.*)\)",
            _("Not HTML, Markdown, text or PDF (%(type)s): skipped."),
        ),
        (r"timed out after (?P<seconds>\S+) s", _("No answer within %(seconds)s s.")),
        (r"network error: (?P<detail>.*)", _("Network error: %(detail)s")),
        (r"too large: .*", _("The page is larger than the crawl allows.")),
        (
            r"same content as (?P<other>\S+): not stored again",
            _("The same page as %(other)s: not stored again."),
        ),
        (
            r"Imported, with the same title as (?P<other>.+): visitors are shown both; delete "
            r"one if this replaces it\.",
            _(
                "Imported, with the same title as %(other)s: visitors are shown both; delete "
                "one if this replaces it."
            ),
        ),
    )
)

# What a crawl adds to a page that is gone (services._crawl_one).
_GONE_SUFFIX = ": its document is kept; delete it if the page was retired."
_GONE = _("%(problem)s The document is kept; delete it if the page was retired.")


def import_error_text(error: dict) -> str:
    """The stored message, or in the admin user's language when that is not English and the
    message is one this module knows."""
    message = error.get("message", "")
    if translation.get_language().startswith("en"):
        return message
    gone = message.endswith(_GONE_SUFFIX)
    problem = message.removesuffix(_GONE_SUFFIX) if gone else message
    translated = _translated(problem)
    if translated is None:
        meaning = _FILE_ERRORS.get(error.get("code", ""))
        return str(meaning) if meaning is not None else message
    return str(_GONE) % {"problem": translated} if gone else translated


def _translated(message: str) -> str | None:
    for pattern, text in _MESSAGES:
        match = pattern.fullmatch(message)
        if match:
            return str(text) % match.groupdict()
    return None
