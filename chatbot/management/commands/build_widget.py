"""Builds static/chatbot/widget.js from static/chatbot/widget/: the numbered parts of its one
closure in order, with widget.css put in as a string. The built file is committed, so serving
the widget needs no build step; `--check` (run by the test suite) fails when it is stale."""

import json
import re
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

PARTS = Path(settings.BASE_DIR) / "static" / "chatbot" / "widget"
BUILT = Path(settings.BASE_DIR) / "static" / "chatbot" / "widget.js"
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


class Command(BaseCommand):
    help = "Build static/chatbot/widget.js from its parts in static/chatbot/widget/."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--check", action="store_true", help="fail if widget.js is stale")

    def handle(self, *args, check: bool = False, **options) -> None:
        source = widget_source()
        if check:
            if BUILT.read_text(encoding="utf-8") != source:
                raise CommandError("static/chatbot/widget.js is stale: run `make widget`")
            return
        BUILT.write_text(source, encoding="utf-8")
        self.stdout.write(f"Built {BUILT} from the parts in {PARTS}.")
