"""The hand-maintained catalogue (chatbot/locale/zh_Hans/LC_MESSAGES/django.po): every entry is
translated, none is there twice, and a translation keeps its placeholders."""

import ast
import re
from pathlib import Path

from django.conf import settings

CATALOGUE = Path(settings.BASE_DIR) / "chatbot/locale/zh_Hans/LC_MESSAGES/django.po"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%%|\{\w*\}")


def entries(text: str) -> list[tuple[str, str]]:
    """(msgid, msgstr) of each entry, the header left out; strings joined over their lines. An
    msgid with a context (msgctxt) reads "context\x04msgid", as gettext keys it. A plural entry
    (Chinese has one form, `msgstr[0]`) reads as its plural msgid and that form, whose
    placeholders must agree."""
    found, context, msgid, msgstr, field = [], "", None, None, None
    for line in [*text.splitlines(), ""]:
        if line.startswith("msgctxt "):
            context = ast.literal_eval(line[8:]) + "\x04"
        elif line.startswith("msgid "):
            msgid, field = ast.literal_eval(line[6:]), "msgid"
        elif line.startswith("msgid_plural "):
            msgid, field = ast.literal_eval(line[13:]), "msgid"
        elif line.startswith(("msgstr ", "msgstr[0] ")):
            msgstr, field = ast.literal_eval(line.split(" ", 1)[1]), "msgstr"
        elif line.startswith('"') and field == "msgid":
            msgid += ast.literal_eval(line)
        elif line.startswith('"') and field == "msgstr":
            msgstr += ast.literal_eval(line)
        elif not line.strip() and msgid is not None:
            if msgid:
                found.append((context + msgid, msgstr))
            context, msgid, msgstr, field = "", None, None, None
    return found


def test_the_parser_reads_continued_strings_and_skips_the_header():
    text = (
        'msgid ""\nmsgstr "Language: zh\\n"\n\n#: a.py\nmsgid ""\n"Two "\n"lines"\nmsgstr "两行"\n'
    )
    assert entries(text) == [("Two lines", "两行")]
    assert entries('msgctxt "x"\nmsgid "a"\nmsgstr "甲"\n') == [("x\x04a", "甲")]
    plural = 'msgid "%(n)s day"\nmsgid_plural "%(n)s days"\nmsgstr[0] "%(n)s 天"\n'
    assert entries(plural) == [("%(n)s days", "%(n)s 天")]


def test_every_entry_is_translated_once_with_its_placeholders():
    found = entries(CATALOGUE.read_text(encoding="utf-8"))
    assert len(found) > 500
    assert [msgid for msgid, msgstr in found if not msgstr] == []
    msgids = [msgid for msgid, _ in found]
    assert sorted({m for m in msgids if msgids.count(m) > 1}) == []
    mismatched = [
        msgid
        for msgid, msgstr in found
        if sorted(PLACEHOLDER.findall(msgid)) != sorted(PLACEHOLDER.findall(msgstr))
    ]
    assert mismatched == []
