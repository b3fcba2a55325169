"""The widget is built from its parts (static/chatbot/widget/) into the committed widget.js."""

import re
import shutil

import pytest
from django.core.management import CommandError, call_command

from chatbot.management.commands import build_widget


def test_the_committed_widget_is_what_its_parts_build():
    call_command("build_widget", "--check")


def test_the_styles_go_in_without_comments_and_with_the_sites_colour():
    css = build_widget.widget_css()
    assert "/*" not in css and "--accent:__ACCENT__;" in css
    source = build_widget.widget_source()
    assert '.split("__ACCENT__").join(accent)' in source
    assert "WIDGET_CSS" not in source


@pytest.fixture
def parts_copy(tmp_path, monkeypatch):
    parts = tmp_path / "widget"
    shutil.copytree(build_widget.PARTS, parts)
    built = tmp_path / "widget.js"
    shutil.copy(build_widget.BUILT, built)
    monkeypatch.setattr(build_widget, "PARTS", parts)
    monkeypatch.setattr(build_widget, "BUILT", built)
    return parts, built


def test_an_edited_part_makes_the_built_file_stale_until_it_is_built(parts_copy):
    parts, built = parts_copy
    boot = parts / "10-boot.js"
    boot.write_text(boot.read_text().replace("function boot()", "function boot(/* edited */)"))
    with pytest.raises(CommandError, match="stale"):
        call_command("build_widget", "--check")
    call_command("build_widget")
    call_command("build_widget", "--check")
    assert "function boot(/* edited */)" in built.read_text()


def test_parts_go_in_by_their_numbers(parts_copy):
    parts, built = parts_copy
    (parts / "00-start.js").rename(parts / "99-start.js")
    (parts / "00-first.js").write_text("// first\n")
    call_command("build_widget")
    text = built.read_text()
    assert text.startswith("// first\n")
    assert text.index("function boot()") < text.index(" * Customer-service chat widget")


def test_every_widget_text_is_written_in_both_languages():
    """A text missing from one language shows "undefined" to its visitors."""
    copy = (build_widget.PARTS / "01-copy.js").read_text(encoding="utf-8")
    english = copy[copy.index("    en: {") : copy.index('    "zh-hans": {')]
    chinese = copy[copy.index('    "zh-hans": {') : copy.index("\n  };")]
    keys = re.compile(r"^      ([A-Za-z_]\w*):", re.MULTILINE)
    assert len(keys.findall(english)) > 70
    assert set(keys.findall(english)) == set(keys.findall(chinese))
    assert not re.search(r"[\u4e00-\u9fff]", english), "Chinese in the English copy"
