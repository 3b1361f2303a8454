"""Download a MovieLens release from GroupLens into data/<release>/ (needs internet).

    python -m scripts.download_movielens [--release ml-20m] [--out data] [--url URL] [--timeout 30]

Releases (RELEASES), all in the same CSV format: ml-20m (the default), ml-25m, ml-latest
(the six files) and ml-latest-small (movies, ratings, tags and links: no genome files).
Skips everything when the release's files are already in data/<release>/. Otherwise it
downloads <release>.zip to data/, checks its MD5 against the one GroupLens publishes beside
it (<release>.zip.md5; for ml-20m a pinned copy when that cannot be fetched; for a release
with neither, the zip's own CRC checks are the only check, and a note says so), unzips the
<release>/ folder into data/ and deletes the zip. A zip already in data/ is used instead of
downloading (a damaged one is deleted), so a zip copied there by hand also works offline.
--url fetches another archive; its folder is named after the zip (x.zip holds x/).
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

from scripts import upload, validate

BASE_URL = "https://files.grouplens.org/datasets/movielens/"
URL = BASE_URL + "ml-20m.zip"
# The MD5 GroupLens publishes in https://files.grouplens.org/datasets/movielens/ml-20m.zip.md5
# ("MD5 (ml-20m.zip) = cd245b17a1ae2cc31bb14903e1204af3"). The published file is fetched
# and preferred; this copy is used only when that fetch fails (e.g. a zip put by hand).
PUBLISHED_MD5 = "cd245b17a1ae2cc31bb14903e1204af3"
FOLDER = "ml-20m"
# The six ml-20m files, as the landing zone names them.
FILES = tuple(name for table, name in upload.TABLES.items() if table not in upload.OPTIONAL_TABLES)
GENOME_FILES = tuple(upload.TABLES[table] for table in validate.GENOME_TABLES)
# The public releases in this CSV format: name -> has the genome files. ml-latest changes over
# time (no pinned checksum); ml-latest-small is the small one most people start with.
RELEASES = {"ml-20m": True, "ml-25m": True, "ml-latest": True, "ml-latest-small": False}
PINNED_MD5 = {URL: PUBLISHED_MD5}
REPO_ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024


class DownloadError(Exception):
    """An error the user can fix; its message is the one line they see."""


class ChecksumMismatch(DownloadError):
    """The archive's MD5 is not the published one."""


def release_files(release: str) -> tuple[str, ...]:
    """The CSV files a release holds: the six, or the four without the genome files."""
    genome = RELEASES.get(release, True)
    return tuple(name for name in FILES if genome or name not in GENOME_FILES)


def have_all_files(folder: str | os.PathLike, release: str | None = None) -> bool:
    folder = Path(folder)
    return all((folder / name).is_file() for name in release_files(release or folder.name))


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
        if url in PINNED_MD5:
            return PINNED_MD5[url]
        raise


def extract(zip_path: str | os.PathLike, dest: str | os.PathLike, release: str = FOLDER) -> Path:
    """Unzip the <release>/ folder of the archive into dest; returns dest/<release>."""
    dest = Path(dest).resolve()
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = [m for m in archive.namelist() if m.startswith(release + "/")]
            for name in members:
                if not (dest / name).resolve().is_relative_to(dest):
                    raise DownloadError(f"{zip_path} holds an unsafe path {name!r}")
            archive.extractall(dest, members)
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"{zip_path} is not a readable zip file ({exc}): delete it and run again") from None
    folder = dest / release
    missing = [name for name in release_files(release) if not (folder / name).is_file()]
    if missing:
        raise DownloadError(
            f"{zip_path} has no {release}/{missing[0]}: it is not MovieLens {release}; delete it and run again"
        )
    return folder


def release_url(release: str) -> str:
    if release not in RELEASES:
        raise DownloadError(f"unknown release {release!r}: use one of {', '.join(RELEASES)}")
    return f"{BASE_URL}{release}.zip"


def fetch_movielens(
    dest: str | os.PathLike = REPO_ROOT / "data",
    url: str = URL,
    timeout: float = 30,
    stream=None,
) -> tuple[Path, bool]:
    """Make dest/<release> hold the release's CSV files, the release being the zip's name
    (ml-20m.zip holds ml-20m/); returns (folder, downloaded now)."""
    stream = stream if stream is not None else sys.stderr
    dest = Path(dest)
    release = Path(url).name.removesuffix(".zip")
    folder = dest / release
    if have_all_files(folder, release):
        return folder, False
    dest.mkdir(parents=True, exist_ok=True)
    zip_path = dest / Path(url).name
    if not zip_path.exists():
        download(url, zip_path, timeout, stream)
    try:
        expected = published_md5(url, timeout)
    except DownloadError as exc:
        expected = None
        stream.write(f"note: {exc}; not verified by MD5 (the zip's own CRC checks still apply)\n")
    try:
        if expected:
            verify_md5(zip_path, expected)
    except ChecksumMismatch as exc:
        zip_path.unlink()  # the next run downloads it again
        raise ChecksumMismatch(f"{exc}: deleted it, run again") from None
    extract(zip_path, dest, release)
    zip_path.unlink()
    return folder, True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.download_movielens",
        description="Download a MovieLens release into <dest>/<release>/ (skips if it is there).",
    )
    parser.add_argument(
        "--release",
        default=FOLDER,
        help=f"one of {', '.join(RELEASES)} (default {FOLDER}); --url overrides it",
    )
    parser.add_argument(
        "--out",
        "--dest",
        dest="out",
        default=str(REPO_ROOT / "data"),
        help="parent folder of <release>/ (default data)",
    )
    parser.add_argument("--url", default=None, help="archive URL (default: the release's zip at GroupLens)")
    parser.add_argument("--timeout", type=float, default=30, help="network timeout in s (default 30)")
    args = parser.parse_args(argv)
    try:
        url = args.url or release_url(args.release)
        folder, downloaded = fetch_movielens(args.out, url, args.timeout)
    except DownloadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; run again to resume", file=sys.stderr)
        return 130
    print(f"{'downloaded' if downloaded else 'already there:'} MovieLens {folder.name} in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
