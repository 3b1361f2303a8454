"""`make prod` as Snowflake documents it, checked offline on the emulator.

The account is set up as `make prod-setup` says (its databases and schemas created on the
emulator; its grants parsed), then the statements of `make prod` run there: the raw load (twice,
the stage URL changed in between), `dbt seed`, `dbt build` and an incremental `dbt run`. Every
statement dbt sent is read back from dbt's log and checked:

a. privileges: each statement maps to the privileges Snowflake documents for it
   (tests/snowflake_privileges.py); the role of `make prod-setup` must hold every one, and hold
   nothing no statement needs;
b. drift: the stage and file format are replaced on every load, so a changed URL reaches the account;
c. durability: snapshots and raw tables are permanent (never `create ... transient table`);
d. time zone: `loaded_at` is UTC whatever the session's TIMEZONE.
Fast checks without the emulator: contracts name no type that depends on an account parameter, and
the removed key-based stage fallback fails with one line, without the secret.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

import duckdb
import pytest
import sqlglot
import yaml

from scripts.dataset import generate as gen
from scripts.landing import s3_local, upload
from scripts.tools import prod_check
from tests import snowflake_privileges as privileges
from tests.dbt_runner import ROOT, dbt_env, run_dbt
from tests.snowflake_helpers import (
    emulator_dbt_env,
    running_emulator,
    snowflake_connect,
    snowflake_fetch,
)

BUCKET = "snowflake-prod"
RAW_ROOT = f"s3://{BUCKET}/movielens/raw"
RAW_DATABASE = "RAW"
# On the emulator the raw schema lives in ANALYTICS: fakesnow records COPY load history in the
# session's database, so a COPY into another database fails inside its transaction. The check
# reads the emulator's ANALYTICS.RAW as the account's RAW.RAW.
EMULATOR_RAW = ("ANALYTICS", "RAW")
RENAME = {EMULATOR_RAW: (RAW_DATABASE, "RAW")}
# The settings of `make prod-setup` the emulator profile matches (profiles.yml, `emulator` target).
SETUP_ENV = {
    "SNOWFLAKE_ROLE": "TRANSFORMER",
    "SNOWFLAKE_WAREHOUSE": "TRANSFORMING",
    "SNOWFLAKE_DATABASE": "ANALYTICS",
    "SNOWFLAKE_RAW_DATABASE": RAW_DATABASE,
    "SNOWFLAKE_RAW_SCHEMA": "raw",
    "SNOWFLAKE_STORAGE_INTEGRATION": "MOVIELENS_S3",
    "S3_BUCKET": BUCKET,
}


def dbt_statements(log_file: Path) -> list[str]:
    """Every SQL statement dbt sent, in order, from its JSON log (SQLQuery events)."""
    statements = []
    for line in log_file.read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("info", {}).get("name") == "SQLQuery":
            statements.append(event["data"]["sql"])
    return statements


def admin_setup(port: int, setup_sql: str) -> list[str]:
    """Run the set-up's database and schema creation on the emulator (what an admin does once),
    the raw schema moved into ANALYTICS (see EMULATOR_RAW); the rest (warehouse, integration,
    role, grants) has no emulator counterpart."""
    ran = []
    con = snowflake_connect(port)
    try:
        for statement in privileges.split_statements(setup_sql):
            if not privileges.admin_creates(statement) or statement.lower().endswith(f" {RAW_DATABASE.lower()}"):
                continue
            statement = statement.replace(f"{RAW_DATABASE}.", f"{EMULATOR_RAW[0]}.")
            con.cursor().execute(statement)
            ran.append(statement)
    finally:
        con.close()
    return ran


@pytest.fixture(scope="module")
def prod_run(moto_server, tmp_path_factory) -> dict:
    data = tmp_path_factory.mktemp("prod-generated")
    gen.generate(data, 0.001, 5, quiet=True)
    client = s3_local.client(moto_server)
    client.create_bucket(Bucket=BUCKET)
    upload.upload_dir(data, RAW_ROOT, batch=0, client=client, validate=True, stream=None)

    workdir = tmp_path_factory.mktemp("prod-emulator")
    with running_emulator(workdir, moto_server) as port:
        setup_sql = prod_check.setup_sql(SETUP_ENV)
        admin = admin_setup(port, setup_sql)
        env = emulator_dbt_env(workdir, RAW_ROOT, port, moto_server)
        env.update(
            SNOWFLAKE_STORAGE_INTEGRATION=SETUP_ENV["SNOWFLAKE_STORAGE_INTEGRATION"],
            DBT_LOG_FORMAT_FILE="json",
            DBT_LOG_LEVEL_FILE="debug",
        )
        moved = {**env, "SNOWFLAKE_STAGE_URL": f"s3://{BUCKET}/elsewhere/"}
        first = run_dbt(["run-operation", "load_raw"], moved)
        second = run_dbt(["run-operation", "load_raw"], env)
        _, stages, _ = snowflake_fetch(port, f"show stages in schema {EMULATOR_RAW[0]}.RAW")
        _, loaded, _ = snowflake_fetch(
            port, f"select count(*), min(loaded_at), max(loaded_at) from {EMULATOR_RAW[0]}.RAW.RATINGS"
        )
        run_dbt(["seed"], env)
        run_dbt(["build"], env)
        # The incremental statements (merge, delete+insert); its data tests would repeat the first build's.
        run_dbt(["run"], env)
    return {
        "setup_sql": setup_sql,
        "admin": admin,
        "statements": dbt_statements(workdir / "logs" / "dbt.log"),
        "first": first.stdout,
        "second": second.stdout,
        "stages": stages,
        "loaded": loaded[0],
        "ratings": gen.row_counts(0.001)["ratings.csv"],
    }


# --- a. privileges -----------------------------------------------------------------------------


def prod_setup(sql: str) -> privileges.Setup:
    return privileges.parse_setup(sql, SETUP_ENV["SNOWFLAKE_ROLE"])


def emulator_session() -> privileges.Session:
    return privileges.Session("ANALYTICS", "MOVIELENS", SETUP_ENV["SNOWFLAKE_WAREHOUSE"], rename=RENAME)


@pytest.mark.dbt
@pytest.mark.emulator
def test_every_kind_of_statement_was_captured(prod_run):
    kinds = {
        privileges.required(s, emulator_session())[0]
        for raw in prod_run["statements"]
        for s in privileges.split_statements(raw)
    }
    expected = {
        "create file format",
        "create stage",
        "create table",
        "create view",
        "create schema",
        "copy",
        "insert",
        "merge",
        "select",
        "show",
        "drop",
        "describe",
    }
    assert expected <= kinds, f"not captured: {sorted(expected - kinds)}"


@pytest.fixture(scope="module")
def privilege_check(prod_run) -> tuple[list[str], list[str]]:
    """(grants missing from `make prod-setup`, grants it gives that no statement uses)."""
    return privileges.check(prod_run["statements"], prod_setup(prod_run["setup_sql"]), emulator_session())


@pytest.mark.dbt
@pytest.mark.emulator
def test_every_statement_of_make_prod_is_granted_by_make_prod_setup(privilege_check):
    missing, _ = privilege_check
    assert not missing, "grants `make prod` needs and `make prod-setup` does not give:\n" + "\n".join(missing)


@pytest.mark.dbt
@pytest.mark.emulator
def test_make_prod_setup_grants_nothing_make_prod_does_not_need(privilege_check):
    _, unused = privilege_check
    assert not unused, "\n".join(unused)


MINI_SETUP = """
create database if not exists RAW;
create schema if not exists RAW.raw;
grant usage on warehouse WH to role LOADER;
grant usage on database RAW to role LOADER;
grant usage, create table on schema RAW.raw to role LOADER;
grant select, insert on future tables in schema RAW.raw
    to role LOADER;  -- the role owns what it creates: never needed
grant usage on database OTHER to role SOMEONE_ELSE;
"""


def test_the_privilege_check_names_the_statement_and_the_missing_or_unused_grant():
    setup = privileges.parse_setup(MINI_SETUP, "loader")
    session = privileges.Session("RAW", "RAW", "WH")
    statements = [
        '/* {"app": "dbt"} */ create schema if not exists RAW.raw',
        "create table if not exists RAW.raw.movies (movieid varchar)",
        "copy into RAW.raw.movies (movieid) from (select t.$1 from @RAW.raw.landing/movies/ as t)",
        "with m as (select * from RAW.raw.movies) select count(*) from m join RAW.other.ratings as r using (movieid)",
        "call some_procedure()",
    ]
    missing, unused = privileges.check(statements, setup, session)
    text = "\n".join(missing)
    assert "`create schema if not exists RAW.raw` needs CREATE SCHEMA on database RAW" in text, text
    assert "create-schema" in text, text
    assert "@RAW.raw.landing/movies/ as t)` needs USAGE on stage RAW.RAW.LANDING" in text, text
    # the role owns RAW.raw.movies (it created it), not RAW.other.ratings
    assert "needs USAGE on schema RAW.OTHER" in text and "needs SELECT on table RAW.OTHER.RATINGS" in text, text
    assert "SELECT on table RAW.RAW.MOVIES" not in text, text
    assert "`call some_procedure()`: no privilege rule for this kind of statement" in text, text
    assert len(missing) == 5, text
    assert unused == [
        "`make prod-setup` grants insert on future tables in schema RAW.RAW, which no statement of `make prod` needs",
        "`make prod-setup` grants select on future tables in schema RAW.RAW, which no statement of `make prod` needs",
    ], unused


# --- b. drift: a changed stage URL reaches the account ---------------------------------------------


@pytest.mark.dbt
@pytest.mark.emulator
def test_a_changed_stage_url_reaches_the_stage(prod_run):
    """The first load's stage points elsewhere (nothing there); the second load's URL must replace it."""
    assert "load_raw: done, 0 new file(s), 0 row(s)" in prod_run["first"]
    assert [row[4] for row in prod_run["stages"]] == [f"{RAW_ROOT}/"], prod_run["stages"]
    assert prod_run["loaded"][0] == prod_run["ratings"], "the second load did not read the new stage URL"


# --- c. durability -------------------------------------------------------------------------------


@pytest.mark.dbt
@pytest.mark.emulator
def test_snapshots_and_raw_tables_are_permanent(prod_run):
    created = {}
    for raw in prod_run["statements"]:
        for statement in privileges.split_statements(raw):
            _, _, objects, _ = privileges.required(statement, emulator_session())
            for kind, name in objects:
                if kind == "TABLE" and name[1] in {"SNAPSHOTS", "RAW"} and not name[2].endswith("__DBT_TMP"):
                    created.setdefault(".".join(name), []).append(statement[:100])
    assert {"ANALYTICS.SNAPSHOTS.SNAP_MOVIES", "ANALYTICS.SNAPSHOTS.SNAP_TAGS", "RAW.RAW.RATINGS"} <= set(created)
    transient = [f"{n}: {s}" for n, found in created.items() for s in found if " transient " in f" {s.lower()} "]
    assert not transient, "transient (no Fail-safe):\n" + "\n".join(transient)


# --- d. loaded_at in UTC -------------------------------------------------------------------------


def loaded_at_expression(statements: list[str]) -> str:
    copies = [s for raw in statements for s in privileges.split_statements(raw) if s.lower().startswith("copy into")]
    assert copies, "no COPY INTO captured"
    select = sqlglot.parse_one(copies[0].split(" from @")[0].split("from (", 1)[1], read="snowflake")
    return select.expressions[-1].sql(dialect="snowflake")


@pytest.mark.dbt
@pytest.mark.emulator
@pytest.mark.parametrize("time_zone", ["America/Los_Angeles", "UTC", "Asia/Kolkata"])
def test_loaded_at_is_utc_whatever_the_session_time_zone(prod_run, time_zone):
    """The COPY's loaded_at expression, run (as DuckDB SQL) in a session with another TIMEZONE:
    DuckDB casts a time-zoned timestamp to a naive one in the session's zone, as Snowflake does."""
    expression = loaded_at_expression(prod_run["statements"])
    sql = sqlglot.transpile(f"select {expression}", read="snowflake", write="duckdb")[0]
    with duckdb.connect() as con:
        con.execute(f"set TimeZone = '{time_zone}'")
        value = con.sql(sql).fetchone()[0]
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert abs((value - now).total_seconds()) < 300, f"{expression} gives {value} in {time_zone}; UTC is {now}"


@pytest.mark.dbt
@pytest.mark.emulator
def test_loaded_at_on_the_emulator_is_utc(prod_run):
    _, first, last = prod_run["loaded"]
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for value in (first, last):
        value = dt.datetime.fromisoformat(str(value))
        assert abs((value - now).total_seconds()) < 900, f"loaded_at {value}, UTC now {now}"


# --- fast: contracts, stage keys ----------------------------------------------------------------------


def contract_columns() -> list[tuple[str, str, str]]:
    """(model, column, data_type) of every column of every model with an enforced contract."""
    found = []
    for path in sorted((ROOT / "models").rglob("*.yml")):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            if not ((model.get("config") or {}).get("contract") or {}).get("enforced"):
                continue
            for column in model.get("columns", []):
                found.append((model["name"], column["name"], str(column.get("data_type") or "")))
    return found


# Types whose meaning an account parameter decides: TIMESTAMP is an alias of the TIMESTAMP_* variant
# named by TIMESTAMP_TYPE_MAPPING (docs.snowflake.com/en/sql-reference/parameters#timestamp-type-mapping).
PARAMETER_DEPENDENT = re.compile(r"^\s*timestamp\s*(\(\s*\d+\s*\))?\s*$", re.IGNORECASE)


def test_contract_types_do_not_depend_on_account_parameters():
    columns = contract_columns()
    assert len(columns) > 20
    bad = [f"{m}.{c}: {t}" for m, c, t in columns if PARAMETER_DEPENDENT.match(t)]
    assert not bad, "contract types resolved through TIMESTAMP_TYPE_MAPPING on Snowflake:\n" + "\n".join(bad)


@pytest.mark.dbt
def test_stage_keys_stop_the_raw_load_in_one_line_without_the_secret(tmp_path):
    """The removed key-based fallback: one line naming the fix, and the secret nowhere."""
    secret = "wJalrXUtnFEMI-not-a-real-secret-42"
    env = dbt_env(tmp_path, str(tmp_path / "landing"))
    env.update(SNOWFLAKE_STAGE_AWS_KEY_ID="AKIA0000EXAMPLE", DBT_ENV_SECRET_SNOWFLAKE_STAGE_AWS_SECRET_KEY=secret)
    proc = run_dbt(["run-operation", "load_raw_setup_sql"], env, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Secret env vars are allowed only" not in output, output[-1500:]
    assert "stage keys are not supported" in output and "SNOWFLAKE_STORAGE_INTEGRATION" in output, output[-1500:]
    logged = "".join(p.read_text(errors="replace") for p in (tmp_path / "logs").rglob("*") if p.is_file())
    assert secret not in output + logged
    assert prod_check.missing({**os.environ, "SNOWFLAKE_STAGE_AWS_KEY_ID": "AKIA0000EXAMPLE"})
