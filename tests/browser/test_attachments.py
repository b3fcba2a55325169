"""Attachments both ways in chromium: a visitor on another site (CORS, no cookies) sends a
photo with the paperclip, the agent sees its thumbnail in the console and sends a PDF back,
which the visitor gets as a download link; a file of a refused type fails with the server's
words and nothing is stored."""

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import host_site
from tests.servers import create_agent, daphne, free_port, migrated, server_env

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

PASSWORD = "pw-ann-8812"
HOST_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Another shop</title>
</head><body><h1>Shop</h1>
<script src="{chat}/static/chatbot/widget.js" defer></script></body></html>"""


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(chat server, host page on another origin the chat server allows), one agent "ann"."""
    tmp: Path = tmp_path_factory.mktemp("attachments")
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    env = server_env(
        tmp / "db.sqlite3",
        CHAT_ALLOWED_ORIGINS=origin,
        MEDIA_ROOT=str(tmp / "media"),
        HANDOFF_CLAIM_TIMEOUT_S="600",
    )
    migrated(env)
    create_agent(env, "ann", PASSWORD)
    with (
        daphne(env, tmp / "daphne.log") as chat,
        host_site(port, HOST_PAGE.format(chat=chat)) as url,
    ):
        yield chat, url


def _page(browser: Browser) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.on("pageerror", lambda exc: pytest.fail(f"page error: {exc}"))
    return page


def _photo(tmp_path: Path) -> Path:
    path = tmp_path / "broken-lamp.jpg"
    image = Image.new("RGB", (900, 600), (240, 200, 40))
    for x in range(300, 600):
        for y in range(200, 260):
            image.putpixel((x, y), (30, 30, 160))
    out = io.BytesIO()
    image.save(out, "JPEG")
    path.write_bytes(out.getvalue())
    return path


def test_files_both_ways_across_origins(
    browser: Browser, sites: tuple[str, str], screenshot_dir: Path, tmp_path: Path
) -> None:
    chat, host = sites
    agent = _page(browser)
    agent.goto(chat + "/console/")
    agent.get_by_label("Username").fill("ann")
    agent.get_by_label("Password").fill(PASSWORD)
    agent.get_by_role("button", name="Sign in").click()
    expect(agent).to_have_url(chat + "/console/")

    visitor = _page(browser)
    visitor.goto(host)
    widget = visitor.locator("chatbot-widget")
    widget.locator("button.launcher").click()
    expect(widget.locator(".conn")).to_be_hidden()
    widget.get_by_role("button", name="Talk to a person").click()
    expect(widget.locator(".row.notice").last).to_contain_text("in the queue")

    # A file of a type outside the allow-list: refused in the server's words, nothing stored.
    exe = tmp_path / "invoice.pdf"
    exe.write_bytes(b"MZ\x90\x00" + b"\x00" * 200)
    widget.locator("input[type=file]").set_input_files(str(exe))
    failed = widget.locator(".row.visitor.failed")
    expect(failed.locator(".meta")).to_contain_text("Only images (PNG, JPEG, GIF, WebP), PDF")
    expect(failed.locator(".retry")).to_have_count(0)  # sending it again cannot help

    # Visitor -> agent: a photo, shown as its thumbnail once the upload (CORS) is read back.
    expect(widget.get_by_role("button", name="Attach a file")).to_be_visible()
    widget.locator("input[type=file]").set_input_files(str(_photo(tmp_path)))
    thumb = widget.locator(".row.visitor:not(.failed) .bubble img")
    expect(thumb).to_have_attribute("alt", "broken-lamp.jpg")
    expect(widget.locator(".row.visitor:not(.failed)")).not_to_have_class("pending")
    assert thumb.evaluate("(img) => img.decode().then(() => img.naturalWidth)") == 320
    assert thumb.get_attribute("src").startswith(chat + "/attachments/")
    visitor.screenshot(path=str(screenshot_dir / "attachments-visitor-photo.png"))

    item = agent.locator("#list .item")
    expect(item).to_have_count(1)
    item.locator("button").click()
    agent.get_by_role("button", name="Claim").click()
    expect(agent.locator("#conv-owner")).to_have_text("You own this conversation.")
    seen = agent.locator("#transcript .msg.visitor img")
    expect(seen).to_have_attribute("alt", "broken-lamp.jpg")
    assert seen.evaluate("(img) => img.decode().then(() => img.naturalWidth)") == 320

    # Agent -> visitor: a PDF, a download link on both sides.
    pdf = tmp_path / "return-label.pdf"
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n")
    agent.locator("#attach").set_input_files(str(pdf))
    expect(agent.locator("#transcript .msg.agent a.file-link")).to_contain_text("return-label.pdf")
    expect(agent.locator("#attach-status")).to_have_text("")
    expect(agent.locator("#transcript .msg.agent button.faq")).to_have_count(0)
    agent.screenshot(path=str(screenshot_dir / "attachments-console.png"))
    link = widget.locator(".row.agent a.file")
    expect(link).to_contain_text("return-label.pdf")
    href = link.get_attribute("href")
    assert href.startswith(chat + "/attachments/")
    served = visitor.request.get(href)
    assert served.ok and served.body() == pdf.read_bytes()
    assert served.headers["content-disposition"].startswith("attachment;")
    assert served.headers["x-content-type-options"] == "nosniff"
    visitor.screenshot(path=str(screenshot_dir / "attachments-visitor-pdf.png"))

    # Only the two files were stored; the refused one never reached the transcript.
    expect(agent.locator("#transcript .msg.visitor")).to_have_count(1)
    expect(agent.locator("#transcript .msg.agent")).to_have_count(1)
    assert "invoice" not in agent.locator("#transcript").inner_text()


def test_the_paperclip_speaks_chinese(
    browser: Browser, sites: tuple[str, str], tmp_path: Path
) -> None:
    chat, _host = sites
    visitor = _page(browser)
    visitor.goto(chat + "/?locale=zh-hans")
    widget = visitor.locator("chatbot-widget")
    widget.locator("button.launcher").click()
    expect(widget.get_by_role("button", name="添加附件")).to_be_visible()
    expect(widget.locator(".conn")).to_be_hidden()
    archive = tmp_path / "photos.zip"
    archive.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    widget.locator("input[type=file]").set_input_files(str(archive))
    expect(widget.locator(".row.visitor.failed .meta")).to_contain_text(
        "只能发送图片（PNG、JPEG、GIF、WebP）、PDF 和文本文件。"
    )
    widget.locator("input[type=file]").set_input_files(
        files=[{"name": "订单.txt", "mimeType": "text/plain", "buffer": "订单 1234".encode()}]
    )
    expect(widget.locator(".row.visitor:not(.failed) a.file")).to_contain_text("订单.txt")
    expect(widget.locator(".row.visitor:not(.failed) .meta")).not_to_contain_text("正在上传")
