"""Landing raw files: scripts/landing/upload.py against moto on 127.0.0.1, a local folder,
DuckDB reading the landed files over S3, scripts/landing/s3_local.py and
scripts/dataset/download.py (offline parts, served from 127.0.0.1)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import os
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import duckdb
import pytest
from boto3.s3.transfer import TransferConfig

from scripts.cli import run
from scripts.common import httpfs_extension
from scripts.dataset import download as download_movielens
from scripts.landing import s3_local, upload

REPO_ROOT = Path(__file__).resolve().parents[1]
PREFIX = "movielens/raw"

# Small but shaped like MovieLens 20M (same headers); ratings has RATING_ROWS rows.
RATING_ROWS = 5
CSV_FILES = {
    "movies.csv": "movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n"
    '2,"Jumanji (1995)",Adventure|Children\n',
    "ratings.csv": "userId,movieId,rating,timestamp\n"
    + "".join(f"{u},{u % 2 + 1},{u % 5 + 0.5},11122{u:05d}\n" for u in range(1, 6)),
    "tags.csv": "userId,movieId,tag,timestamp\n1,1,pixar,1139045764\n",
    "links.csv": "movieId,imdbId,tmdbId\n1,0114709,862\n2,0113497,8844\n",
    "genome-scores.csv": "movieId,tagId,relevance\n1,1,0.025\n1,2,0.02475\n",
    "genome-tags.csv": "tagId,tag\n1,007\n2,007 (series)\n",
}


def make_src(folder: Path, **overrides: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in {**CSV_FILES, **overrides}.items():
        (folder / name).write_text(text)
    return folder


def run_cli(command: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `python -m scripts <command>` as a user would, in the test's environment."""
    return subprocess.run(
        [sys.executable, "-m", "scripts", command, *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> str:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


def keys_of(client, bucket: str) -> dict[str, dict]:
    listing = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {obj["Key"]: obj for obj in listing}


# --- S3 -------------------------------------------------------------------------------


def test_upload_lands_every_file_at_its_exact_key(s3_bucket, tmp_path):
    src = make_src(tmp_path / "sf")

    result = upload.upload_dir(src, batch=0)

    client = upload.s3_client()
    expected = {f"{PREFIX}/{t}/batch=0000/{f}" for t, f in upload.TABLES.items() if t not in upload.OPTIONAL_TABLES}
    assert set(keys_of(client, s3_bucket)) == expected
    assert sorted(result["uploaded"]) == sorted(f"s3://{s3_bucket}/{k}" for k in expected)
    assert result["skipped"] == []
    key = f"{PREFIX}/ratings/batch=0000/ratings.csv"
    body = client.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
    assert body == CSV_FILES["ratings.csv"].encode()
    head = client.head_object(Bucket=s3_bucket, Key=key)
    assert head["Metadata"]["sha256"] == hashlib.sha256(body).hexdigest()


def test_explicit_dest_and_tables_subset(s3_bucket, tmp_path):
    src = tmp_path / "sf"
    src.mkdir()
    (src / "ratings.csv").write_text(CSV_FILES["ratings.csv"])

    result = upload.upload_dir(src, f"s3://{s3_bucket}/other/prefix/", batch=3, tables=["ratings"])

    assert result["uploaded"] == [f"s3://{s3_bucket}/other/prefix/ratings/batch=0003/ratings.csv"]
    assert set(keys_of(upload.s3_client(), s3_bucket)) == {"other/prefix/ratings/batch=0003/ratings.csv"}


def test_second_upload_sends_nothing(s3_bucket, tmp_path):
    client = upload.s3_client()
    client.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    src = make_src(tmp_path / "sf")
    upload.upload_dir(src)
    before = keys_of(client, s3_bucket)
    time.sleep(1.1)  # LastModified has one-second resolution

    result = upload.upload_dir(src)

    assert result["uploaded"] == []
    assert len(result["skipped"]) == 6
    after = keys_of(client, s3_bucket)
    assert {k: v["LastModified"] for k, v in after.items()} == {k: v["LastModified"] for k, v in before.items()}
    versions = client.list_object_versions(Bucket=s3_bucket)["Versions"]
    assert len(versions) == 6  # a re-sent object would have made a second version


def test_large_file_goes_multipart_and_round_trips(s3_bucket, tmp_path):
    rows = "".join(f"{i},{i % 977},{i % 10 / 2},1112486027\n" for i in range(280_000))
    text = "userId,movieId,rating,timestamp\n" + rows
    assert 5 * 2**20 < len(text) <= 10 * 2**20  # two 5 MiB parts
    src = make_src(tmp_path / "sf", **{"ratings.csv": text})

    result = upload.upload_dir(src, multipart_threshold=2**20, multipart_chunksize=5 * 2**20)

    client = upload.s3_client()
    key = f"{PREFIX}/ratings/batch=0000/ratings.csv"
    assert f"s3://{s3_bucket}/{key}" in result["uploaded"]
    head = client.head_object(Bucket=s3_bucket, Key=key)
    assert head["ETag"].strip('"').endswith("-2")
    assert client.head_object(Bucket=s3_bucket, Key=key, PartNumber=1)["PartsCount"] == 2
    assert client.get_object(Bucket=s3_bucket, Key=key)["Body"].read() == text.encode()
    small = client.head_object(Bucket=s3_bucket, Key=f"{PREFIX}/movies/batch=0000/movies.csv")
    assert "-" not in small["ETag"]
    # the multipart ETag is not an MD5 of the file: idempotency must still hold
    again = upload.upload_dir(src, multipart_threshold=2**20, multipart_chunksize=5 * 2**20)
    assert again["uploaded"] == [] and len(again["skipped"]) == 6


def test_changed_file_in_existing_batch_is_refused(s3_bucket, tmp_path):
    client = upload.s3_client()
    src = make_src(tmp_path / "sf")
    upload.upload_dir(src)
    before = keys_of(client, s3_bucket)
    changed = CSV_FILES["ratings.csv"] + "99,1,4.0,1112486027\n"
    (src / "ratings.csv").write_text(changed)
    (src / "tags.csv").unlink()

    with pytest.raises(upload.UploadError) as caught:
        upload.upload_dir(src, tables=["movies", "ratings"])

    message = str(caught.value)
    assert "ratings/batch=0000/ratings.csv" in message
    assert "append-only" in message and "--batch 1" in message
    assert keys_of(client, s3_bucket) == before
    key = f"{PREFIX}/ratings/batch=0000/ratings.csv"
    body = client.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
    assert body == CSV_FILES["ratings.csv"].encode()

    # the fix the message names: a new batch beside the old one
    result = upload.upload_dir(src, batch=1, tables=["ratings"])
    assert result["uploaded"] == [f"s3://{s3_bucket}/{PREFIX}/ratings/batch=0001/ratings.csv"]
    assert len(keys_of(client, s3_bucket)) == 7


def test_cli_prints_a_summary_and_progress(s3_bucket, tmp_path):
    src = make_src(tmp_path / "sf")

    first = run_cli("upload", "--src", str(src))
    second = run_cli("upload", "--src", str(src))

    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == (f"uploaded 6, skipped 0 (already there) -> s3://{s3_bucket}/{PREFIX} batch=0000")
    assert "ratings.csv" in first.stderr and "(100%)" in first.stderr
    assert second.returncode == 0
    assert second.stdout.startswith("uploaded 0, skipped 6 (already there)")


def test_cli_missing_source_file_names_it(s3_bucket, tmp_path):
    src = make_src(tmp_path / "sf")
    (src / "genome-scores.csv").unlink()

    result = run_cli("upload", "--src", str(src))

    assert_one_line_error(result, "genome-scores.csv", "--tables")
    assert keys_of(upload.s3_client(), s3_bucket) == {}


def test_cli_missing_bucket(s3_env, tmp_path, monkeypatch):
    monkeypatch.setenv("S3_BUCKET", "no-such-bucket")
    src = make_src(tmp_path / "sf")

    result = run_cli("upload", "--src", str(src))

    line = assert_one_line_error(result, "'no-such-bucket' does not exist", "S3_BUCKET")
    assert "make s3" in line


def test_cli_unreachable_endpoint_fails_fast(s3_bucket, tmp_path, monkeypatch, unused_port):
    endpoint = f"http://127.0.0.1:{unused_port}"
    monkeypatch.setenv("S3_ENDPOINT_URL", endpoint)
    src = make_src(tmp_path / "sf")

    started = time.monotonic()
    result = run_cli("upload", "--src", str(src), timeout=30)

    assert time.monotonic() - started < 20
    assert_one_line_error(result, f"S3_ENDPOINT_URL={endpoint}")


def test_cli_malformed_endpoint(s3_bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("S3_ENDPOINT_URL", "127.0.0.1:5555")
    src = make_src(tmp_path / "sf")

    result = run_cli("upload", "--src", str(src))

    assert_one_line_error(result, "S3_ENDPOINT_URL='127.0.0.1:5555'", "http://")


@pytest.mark.parametrize(
    ("keys", "needles"),
    [
        (
            "unknown",
            ["InvalidAccessKeyId", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
        ),
        ("wrong-secret", ["SignatureDoesNotMatch", "AWS_SECRET_ACCESS_KEY"]),
        ("no-permission", ["access denied", "'iam-landing'", "AWS_ACCESS_KEY_ID"]),
    ],
)
def test_cli_rejected_credentials(moto_iam_server, s3_env, tmp_path, monkeypatch, keys, needles):
    server = moto_iam_server
    key_id, secret = {
        "unknown": ("testing", "testing"),
        "wrong-secret": (server["access_key_id"], "not-the-secret"),
        "no-permission": (server["access_key_id"], server["secret_access_key"]),
    }[keys]
    monkeypatch.setenv("S3_ENDPOINT_URL", server["endpoint"])
    monkeypatch.setenv("S3_BUCKET", server["bucket"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    src = make_src(tmp_path / "sf")

    result = run_cli("upload", "--src", str(src))

    assert_one_line_error(result, *needles)


def test_expired_token_message_names_the_settings():
    # moto cannot expire a token; the mapping of the error code is checked directly
    import botocore.exceptions

    error = botocore.exceptions.ClientError({"Error": {"Code": "ExpiredToken", "Message": "expired"}}, "ListObjectsV2")
    line = upload.describe_s3_error(error, "movielens-landing")
    assert "ExpiredToken" in line and "AWS_SESSION_TOKEN" in line
    assert "\n" not in line


# --- local folder ---------------------------------------------------------------------


def test_local_dest_same_layout_and_rules(tmp_path):
    src = make_src(tmp_path / "sf")
    landing = tmp_path / "landing"

    first = upload.upload_dir(src, landing)

    landed = sorted(p.relative_to(landing).as_posix() for p in landing.rglob("*.csv"))
    assert landed == sorted(f"{t}/batch=0000/{f}" for t, f in upload.TABLES.items() if t not in upload.OPTIONAL_TABLES)
    target = landing / "ratings" / "batch=0000" / "ratings.csv"
    assert target.read_text() == CSV_FILES["ratings.csv"]
    assert len(first["uploaded"]) == 6
    assert not list(landing.rglob("*.partial"))
    stamp = target.stat().st_mtime_ns

    again = upload.upload_dir(src, landing)
    assert again["uploaded"] == [] and len(again["skipped"]) == 6
    assert target.stat().st_mtime_ns == stamp

    (src / "ratings.csv").write_text(CSV_FILES["ratings.csv"] + "99,1,4.0,1\n")
    with pytest.raises(upload.UploadError, match=r"append-only.*--batch 1"):
        upload.upload_dir(src, landing)
    assert target.read_text() == CSV_FILES["ratings.csv"]

    newer = upload.upload_dir(src, landing, batch=1, tables=["ratings"])
    assert newer["uploaded"] == [str(landing / "ratings" / "batch=0001" / "ratings.csv")]


def test_local_dest_hardlink(tmp_path):
    src = make_src(tmp_path / "sf")
    landing = tmp_path / "landing"

    upload.upload_dir(src, landing, tables=["movies"], hardlink=True)

    target = landing / "movies" / "batch=0000" / "movies.csv"
    assert target.stat().st_ino == (src / "movies.csv").stat().st_ino


def test_cli_local_dest(tmp_path):
    src = make_src(tmp_path / "sf")
    landing = tmp_path / "landing"

    result = run_cli("upload", "--src", str(src), "--dest", str(landing))

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("uploaded 6, skipped 0")
    assert (landing / "genome_scores" / "batch=0000" / "genome-scores.csv").is_file()


# --- DuckDB reads the landing zone over S3 --------------------------------------------


def test_duckdb_reads_the_landed_csv_over_s3(s3_bucket, s3_env, tmp_path):
    upload.upload_dir(make_src(tmp_path / "sf"))
    upload.upload_dir(make_src(tmp_path / "sf1"), batch=1, tables=["ratings"])
    host_port = s3_env.removeprefix("http://")

    con = duckdb.connect()
    con.execute(f"LOAD '{httpfs_extension()}'")
    con.execute(
        "CREATE SECRET (TYPE s3, KEY_ID 'testing', SECRET 'testing', "
        f"REGION 'us-east-1', ENDPOINT '{host_port}', URL_STYLE 'path', USE_SSL false)"
    )
    rows = con.execute(
        "select filename, count(*) from read_csv(?, filename=true) group by filename order by filename",
        [f"s3://{s3_bucket}/{PREFIX}/ratings/*/*.csv"],
    ).fetchall()

    base = f"s3://{s3_bucket}/{PREFIX}/ratings"
    assert rows == [
        (f"{base}/batch=0000/ratings.csv", RATING_ROWS),
        (f"{base}/batch=0001/ratings.csv", RATING_ROWS),
    ]


# --- scripts/landing/s3_local.py --------------------------------------------------------------


def test_s3_local_start_is_idempotent_and_stop_stops(tmp_path, unused_port, capsys):
    port, state = str(unused_port), str(tmp_path / "s3")
    try:
        assert run("s3", "start", "--port", port, "--state-dir", state) == 0
        assert "started" in capsys.readouterr().out
        assert run("s3", "start", "--port", port, "--state-dir", state) == 0
        assert "already running" in capsys.readouterr().out
        assert run("s3", "status", "--port", port, "--state-dir", state) == 0
    finally:
        assert run("s3", "stop", "--port", port, "--state-dir", state) == 0
    assert "its objects stay in" in capsys.readouterr().out
    assert run("s3", "status", "--port", port, "--state-dir", state) == 1
    assert not (tmp_path / "s3" / f"moto-{port}.pid").exists()


def test_s3_local_restart_restores_every_object_as_it_was(tmp_path, unused_port):
    state = tmp_path / "s3"
    endpoint = s3_local.endpoint_url(unused_port)
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * (11 * 1024 * 1024))
    keys = {"p/ratings/batch=0000/ratings.csv": None, "p/big.csv": None}
    try:
        s3_local.start_server(unused_port, state)
        client = s3_local.client(endpoint)
        client.create_bucket(Bucket="durable")
        client.put_object(
            Bucket="durable", Key="p/ratings/batch=0000/ratings.csv", Body=b"a,b\n", Metadata={"sha256": "1"}
        )
        five_mib = 5 * 1024 * 1024
        config = TransferConfig(multipart_threshold=five_mib, multipart_chunksize=five_mib)
        client.upload_file(str(big), "durable", "p/big.csv", Config=config, ExtraArgs={"Metadata": {"sha256": "2"}})
        client.put_object(Bucket="durable", Key="p/deleted.csv", Body=b"gone")
        client.delete_object(Bucket="durable", Key="p/deleted.csv")
        for key in keys:
            keys[key] = client.head_object(Bucket="durable", Key=key)
        assert s3_local.stop_server(unused_port, state) is not None
        assert s3_local.whois(unused_port) is None  # nothing answers
        s3_local.start_server(unused_port, state)
        listed = client.list_objects_v2(Bucket="durable")["Contents"]
        assert sorted(item["Key"] for item in listed) == sorted(keys)
        for key, before in keys.items():
            after = client.head_object(Bucket="durable", Key=key)
            for field in ("ETag", "LastModified", "ContentLength", "Metadata"):
                assert after[field] == before[field], (key, field)
        body = client.get_object(Bucket="durable", Key="p/big.csv")["Body"].read()
        assert body == big.read_bytes()
    finally:
        s3_local.stop_server(unused_port, state)


def test_s3_local_refuses_a_port_held_by_another_checkout(tmp_path, unused_port, capsys):
    ours, theirs = tmp_path / "ours" / "data" / "s3", tmp_path / "theirs" / "data" / "s3"
    try:
        s3_local.start_server(unused_port, theirs)
        port = str(unused_port)
        assert run("s3", "start", "--port", port, "--state-dir", str(ours)) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"port {port} is held by the local S3 server of another checkout" in err[0]
        assert str(tmp_path / "theirs") in err[0] and "S3_LOCAL_PORT" in err[0]
        assert run("s3", "stop", "--port", port, "--state-dir", str(ours)) == 0
        assert "no local S3 server of this checkout" in capsys.readouterr().out
        assert s3_local.whois(unused_port)["state_dir"] == str(theirs)  # still running
    finally:
        s3_local.stop_server(unused_port, theirs)


def test_s3_local_ensure_bucket_creates_then_finds(s3_env, monkeypatch, capsys):
    monkeypatch.setenv("S3_BUCKET", "ensure-me")

    assert run("s3", "ensure-bucket") == 0
    assert run("s3", "ensure-bucket") == 0

    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("created bucket ensure-me")
    assert out[1].startswith("bucket ensure-me exists")


# --- scripts/dataset/download.py (offline: served from 127.0.0.1) -------------------


def make_movielens_zip(path: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in CSV_FILES.items():
            archive.writestr(f"ml-20m/{name}", text)
        archive.writestr("ml-20m/README.txt", "MovieLens 20M\n")
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def file_server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/www; yields its base URL."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(QuietHandler, directory=str(www))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


def test_parse_and_verify_md5(tmp_path):
    data = make_movielens_zip(tmp_path / "ml-20m.zip")
    digest = hashlib.md5(data).hexdigest()

    assert download_movielens.parse_md5(f"MD5 (ml-20m.zip) = {digest}\n") == digest
    assert download_movielens.parse_md5(f"{digest.upper()}  ml-20m.zip\n") == digest
    download_movielens.verify_md5(tmp_path / "ml-20m.zip", digest)
    with pytest.raises(download_movielens.ChecksumMismatch, match="damaged"):
        download_movielens.verify_md5(tmp_path / "ml-20m.zip", "0" * 32)


def test_download_verifies_unzips_and_then_skips(file_server, tmp_path, capsys):
    www, base = file_server
    data = make_movielens_zip(www / "ml-20m.zip")
    (www / "ml-20m.zip.md5").write_text(f"MD5 (ml-20m.zip) = {hashlib.md5(data).hexdigest()}\n")
    dest = tmp_path / "data"
    args = ["--out", str(dest), "--url", f"{base}/ml-20m.zip"]

    assert run("download", *args) == 0

    folder = dest / "ml-20m"
    assert download_movielens.have_all_files(folder)
    assert (folder / "ratings.csv").read_text() == CSV_FILES["ratings.csv"]
    assert not (dest / "ml-20m.zip").exists()
    captured = capsys.readouterr()
    assert "ml-20m.zip" in captured.err and "(100%)" in captured.err
    (www / "ml-20m.zip").unlink()  # a second run must not need the network
    assert run("download", *args) == 0
    assert "already there" in capsys.readouterr().out


def test_download_with_wrong_md5_is_deleted(file_server, tmp_path, capsys):
    www, base = file_server
    make_movielens_zip(www / "ml-20m.zip")
    (www / "ml-20m.zip.md5").write_text(f"MD5 (ml-20m.zip) = {'0' * 32}\n")
    dest = tmp_path / "data"

    assert run("download", "--dest", str(dest), "--url", f"{base}/ml-20m.zip") == 1

    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and err[-1].startswith("error:") and "MD5" in err[-1]
    assert not (dest / "ml-20m.zip").exists()
    assert not (dest / "ml-20m").exists()


def test_download_unreachable_url_is_one_line(tmp_path, unused_port):
    url = f"http://127.0.0.1:{unused_port}/ml-20m.zip"

    result = run_cli("download", "--out", str(tmp_path), "--url", url)

    assert_one_line_error(result, url, "internet")
