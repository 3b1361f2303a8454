"""`make download` for every public MovieLens release in this CSV format, offline: each release
is a zip built here and served from 127.0.0.1 (the real GroupLens site cannot be reached)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import subprocess
import threading
import zipfile

import pytest

from scripts.cli import run
from scripts.dataset import download as dl
from tests.dbt_runner import ROOT

FOUR = {
    "movies.csv": "movieId,title,genres\n1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n",
    "ratings.csv": "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n",
    "tags.csv": "userId,movieId,tag,timestamp\n2,1,funny,1445714994\n",
    "links.csv": "movieId,imdbId,tmdbId\n1,0114709,862\n",
}
GENOME = {
    "genome-scores.csv": "movieId,tagId,relevance\n1,1,0.025\n",
    "genome-tags.csv": "tagId,tag\n1,007\n",
}


def release_zip(release: str) -> bytes:
    """A zip laid out as GroupLens publishes it: <release>/<file>, a README, genome files or not."""
    buffer = io.BytesIO()
    files = FOUR | (GENOME if dl.RELEASES[release] else {})
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(f"{release}/{name}", text)
        archive.writestr(f"{release}/README.txt", f"MovieLens {release}\n")
    return buffer.getvalue()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def grouplens(tmp_path, monkeypatch):
    """A file server on 127.0.0.1 standing in for files.grouplens.org/datasets/movielens/."""
    www = tmp_path / "www"
    www.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    monkeypatch.setattr(dl, "BASE_URL", base)
    yield www, base
    server.shutdown()
    thread.join()


@pytest.mark.parametrize("release", sorted(dl.RELEASES))
def test_download_fetches_each_release_by_name(grouplens, tmp_path, release, capsys):
    www, _ = grouplens
    data = release_zip(release)
    (www / f"{release}.zip").write_bytes(data)
    (www / f"{release}.zip.md5").write_text(f"MD5 ({release}.zip) = {hashlib.md5(data).hexdigest()}\n")
    dest = tmp_path / "data"

    assert run("download", "--out", str(dest), "--release", release) == 0

    folder = dest / release
    expected = FOUR | (GENOME if dl.RELEASES[release] else {})
    assert {p.name: p.read_text() for p in folder.glob("*.csv")} == expected
    assert not (dest / f"{release}.zip").exists()
    assert f"MovieLens {release} in {folder}" in capsys.readouterr().out
    (www / f"{release}.zip").unlink()  # a second run needs no network
    assert run("download", "--out", str(dest), "--release", release) == 0
    assert "already there" in capsys.readouterr().out


def test_a_release_without_a_published_md5_is_unzipped_with_a_note(grouplens, tmp_path, capsys):
    www, _ = grouplens
    (www / "ml-latest.zip").write_bytes(release_zip("ml-latest"))

    assert run("download", "--out", str(tmp_path), "--release", "ml-latest") == 0

    assert "not verified by MD5" in capsys.readouterr().err
    assert dl.have_all_files(tmp_path / "ml-latest")


def test_an_unknown_release_is_one_line(tmp_path, capsys):
    assert run("download", "--out", str(tmp_path), "--release", "ml-30m") == 1
    err = capsys.readouterr().err.strip()
    assert err == "error: unknown release 'ml-30m': use one of ml-20m, ml-25m, ml-latest, ml-latest-small"


def test_make_download_passes_the_release(tmp_path):
    """The Makefile target takes RELEASE=...: checked with make's dry run (nothing fetched)."""
    result = subprocess.run(
        ["make", "-n", "download", "RELEASE=ml-latest-small"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "-m scripts download --out data --release ml-latest-small" in result.stdout
