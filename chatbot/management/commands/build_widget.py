"""Builds static/chatbot/widget.js from static/chatbot/widget/: the numbered parts of its one
closure in order, with widget.css put in as a string; and static/console/rich-text.js, the
widget's Markdown part for the agent console, so an agent sees an answer formatted as the visitor
does. The built files are committed, so serving them needs no build step; `--check` (run by the
test suite) fails when one is stale."""

import json
import re
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

PARTS = Path(settings.BASE_DIR) / "static" / "chatbot" / "widget"
BUILT = Path(settings.BASE_DIR) / "static" / "chatbot" / "widget.js"
RICH_TEXT_PART = PARTS / "05-rich-text.js"
CONSOLE_RICH_TEXT = Path(settings.BASE_DIR) / "static" / "console" / "rich-text.js"
# What the widget's part uses from the widget's other parts, given by the console's page.
_CONSOLE_HEAD = """// Built by `make widget` from static/chatbot/widget/05-rich-text.js: edit that.
// The widget's Markdown subset for the agent console, as window.chatRichText(target, text),
// and its rule for a message's language, as window.chatOtherLanguage(text, chinesePage).
(function () {
  "use strict";
  var serverOrigin = location.origin;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

"""
_CONSOLE_TAIL = """
  window.chatRichText = renderRich;
  window.chatOtherLanguage = otherLanguage;
})();
"""
CSS_PLACE = "WIDGET_CSS"
ACCENT = "__ACCENT__"
_CSS_COMMENT = re.compile(r"\s*/\*.*?\*/", re.DOTALL)


def widget_css() -> str:
    """widget.css without its comments, as the widget puts it in its Shadow DOM."""
    return _CSS_COMMENT.sub("", (PARTS / "widget.css").read_text(encoding="utf-8")).strip("\n")


def widget_source() -> str:
    css = f"{json.dumps(widget_css())}.split({json.dumps(ACCENT)}).join(accent)"
    parts = sorted(PARTS.glob("[0-9][0-9]-*.js"))
    text = "".join(part.read_text(encoding="utf-8") for part in parts)
    if text.count(CSS_PLACE) != 1:
        raise CommandError(f"exactly one part must say where {CSS_PLACE} goes")
    return text.replace(CSS_PLACE, css)


def console_rich_text_source() -> str:
    return _CONSOLE_HEAD + RICH_TEXT_PART.read_text(encoding="utf-8") + _CONSOLE_TAIL


class Command(BaseCommand):
    help = "Build static/chatbot/widget.js from its parts in static/chatbot/widget/."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--check", action="store_true", help="fail if widget.js is stale")

    def handle(self, *args, check: bool = False, **options) -> None:
        built = {BUILT: widget_source(), CONSOLE_RICH_TEXT: console_rich_text_source()}
        if check:
            for path, source in built.items():
                if not path.exists() or path.read_text(encoding="utf-8") != source:
                    raise CommandError(f"{path.name} is stale: run `make widget`")
            return
        for path, source in built.items():
            path.write_text(source, encoding="utf-8")
        self.stdout.write(f"Built {BUILT} and {CONSOLE_RICH_TEXT} from the parts in {PARTS}.")
