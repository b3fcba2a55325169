"""Django's {# … #} comment ends with its line: one spanning lines is rendered as text (the
console showed a developer's note above its header, and screen readers read it out: a walk)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OPEN_COMMENT = re.compile(r"\{#(?:(?!#\}).)*$", re.MULTILINE)


def test_no_template_has_a_comment_spanning_lines():
    found = [
        f"{path.relative_to(ROOT)}:{text[: match.start()].count(chr(10)) + 1}"
        for path in sorted((ROOT / "templates").rglob("*.html"))
        for text in [path.read_text(encoding="utf-8")]
        for match in OPEN_COMMENT.finditer(text)
    ]
    assert found == [], "use {% comment %} … {% endcomment %} for these"


def test_the_check_finds_one():
    assert OPEN_COMMENT.search("<p>\n  {# a note that goes on\n  here #}\n</p>")
    assert not OPEN_COMMENT.search("<p>{# one line #}</p>\n")
