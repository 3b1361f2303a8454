"""Land the MovieLens CSV files as <dest>/<table>/batch=<NNNN>/<file> (`make upload`).

dest is s3://$S3_BUCKET/$S3_PREFIX (S3_ENDPOINT_URL for a local server; boto3 reads the AWS_*
variables) or a local folder. Every file is checked first by the validator: a file that must not
land stops the run and nothing lands; rejected rows land in the batch's rejects file. Raw data is
append-only: each object carries its file's sha256, so a rerun skips what is there and a different
file at an existing key is refused; all keys are checked before the first byte is sent.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

import boto3
import botocore.exceptions
import click
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from tqdm.utils import CallbackIOWrapper

from scripts import contract
from scripts.common import UserError, progress
from scripts.landing import validate as validator

TABLES = contract.FILES  # every raw table's file, the validator's rejects file included
OPTIONAL_TABLES = contract.OPTIONAL_TABLES
REJECTS_TABLE = contract.REJECTS_TABLE

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


class UploadError(UserError):
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


_UNREACHABLE = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ReadTimeoutError,
)


def describe_s3_error(exc: Exception, bucket: str) -> str:
    """Turn a botocore/boto3 error into one line naming the setting to fix."""
    endpoint = settings()["endpoint_url"]
    if isinstance(exc, S3UploadFailedError) and exc.__context__ is not None:
        exc = exc.__context__  # boto3 wraps the ClientError of a failed upload
    if isinstance(exc, _UNREACHABLE) and endpoint:
        return f"cannot reach S3_ENDPOINT_URL={endpoint}: start the local server (make s3) or fix S3_ENDPOINT_URL (unset it to use AWS)"
    if isinstance(exc, _UNREACHABLE):
        return f"cannot reach AWS S3 ({exc}): check the network, or set S3_ENDPOINT_URL to use a local server"
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (the local server accepts testing / testing)"
    if isinstance(exc, botocore.exceptions.ParamValidationError):
        return f"invalid S3 request for bucket {bucket!r} ({exc}): check S3_BUCKET / --dest"
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return f"S3 request on bucket {bucket!r} failed: {exc}"
    if not isinstance(exc, botocore.exceptions.ClientError):
        raise exc
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in ("NoSuchBucket", "404") or (code == "" and status == 404):
        return missing_bucket_message(bucket)
    if code in CREDENTIAL_ERRORS:
        return (
            f"{CREDENTIAL_ERRORS[code]} {endpoint_text()}: set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY "
            "(and AWS_SESSION_TOKEN for temporary keys) to valid credentials"
        )
    if code in ("AccessDenied", "403", "AllAccessDisabled") or status == 403:
        return (
            f"access denied to bucket {bucket!r} {endpoint_text()}: the keys in AWS_ACCESS_KEY_ID need "
            "s3:ListBucket, s3:GetObject and s3:PutObject on it"
        )
    return f"S3 refused the request on bucket {bucket!r} {endpoint_text()} ({code}: {error.get('Message') or exc})"


@contextmanager
def s3_errors(bucket: str):
    """Turn a boto3/botocore error into UploadError with describe_s3_error's line."""
    try:
        yield
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError, S3UploadFailedError) as exc:
        raise UploadError(describe_s3_error(exc, bucket)) from None


def bucket_exists(client, bucket: str) -> bool:
    """True if the bucket is there and readable, False if it does not exist.

    Any other problem (keys, endpoint, permissions) raises UploadError. ListObjectsV2
    is used rather than HeadBucket because a HEAD error carries no error code.
    """
    with s3_errors(bucket):
        try:
            client.list_objects_v2(Bucket=bucket, MaxKeys=1)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
                return False
            raise
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


_LANDED = re.compile(r"(\w+)/batch=(\d+)/([^/]+)")


def landed(kind: str, where: str, prefix: str, client=None) -> dict[tuple[str, int], tuple[str, int]]:
    """{(table, batch): (path or S3 key, size)} of every raw file already in the landing zone."""
    if kind == "local":
        files = [path for path in Path(where).glob("*/batch=*/*") if path.is_file()]
        listed = [(path.relative_to(where).as_posix(), str(path), path.stat().st_size) for path in files]
    else:
        client = client or s3_client()
        if not bucket_exists(client, where):
            raise UploadError(missing_bucket_message(where))
        root = f"{prefix}/" if prefix else ""
        with s3_errors(where):
            pages = list(client.get_paginator("list_objects_v2").paginate(Bucket=where, Prefix=root))
        listed = [(o["Key"][len(root) :], o["Key"], int(o["Size"])) for page in pages for o in page.get("Contents", [])]
    found = {}
    for relative, place, size in listed:
        match = _LANDED.fullmatch(relative)
        if match and TABLES.get(match[1]) == match[3]:
            found[match[1], int(match[2])] = (place, size)
    return found


def next_batch_number(kind: str, where: str, prefix: str, client=None) -> int:
    return max([0, *(batch for _, batch in landed(kind, where, prefix, client))]) + 1


# --- files and progress -------------------------------------------------------------


def sha256_file(path: str | os.PathLike) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


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
        with s3_errors(bucket):
            try:
                head = client.head_object(Bucket=bucket, Key=item["key"])
            except botocore.exceptions.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey"):
                    raise
                item["action"] = "upload"
                continue
        there = head.get("Metadata", {}).get(SHA256_METADATA_KEY)
        if there == item["sha256"]:
            item["action"] = "skip"
            continue
        why = "with other content" if there else "without a sha256 to compare"
        raise UploadError(
            f"{item['uri']} already exists {why}; raw data is append-only, so "
            f"{batch_folder(batch)} is never overwritten: deliver the file as a new "
            f"batch (--batch {next_batch_number('s3', bucket, prefix, client)})"
        )

    # 2. send what is missing
    def send(item, bar) -> None:
        extra = {"Metadata": {SHA256_METADATA_KEY: item["sha256"]}, "ContentType": "text/csv"}
        with s3_errors(bucket):
            client.upload_file(
                str(item["path"]), bucket, item["key"], ExtraArgs=extra, Config=transfer_config, Callback=bar.update
            )

    return _land(plan, root, batch, stream, send)


def _copy_local(plan, root: Path, batch: int, hardlink: bool, stream) -> dict:
    # 1. check every target before writing anything
    for item in plan:
        target = root / item["table"] / batch_folder(batch) / item["path"].name
        item["uri"] = str(target)
        if not target.exists():
            item["action"] = "copy"
        elif target.stat().st_size == item["size"] and sha256_file(target) == sha256_file(item["path"]):
            item["action"] = "skip"
        else:
            raise UploadError(
                f"{target} already exists with other content; raw data is "
                f"append-only, so {batch_folder(batch)} is never overwritten: deliver "
                f"the file as a new batch (--batch {next_batch_number('local', str(root), '')})"
            )

    # 2. copy what is missing (through a temporary name: no half file at the target)
    def send(item, bar) -> None:
        target = Path(item["uri"])
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".partial")
            partial.unlink(missing_ok=True)
            linked = False
            if hardlink:
                with suppress(OSError):  # another file system: copy instead
                    os.link(item["path"], partial)
                    linked = True
            if linked:
                bar.update(item["size"])
            else:
                with open(item["path"], "rb") as fin, open(partial, "wb") as fout:
                    shutil.copyfileobj(fin, CallbackIOWrapper(bar.update, fout, "write"), 8 * MIB)
                shutil.copystat(item["path"], partial)
            os.replace(partial, target)
        except OSError as exc:
            raise UploadError(f"cannot write {target} ({exc.strerror}): check --dest {root}") from None

    return _land(plan, str(root), batch, stream, send)


def _land(plan, dest: str, batch: int, stream, send) -> dict:
    """Land each planned file not there yet with send(item, progress bar); upload_dir's result."""
    result = {"dest": dest, "batch": batch_folder(batch), "uploaded": [], "skipped": [], "bytes_uploaded": 0}
    for item in plan:
        if item["action"] == "skip":
            stream.write(f"  {item['path'].name}  already at {item['uri']}, skipped\n")
            result["skipped"].append(item["uri"])
            continue
        with progress(item["path"].name, item["size"], stream) as bar:
            send(item, bar)
        result["uploaded"].append(item["uri"])
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
    validate: check every file first with scripts/landing/validate.py; a file that must not land
    raises UploadError (nothing lands), rejected rows are landed as the batch's rejects file.
    """
    stream = stream if stream is not None else sys.stderr
    if not 0 <= batch <= 9999:
        raise UploadError(f"--batch {batch} is out of range: use 0 to 9999")
    if REJECTS_TABLE in (tables or []):
        raise UploadError(f"table {REJECTS_TABLE} is written by the validator, not delivered: leave it out of --tables")
    src = Path(src)
    if not src.is_dir():
        raise UploadError(
            f"--src {src} is not a folder: point --src at the folder holding the "
            "MovieLens CSV files (e.g. data/generated/sf0.01 or data/ml-20m)"
        )
    # Without --tables: every required table, in any batch (the genome files are optional together:
    # ml-latest-small has none), and each optional one whose file is there.
    if tables is None and (missing := validator.missing_files(src)):
        why = "the first delivery (batch 0) needs every table: " if batch == 0 else ""
        raise UploadError(
            f"{src / missing[0]}: missing ({', '.join(missing)} not in {src}): {why}add the file(s), "
            "or leave the table(s) out with --tables"
        )
    try:
        chosen = validator.plan_tables(src, tables, batch)  # unknown tables, missing files
    except validator.ValidationError as exc:
        raise UploadError(str(exc)) from None
    paths = {t: src / TABLES[t] for t in contract.DELIVERED if t in chosen}
    plan = [{"table": t, "path": path, "size": path.stat().st_size} for t, path in paths.items()]
    kind, where, prefix = parse_dest(dest)
    if kind == "s3" and validate:
        client = client or s3_client()
    with tempfile.TemporaryDirectory(prefix="movielens-rejects-") as scratch:
        checked, rejects = [], None
        if validate:
            checked = _validate(plan, src, batch, kind, where, prefix, client, Path(scratch), stream)
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
        result["rejects"] = rejects and rejects["uri"]
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
    ids: set[int] = set()
    movies = [(b, place) for (table, b), (place, _) in landed(kind, where, prefix, client).items() if table == "movies"]
    try:
        with tempfile.TemporaryDirectory(dir=scratch) as tmp:
            for number, place in sorted(movies):
                if number <= batch and kind == "local":
                    ids |= validator.movie_ids(place)
                elif number <= batch:
                    local = Path(tmp) / f"{number}-{TABLES['movies']}"
                    with s3_errors(where):
                        client.download_file(where, place, str(local))
                    ids |= validator.movie_ids(local)
    except validator.ValidationError as exc:
        raise UploadError(f"cannot read the movies landed before: {exc}") from None
    return ids


def _validate(plan, src: Path, batch, kind, where, prefix, client, scratch: Path, stream) -> list:
    """Check the plan's files (scripts/landing/validate.py); add the rejects file to the plan if any
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
        plan.append({"table": REJECTS_TABLE, "path": out, "size": out.stat().st_size})
    return checked


# --- command line -------------------------------------------------------------------


@click.command("upload")
@click.option("--src", required=True, help="folder holding movies.csv, ratings.csv, ...")
@click.option("--dest", help="s3://bucket/prefix or a local folder (default s3://$S3_BUCKET/$S3_PREFIX)")
@click.option("--batch", type=int, default=0, show_default=True, help="batch number, 0 = initial load")
@click.option("--tables", multiple=True, callback=validator.table_list, help="only these tables, comma-separated")
@click.option(
    "--multipart-mib",
    type=int,
    default=DEFAULT_MULTIPART_BYTES // MIB,
    show_default=True,
    help="send files above this size in parts of this size (min 5)",
)
@click.option("--validate/--no-validate", default=True, help="check the files first (--no-validate: not recommended)")
@click.option(
    "--hardlink",
    is_flag=True,
    help="local --dest only: hardlink instead of copy (editing the source then edits the landed file)",
)
def command(src, dest, batch, tables, multipart_mib, validate, hardlink) -> None:
    """Land the MovieLens CSV files as <dest>/<table>/batch=<NNNN>/<file>."""
    try:
        result = upload_dir(
            src,
            dest,
            batch=batch,
            tables=tables,
            multipart_threshold=multipart_mib * MIB,
            multipart_chunksize=multipart_mib * MIB,
            hardlink=hardlink,
            validate=validate,
        )
    except KeyboardInterrupt:
        raise UploadError("interrupted; rerun to finish (files already sent are skipped)") from None
    print(
        f"uploaded {len(result['uploaded'])}, skipped {len(result['skipped'])} "
        f"(already there) -> {result['dest']} {result['batch']}"
    )
    for checked in result.get("checked", []):
        if checked.rejects:
            print(
                f"rejected {len(checked.rejects):,} of {checked.rows:,} rows of {checked.path.name}: listed in {result['rejects']}"
            )
