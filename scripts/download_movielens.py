"""Download MovieLens 20M from GroupLens into data/ml-20m/ (needs internet).

    python -m scripts.download_movielens [--out data] [--url URL] [--timeout 30]

Skips everything when the six CSV files are already in data/ml-20m/. Otherwise it
downloads ml-20m.zip (about 190 MB) to data/ml-20m.zip, checks its MD5 against the one
GroupLens publishes beside it (ml-20m.zip.md5), unzips the ml-20m/ folder into data/
and deletes the zip. A zip already in data/ is used instead of downloading (a damaged
one is deleted), so a zip copied there by hand also works offline.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from scripts import upload

URL = "https://files.grouplens.org/datasets/movielens/ml-20m.zip"
# The MD5 GroupLens publishes in https://files.grouplens.org/datasets/movielens/ml-20m.zip.md5
# ("MD5 (ml-20m.zip) = cd245b17a1ae2cc31bb14903e1204af3"). The published file is fetched
# and preferred; this copy is used only when that fetch fails (e.g. a zip put by hand).
PUBLISHED_MD5 = "cd245b17a1ae2cc31bb14903e1204af3"
FOLDER = "ml-20m"
# The six ml-20m files, as the landing zone names them.
FILES = tuple(name for table, name in upload.TABLES.items() if table not in upload.OPTIONAL_TABLES)
REPO_ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024


class DownloadError(Exception):
    """An error the user can fix; its message is the one line they see."""


class ChecksumMismatch(DownloadError):
    """The archive's MD5 is not the published one."""


def have_all_files(folder: str | os.PathLike) -> bool:
    folder = Path(folder)
    return all((folder / name).is_file() for name in FILES)


def md5_file(path: str | os.PathLike) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "md5").hexdigest()


def parse_md5(text: str) -> str:
    """The hash from a .md5 file: 'MD5 (x.zip) = <hex>' (BSD) or '<hex>  x.zip' (GNU)."""
    match = re.search(r"\b[0-9a-fA-F]{32}\b", text)
    if not match:
        raise DownloadError(f"no MD5 found in the published checksum {text[:80]!r}")
    return match.group(0).lower()


def verify_md5(path: str | os.PathLike, expected: str) -> None:
    actual = md5_file(path)
    if actual != expected.lower():
        raise ChecksumMismatch(f"{path} has MD5 {actual} but GroupLens publishes {expected}: the file is damaged")


def _fetch(url: str, timeout: float) -> urllib.request.addinfourl:
    try:
        return urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"cannot download {url}: HTTP {exc.code} {exc.reason}: check --url") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"cannot download {url} ({reason}): check the internet connection / "
            "HTTPS_PROXY, or copy ml-20m.zip into the --out folder by hand"
        ) from None


def download(url: str, target: Path, timeout: float = 30, stream=None) -> None:
    """Fetch url to target through target.part, with a progress line per 5 %."""
    stream = stream if stream is not None else sys.stderr
    partial = target.with_name(target.name + ".part")
    with _fetch(url, timeout) as response:
        total = int(response.headers.get("Content-Length") or 0)
        seen, shown = 0, -1
        try:
            with open(partial, "wb") as out:
                while chunk := response.read(MIB):
                    out.write(chunk)
                    seen += len(chunk)
                    step = 20 * seen // total if total else seen // (10 * MIB)
                    if step > shown:
                        shown = step
                        pct = f" ({100 * seen // total}%)" if total else ""
                        stream.write(f"  {target.name}  {seen / MIB:,.1f} MiB{pct}\n")
                        stream.flush()
        except (OSError, TimeoutError) as exc:
            raise DownloadError(f"download of {url} broke off ({exc}): run again to retry") from None
    os.replace(partial, target)


def published_md5(url: str, timeout: float) -> str:
    """The MD5 from <url>.md5; falls back to the pinned copy when it cannot be fetched."""
    try:
        with _fetch(url + ".md5", timeout) as response:
            return parse_md5(response.read(4096).decode("ascii", "replace"))
    except DownloadError:
        if url == URL:
            return PUBLISHED_MD5
        raise


def extract(zip_path: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Unzip the ml-20m/ folder of the archive into dest; returns dest/ml-20m."""
    dest = Path(dest).resolve()
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = [m for m in archive.namelist() if m.startswith(FOLDER + "/")]
            for name in members:
                if not (dest / name).resolve().is_relative_to(dest):
                    raise DownloadError(f"{zip_path} holds an unsafe path {name!r}")
            archive.extractall(dest, members)
    except zipfile.BadZipFile:
        raise DownloadError(f"{zip_path} is not a zip file: delete it and run again") from None
    folder = dest / FOLDER
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        raise DownloadError(
            f"{zip_path} has no {FOLDER}/{missing[0]}: it is not MovieLens 20M; delete it and run again"
        )
    return folder


def fetch_movielens(
    dest: str | os.PathLike = REPO_ROOT / "data",
    url: str = URL,
    timeout: float = 30,
    stream=None,
) -> tuple[Path, bool]:
    """Make dest/ml-20m hold the six CSV files; returns (folder, downloaded now)."""
    stream = stream if stream is not None else sys.stderr
    dest = Path(dest)
    folder = dest / FOLDER
    if have_all_files(folder):
        return folder, False
    dest.mkdir(parents=True, exist_ok=True)
    zip_path = dest / Path(url).name
    if not zip_path.exists():
        download(url, zip_path, timeout, stream)
    try:
        verify_md5(zip_path, published_md5(url, timeout))
    except ChecksumMismatch as exc:
        zip_path.unlink()  # the next run downloads it again
        raise ChecksumMismatch(f"{exc}: deleted it, run again") from None
    extract(zip_path, dest)
    zip_path.unlink()
    return folder, True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.download_movielens",
        description="Download MovieLens 20M into <dest>/ml-20m/ (skips if it is there).",
    )
    parser.add_argument(
        "--out",
        "--dest",
        dest="out",
        default=str(REPO_ROOT / "data"),
        help="parent folder of ml-20m/ (default data)",
    )
    parser.add_argument("--url", default=URL, help="archive URL (default GroupLens)")
    parser.add_argument("--timeout", type=float, default=30, help="network timeout in s (default 30)")
    args = parser.parse_args(argv)
    try:
        folder, downloaded = fetch_movielens(args.out, args.url, args.timeout)
    except DownloadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; run again to resume", file=sys.stderr)
        return 130
    print(f"{'downloaded' if downloaded else 'already there:'} MovieLens 20M in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
