"""Download a MovieLens release from GroupLens into data/<release>/ (`make download`).

Skips a release already there. Checks the zip's MD5 against the one GroupLens publishes (a pinned
copy for ml-20m), unzips the release folder and deletes the zip; a zip already in data/ is used
instead of downloading, so one copied there by hand works offline.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import click
from tqdm.utils import CallbackIOWrapper

from scripts import contract
from scripts.common import ROOT, UserError, progress

BASE_URL = "https://files.grouplens.org/datasets/movielens/"
URL = BASE_URL + "ml-20m.zip"
# The MD5 GroupLens publishes in https://files.grouplens.org/datasets/movielens/ml-20m.zip.md5
# ("MD5 (ml-20m.zip) = cd245b17a1ae2cc31bb14903e1204af3"). The published file is fetched
# and preferred; this copy is used only when that fetch fails (e.g. a zip put by hand).
PUBLISHED_MD5 = "cd245b17a1ae2cc31bb14903e1204af3"
FOLDER = "ml-20m"
# The six ml-20m files, as the landing zone names them.
FILES = contract.ML20M
GENOME_FILES = tuple(contract.FILES[table] for table in contract.GENOME_TABLES)
# The public releases in this CSV format: name -> has the genome files. ml-latest changes over
# time (no pinned checksum); ml-latest-small is the small one most people start with.
RELEASES = {"ml-20m": True, "ml-25m": True, "ml-latest": True, "ml-latest-small": False}
PINNED_MD5 = {URL: PUBLISHED_MD5}
MIB = 1024 * 1024


class DownloadError(UserError):
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


def parse_md5(text: str) -> str:
    """The hash from a .md5 file: 'MD5 (x.zip) = <hex>' (BSD) or '<hex>  x.zip' (GNU)."""
    match = re.search(r"\b[0-9a-fA-F]{32}\b", text)
    if not match:
        raise DownloadError(f"no MD5 found in the published checksum {text[:80]!r}")
    return match.group(0).lower()


def verify_md5(path: str | os.PathLike, expected: str) -> None:
    with open(path, "rb") as handle:
        actual = hashlib.file_digest(handle, "md5").hexdigest()
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
    """Fetch url to target through target.part, with a progress bar."""
    stream = stream if stream is not None else sys.stderr
    partial = target.with_name(target.name + ".part")
    with _fetch(url, timeout) as response:
        total = int(response.headers.get("Content-Length") or 0)
        try:
            with open(partial, "wb") as out, progress(target.name, total, stream) as bar:
                shutil.copyfileobj(response, CallbackIOWrapper(bar.update, out, "write"), MIB)
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
    dest: str | os.PathLike = ROOT / "data",
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


@click.command("download")
@click.option("--release", default=FOLDER, help=f"one of {', '.join(RELEASES)} (default {FOLDER}); --url overrides it")
@click.option("--out", "--dest", "out", default=str(ROOT / "data"), help="parent folder of <release>/ (default data)")
@click.option("--url", help="archive URL (default: the release's zip at GroupLens)")
@click.option("--timeout", type=float, default=30, show_default=True, help="network timeout in s")
def command(release: str, out: str, url: str | None, timeout: float) -> None:
    """Download a MovieLens release into <out>/<release>/ (skips if it is there)."""
    try:
        folder, downloaded = fetch_movielens(out, url or release_url(release), timeout)
    except KeyboardInterrupt:
        raise DownloadError("interrupted; run again to resume", 130) from None
    print(f"{'downloaded' if downloaded else 'already there:'} MovieLens {folder.name} in {folder}")
