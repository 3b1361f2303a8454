"""Run dbt from the test suite: the project's profiles, a throw-away DuckDB file and target dir."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from scripts.dbt_env import DBT, ROOT, duckdb_env, httpfs_extension

__all__ = ["DBT", "ROOT", "dbt_env", "httpfs_extension", "run_dbt", "user_shell_env"]


def dbt_env(workdir: Path, raw_root: str, endpoint: str | None = None, **extra: str) -> dict[str, str]:
    """Environment for a dbt run on the `ci` target reading raw files from raw_root."""
    env = duckdb_env(
        target="ci",
        db=workdir / "warehouse.duckdb",
        raw_root=raw_root,
        target_path=workdir / "target",
        log_path=workdir / "logs",
        s3_endpoint=endpoint,
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


def user_shell_env(**extra: str) -> dict[str, str]:
    """This process's environment as a user's shell would have it, for running make: without the
    settings `make test` exports (landing zone, S3, DuckDB secret, dbt target), plus extra."""
    made = ("DBT_", "S3_", "AWS_", "MOVIELENS_", "DUCKDB_", "SNOWFLAKE_", "RAW", "TARGET", "MAKE", "MFLAGS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(made)}
    env.update(extra)
    return env
