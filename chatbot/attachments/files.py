"""What an uploaded file is, read from its bytes, and its thumbnail. Framework-free: the
services decide what to do with the verdicts."""

import io
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

# Content type -> the extension a stored file gets (never the uploader's).
ALLOWED_TYPES = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
}
THUMBNAIL_SIZE = (320, 320)
MAX_NAME_CHARS = 120
# Bigger images are refused rather than decoded (a small file can claim a huge canvas).
MAX_IMAGE_PIXELS = 40_000_000

Scanner = Callable[..., str | None]


def sniff(data: bytes) -> str | None:
    """The allowed content type these bytes are, or None. Text is UTF-8 without control
    characters other than whitespace: anything else that is not one of the formats is refused."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if text and not any(unicodedata.category(c) == "Cc" and c not in "\t\n\r\f" for c in text):
        return "text/plain"
    return None


def clean_name(name: str, content_type: str) -> str:
    """A display name: no path, no control characters, not too long, and ending in the
    extension of what the file is (a `.html` that is text is shown as text)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip(" .")
    stem = base.rsplit(".", 1)[0] if "." in base else base
    extension = ALLOWED_TYPES[content_type]
    return (stem[: MAX_NAME_CHARS - len(extension)] or "file") + extension


@dataclass(frozen=True)
class Thumbnail:
    data: bytes
    extension: str


def image_thumbnail(data: bytes, size: tuple[int, int] = THUMBNAIL_SIZE) -> Thumbnail | None:
    """A small PNG or JPEG of the image's first frame, within `size`; None when Pillow cannot
    read it whole (a file that only starts like an image) or it is too large to decode."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.width * probe.height > MAX_IMAGE_PIXELS:
                return None
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            image.thumbnail(size)
            alpha = image.mode in ("RGBA", "LA", "P")
            out = io.BytesIO()
            if alpha:
                image.convert("RGBA").save(out, "PNG", optimize=True)
            else:
                image.convert("RGB").save(out, "JPEG", quality=80)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
    return Thumbnail(out.getvalue(), ".png" if alpha else ".jpg")
