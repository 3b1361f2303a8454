"""`make prod-smoke`: the production path on a real Snowflake account, in a throwaway database.

It lands a tiny base data set under s3://$S3_BUCKET/$S3_PREFIX/_smoke/<database>/, creates the
database <PROD_SMOKE_PREFIX>_<UTC time> (as PROD_SMOKE_ROLE), loads and builds there, then lands,
loads and builds incrementally two deliveries (corrections only, then every kind), checks the raw
tables' freshness, builds DuckDB from the same files, compares every core and analytics table, and
drops the database and the objects whatever happened. Exit 0 when every table is equal, 1
otherwise, 2 when settings are missing. tests/test_snowflake_deliveries.py runs the same function
against the emulator and inspects that run (through a Watch) for its changing-data checks.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from scripts.common import DBT, ROOT, WITHOUT_UNIT_TESTS, duckdb_env
from scripts.dataset import deliver
from scripts.dataset import generate as gen
from scripts.landing import upload
from scripts.tools import compare as compare_warehouses
from scripts.tools import prod_check

SCALE = 0.001
SEED = 17
# The deliveries after the base, each landed, loaded and built incrementally. First corrections
# alone: the kind that moves a rating to another month, so the user-keyed models' delete+insert
# runs on an incremental table that already carries history; then every kind at once.
DELIVERIES = (
    {"corrections": 70},
    {
        "new_ratings": 300,
        "late_ratings": 60,
        "redeliver": 40,
        "corrections": 50,
        "new_tags": 20,
        "remove_tags": 5,
        "movie_corrections": 4,
    },
)
SMOKE_SETTINGS = {
    "PROD_SMOKE_PREFIX": "prefix of the throwaway database, e.g. MOVIELENS_SMOKE",
    "S3_BUCKET": "the landing bucket the storage integration may read",
}


def missing(env: dict[str, str]) -> list[str]:
    lines = prod_check.missing(env)
    lines += [f"{name} ({what})" for name, what in SMOKE_SETTINGS.items() if not env.get(name)]
    if not (env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY")):
        lines.append("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (to land the tiny deliveries in S3)")
    return lines


def database_name(prefix: str, now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    name = f"{prefix}_{now:%Y%m%d_%H%M%S}".upper()
    if not re.fullmatch(r"[A-Z_][A-Z0-9_$]*", name):
        raise ValueError(f"PROD_SMOKE_PREFIX={prefix!r} does not make a plain identifier: use letters, digits, _")
    return name


def setup_sql(database: str, raw_schema: str) -> list[str]:
    # A permanent database: it lives for one run, but the snapshots and raw tables in it must be
    # created as in production (a transient database would make every table in it transient).
    return [f"create database {database}", f"create schema {database}.{raw_schema}"]


def teardown_sql(database: str) -> list[str]:
    return [f"drop database if exists {database}"]


def connect(env: dict[str, str]) -> Any:
    """A snowflake-connector connection with the profile's sign-in (key pair, token or password)."""
    import snowflake.connector

    args: dict[str, Any] = {
        "account": env["SNOWFLAKE_ACCOUNT"],
        "user": env["SNOWFLAKE_USER"],
        "role": env.get("PROD_SMOKE_ROLE") or env.get("SNOWFLAKE_ROLE", "TRANSFORMER"),
        "warehouse": env.get("SNOWFLAKE_WAREHOUSE", "TRANSFORMING"),
        "login_timeout": 30,
    }
    if env.get("SNOWFLAKE_PRIVATE_KEY_PATH"):
        args["private_key_file"] = env["SNOWFLAKE_PRIVATE_KEY_PATH"]
        if env.get("DBT_ENV_SECRET_SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"):
            args["private_key_file_pwd"] = env["DBT_ENV_SECRET_SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"]
    elif env.get("DBT_ENV_SECRET_SNOWFLAKE_TOKEN"):
        args.update(authenticator="programmatic_access_token", token=env["DBT_ENV_SECRET_SNOWFLAKE_TOKEN"])
    else:
        args["password"] = env["DBT_ENV_SECRET_SNOWFLAKE_PASSWORD"]
    return snowflake.connector.connect(**args)


class Watch:
    """What a caller may look at during a run, before the database is dropped (the tests do; the
    command does not): each delivery's summary, and each dbt command's output as it succeeds."""

    def delivered(self, summary: dict) -> None:
        """After a delivery landed: deliver.deliver's summary (batch, files with their counts)."""

    def ran(self, database: str, target: str, args: list[str], stdout: str) -> None:
        """After a dbt command succeeded on target (the Snowflake one, or `ci` for DuckDB)."""


def _dbt(args: list[str], env: dict[str, str], say: Callable[[str], None], watch: Watch, database: str) -> None:
    proc = subprocess.run([DBT, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-30:])
        raise RuntimeError(f"dbt {' '.join(args)} failed:\n{tail}")
    say(f"prod-smoke: dbt {' '.join(args)}: ok")
    watch.ran(database, env["DBT_TARGET"], args, proc.stdout)


def _delete_prefix(client: Any, root: str) -> int:
    bucket, _, prefix = root.removeprefix("s3://").partition("/")
    deleted = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix.rstrip("/") + "/"):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
            deleted += len(keys)
    return deleted


def smoke(
    env: dict[str, str],
    workdir: Path,
    client: Any,
    connection: Callable[[], Any],
    target: str = "prod",
    s3_endpoint: str | None = None,
    say: Callable[[str], None] = print,
    watch: Watch | None = None,
) -> compare_warehouses.Comparison:
    """The whole smoke run; returns the table-by-table comparison of Snowflake and DuckDB."""
    watch = watch or Watch()
    database = database_name(env["PROD_SMOKE_PREFIX"])
    raw_schema = env.get("SNOWFLAKE_RAW_SCHEMA", "raw")
    root = f"s3://{env['S3_BUCKET']}/{env.get('S3_PREFIX', 'movielens/raw').strip('/')}/_smoke/{database.lower()}"
    base = workdir / "base"
    gen.generate(base, SCALE, SEED, quiet=True)
    sf_env = {
        **env,
        "DBT_TARGET": target,
        "DBT_PROFILES_DIR": str(ROOT / "profiles"),
        "DBT_TARGET_PATH": str(workdir / "target-snowflake"),
        "DBT_LOG_PATH": str(workdir / "logs-snowflake"),
        "SNOWFLAKE_DATABASE": database,
        "SNOWFLAKE_RAW_DATABASE": database,
        "SNOWFLAKE_RAW_SCHEMA": raw_schema,
        "SNOWFLAKE_STAGE_URL": root + "/",
    }
    if env.get("PROD_SMOKE_ROLE"):
        sf_env["SNOWFLAKE_ROLE"] = env["PROD_SMOKE_ROLE"]
    con = connection()
    try:
        upload.upload_dir(base, root, batch=0, client=client, validate=True, stream=None)
        for sql in setup_sql(database, raw_schema):
            con.cursor().execute(sql)
        say(f"prod-smoke: database {database}, delivery 0 at {root}")
        for args in (["run-operation", "load_raw"], ["seed"], ["build"]):
            _dbt(args, sf_env, say, watch, database)
        for number, kinds in enumerate(DELIVERIES, start=1):
            summary = deliver.deliver(base, root, seed=SEED + number, state_dir=workdir / "deliveries",
                                      client=client, stream=None, **kinds)  # fmt: skip
            say(f"prod-smoke: delivery {number} landed")
            watch.delivered(summary)
            # Unit tests read fixtures, not the data: the first build ran them.
            for args in (["run-operation", "load_raw"], ["build", *WITHOUT_UNIT_TESTS]):
                _dbt(args, sf_env, say, watch, database)
        _dbt(["source", "freshness"], sf_env, say, watch, database)  # reads the raw tables' loaded_at

        duck_db = workdir / "duckdb.duckdb"
        duck_env = duckdb_env(
            target="ci",
            db=duck_db,
            raw_root=root,
            target_path=workdir / "target-duckdb",
            log_path=workdir / "logs-duckdb",
            s3_endpoint=s3_endpoint,
        )
        _dbt(["build"], duck_env, say, watch, database)
        import duckdb

        with duckdb.connect(str(duck_db), read_only=True) as duck:
            return compare_warehouses.compare_warehouses(duck, con.cursor(), database)
    finally:
        for sql in teardown_sql(database):
            try:
                con.cursor().execute(sql)
            except Exception as error:  # noqa: BLE001 - report and go on tearing down
                say(f"prod-smoke: teardown `{sql}` failed: {error}: drop it by hand")
        con.close()
        say(f"prod-smoke: dropped {database}, deleted {_delete_prefix(client, root)} object(s) under {root}")


@click.command("prod-smoke")
def command() -> int:
    """The production path on a real account, in a throwaway database (see the module's doc)."""
    env = dict(os.environ)
    problems = missing(env)
    if problems:
        print("make prod-smoke: missing settings: " + "; ".join(problems) + " (see README: Snowflake)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="prod-smoke-") as tmp:
        try:
            comparison = smoke(env, Path(tmp), upload.s3_client(), lambda: connect(env))
        except (RuntimeError, ValueError) as error:
            print(f"make prod-smoke: {error}", file=sys.stderr)
            return 1
        except Exception as error:  # noqa: BLE001 - connection or S3 errors: one line, no traceback
            message = " ".join(str(error).split())[:500]
            print(f"make prod-smoke: {type(error).__name__}: {message}", file=sys.stderr)
            return 1
    for line in comparison.lines():
        print(line)
    return 1 if comparison.differing else 0
