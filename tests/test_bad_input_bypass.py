"""The bad-input corpus copied straight into the landing zone, past the validator, read by both targets.

Every case of tests/fixtures/bad_input/ (whatever cases it holds: the folder is listed, not named
here) lands as it would if a file reached the bucket without scripts/landing/validate.py: the clean base as
batch 0 and the case's files as batch 1 (a first-delivery case alone, as batch 0). Then the raw
layer of each target reads it, with the project's own SQL, compiled by dbt from the macros:

- DuckDB: the raw views of macros/raw/raw_layer.sql (read_csv), queried table by table;
- Snowflake (the emulator): the file format, stage and raw tables of load_raw_setup_sql and the
  COPY INTO of copy_into_sql (macros/snowflake/raw_load.sql), from a file:// stage on the same folder.

Both must stop on the same file and line, or load the same raw rows (every column, every file) with
as many rows per file as the file holds records: no row altered or dropped silently. What happens
after the raw layer is the same dbt SQL on both targets (checked by the parity tests).
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from collections import Counter
from pathlib import Path

import duckdb
import pytest
import snowflake.connector

from scripts.landing import upload, validate
from tests.dbt_runner import ROOT, dbt_env, run_dbt
from tests.snowflake_helpers import (
    emulator_dbt_env,
    running_emulator,
    snowflake_connect,
)

pytestmark = [pytest.mark.dbt, pytest.mark.emulator]

FIXTURES = ROOT / "tests" / "fixtures" / "bad_input"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "expected.json").is_file())
EXPECTED = {case: json.loads((FIXTURES / case / "expected.json").read_text(encoding="utf-8")) for case in CASES}
TABLE_OF = {name: table for table, name in upload.TABLES.items()}
# The raw tables' columns, as macros/raw/raw_tables.sql lists them: the validator's headers, lowercased.
RAW_COLUMNS = {table: [c.lower() for c in header] for table, header in validate.HEADERS.items()} | {
    validate.REJECTS_TABLE: list(validate.REJECTS_HEADER)
}
ROOT_MARK = "/__landing_root__"
SCHEMA_MARK = "RAW_CASE_MARK"
DUCKDB_STOP = re.compile(r"CSV Error on Line: (\d+)")
DUCKDB_FILE = re.compile(r"file = (\S+)")
SNOWFLAKE_STOP = re.compile(r"File '([^']+)', line (\d+)")


def land(case: str, root: Path) -> Path:
    """The case's files (and the base) copied into root/<table>/batch=NNNN/<file>, bytes unchanged."""
    first = EXPECTED[case].get("first_delivery", False)
    deliveries = [(case, 0)] if first else [("base", 0), (case, 1)]
    for folder, batch in deliveries:
        for path in sorted((FIXTURES / folder).glob("*.csv.txt")):
            name = path.name.removesuffix(".txt")
            target = root / TABLE_OF[name] / upload.batch_folder(batch) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    return root


def relative(filename: str, root: Path) -> str:
    """A file as both targets name it, from the landing root: `ratings/batch=0001/ratings.csv`."""
    return filename.split(str(root).lstrip("/") + "/", 1)[-1]


def records(path: Path) -> int:
    """Records a file holds: non-blank CSV rows after the header (Python's csv module)."""
    with open(path, newline="", encoding="utf-8") as handle:
        return max(sum(1 for row in csv.reader(handle) if row) - 1, 0)


# --- the project's SQL, compiled once by dbt ---------------------------------------------------


@pytest.fixture(scope="module")
def duckdb_sql(tmp_path_factory) -> str:
    """The raw views' SQL with every table present, the landing root replaced by ROOT_MARK."""
    work = tmp_path_factory.mktemp("bypass-compile")
    root = work / "landing"
    for table in RAW_COLUMNS:
        (root / table / "batch=0000").mkdir(parents=True)
        (root / table / "batch=0000" / "x.csv").write_text("h\n")
    proc = run_dbt(
        ["compile", "--quiet", "--output", "json", "--inline", "{{ raw_layer() }}"], dbt_env(work, str(root))
    )
    sql = json.loads(proc.stdout)["compiled"]
    assert sql.count(f"'{root}/") == len(RAW_COLUMNS), sql
    return sql.replace(str(root), ROOT_MARK)


@pytest.fixture(scope="module")
def emulator(moto_server, tmp_path_factory):
    work = tmp_path_factory.mktemp("bypass-emulator")
    with running_emulator(work, moto_server) as port:
        yield port, moto_server, work


@pytest.fixture(scope="module")
def snowflake_sql(emulator) -> list[str]:
    """load_raw's statements (set-up, then one COPY per table) for a stage on ROOT_MARK."""
    port, endpoint, work = emulator
    # The raw schema is made by `make prod-setup` on an account (load_raw only checks for it).
    inline = (
        "create schema if not exists {{ raw_schema_name() }}\n;;\n"
        "{% for s in load_raw_setup_sql() %}{{ s }}\n;;\n{% endfor %}"
        "{% for t in raw_tables() %}{{ copy_into_sql(t) }}\n;;\n{% endfor %}"
    )
    env = emulator_dbt_env(work, f"file://{ROOT_MARK}", port, endpoint, SNOWFLAKE_RAW_SCHEMA=SCHEMA_MARK)
    proc = run_dbt(["compile", "--quiet", "--output", "json", "--inline", inline], env)
    statements = [s.strip() for s in json.loads(proc.stdout)["compiled"].split("\n;;\n") if s.strip()]
    assert sum(s.lower().startswith("copy into") for s in statements) == len(RAW_COLUMNS), statements
    return statements


# --- each target's reading of one landing zone -------------------------------------------------


def read_duckdb(sql: str, root: Path) -> dict:
    con = duckdb.connect()
    try:
        present = [table for table in RAW_COLUMNS if (root / table).is_dir()]
        for statement in sql.replace(ROOT_MARK, str(root)).split(";"):
            # a table the landing zone lacks has no view (raw_layer stops or makes it empty): 0 rows
            if not any(f"{root}/{table}/" in statement for table in set(RAW_COLUMNS) - set(present)):
                con.execute(statement)
        rows: dict[str, list] = {table: [] for table in RAW_COLUMNS}
        for table, columns in RAW_COLUMNS.items():
            if table not in present:
                continue
            try:
                found = con.sql(f"select {', '.join(columns)}, filename from raw.{table}").fetchall()
            except duckdb.Error as error:
                line, file = DUCKDB_STOP.search(str(error)), DUCKDB_FILE.search(str(error))
                assert line and file, str(error)
                return {"stop": (relative(file.group(1), root), int(line.group(1))), "message": str(error)}
            rows[table] = [(*row[:-1], relative(row[-1], root)) for row in found]
        return {"rows": rows}
    finally:
        con.close()


def read_snowflake(statements: list[str], port: int, root: Path, schema: str) -> dict:
    con = snowflake_connect(port)
    try:
        cur = con.cursor()
        for statement in statements:
            sql = statement.replace(ROOT_MARK, str(root)).replace(SCHEMA_MARK, schema)
            try:
                cur.execute(sql)
            except snowflake.connector.errors.ProgrammingError as error:
                where = SNOWFLAKE_STOP.search(error.msg or "")
                assert where and sql.lower().startswith("copy into"), f"{sql}\n{error}"
                return {"stop": (relative(where.group(1), root), int(where.group(2))), "message": error.msg}
        rows = {}
        for table, columns in RAW_COLUMNS.items():
            cur.execute(f"select {', '.join(columns)}, filename from ANALYTICS.{schema}.{table}")
            rows[table] = [(*row[:-1], relative(row[-1], root)) for row in cur.fetchall()]
        return {"rows": rows}
    finally:
        con.close()


@pytest.mark.parametrize("case", CASES)
def test_both_targets_read_a_bypassed_case_alike(case, duckdb_sql, snowflake_sql, emulator, tmp_path):
    port = emulator[0]
    root = land(case, tmp_path / "landing")
    before = {p: p.read_bytes() for p in root.rglob("*.csv")}

    duck = read_duckdb(duckdb_sql, root)
    snow = read_snowflake(snowflake_sql, port, root, f"RAW_{case.upper()}")

    if "stop" in duck or "stop" in snow:
        assert duck.get("stop") == snow.get("stop"), (
            f"{case}: DuckDB {duck.get('stop') or 'loads'}, the emulator {snow.get('stop') or 'loads'}\n"
            f"DuckDB: {duck.get('message', '')[:300]}\nemulator: {snow.get('message', '')[:300]}"
        )
    else:
        for table in RAW_COLUMNS:
            assert Counter(duck["rows"][table]) == Counter(snow["rows"][table]), f"{case}: raw.{table} differs"
        per_file = Counter(row[-1] for table_rows in duck["rows"].values() for row in table_rows)
        for path in before:
            assert per_file.get(relative(str(path), root), 0) == records(path), f"{case}: {path} rows"
    assert {p: p.read_bytes() for p in root.rglob("*.csv")} == before
