"""What several commands share: the repository's paths, the user-error type, a free port, the
progress bar, and the environment of a dbt run on DuckDB."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import IO

from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
DBT = str(Path(sys.executable).parent / "dbt")  # the dbt of this venv
# dbt arguments: leave out the unit tests, which read fixtures, not the data (a build of a delivery
# or of a user's folder needs them no more than once).
WITHOUT_UNIT_TESTS = ["--exclude-resource-type", "unit_test"]


class UserError(Exception):
    """A problem the user can fix: its message is the one line they see (`error: <message>`)."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


def free_port() -> int:
    """A 127.0.0.1 port nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def progress(label: str, total: int, stream: IO[str] | None = None) -> tqdm:
    """Bytes of one file: redrawn in place on a terminal; in a log only the first and last state."""
    stream = stream if stream is not None else sys.stderr
    tty = hasattr(stream, "isatty") and stream.isatty()
    return tqdm(
        desc=label,
        total=total or None,
        file=stream,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        mininterval=0.2 if tty else float("inf"),
        bar_format="  {desc}  {n_fmt}B / {total_fmt}B  ({percentage:.0f}%)" if total else "  {desc}  {n_fmt}B",
    )


def httpfs_extension() -> str:
    """The httpfs .duckdb_extension file shipped in the duckdb-extension-httpfs wheel (httpfs cannot
    be downloaded here). `python -m scripts.common` prints it for the Makefile."""
    import duckdb_extension_httpfs

    package = Path(duckdb_extension_httpfs.__file__).parent
    return str(next(package.glob("extensions/*/httpfs.duckdb_extension")))


def duckdb_env(
    *, target: str, db: Path, raw_root: str, target_path: Path, log_path: Path, s3_endpoint: str | None = None
) -> dict[str, str]:
    """Environment for dbt on a DuckDB target reading the landing zone at raw_root.

    With s3_endpoint (a local S3 server such as moto), DuckDB's S3 secret points there with the
    local server's fixed keys. Inherited DBT_* and SNOWFLAKE_* variables are dropped.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "SNOWFLAKE_"))}
    env.update(
        DBT_PROFILES_DIR=str(ROOT / "profiles"),
        DBT_TARGET=target,
        DBT_TARGET_PATH=str(target_path),
        DBT_LOG_PATH=str(log_path),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        DBT_USE_COLORS="false",
        DUCKDB_PATH=str(db),
        DUCKDB_HTTPFS_EXTENSION=httpfs_extension(),
        MOVIELENS_RAW_ROOT=raw_root,
    )
    if s3_endpoint:
        env.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_REGION="us-east-1",
            S3_ENDPOINT_URL=s3_endpoint,
            DUCKDB_S3_ENDPOINT=s3_endpoint.removeprefix("http://"),
            DUCKDB_S3_URL_STYLE="path",
            DUCKDB_S3_USE_SSL="false",
        )
    return env


if __name__ == "__main__":
    print(httpfs_extension())
