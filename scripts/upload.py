"""Land the MovieLens CSV files in S3 (or a local folder), one batch at a time.

    python -m scripts.upload --src data/generated/sf0.01
    python -m scripts.upload --src data/ml-20m --batch 1 --tables ratings tags
    python -m scripts.upload --src data/generated/sf0.01 --dest data/landing

Layout, the same in S3 and in a local folder:

    <dest>/<table>/batch=<NNNN>/<file name>
    s3://movielens-landing/movielens/raw/ratings/batch=0000/ratings.csv

The default destination is s3://$S3_BUCKET/$S3_PREFIX. Settings (environment):
S3_BUCKET (movielens-landing), S3_PREFIX (movielens/raw), S3_ENDPOINT_URL (unset means
real AWS; http://127.0.0.1:5555 for the local server of scripts/s3_local.py),
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (optional), AWS_REGION
(us-east-1). Credentials are resolved by boto3, which reads those variables first.

The command line checks every file first with scripts/validate.py (--no-validate skips it;
upload_dir() checks with validate=True): a file that must not land stops the run with one line
naming the file, the line and the problem, and nothing lands; invalid rating rows land with the
file and are listed, with their line, text and reason, in
<dest>/rejected_rows/batch=<NNNN>/rejected-rows.csv, landed with the batch.

Raw data is append-only. Each object carries the sha256 of its file in its metadata
(x-amz-meta-sha256), so a rerun skips what is already there with the same content, and
a different file at an existing key is refused: deliver it as a new batch instead.
All keys of a run are checked before the first byte is sent, so a refused run lands
nothing. (The check and the write are not atomic: run one delivery at a time.)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

import boto3
import botocore.exceptions
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from scripts import validate as validator

TABLES = {
    "movies": "movies.csv",
    "ratings": "ratings.csv",
    "tags": "tags.csv",
    "links": "links.csv",
    "genome_scores": "genome-scores.csv",
    "genome_tags": "genome-tags.csv",
    # Not part of ml-20m: a delivery may withdraw tags (scripts/deliver.py). Optional: a
    # folder without this file lands the other tables.
    "tag_removals": "tag-removals.csv",
    # Not delivered: written by scripts/validate.py beside a delivery with rejected rows.
    validator.REJECTS_TABLE: validator.REJECTS_FILE,
}
OPTIONAL_TABLES = {"tag_removals", validator.REJECTS_TABLE}
REJECTS_TABLE = validator.REJECTS_TABLE

DEFAULT_BUCKET = "movielens-landing"
DEFAULT_PREFIX = "movielens/raw"
DEFAULT_REGION = "us-east-1"
MIB = 1024 * 1024
DEFAULT_MULTIPART_BYTES = 64 * MIB
SHA256_METADATA_KEY = "sha256"

CREDENTIAL_ERRORS = {
    "InvalidAccessKeyId": "AWS_ACCESS_KEY_ID was rejected (InvalidAccessKeyId)",
    "SignatureDoesNotMatch": ("AWS_SECRET_ACCESS_KEY does not match AWS_ACCESS_KEY_ID (SignatureDoesNotMatch)"),
    "ExpiredToken": "the credentials have expired (ExpiredToken)",
    "TokenRefreshRequired": "the credentials have expired (TokenRefreshRequired)",
    "InvalidToken": "AWS_SESSION_TOKEN was rejected (InvalidToken)",
}


class UploadError(Exception):
    """An error the user can fix; its message is the one line they see."""


# --- settings and client ------------------------------------------------------------


def settings() -> dict[str, str | None]:
    """The S3 settings from the environment, with the project's defaults."""
    return {
        "bucket": os.environ.get("S3_BUCKET") or DEFAULT_BUCKET,
        "prefix": (os.environ.get("S3_PREFIX", DEFAULT_PREFIX)).strip("/"),
        "endpoint_url": os.environ.get("S3_ENDPOINT_URL") or None,
        "region": os.environ.get("AWS_REGION") or DEFAULT_REGION,
    }


def s3_client(connect_timeout: int = 5, max_attempts: int = 2):
    """A boto3 S3 client for S3_ENDPOINT_URL (or AWS) that fails fast, never hangs."""
    conf = settings()
    endpoint = conf["endpoint_url"]
    config = Config(
        connect_timeout=connect_timeout,
        read_timeout=60,
        retries={"max_attempts": max_attempts, "mode": "standard"},
        # Local servers (moto, MinIO) have no per-bucket DNS names.
        s3={"addressing_style": "path"} if endpoint else {},
    )
    try:
        return boto3.client("s3", endpoint_url=endpoint, region_name=conf["region"], config=config)
    except ValueError as exc:
        raise UploadError(
            f"S3_ENDPOINT_URL={endpoint!r} is not a valid URL ({exc}): "
            "use a full URL such as http://127.0.0.1:5555, or unset it for AWS"
        ) from None


def endpoint_text() -> str:
    endpoint = settings()["endpoint_url"]
    return f"at S3_ENDPOINT_URL={endpoint}" if endpoint else "in AWS"


def missing_bucket_message(bucket: str) -> str:
    return (
        f"bucket {bucket!r} does not exist {endpoint_text()}: create it (make s3 for the "
        "local server) or set S3_BUCKET / --dest to an existing bucket"
    )


def describe_s3_error(exc: Exception, bucket: str) -> str:
    """Turn a botocore/boto3 error into one line naming the setting to fix."""
    endpoint = settings()["endpoint_url"]
    if isinstance(exc, S3UploadFailedError) and exc.__context__ is not None:
        exc = exc.__context__  # boto3 wraps the ClientError of a failed upload
    if isinstance(
        exc,
        (
            botocore.exceptions.EndpointConnectionError,
            botocore.exceptions.ConnectTimeoutError,
            botocore.exceptions.ConnectionClosedError,
            botocore.exceptions.ReadTimeoutError,
        ),
    ):
        if endpoint:
            return (
                f"cannot reach S3_ENDPOINT_URL={endpoint}: start the local server "
                "(make s3) or fix S3_ENDPOINT_URL (unset it to use AWS)"
            )
        return f"cannot reach AWS S3 ({exc}): check the network, or set S3_ENDPOINT_URL to use a local server"
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return (
            "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(the local server accepts testing / testing)"
        )
    if isinstance(exc, botocore.exceptions.ParamValidationError):
        return f"invalid S3 request for bucket {bucket!r} ({exc}): check S3_BUCKET / --dest"
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        where = endpoint_text()
        if code in ("NoSuchBucket", "404") or (code == "" and status == 404):
            return missing_bucket_message(bucket)
        if code in CREDENTIAL_ERRORS:
            return (
                f"{CREDENTIAL_ERRORS[code]} {where}: set AWS_ACCESS_KEY_ID / "
                "AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary keys) "
                "to valid credentials"
            )
        if code in ("AccessDenied", "403", "AllAccessDisabled") or status == 403:
            return (
                f"access denied to bucket {bucket!r} {where}: the keys in "
                "AWS_ACCESS_KEY_ID need s3:ListBucket, s3:GetObject and s3:PutObject "
                "on it"
            )
        message = error.get("Message") or exc
        return f"S3 refused the request on bucket {bucket!r} {where} ({code}: {message})"
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return f"S3 request on bucket {bucket!r} failed: {exc}"
    raise exc


def bucket_exists(client, bucket: str) -> bool:
    """True if the bucket is there and readable, False if it does not exist.

    Any other problem (keys, endpoint, permissions) raises UploadError. ListObjectsV2
    is used rather than HeadBucket because a HEAD error carries no error code.
    """
    try:
        client.list_objects_v2(Bucket=bucket, MaxKeys=1)
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
            return False
        raise UploadError(describe_s3_error(exc, bucket)) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise UploadError(describe_s3_error(exc, bucket)) from None
    return True


# --- layout -------------------------------------------------------------------------


def batch_folder(batch: int) -> str:
    return f"batch={batch:04d}"


def landing_key(prefix: str, table: str, batch: int) -> str:
    """The key (relative to the bucket) of a table's file in a batch."""
    parts = [prefix.strip("/"), table, batch_folder(batch), TABLES[table]]
    return "/".join(p for p in parts if p)


def parse_dest(dest: str | os.PathLike | None) -> tuple[str, str, str]:
    """("s3", bucket, prefix) or ("local", folder, "") for a --dest value."""
    if dest is None:
        conf = settings()
        return "s3", conf["bucket"], conf["prefix"]
    text = str(dest)
    if text.startswith("s3://"):
        bucket, _, prefix = text[len("s3://") :].partition("/")
        if not bucket:
            raise UploadError(f"--dest {text!r} names no bucket: use s3://bucket/prefix")
        return "s3", bucket, prefix.strip("/")
    if "://" in text:
        raise UploadError(f"--dest {text!r} is neither s3://bucket/prefix nor a local folder")
    return "local", text, ""


def _existing_batches(names: list[str]) -> list[int]:
    found = (re.fullmatch(r"batch=(\d+)", n.strip("/").rsplit("/", 1)[-1]) for n in names)
    return [int(m.group(1)) for m in found if m]


def _next_batch_s3(client, bucket: str, prefix: str) -> int:
    batches = [0]
    for table in TABLES:
        table_prefix = "/".join(p for p in (prefix, table) if p) + "/"
        try:
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=table_prefix, Delimiter="/")
            for page in pages:
                names = [p["Prefix"] for p in page.get("CommonPrefixes", [])]
                batches += _existing_batches(names)
        except botocore.exceptions.BotoCoreError:
            pass
        except botocore.exceptions.ClientError:
            pass
    return max(batches) + 1


def _next_batch_local(root: Path) -> int:
    names = [p.name for p in root.glob("*/batch=*") if p.is_dir()]
    return max([0, *_existing_batches(names)]) + 1


# --- files and progress -------------------------------------------------------------


def sha256_file(path: str | os.PathLike) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def human_size(nbytes: float) -> str:
    units, step = ["B", "KiB", "MiB", "GiB"], 0
    while nbytes >= 1024 and step < len(units) - 1:
        nbytes, step = nbytes / 1024, step + 1
    return f"{nbytes:.0f} B" if step == 0 else f"{nbytes:,.1f} {units[step]}"


class Progress:
    """Bytes and percent of one file on stderr; thread-safe (boto3 calls it from threads).

    On a terminal the line is redrawn in place; in a log (make, CI) a line is written at
    each quarter so the log stays short.
    """

    def __init__(self, label: str, total: int, stream: IO[str] | None = None):
        self.label = label
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.seen = 0
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._lock = threading.Lock()
        self._last_draw = 0.0
        self._last_quarter = -1

    def _line(self) -> str:
        pct = 100 if self.total == 0 else min(100, 100 * self.seen // self.total)
        done, total = human_size(self.seen), human_size(self.total)
        return f"  {self.label}  {done} / {total}  ({pct}%)"

    def __call__(self, nbytes: int) -> None:
        with self._lock:
            self.seen += nbytes
            if self.tty:
                now = time.monotonic()
                if now - self._last_draw > 0.2:
                    self._last_draw = now
                    self.stream.write("\r" + self._line())
                    self.stream.flush()
            elif self.total:
                quarter = min(4, 4 * self.seen // self.total)
                if quarter > max(self._last_quarter, 0):
                    self._last_quarter = quarter
                    self.stream.write(self._line() + "\n")
                    self.stream.flush()

    def finish(self) -> None:
        """Draw the final 100 % line (once), ending the in-place line on a terminal."""
        with self._lock:
            self.seen = self.total
            if self.tty:
                self.stream.write("\r" + self._line() + "\n")
            elif self._last_quarter < 4:
                self.stream.write(self._line() + "\n")
            self._last_quarter = 4
            self.stream.flush()


def _plan(src: Path, tables: list[str], first_delivery: bool = False) -> list[dict]:
    if not src.is_dir():
        raise UploadError(
            f"--src {src} is not a folder: point --src at the folder holding the "
            "MovieLens CSV files (e.g. data/generated/sf0.01 or data/ml-20m)"
        )
    plan = []
    for table in tables:
        path = src / TABLES[table]
        if not path.is_file():
            why = "the first delivery (batch 0) needs every table: " if first_delivery else ""
            raise UploadError(
                f"{path}: missing (table {table}): {why}add the file, or leave the table out with --tables"
            )
        plan.append({"table": table, "path": path, "size": path.stat().st_size})
    return plan


# --- the two destinations -----------------------------------------------------------


def _upload_s3(plan, bucket, prefix, batch, transfer_config, client, stream) -> dict:
    client = client or s3_client()
    if not bucket_exists(client, bucket):
        raise UploadError(missing_bucket_message(bucket))
    root = f"s3://{bucket}/{prefix}".rstrip("/")

    # 1. check every key before sending anything
    for item in plan:
        item["key"] = landing_key(prefix, item["table"], batch)
        item["uri"] = f"s3://{bucket}/{item['key']}"
        item["sha256"] = sha256_file(item["path"])
        try:
            head = client.head_object(Bucket=bucket, Key=item["key"])
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                item["action"] = "upload"
                continue
            raise UploadError(describe_s3_error(exc, bucket)) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise UploadError(describe_s3_error(exc, bucket)) from None
        there = head.get("Metadata", {}).get(SHA256_METADATA_KEY)
        if there == item["sha256"]:
            item["action"] = "skip"
            continue
        why = "with other content" if there else "without a sha256 to compare"
        raise UploadError(
            f"{item['uri']} already exists {why}; raw data is append-only, so "
            f"{batch_folder(batch)} is never overwritten: deliver the file as a new "
            f"batch (--batch {_next_batch_s3(client, bucket, prefix)})"
        )

    # 2. send what is missing
    result = {"dest": root, "batch": batch_folder(batch), "uploaded": [], "skipped": []}
    result["bytes_uploaded"] = 0
    for item in plan:
        if item["action"] == "skip":
            stream.write(f"  {item['path'].name}  already at {item['uri']}, skipped\n")
            result["skipped"].append(item["uri"])
            continue
        progress = Progress(item["path"].name, item["size"], stream)
        try:
            client.upload_file(
                str(item["path"]),
                bucket,
                item["key"],
                ExtraArgs={
                    "Metadata": {SHA256_METADATA_KEY: item["sha256"]},
                    "ContentType": "text/csv",
                },
                Config=transfer_config,
                Callback=progress,
            )
        except (
            botocore.exceptions.ClientError,
            botocore.exceptions.BotoCoreError,
            S3UploadFailedError,
        ) as exc:
            if progress.tty:
                stream.write("\n")
            raise UploadError(describe_s3_error(exc, bucket)) from None
        progress.finish()
        result["uploaded"].append(item["uri"])
        result["bytes_uploaded"] += item["size"]
    return result


def _same_file(a: Path, b: Path) -> bool:
    return a.stat().st_size == b.stat().st_size and sha256_file(a) == sha256_file(b)


def _copy_local(plan, root: Path, batch: int, hardlink: bool, stream) -> dict:
    # 1. check every target before writing anything
    for item in plan:
        item["target"] = root / item["table"] / batch_folder(batch) / item["path"].name
        if not item["target"].exists():
            item["action"] = "copy"
        elif _same_file(item["path"], item["target"]):
            item["action"] = "skip"
        else:
            raise UploadError(
                f"{item['target']} already exists with other content; raw data is "
                f"append-only, so {batch_folder(batch)} is never overwritten: deliver "
                f"the file as a new batch (--batch {_next_batch_local(root)})"
            )

    # 2. copy what is missing (through a temporary name: no half file at the target)
    result = {"dest": str(root), "batch": batch_folder(batch), "uploaded": []}
    result.update(skipped=[], bytes_uploaded=0)
    for item in plan:
        target = item["target"]
        if item["action"] == "skip":
            stream.write(f"  {item['path'].name}  already at {target}, skipped\n")
            result["skipped"].append(str(target))
            continue
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".partial")
            partial.unlink(missing_ok=True)
            linked = False
            if hardlink:
                try:
                    os.link(item["path"], partial)
                    linked = True
                except OSError:
                    pass  # another file system: copy instead
            progress = Progress(item["path"].name, item["size"], stream)
            if linked:
                progress(item["size"])
            else:
                with open(item["path"], "rb") as fin, open(partial, "wb") as fout:
                    while chunk := fin.read(8 * MIB):
                        fout.write(chunk)
                        progress(len(chunk))
                shutil.copystat(item["path"], partial)
            os.replace(partial, target)
        except OSError as exc:
            raise UploadError(f"cannot write {target} ({exc.strerror}): check --dest {root}") from None
        progress.finish()
        result["uploaded"].append(str(target))
        result["bytes_uploaded"] += item["size"]
    return result


def upload_dir(
    src: str | os.PathLike,
    dest: str | os.PathLike | None = None,
    batch: int = 0,
    tables: list[str] | None = None,
    *,
    multipart_threshold: int = DEFAULT_MULTIPART_BYTES,
    multipart_chunksize: int = DEFAULT_MULTIPART_BYTES,
    client=None,
    hardlink: bool = False,
    stream: IO[str] | None = None,
    validate: bool = False,
) -> dict:
    """Land the CSV files of `src` as `batch` under `dest` (default s3://$S3_BUCKET/$S3_PREFIX).

    Returns {"dest", "batch", "uploaded": [uri...], "skipped": [uri...], "bytes_uploaded"},
    with validate also "checked": [validate.FileResult...] and "rejects": the landed rejects
    file's URI, or None when no row was rejected.
    Raises UploadError (one line for the user) for anything the user can fix.
    S3 sends files above `multipart_threshold` in parts of `multipart_chunksize`
    (S3 needs parts of at least 5 MiB; boto3 raises smaller values to that).
    validate: check every file first with scripts/validate.py; a file that must not land
    raises UploadError (nothing lands), rejected rows are landed as the batch's rejects file.
    """
    stream = stream if stream is not None else sys.stderr
    if not 0 <= batch <= 9999:
        raise UploadError(f"--batch {batch} is out of range: use 0 to 9999")
    unknown = sorted(set(tables or []) - set(TABLES))
    if unknown:
        raise UploadError(
            f"unknown table {unknown[0]!r}: use some of {', '.join(t for t in TABLES if t != REJECTS_TABLE)}"
        )
    if REJECTS_TABLE in (tables or []):
        raise UploadError(f"table {REJECTS_TABLE} is written by the validator, not delivered: leave it out of --tables")
    # Without --tables: every table whose file is there, and the required ones (a missing one
    # stops in _plan). The genome files are optional together (ml-latest-small has none).
    optional = OPTIONAL_TABLES | set(validator.GENOME_TABLES)
    chosen = [
        t
        for t in TABLES
        if t != REJECTS_TABLE
        and (t in tables if tables is not None else t not in optional or (Path(src) / TABLES[t]).is_file())
    ]
    if tables is None and Path(src).is_dir() and (missing := validator.missing_files(src)):
        why = "the first delivery (batch 0) needs every table: " if batch == 0 else ""
        raise UploadError(
            f"{Path(src) / missing[0]}: missing ({', '.join(missing)} not in {src}): {why}add the file(s), "
            "or leave the table(s) out with --tables"
        )
    plan = _plan(Path(src), chosen, first_delivery=batch == 0 and tables is None)
    kind, where, prefix = parse_dest(dest)
    if kind == "s3" and validate:
        client = client or s3_client()
    with tempfile.TemporaryDirectory(prefix="movielens-rejects-") as scratch:
        checked, rejects = [], None
        if validate:
            checked = _validate(plan, Path(src), batch, kind, where, prefix, client, Path(scratch), stream)
            rejects = next((item for item in plan if item["table"] == REJECTS_TABLE), None)
        if kind == "local":
            result = _copy_local(plan, Path(where), batch, hardlink, stream)
        else:
            transfer_config = TransferConfig(
                multipart_threshold=multipart_threshold, multipart_chunksize=multipart_chunksize
            )
            result = _upload_s3(plan, where, prefix, batch, transfer_config, client, stream)
    if validate:
        result["checked"] = checked
        result["rejects"] = rejects and rejects["landed"]
    return result


# --- validation ---------------------------------------------------------------------


def landed_uri(kind: str, where: str, prefix: str, table: str, batch: int) -> str:
    """Where a table's file of a batch lands, as the warehouse's `filename` column shows it."""
    if kind == "local":
        return str(Path(where) / table / batch_folder(batch) / TABLES[table])
    return f"s3://{where}/{landing_key(prefix, table, batch)}"


def landed_movie_ids(
    kind: str, where: str, prefix: str, batch: int, client=None, scratch: Path | None = None
) -> set[int]:
    """Movie ids of every movies.csv already landed in a batch up to `batch`."""
    pattern = re.compile(r"batch=(\d+)/" + re.escape(TABLES["movies"]))
    ids: set[int] = set()
    try:
        if kind == "local":
            for path in sorted(Path(where).glob(f"movies/batch=*/{TABLES['movies']}")):
                match = pattern.fullmatch(f"{path.parent.name}/{path.name}")
                if match and int(match.group(1)) <= batch:
                    ids |= validator.movie_ids(path)
            return ids
        if not bucket_exists(client, where):
            raise UploadError(missing_bucket_message(where))
        folder = "/".join(p for p in (prefix, "movies") if p) + "/"
        with tempfile.TemporaryDirectory(dir=scratch) as tmp:
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=where, Prefix=folder)
            for page in pages:
                for item in page.get("Contents", []):
                    match = pattern.fullmatch(item["Key"][len(folder) :])
                    if match and int(match.group(1)) <= batch:
                        local = Path(tmp) / f"{match.group(1)}-{TABLES['movies']}"
                        client.download_file(where, item["Key"], str(local))
                        ids |= validator.movie_ids(local)
    except validator.ValidationError as exc:
        raise UploadError(f"cannot read the movies landed before: {exc}") from None
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise UploadError(describe_s3_error(exc, where)) from None
    return ids


def _validate(plan, src: Path, batch, kind, where, prefix, client, scratch: Path, stream) -> list:
    """Check the plan's files (scripts/validate.py); add the rejects file to the plan if any
    row is rejected. Raises UploadError with the validator's line when a file must not land."""
    tables = [item["table"] for item in plan]
    known = None
    if set(tables) & validator.MOVIE_TABLES:
        known = landed_movie_ids(kind, where, prefix, batch, client, scratch)
    try:
        checked = validator.validate_dir(src, tables, batch, known, stream=stream)
    except validator.ValidationError as exc:
        raise UploadError(str(exc)) from None
    if any(result.rejects for result in checked):
        out = scratch / TABLES[REJECTS_TABLE]
        landed = {table: landed_uri(kind, where, prefix, table, batch) for table in tables}
        validator.write_rejects(checked, landed, out)
        plan.append(
            {
                "table": REJECTS_TABLE,
                "path": out,
                "size": out.stat().st_size,
                "landed": landed_uri(kind, where, prefix, REJECTS_TABLE, batch),
            }
        )
    return checked


# --- command line -------------------------------------------------------------------


def _table_list(value: str) -> list[str]:
    return [v for v in value.split(",") if v]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.upload",
        description="Land the MovieLens CSV files as <dest>/<table>/batch=<NNNN>/<file>.",
    )
    parser.add_argument("--src", required=True, help="folder holding movies.csv, ratings.csv, ...")
    parser.add_argument(
        "--dest",
        help="s3://bucket/prefix or a local folder (default s3://$S3_BUCKET/$S3_PREFIX)",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=0,
        help="batch number, 0 = initial load (default 0)",
    )
    parser.add_argument(
        "--tables",
        nargs="+",
        type=_table_list,
        metavar="TABLE",
        help=f"only these tables (default all: {' '.join(TABLES)})",
    )
    parser.add_argument(
        "--multipart-mib",
        type=int,
        default=DEFAULT_MULTIPART_BYTES // MIB,
        help="send files above this size in parts of this size (default 64, min 5)",
    )
    parser.add_argument(
        "--no-validate",
        dest="validate",
        action="store_false",
        help="land the files without checking them first (scripts/validate.py); not recommended",
    )
    parser.add_argument(
        "--hardlink",
        action="store_true",
        help="local --dest only: hardlink instead of copy when on the same file "
        "system (then editing the source in place also edits the landed file)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    tables = [t for group in args.tables for t in group] if args.tables else None
    try:
        result = upload_dir(
            args.src,
            args.dest,
            batch=args.batch,
            tables=tables,
            multipart_threshold=args.multipart_mib * MIB,
            multipart_chunksize=args.multipart_mib * MIB,
            hardlink=args.hardlink,
            validate=args.validate,
        )
    except UploadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "error: interrupted; rerun to finish (files already sent are skipped)",
            file=sys.stderr,
        )
        return 130
    print(
        f"uploaded {len(result['uploaded'])}, skipped {len(result['skipped'])} "
        f"(already there) -> {result['dest']} {result['batch']}"
    )
    for checked in result.get("checked", []):
        if checked.rejects:
            print(
                f"rejected {len(checked.rejects):,} of {checked.rows:,} rows of {checked.path.name}: listed in {result['rejects']}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
