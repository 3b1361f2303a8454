"""Run dbt from the test suite: the project's profiles, a throw-away DuckDB file and target dir."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from scripts.common import DBT, ROOT, duckdb_env, httpfs_extension

__all__ = ["DBT", "ROOT", "copy_project", "dbt_env", "httpfs_extension", "run_dbt", "user_shell_env"]


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


def copy_project(dest: Path) -> Path:
    """The files dbt reads (project, models, macros, seeds, snapshots, analyses, profiles, the SQL
    and YAML tests), copied to dest: not the Python, data or venvs."""
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("dbt_project.yml", "packages.yml", "dependencies.yml", "package-lock.yml"):
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, dest / name)
    for folder in ("models", "macros", "seeds", "snapshots", "analyses", "profiles", "dbt_packages"):
        if (ROOT / folder).is_dir():
            shutil.copytree(ROOT / folder, dest / folder, ignore=ignore)
    (dest / "tests").mkdir()
    for pattern in ("*.sql", "*.yml"):
        for path in (ROOT / "tests").glob(pattern):
            shutil.copy2(path, dest / "tests" / path.name)
    return dest
