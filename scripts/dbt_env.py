"""The environment a dbt run on DuckDB needs, shared by the benchmark and the test suite."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import duckdb_extension_httpfs

ROOT = Path(__file__).resolve().parent.parent
DBT = str(Path(sys.executable).parent / "dbt")  # the dbt of this venv


def httpfs_extension() -> str:
    """The httpfs .duckdb_extension file shipped in the duckdb-extension-httpfs wheel."""
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
