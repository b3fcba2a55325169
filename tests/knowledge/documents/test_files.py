"""Files to import from a folder, a zip or an upload: every file listed, each with its bytes or
the reason it is kept out; zips cannot reach outside themselves or unpack without bound."""

import io
import zipfile
from pathlib import Path

import pytest

from knowledge.documents import files
from knowledge.documents.files import SourceFile, iter_source_files, iter_upload
from knowledge.documents.parsing import parse_document
from knowledge.documents.types import DocumentError

FIXTURES = Path(__file__).parent / "files"


def make_zip(members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return out.getvalue()


def listing(sources) -> list[tuple[str, str]]:
    """(name, "ok" or the error code) per entry."""
    return [(s.name, s.error.code if s.error else "ok") for s in sources]


def test_folder_is_walked_recursively_sorted_without_hidden_files(tmp_path: Path):
    (tmp_path / "guides" / "setup").mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "notes.md").write_text("# hidden")
    (tmp_path / ".draft.md").write_text("# hidden")
    (tmp_path / "guides" / "setup" / "wifi.md").write_text("# Wi-Fi\n\nJoin the network.")
    (tmp_path / "guides" / "returns.html").write_text("<h1>Returns</h1><p>30 days.</p>")
    (tmp_path / "about.txt").write_text("About us.")
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    assert listing(iter_source_files(tmp_path)) == [
        ("about.txt", "ok"),
        ("guides/returns.html", "ok"),
        ("guides/setup/wifi.md", "ok"),
        ("logo.png", "unsupported"),
    ]
    wifi = next(s for s in iter_source_files(tmp_path) if s.name.endswith("wifi.md"))
    assert parse_document(wifi.data, filename=wifi.name).title == "Wi-Fi"


def test_a_link_out_of_the_folder_is_listed_as_unsafe_and_not_read(tmp_path: Path):
    outside = tmp_path / "secret.txt"
    outside.write_text("Not for the help centre.")
    folder = tmp_path / "help"
    folder.mkdir()
    (folder / "faq.md").write_text("# FAQ")
    (folder / "link-inside.md").symlink_to(folder / "faq.md")
    (folder / "link-out.txt").symlink_to(outside)
    sources = list(iter_source_files(folder))
    assert listing(sources) == [
        ("faq.md", "ok"),
        ("link-inside.md", "ok"),
        ("link-out.txt", "unsafe_path"),
    ]


def test_a_zip_in_a_folder_lists_its_members_under_the_zip_folder(tmp_path: Path):
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "help.zip").write_bytes(make_zip({"faq.md": b"# FAQ"}))
    (tmp_path / "intro.md").write_text("# Intro")
    assert listing(iter_source_files(tmp_path)) == [("archive/faq.md", "ok"), ("intro.md", "ok")]


def test_a_missing_path_is_an_error(tmp_path: Path):
    with pytest.raises(DocumentError) as raised:
        list(iter_source_files(tmp_path / "nowhere"))
    assert raised.value.code == "not_found"


def test_one_file_keeps_its_name_and_bytes():
    sources = list(iter_source_files(FIXTURES / "returns.md"))
    assert sources == [SourceFile("returns.md", data=(FIXTURES / "returns.md").read_bytes())]


def test_a_fifty_megabyte_file_on_disk_is_listed_as_too_large_without_reading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    huge = tmp_path / "manual.pdf"
    with huge.open("wb") as out:
        out.truncate(50 * 1024 * 1024)

    def no_read(self: Path) -> bytes:
        raise AssertionError(f"{self} was read")

    monkeypatch.setattr(Path, "read_bytes", no_read)
    assert listing(iter_source_files(huge)) == [("manual.pdf", "too_large")]


def test_zip_with_good_and_bad_members_lists_each(tmp_path: Path):
    archive = tmp_path / "help.zip"
    archive.write_bytes(
        make_zip(
            {
                "help/returns.md": (FIXTURES / "returns.md").read_bytes(),
                "help/points.txt": (FIXTURES / "points-gb18030.txt").read_bytes(),
                "help/empty.md": b"",
                "help/broken.pdf": b"%PDF-1.4 nothing else",
                "help/slides.pptx": b"PK\x03\x04",
                "help/nested.zip": make_zip({"a.md": b"# A"}),
                "__MACOSX/help/._returns.md": b"\x00\x05\x16\x07",
                "help/.DS_Store": b"\x00\x00\x00\x01Bud1",
            }
        )
    )
    sources = list(iter_source_files(archive))
    assert listing(sources) == [
        ("help/broken.pdf", "ok"),
        ("help/empty.md", "ok"),
        ("help/nested.zip", "unsupported"),
        ("help/points.txt", "ok"),
        ("help/returns.md", "ok"),
        ("help/slides.pptx", "unsupported"),
    ]
    outcomes = {}
    for source in sources:
        if source.data is None:
            continue
        try:
            outcomes[source.name] = parse_document(source.data, filename=source.name).title
        except DocumentError as error:
            outcomes[source.name] = error.code
    assert outcomes == {
        "help/broken.pdf": "corrupt_pdf",
        "help/empty.md": "empty",
        "help/points.txt": "会员积分说明",
        "help/returns.md": "Returns and refunds",
    }


def test_zip_member_names_that_leave_the_archive_are_refused():
    archive = make_zip(
        {
            "../../etc/evil.md": b"# Evil",
            "/absolute.md": b"# Absolute",
            "C:/windows.md": b"# Drive",
            "docs\\..\\..\\back.md": b"# Backslashes",
            "docs/fine.md": b"# Fine",
        }
    )
    assert listing(iter_upload("upload.zip", archive)) == [
        ("../../etc/evil.md", "unsafe_path"),
        ("/absolute.md", "unsafe_path"),
        ("C:/windows.md", "unsafe_path"),
        ("docs/../../back.md", "unsafe_path"),
        ("docs/fine.md", "ok"),
    ]


def test_zip_bomb_member_is_refused_by_its_compression_ratio_before_unpacking():
    bomb = b"a" * (8 * 1024 * 1024)  # deflates about 1000:1
    archive = make_zip({"bomb.txt": bomb, "fine.txt": b"Fine text."})
    assert len(archive) < 100 * 1024
    assert listing(iter_upload("help.zip", archive)) == [
        ("bomb.txt", "zip_bomb"),
        ("fine.txt", "ok"),
    ]


def test_zip_of_many_small_members_that_together_unpack_too_far_is_refused_whole():
    small = b"b" * (200 * 1024)  # each under the size from which a member's ratio counts
    archive = make_zip({f"page-{i}.txt": small for i in range(8)})
    assert listing(iter_upload("pages.zip", archive)) == [("pages.zip", "zip_bomb")]


def test_zip_member_over_the_size_limit_is_refused():
    archive = make_zip({"big.txt": b"word " * 3000}, compression=zipfile.ZIP_STORED)
    assert listing(iter_upload("help.zip", archive, max_bytes=10_000)) == [("big.txt", "too_large")]


def test_zip_over_the_member_count_or_total_size_is_refused_whole(
    monkeypatch: pytest.MonkeyPatch,
):
    archive = make_zip({f"page-{i}.md": b"# Page\n\nText." for i in range(4)})
    monkeypatch.setattr(files, "MAX_ZIP_MEMBERS", 3)
    assert listing(iter_upload("many.zip", archive)) == [("many.zip", "zip_too_many_files")]
    monkeypatch.setattr(files, "MAX_ZIP_MEMBERS", 10)
    monkeypatch.setattr(files, "MAX_ZIP_TOTAL_BYTES", 40)
    assert listing(iter_upload("many.zip", archive)) == [("many.zip", "zip_too_large")]


def test_damaged_zip_is_one_error_entry():
    assert listing(iter_upload("help.zip", b"PK\x03\x04 not really a zip")) == [
        ("help.zip", "corrupt_zip")
    ]


def test_chinese_member_names_from_a_windows_zip_are_decoded():
    # Windows' built-in zip writes GBK names without the UTF-8 flag.
    archive = _gbk_named_zip("帮助/退货.md", "# 退货\n\n七天无理由退货。")
    assert listing(iter_upload("help.zip", archive)) == [("帮助/退货.md", "ok")]


def _gbk_named_zip(name: str, text: str) -> bytes:
    """A zip whose member name is stored as GBK bytes without the UTF-8 flag: written under an
    ASCII placeholder of the same length, then the name's bytes swapped in both headers."""
    gbk_name = name.encode("gbk")
    placeholder = b"x" * len(gbk_name)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(placeholder.decode(), text.encode())
    raw = out.getvalue()
    assert raw.count(placeholder) == 2  # local header and central directory
    return raw.replace(placeholder, gbk_name)


def test_upload_of_one_file_keeps_only_its_file_name():
    assert listing(iter_upload("C:\\Users\\me\\Desktop\\faq.md", b"# FAQ")) == [("faq.md", "ok")]
    assert listing(iter_upload("notes.docx", b"PK\x03\x04")) == [("notes.docx", "unsupported")]


def test_a_source_file_has_data_or_an_error():
    with pytest.raises(ValueError, match="either data or an error"):
        SourceFile("a.md")
