"""Files to import from a path (one file, a folder, a zip) or an upload, each as its bytes or as
the error that keeps it out, so that the admin sees every file listed.

Zip archives are read in memory, never extracted to disk, and are bounded: member count, total
uncompressed size, each member's size and compression ratio (zip bombs), unsafe member names."""

import io
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from knowledge.documents.parsing import (
    MAX_DOCUMENT_BYTES,
    SUPPORTED_EXTENSIONS,
    ErrorCode,
    too_large_error,
    unsupported_error,
)
from knowledge.documents.types import DocumentError

MAX_ZIP_MEMBERS = 5000
MAX_ZIP_TOTAL_BYTES = 500 * 1024 * 1024
# Help-centre text compresses 3-10x and repetitive HTML up to ~50x; bombs reach 1000x and more.
MAX_COMPRESSION_RATIO = 100
# Below this size a member is harmless whatever its ratio (a file of blank lines compresses 500x).
RATIO_CHECKED_FROM_BYTES = 1024 * 1024
_SKIPPED_FOLDERS = frozenset({"__MACOSX"})
_UTF8_NAME_FLAG = 0x800
_ENCRYPTED_FLAG = 0x1


@dataclass(frozen=True)
class SourceFile:
    """`name` is the path relative to what was imported, in / form: the document's stable
    source key when it has no URL. Exactly one of `data` and `error` is set."""

    name: str
    data: bytes | None = None
    error: DocumentError | None = None

    def __post_init__(self) -> None:
        if (self.data is None) == (self.error is None):
            raise ValueError("a SourceFile has either data or an error")


def iter_source_files(path: Path, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> Iterator[SourceFile]:
    """One file, a folder (recursive, sorted, hidden files and folders skipped) or a .zip."""
    if path.is_dir():
        yield from _iter_folder(path, max_bytes=max_bytes)
    elif path.is_file():
        yield from _iter_path(path, path.name, max_bytes=max_bytes)
    else:
        raise DocumentError(ErrorCode.NOT_FOUND, f"{path} is not a file or a folder.")


def iter_upload(
    name: str, data: bytes, *, max_bytes: int = MAX_DOCUMENT_BYTES
) -> Iterator[SourceFile]:
    """An uploaded file, or the members of an uploaded .zip. Only the file name is kept of what
    the browser sent (some send a full Windows path)."""
    name = PurePosixPath(name.replace("\\", "/")).name
    if _is_zip_name(name):
        yield from _iter_zip(io.BytesIO(data), name, max_bytes=max_bytes)
    else:
        yield _checked(name, data, max_bytes=max_bytes)


def _iter_folder(folder: Path, *, max_bytes: int) -> Iterator[SourceFile]:
    """The walk stays in the folder: symlinked folders are not followed (os.walk's default) and
    a symlinked file that points outside is listed as unsafe."""
    paths: list[Path] = []
    for directory, subfolders, files in os.walk(folder):
        subfolders[:] = [name for name in subfolders if not _is_hidden(name)]
        paths.extend(Path(directory, name) for name in files if not _is_hidden(name))
    inside = folder.resolve()
    for path in sorted(paths, key=lambda p: p.relative_to(folder).as_posix()):
        name = path.relative_to(folder).as_posix()
        if path.is_symlink() and not path.resolve().is_relative_to(inside):
            yield SourceFile(
                name,
                error=DocumentError(
                    ErrorCode.UNSAFE_PATH, "The file is a link to a place outside the folder."
                ),
            )
            continue
        yield from _iter_path(path, name, max_bytes=max_bytes)


def _iter_path(path: Path, name: str, *, max_bytes: int) -> Iterator[SourceFile]:
    if _is_zip_name(name):
        with path.open("rb") as archive:
            yield from _iter_zip(archive, name, max_bytes=max_bytes, prefix=_zip_prefix(name))
        return
    if PurePosixPath(name).suffix.lower() not in SUPPORTED_EXTENSIONS:
        yield SourceFile(name, error=unsupported_error(name))
        return
    size = path.stat().st_size
    if size > max_bytes:  # rejected before it is read
        yield SourceFile(name, error=too_large_error(size, max_bytes))
        return
    yield SourceFile(name, data=path.read_bytes())


def _zip_prefix(name: str) -> str:
    """Members of a zip found inside a folder are named under the zip's folder, so that two zips
    in different folders do not share keys; a zip imported by itself adds no prefix."""
    parent = PurePosixPath(name).parent.as_posix()
    return "" if parent == "." else f"{parent}/"


def _iter_zip(
    archive: io.BufferedIOBase | io.BytesIO, name: str, *, max_bytes: int, prefix: str = ""
) -> Iterator[SourceFile]:
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = [info for info in zipped.infolist() if not info.is_dir()]
            problem = _archive_problem(members)
            if problem:
                yield SourceFile(name, error=problem)
                return
            named = sorted(((_member_name(info), info) for info in members), key=lambda m: m[0])
            for member_name, info in named:
                if _is_hidden_path(member_name):
                    continue
                yield _zip_member(zipped, info, member_name, prefix, max_bytes=max_bytes)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as error:
        yield SourceFile(
            name,
            error=DocumentError(ErrorCode.CORRUPT_ZIP, f"The zip archive is damaged ({error})."),
        )


def _archive_problem(members: list[zipfile.ZipInfo]) -> DocumentError | None:
    if len(members) > MAX_ZIP_MEMBERS:
        return DocumentError(
            ErrorCode.ZIP_TOO_MANY_FILES,
            f"The zip archive holds {len(members)} files; at most {MAX_ZIP_MEMBERS} "
            "can be imported at once.",
        )
    total = sum(info.file_size for info in members)
    if total > MAX_ZIP_TOTAL_BYTES:
        return DocumentError(
            ErrorCode.ZIP_TOO_LARGE,
            f"The zip archive unpacks to {_megabytes(total)}; at most "
            f"{_megabytes(MAX_ZIP_TOTAL_BYTES)} can be imported at once.",
        )
    # Members too small for their own ratio to count are checked together: many of them, each
    # harmless, can still unpack far beyond their size.
    small = [info for info in members if info.file_size < RATIO_CHECKED_FROM_BYTES]
    small_total = sum(info.file_size for info in small)
    ratio = small_total / max(sum(info.compress_size for info in small), 1)
    if small_total >= RATIO_CHECKED_FROM_BYTES and ratio > MAX_COMPRESSION_RATIO:
        return _bomb_error(ratio, "The zip archive")
    return None


def _bomb_error(ratio: float, what: str) -> DocumentError:
    return DocumentError(
        ErrorCode.ZIP_BOMB,
        f"{what} unpacks to {ratio:.0f} times its packed size (at most "
        f"{MAX_COMPRESSION_RATIO}); it looks like a zip bomb and was not unpacked.",
    )


def _zip_member(
    zipped: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, prefix: str, *, max_bytes: int
) -> SourceFile:
    """Checks run on the member's header before anything is decompressed; the read is capped
    at the declared size as well (zipfile stops there and checks the CRC)."""
    if _is_unsafe(name):
        return SourceFile(
            prefix + name,
            error=DocumentError(
                ErrorCode.UNSAFE_PATH,
                "The zip member's path leaves the archive (absolute or with ..); skipped.",
            ),
        )
    name = prefix + name
    if _is_zip_name(name):
        return SourceFile(
            name,
            error=DocumentError(
                ErrorCode.UNSUPPORTED, "Archives inside an archive are not imported."
            ),
        )
    if PurePosixPath(name).suffix.lower() not in SUPPORTED_EXTENSIONS:
        return SourceFile(name, error=unsupported_error(name))
    if info.flag_bits & _ENCRYPTED_FLAG:
        return SourceFile(
            name,
            error=DocumentError(ErrorCode.ENCRYPTED, "The zip member is password-protected."),
        )
    if info.file_size > max_bytes:
        return SourceFile(name, error=too_large_error(info.file_size, max_bytes))
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size >= RATIO_CHECKED_FROM_BYTES and ratio > MAX_COMPRESSION_RATIO:
        return SourceFile(name, error=_bomb_error(ratio, "The zip member"))
    try:
        with zipped.open(info) as member:
            data = member.read(max_bytes + 1)
    except (zipfile.BadZipFile, NotImplementedError, EOFError, OSError) as error:
        return SourceFile(
            name,
            error=DocumentError(ErrorCode.CORRUPT_ZIP, f"The zip member is damaged ({error})."),
        )
    if len(data) > max_bytes:
        return SourceFile(name, error=too_large_error(len(data), max_bytes))
    return SourceFile(name, data=data)


def _member_name(info: zipfile.ZipInfo) -> str:
    """Member names without the UTF-8 flag were decoded as cp437 by zipfile; Windows zips of
    Chinese file names are GBK, so such names are decoded again as UTF-8, then GB18030."""
    name = info.filename
    if not info.flag_bits & _UTF8_NAME_FLAG:
        try:
            raw = name.encode("cp437")
        except UnicodeEncodeError:
            raw = None
        if raw is not None:
            for encoding in ("utf-8", "gb18030"):
                try:
                    name = raw.decode(encoding)
                    break
                except UnicodeDecodeError:
                    continue
    return name.replace("\\", "/")


def _checked(name: str, data: bytes, *, max_bytes: int) -> SourceFile:
    if PurePosixPath(name).suffix.lower() not in SUPPORTED_EXTENSIONS:
        return SourceFile(name, error=unsupported_error(name))
    if len(data) > max_bytes:
        return SourceFile(name, error=too_large_error(len(data), max_bytes))
    return SourceFile(name, data=data)


def _is_unsafe(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return (
        name.startswith("/")
        or ".." in parts
        or (bool(parts) and ":" in parts[0])  # a Windows drive ("C:")
        or "\x00" in name
    )


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name in _SKIPPED_FOLDERS


def _is_hidden_path(name: str) -> bool:
    return any(_is_hidden(part) for part in PurePosixPath(name).parts if part != "..")


def _is_zip_name(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() == ".zip"


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
