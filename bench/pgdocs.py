"""The PostgreSQL 15 manual as a large, real corpus for the retrieval benchmark (issue 15).

Debian's `postgresql-doc-15` package carries the HTML manual (~1,100 pages); it comes through
the package registry with `apt-get download`, so no web crawl or network besides apt is needed.
Fetched and unpacked once into `~/.cache/helpdesk-chatbot/pgdocs/`; later calls reuse it.

    python -m bench.pgdocs        # prints the folder of the HTML manual
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

PACKAGE = "postgresql-doc-15"
CACHE_DIR = Path.home() / ".cache" / "helpdesk-chatbot" / "pgdocs"
HTML_SUBDIR = Path("usr/share/doc/postgresql-doc-15/html")


class PgDocsUnavailable(RuntimeError):
    """The manual is not cached and apt / dpkg cannot fetch it here."""


def cached_pgdocs_folder(cache_dir: Path = CACHE_DIR) -> Path | None:
    """The HTML manual's folder if it was already fetched, else None (never touches apt)."""
    folder = cache_dir / HTML_SUBDIR
    return folder if (folder / "index.html").is_file() else None


def pgdocs_folder(cache_dir: Path = CACHE_DIR) -> Path:
    """The folder of the HTML manual, downloading and unpacking the package on first use.

    Raises PgDocsUnavailable when apt-get or dpkg-deb is missing or fails (not Debian/Ubuntu,
    no apt sources, no network to the mirror)."""
    cached = cached_pgdocs_folder(cache_dir)
    if cached is not None:
        return cached
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise PgDocsUnavailable(
                f"{tool} not found: the PostgreSQL manual comes from Debian's {PACKAGE} package; "
                f"on a system without apt, unpack that .deb into {cache_dir} by hand"
            )
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as download_dir:
        _run(["apt-get", "download", PACKAGE], cwd=Path(download_dir))
        debs = sorted(Path(download_dir).glob(f"{PACKAGE}_*.deb"))
        if not debs:
            raise PgDocsUnavailable(f"apt-get download {PACKAGE} produced no .deb file")
        # Unpack beside the cache, then move in place: an interrupted run leaves no half manual.
        unpack_dir = Path(download_dir) / "root"
        _run(["dpkg-deb", "-x", str(debs[-1]), str(unpack_dir)], cwd=Path(download_dir))
        if not (unpack_dir / HTML_SUBDIR / "index.html").is_file():
            raise PgDocsUnavailable(f"{debs[-1].name} has no {HTML_SUBDIR}/index.html")
        shutil.rmtree(cache_dir / "usr", ignore_errors=True)
        (unpack_dir / "usr").rename(cache_dir / "usr")
    return cache_dir / HTML_SUBDIR


def _run(command: list[str], *, cwd: Path) -> None:
    """Run a tool, turning its failure into PgDocsUnavailable with its own message."""
    try:
        subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True, timeout=600)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        detail = (getattr(error, "stderr", None) or "").strip().splitlines()
        reason = detail[-1] if detail else str(error)
        raise PgDocsUnavailable(f"{' '.join(command)} failed: {reason}") from error


if __name__ == "__main__":
    print(pgdocs_folder())
