"""Helpers for tests/test_snowflake.py: the Snowflake emulator process, a Snowflake-dialect check of
dbt's compiled SQL, and an order-independent comparison of tables from two warehouses."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.dialects.snowflake import Snowflake
from sqlglot.tokens import TokenType

ROOT = Path(__file__).resolve().parent.parent
# The emulator as a process lives with the product code (make emulate uses it too).
from scripts.emulator.process import (  # noqa: E402, F401 - re-exported for the test modules
    EMULATOR_PYTHON,
    EMULATOR_SCRIPT,
    emulator_command,
    free_port,
    snowflake_connect,
    start_emulator,
    stop_emulator,
)

# =====================================================================================
# Snowflake-dialect check of compiled SQL
# =====================================================================================

# Every function the project's compiled SQL calls, by the name written in the SQL. Each one is a
# documented Snowflake function (docs.snowflake.com/en/sql-reference/functions/<name>). sqlglot's
# Snowflake parser accepts any function name: unknown ones become exp.Anonymous, and functions it
# knows from other dialects (DuckDB's regexp_extract, unnest, generate_series...) are accepted and
# silently mapped. So the names as written are checked here, not only the Anonymous ones. Add a name
# only after checking that Snowflake has that function under that name.
SNOWFLAKE_FUNCTIONS = frozenset(
    {
        "array_construct",  # split_to_list: empty array
        "array_size",  # list_size
        "avg",
        "bitand",  # bit_and (mart_genre_trends): BITAND(<expr1>, <expr2>)
        "bitor_agg",  # bit_or_agg (mart_genre_trends): aggregate, NUMBER(38, 0)
        "coalesce",
        "convert_timezone",  # dbt.current_timestamp() on dbt-snowflake
        "count",
        "current_timestamp",
        "date_trunc",
        "dateadd",
        "datediff",
        "flatten",  # unnest_list: lateral flatten(input => ...)
        "floor",
        # dim_users, mart_user_activity. Snowflake's GREATEST is NULL if any argument is NULL
        # (docs.snowflake.com, GREATEST), DuckDB's skips NULLs: the models coalesce every argument.
        "greatest",
        "length",
        "lower",
        "lpad",
        "max",
        "md5",  # dbt.hash()
        "min",
        "power",  # dbt.generate_series()
        "regexp_replace",
        "regexp_substr",  # regex_extract: regexp_substr(s, p, 1, 1, 'e', group)
        "row_number",
        "split",  # split_to_list
        "stddev_samp",
        "sum",
        "to_timestamp_ntz",  # epoch_to_timestamp (unknown to sqlglot: exp.Anonymous)
        "trim",
    }
)

# Expressions sqlglot builds from Snowflake syntax rather than from a function name (CASE WHEN gives
# If nodes, boolean operators And/Or nodes).
SNOWFLAKE_SYNTAX = frozenset({"cast", "try_cast", "extract", "case", "if", "and", "or"})

_TYPE_TOKENS = Snowflake.Parser.TYPE_TOKENS
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # sqlglot underlines the error position for terminals


def _line_of(sql: str, position: int) -> int:
    return sql.count("\n", 0, position) + 1


def sql_problems(sql: str) -> list[str]:
    """What in one SQL text is not Snowflake SQL: a parse error, a function that is not an allowed
    Snowflake function, a DuckDB list type (`varchar[]`). Empty when nothing is wrong."""
    try:
        statements = sqlglot.parse(sql, read="snowflake")
    except sqlglot.errors.SqlglotError as error:
        message = " ".join(_ANSI.sub("", str(error)).split())
        return [f"does not parse as Snowflake SQL: {message[:400]}"]
    problems: list[str] = []
    seen: set[str] = set()
    for statement in statements:
        if statement is None:
            continue
        for func in statement.find_all(exp.Func):
            meta = func.meta
            if "start" in meta and "end" in meta:  # called by name: the name as written
                name = sql[meta["start"] : meta["end"] + 1].strip('"').lower()
                where = f" (line {_line_of(sql, meta['start'])})"
            elif isinstance(func, exp.Anonymous):
                name, where = func.name.lower(), ""
            else:  # parsed by syntax (CAST(x AS t), CASE, a table-position UNNEST...): sqlglot's name
                name, where = func.sql_name().lower(), ""
                if name in SNOWFLAKE_SYNTAX:
                    continue
            if name in SNOWFLAKE_FUNCTIONS or name in seen:
                continue
            seen.add(name)
            kind = "unknown to sqlglot's Snowflake dialect" if isinstance(func, exp.Anonymous) else "not allowlisted"
            problems.append(f"function {name}(){where}: {kind}, not in the Snowflake function allowlist")
    # DuckDB list types (varchar[], int[]): sqlglot reads them as ARRAY(...), Snowflake has no such syntax.
    tokens = Snowflake().tokenize(sql)
    for previous, current, following in zip(tokens, tokens[1:], tokens[2:], strict=False):
        if (
            previous.token_type in _TYPE_TOKENS
            and current.token_type == TokenType.L_BRACKET
            and following.token_type == TokenType.R_BRACKET
        ):
            problems.append(f"DuckDB list type {previous.text}[] (line {previous.line}): not a Snowflake type")
    return problems


def _node_names(target: Path) -> dict[Path, str]:
    """compiled file -> dbt unique_id, from the manifest (unit tests and fixtures have none)."""
    manifest_path = target / "manifest.json"
    if not manifest_path.is_file():
        return {}
    manifest = json.loads(manifest_path.read_text())
    names = {}
    for unique_id, node in manifest.get("nodes", {}).items():
        if node.get("compiled_path"):
            names[Path(node["compiled_path"]).resolve()] = unique_id
    return names


def compiled_sql(target: Path) -> list[tuple[str, str]]:
    """(label, sql) of every compiled node in a dbt target folder: every .sql file under compiled/
    (models, data and unit tests, analyses, hooks), the snapshots' selects from the manifest (a
    snapshot defined in YAML has no compiled file), and run/ snapshot SQL when the folder has it."""
    target = Path(target)
    names = _node_names(target)
    found: list[tuple[str, str]] = []
    for path in sorted((target / "compiled").rglob("*.sql")):
        relative = path.relative_to(target / "compiled")
        unique_id = names.get(path.resolve())
        label = f"{unique_id} ({relative})" if unique_id else f"{path.stem} ({relative})"
        found.append((label, path.read_text()))
    manifest_path = target / "manifest.json"
    if manifest_path.is_file():
        for unique_id, node in json.loads(manifest_path.read_text()).get("nodes", {}).items():
            if node.get("resource_type") == "snapshot" and node.get("compiled_code"):
                found.append((f"{unique_id} (manifest compiled_code)", node["compiled_code"]))
    for path in sorted((target / "run").rglob("*.sql")) if (target / "run").is_dir() else []:
        relative = path.relative_to(target / "run")
        if "snapshots" in relative.parts:
            found.append((f"{path.stem} (run/{relative})", path.read_text()))
    return found


def snowflake_dialect_problems(target: Path) -> list[str]:
    """One line per problem, naming the node: `<node> (<file>): <problem>`. Empty when every
    compiled node of the target folder is Snowflake SQL by the rules of sql_problems()."""
    nodes = compiled_sql(target)
    if not nodes:
        return [f"no compiled SQL under {target}: did dbt compile run?"]
    return [f"{label}: {problem}" for label, sql in nodes for problem in sql_problems(sql)]


# =====================================================================================
# The emulator process
# =====================================================================================


@contextlib.contextmanager
def running_emulator(workdir: Path, s3_endpoint: str) -> Iterator[int]:
    """A Snowflake emulator for the `with` block, its database and log under workdir, its s3://
    stages read from s3_endpoint: the block gets its port; it is stopped when the block ends, however
    it ends. The test fails with the fix when the emulator's venv is missing."""
    if not EMULATOR_PYTHON.is_file():
        pytest.fail(f"{EMULATOR_PYTHON} is missing: run `make emulator-setup` (make test does it)")
    port = free_port()
    proc = start_emulator(port, workdir / "db", s3_endpoint, workdir / "emulator.log")
    try:
        yield port
    finally:
        stop_emulator(proc)


def snowflake_fetch(port: int, sql: str) -> tuple[list[str], list[tuple], list[str]]:
    """(lowercased column names, rows, Snowflake type names) of one query, on a fresh connection."""
    from snowflake.connector.constants import FIELD_ID_TO_NAME

    con = snowflake_connect(port)
    try:
        cur = con.cursor()
        cur.execute(sql)
        rows = [tuple(row) for row in cur.fetchall()]
        columns = [d.name.lower() for d in cur.description]
        types = [FIELD_ID_TO_NAME.get(d.type_code, str(d.type_code)) for d in cur.description]
        return columns, rows, types
    finally:
        con.close()


# =====================================================================================
# Order-independent table comparison
# =====================================================================================

# The comparison lives in scripts/tools/compare.py (make emulate uses it too).
from scripts.tools.compare import column_values, compare_tables  # noqa: E402, F401 - used by test modules


def table_checksums(columns: list[str], rows: list[tuple]) -> dict[str, str]:
    """Per column: a hash of its sorted normalised values (independent of row order)."""
    return {
        name: hashlib.sha256("\x1f".join(column_values(rows, i)).encode()).hexdigest() for i, name in enumerate(columns)
    }


def emulator_dbt_env(workdir: Path, raw_root: str, port: int, endpoint: str, **extra: str) -> dict[str, str]:
    """dbt's environment for the `emulator` target: the raw tables go to ANALYTICS.raw and the
    stage reads raw_root (an s3:// prefix on the moto server at endpoint)."""
    from tests.dbt_runner import dbt_env

    return dbt_env(
        workdir,
        raw_root,
        endpoint=endpoint,
        DBT_TARGET="emulator",
        SNOWFLAKE_EMULATOR_PORT=str(port),
        SNOWFLAKE_EMULATOR_PASSWORD="emulator",
        SNOWFLAKE_RAW_DATABASE="ANALYTICS",
        SNOWFLAKE_STAGE_URL=f"{raw_root}/",
        SNOWFLAKE_DISABLE_PLATFORM_DETECTION="true",
        **extra,
    )
