"""Files of each format become the blocks and title a reader would see, and bad files a
DocumentError with the code the admin's per-file list shows."""

import io
from pathlib import Path

import pypdf
import pytest

from knowledge.documents.parsing import parse_document
from knowledge.documents.types import Block, BlockKind, DocumentError

FILES = Path(__file__).parent / "files"
H, P, L, T, C = (
    BlockKind.HEADING,
    BlockKind.PARAGRAPH,
    BlockKind.LIST,
    BlockKind.TABLE,
    BlockKind.CODE,
)


def parse_file(name: str, **kwargs):
    return parse_document((FILES / name).read_bytes(), filename=name, **kwargs)


def shape(doc) -> list[tuple[BlockKind, int, str]]:
    return [(block.kind, block.level, block.text) for block in doc.blocks]


def minimal_pdf(lines: list[str], *, title: str | None = None) -> bytes:
    return pdf_pages([[(12, line) for line in lines]], title=title)


def pdf_pages(pages: list[list[tuple[float, str]]], *, title: str | None = None) -> bytes:
    """A valid PDF drawing each page's (font size, text) lines in Helvetica."""
    contents = []
    for lines in pages:
        y, ops = 740, []
        for size, text in lines:
            y -= int(size * 1.5)
            ops.append(f"BT /F1 {size} Tf 72 {y} Td ({text}) Tj ET\n")
        contents.append("".join(ops).encode("latin-1"))
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    return pdf_bytes(contents, fonts=[font], title=title)


def chinese_pdf(lines: list[str]) -> bytes:
    """A PDF in Adobe's STSong-Light with each character placed by itself, as many Chinese PDF
    producers do (pypdf then reads a space between the characters)."""
    ops = []
    for row, line in enumerate(lines):
        for column, char in enumerate(line):
            code = char.encode("utf-16-be").hex()
            ops.append(f"BT /F1 12 Tf {72 + 13 * column} {720 - 18 * row} Td <{code}> Tj ET\n")
    fonts = [
        b"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /UniGB-UCS2-H "
        b"/DescendantFonts [4 0 R] >>",
        b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light "
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 2 >> >>",
    ]
    return pdf_bytes(["".join(ops).encode()], fonts=fonts)


def pdf_bytes(contents: list[bytes], *, fonts: list[bytes], title: str | None = None) -> bytes:
    """A PDF with one page per content stream, the first font as /F1, written byte by byte
    (pypdf's writer cannot draw text) with a correct cross-reference table."""
    first_page = 3 + len(fonts)
    kids = " ".join(f"{first_page + 2 * i} 0 R" for i in range(len(contents)))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(contents)} >>".encode(),
        *fonts,
    ]
    for index, stream in enumerate(contents):
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>"
            % (first_page + 2 * index + 1)
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"endstream")
    if title:
        objects.append(f"<< /Title ({title}) >>".encode("latin-1"))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    info = b" /Info %d 0 R" % len(objects) if title else b""
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\n" % (len(objects) + 1, info)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def encrypted(pdf: bytes, *, user_password: str) -> bytes:
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def error_code(data: bytes, filename: str, **kwargs) -> str:
    with pytest.raises(DocumentError) as raised:
        parse_document(data, filename=filename, **kwargs)
    assert raised.value.message  # shown to the admin as is
    return raised.value.code


def test_markdown_headings_lists_tables_code_and_front_matter_title():
    doc = parse_file("returns.md")
    assert doc.title == "Returns and refunds"
    assert doc.locale == "en"
    assert shape(doc) == [
        (H, 1, "Returns and refunds"),
        (
            P,
            0,
            "You can return most items within 30 days of delivery. "
            "Items must be unused and in their original packaging.",
        ),
        (H, 2, "How to return an item"),
        (
            L,
            0,
            "1. Sign in and open your orders.\n2. Choose Return next to the item.\n"
            "3. Print the label and drop the parcel at any post office.",
        ),
        (H, 2, "Refund times"),
        (
            T,
            0,
            "| Payment method | Refund time |\n| --- | --- |\n"
            "| Card | 3-5 working days |\n| PayPal | 1 working day |",
        ),
        (H, 3, "Items that cannot be returned"),
        (L, 0, "- Gift cards\n- Personalised items\n  - engraved jewellery\n- Perishable food"),
        (C, 0, "RETURN-CODE: ABC123"),
    ]


def test_markdown_title_falls_back_to_first_heading_then_file_name():
    assert parse_document(b"Intro.\n\n## Setup\n\nSteps.", filename="a.md").title == "Setup"
    assert parse_document(b"Just text.", filename="docs/getting-started.md").title == (
        "getting-started"
    )


def test_html_main_content_without_page_chrome():
    doc = parse_file("shipping.html")
    assert doc.title == "Shipping options"  # the <h1>, not "... | Example Shop Help Centre"
    assert shape(doc) == [
        (H, 1, "Shipping options"),
        (P, 0, "We deliver to over 40 countries. Orders placed before 2 pm ship the same day."),
        (H, 2, "Delivery speeds"),
        (
            T,
            0,
            "| Option | Time | Price |\n| --- | --- | --- |\n"
            "| Standard | 3-5 days | Free over $50 |\n| Express | 1-2 days | $9.99 |",
        ),
        (H, 2, "Tracking"),
        (
            L,
            0,
            "- Tracking links are emailed when the parcel leaves.\n"
            "- Express parcels are tracked door to door.",
        ),
    ]
    all_text = " ".join(block.text for block in doc.blocks)
    for chrome in ("analytics", "Cart", "Related articles", "helpful", "©"):
        assert chrome not in all_text


def test_html_without_main_uses_body_and_title_tag():
    page = (
        "<html><head><title>Contact us</title></head><body><nav>Menu</nav>"
        "<div>Call <b>0800 123</b> any day.<p>Or email us.</p></div>"
        '<p style="display: none">Hidden tracking text</p><p hidden>Hidden too</p>'
        "<ol start=3><li>Three<ul><li>nested</li></ul></li><li>Four</li></ol>"
        "<pre>  indented\n  code</pre></body></html>"
    )
    doc = parse_document(page.encode(), filename="contact", content_type="text/html")
    assert doc.title == "Contact us"
    assert shape(doc) == [
        (P, 0, "Call 0800 123 any day."),
        (P, 0, "Or email us."),
        (L, 0, "3. Three\n  - nested\n4. Four"),
        (C, 0, "  indented\n  code"),
    ]


HTML_TABLE = b"<table><tr><th>a</th></tr><tr><td>1</td></tr></table>"
MARKDOWN_TABLE = b"| a |\n|---|\n| 1 |"


@pytest.mark.parametrize(
    ("data", "filename", "content_type", "kind"),
    [
        (HTML_TABLE, "https://help.example/articles/42", "text/html; charset=utf-8", T),
        (HTML_TABLE, "https://help.example/guide.pdf", "text/html", T),  # a landing page
        (MARKDOWN_TABLE, "notes.md", "text/plain", T),  # a raw file server's type for Markdown
        (MARKDOWN_TABLE, "notes.md", None, T),
        (MARKDOWN_TABLE, "notes.txt", "application/octet-stream", P),
    ],
)
def test_format_by_declared_content_type_else_extension(data, filename, content_type, kind):
    doc = parse_document(data, filename=filename, content_type=content_type)
    assert [block.kind for block in doc.blocks] == [kind]


def test_html_text_is_flattened_without_merging_blocks_or_splitting_chinese():
    page = """<html><body>
      <h2 id="p">Policy<a class="headerlink" href="#p">¶</a></h2>
      <p><b>退货</b>政策<a href="/x">说明</a></p>
      <ul><li><p>First step.</p><p>Then this.</p></li><li>  </li><li>Last</li></ul>
      <table><tr><td><h2>Layout</h2><p>Cell text.</p></td><td><p>Other cell.</p></td></tr></table>
      <table><caption>Sizes</caption>
        <tr><th>Size</th><th>Fits</th></tr><tr><td><b>S</b>mall</td><td>A<br>B</td></tr></table>
    </body></html>"""
    doc = parse_document(page.encode(), filename="a.html")
    assert shape(doc) == [
        (H, 2, "Policy"),
        (P, 0, "退货政策说明"),
        (L, 0, "- First step. Then this.\n- Last"),
        (H, 2, "Layout"),
        (P, 0, "Cell text."),
        (P, 0, "Other cell."),
        (P, 0, "Sizes"),
        (T, 0, "| Size | Fits |\n| --- | --- |\n| Small | A B |"),
    ]


def test_html_charset_declared_by_the_server_or_the_page_is_used():
    body = "<p>Caf\xe9 cr\xe8me, na\xefve.</p>".encode("cp1252")
    assert error_code(body, "menu.html") == "encoding"
    from_header = parse_document(body, filename="menu", content_type="text/html; charset=cp1252")
    assert from_header.blocks == (Block(P, "Café crème, naïve."),)
    in_page = b'<html><head><meta charset="windows-1252"></head><body>' + body + b"</body></html>"
    assert parse_document(in_page, filename="menu.html").blocks == (Block(P, "Café crème, naïve."),)


def test_xhtml_documentation_page_without_navigation_bars():
    """A DocBook page as Debian's postgresql-doc ships: XHTML, prev/next tables in divs of class
    navheader/navfooter, a table of contents as a definition list of terms only."""
    doc = parse_file("docbook-toc.xhtml.html")
    assert doc.title == "47.1. Interface Functions"
    assert shape(doc) == [
        (H, 2, "47.1. Interface Functions"),
        (
            L,
            0,
            "- SPI_connect — connect a C function to the SPI manager\n"
            "- SPI_finish — disconnect a C function from the SPI manager\n"
            "  - SPI_finish details: when to call it",
        ),
    ]


def test_plain_text_setext_and_standalone_headings_lists_and_paragraphs():
    doc = parse_file("warranty.txt")
    assert doc.title == "Warranty"
    assert shape(doc) == [
        (H, 1, "Warranty"),
        (
            P,
            0,
            "Every product comes with a two-year warranty against manufacturing defects. "
            "Keep your receipt as proof of purchase.",
        ),
        (H, 2, "What is not covered"),
        (
            L,
            0,
            "- Damage caused by accidents or misuse\n- Normal wear and tear\n"
            "- Batteries after six months",
        ),
        (H, 2, "Making a claim"),
        (P, 0, "Contact support with your order number and a photo of the fault."),
    ]


def test_plain_text_wrapped_lines_are_not_headings():
    text = b"Orders can be changed until they are packed, which usually happens\nwithin an hour."
    doc = parse_document(text, filename="orders.txt")
    assert shape(doc) == [
        (
            P,
            0,
            "Orders can be changed until they are packed, which usually happens within an hour.",
        )
    ]
    assert doc.title == "orders"


def test_plain_text_indented_code_numbered_lists_and_urls():
    text = (
        "Set the variable in your shell profile:\n\n"
        "\t#!/bin/sh\n\texport SHOP_TOKEN=abc\n\n"
        "1) Open Settings\n2) Paste the token\n\n"
        "https://help.example/tokens\n\n"
        "More about tokens there."
    )
    assert shape(parse_document(text.encode(), filename="token.txt")) == [
        (P, 0, "Set the variable in your shell profile:"),
        (C, 0, "#!/bin/sh\nexport SHOP_TOKEN=abc"),
        (L, 0, "1. Open Settings\n2. Paste the token"),
        (P, 0, "https://help.example/tokens"),
        (P, 0, "More about tokens there."),
    ]


def test_gb18030_chinese_text_is_decoded_without_spaces_between_characters():
    doc = parse_file("points-gb18030.txt")
    assert doc.locale == "zh-hans"
    assert doc.title == "会员积分说明"
    assert shape(doc) == [
        (H, 1, "会员积分说明"),
        (P, 0, "每消费一元可获得一个积分。积分可在结账时抵扣现金，一百积分抵扣一元。"),
        (H, 2, "积分有效期"),
        (P, 0, "积分自获得之日起一年内有效。过期积分将自动清零。"),
        (L, 0, "- 积分不可转让\n- 积分不可兑换现金"),
    ]


def test_gbk_text_with_typographic_punctuation_is_decoded():
    text = "“保修”说明——温度低于５℃时请勿使用……详见第②条。"
    doc = parse_document(text.encode("gbk"), filename="baoxiu.txt")
    assert doc.blocks == (Block(P, text),)


@pytest.mark.parametrize(
    "data",
    [
        "# 退货\n\n请在 App 的“我的订单”中申请退货。".encode(),
        "\ufeff# 退货\n\n请在 App 的“我的订单”中申请退货。".encode(),
        "# 退货\n\n请在 App 的“我的订单”中申请退货。".encode("utf-16"),
    ],
    ids=["utf-8", "utf-8-bom", "utf-16-bom"],
)
def test_unicode_encodings_and_guessed_chinese_locale(data: bytes):
    doc = parse_document(data, filename="tui-huo.md")
    assert doc.title == "退货"
    assert doc.blocks[1] == Block(P, "请在 App 的“我的订单”中申请退货。")
    assert doc.locale == "zh-hans"


def test_given_locale_wins_over_the_guess():
    assert parse_document(b"Hello there.", filename="a.txt", locale="zh-hans").locale == "zh-hans"
    assert parse_document("你好，欢迎光临。".encode(), filename="a.txt").locale == "zh-hans"
    english_with_a_chinese_name = "Visit our Shanghai store (上海店) for repairs and returns."
    assert parse_document(english_with_a_chinese_name.encode(), filename="a.txt").locale == "en"


def test_pdf_text_paragraphs_and_metadata_title():
    pdf = minimal_pdf(
        ["Warranty claims", "Send the receipt and a photo of the fault to support."],
        title="Warranty guide",
    )
    assert "Warranty claims" in pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    doc = parse_document(pdf, filename="warranty.pdf")
    assert doc.title == "Warranty guide"
    assert shape(doc) == [
        (H, 1, "Warranty claims"),
        (P, 0, "Send the receipt and a photo of the fault to support."),
    ]


@pytest.mark.parametrize("metadata_title", [None, "Microsoft Word - care.docx", "untitled"])
def test_pdf_without_a_real_metadata_title_uses_first_line(metadata_title):
    pdf = minimal_pdf(["Care instructions", "Wash at 30 degrees."], title=metadata_title)
    assert parse_document(pdf, filename="care.pdf").title == "Care instructions"


def test_pdf_headings_from_font_sizes_and_running_headers_dropped():
    one, two, three, four = (
        f"Body text on page {word} is set in the size most characters use."
        for word in ("one", "two", "three", "four")
    )
    pdf = pdf_pages(
        [
            [(20, "Printer manual"), (11, one), (15, "Setting up"), (11, one)],
            [(9, "Printer manual"), (13, "Loading paper"), (13, "and envelopes"), (11, two)],
            [(9, "Printer manual"), (15, "Troubleshooting"), (11, three), (11, "Page 3")],
            [(9, "Printer manual"), (11, four)],
        ]
    )
    doc = parse_document(pdf, filename="printer.pdf")
    assert doc.title == "Printer manual"
    assert shape(doc) == [
        (H, 1, "Printer manual"),
        (P, 0, one),
        (H, 2, "Setting up"),
        (P, 0, one),
        (H, 3, "Loading paper and envelopes"),  # one heading set on two lines
        (P, 0, two),
        (H, 2, "Troubleshooting"),
        (P, 0, three),
        (P, 0, four),
    ]


def test_chinese_pdf_characters_placed_one_by_one_read_without_spaces():
    pdf = chinese_pdf(["退货政策", "我们支持七天无理由退货。"])
    assert "我 们" in pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    doc = parse_document(pdf, filename="tuihuo.pdf")
    assert doc.locale == "zh-hans"
    assert doc.title == "退货政策"
    assert shape(doc) == [(H, 1, "退货政策"), (P, 0, "我们支持七天无理由退货。")]


def test_pdf_encrypted_with_empty_user_password_is_read():
    pdf = encrypted(minimal_pdf(["Opening hours", "We are open daily."]), user_password="")
    assert parse_document(pdf, filename="hours.pdf").title == "Opening hours"


@pytest.mark.parametrize(
    ("data", "filename", "code"),
    [
        (b"", "empty.md", "empty"),
        (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog", "broken.pdf", "corrupt_pdf"),
        (b"Just some text, not a PDF at all.", "fake.pdf", "corrupt_pdf"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01", "photo.md", "binary"),
        (b"text with a \x00 NUL byte", "notes.txt", "binary"),
        (b"caf\xe9 au lait, cr\xe8me br\xfbl\xe9e", "menu.txt", "encoding"),
        (b"Hello \x80\x81 world", "notes.md", "encoding"),
        (b"<p>Hi</p>", "page.docx", "unsupported"),
        (b"   \n\n\t  ", "blank.txt", "no_text"),
        (
            b"<html><body><nav>Only a menu</nav><script>x()</script></body></html>",
            "a.html",
            "no_text",
        ),
    ],
)
def test_bad_files_are_rejected_with_a_code(data: bytes, filename: str, code: str):
    assert error_code(data, filename) == code


def test_password_protected_pdf_is_rejected():
    pdf = encrypted(minimal_pdf(["Secret"]), user_password="secret")
    assert error_code(pdf, "secret.pdf") == "corrupt_pdf"


def test_scanned_pdf_without_text_layer_has_no_text():
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=612, height=792)
    out = io.BytesIO()
    writer.write(out)
    assert error_code(out.getvalue(), "scan.pdf") == "no_text"


def test_a_pdf_whose_text_extracts_as_control_characters_has_no_text():
    """A browser's PDF of a Chinese page without a Chinese font: its text came out as NULs and
    a bare "90", and was imported as an English document titled "about:blank"."""
    pdf = minimal_pdf(["\\000\\000\\000\\001", "90"], title="about:blank")
    assert error_code(pdf, "warranty.pdf") == "no_text"
    titled = parse_document(
        minimal_pdf(["Warranty terms apply."], title="about:blank"), filename="help/warranty.pdf"
    )
    assert titled.title != "about:blank", "a title the producer filled in is no title"


def test_fifty_megabytes_are_rejected_by_size_before_parsing():
    # NUL bytes would be "binary" if anything looked at the content.
    assert error_code(bytes(50 * 1024 * 1024), "huge.txt") == "too_large"
    assert error_code(b"a" * 11, "small.txt", max_bytes=10) == "too_large"


def test_html_blocks_keep_their_absolute_web_and_mail_links():
    page = (
        b"<html><body><h1>Stores</h1><p>See <a href='https://x.example/map'>the map</a> or "
        b"<a href='mailto:a@x.example'>mail us</a>.</p><ul><li>Go <a href='/rel'>here</a></li>"
        b"<li><a href='javascript:alert(1)'>run</a></li></ul>Loose <a href='https://x.example/'>"
        b"home</a> text</body></html>"
    )
    blocks = parse_document(page, filename="stores.html", locale="en").blocks
    paragraph, the_list, loose = (b for b in blocks if b.kind != BlockKind.HEADING)
    assert paragraph.text == "See the map or mail us."
    assert paragraph.links == (
        ("the map", "https://x.example/map"),
        ("mail us", "mailto:a@x.example"),
    )
    assert the_list.links == (), "a relative link has no page to resolve it; javascript: never"
    assert loose.links == (("home", "https://x.example/"),)
