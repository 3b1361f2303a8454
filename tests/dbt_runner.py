"""Run dbt from the test suite: the project's profiles, a throw-away DuckDB file and target dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb_extension_httpfs

ROOT = Path(__file__).resolve().parent.parent
DBT = str(Path(sys.executable).parent / "dbt")


def httpfs_extension() -> str:
    """The httpfs .duckdb_extension file shipped in the duckdb-extension-httpfs wheel."""
    package = Path(duckdb_extension_httpfs.__file__).parent
    return str(next(package.glob("extensions/*/httpfs.duckdb_extension")))


def dbt_env(workdir: Path, raw_root: str, endpoint: str | None = None, **extra: str) -> dict[str, str]:
    """Environment for a dbt run on the `ci` target reading raw files from raw_root."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "SNOWFLAKE_"))}
    env.update(
        DBT_PROFILES_DIR=str(ROOT / "profiles"),
        DBT_TARGET="ci",
        DBT_TARGET_PATH=str(workdir / "target"),
        DBT_LOG_PATH=str(workdir / "logs"),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        DBT_USE_COLORS="false",
        DUCKDB_PATH=str(workdir / "warehouse.duckdb"),
        DUCKDB_HTTPFS_EXTENSION=httpfs_extension(),
        MOVIELENS_RAW_ROOT=raw_root,
    )
    if endpoint:
        env.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_REGION="us-east-1",
            DUCKDB_S3_ENDPOINT=endpoint.removeprefix("http://"),
            DUCKDB_S3_URL_STYLE="path",
            DUCKDB_S3_USE_SSL="false",
        )
    env.update(extra)
    return env


def run_dbt(args: list[str], env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    """Run `dbt <args>` in the project folder; on failure show the end of dbt's output."""
    proc = subprocess.run([DBT, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-60:])
        raise AssertionError(f"dbt {' '.join(args)} failed ({proc.returncode}):\n{tail}\n{proc.stderr[-2000:]}")
    return proc
