"""Table-by-table comparison of two warehouses built from the same files (DuckDB and Snowflake, or
the Snowflake emulator): row counts and per-column checksums, independent of row order.

Values are normalised to one text per value first, so the two drivers' Python types compare
(Decimal and float, naive and aware timestamps, a DuckDB list and a Snowflake ARRAY's JSON text).
Used by `make emulate` (scripts/tools/emulate.py), the tests, and a real-account smoke run.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

NULL = "\x00NULL"
# Snowflake's semi-structured types come back from the connector as JSON text.
JSON_TYPES = ("ARRAY", "OBJECT", "VARIANT")


def normalise(value: Any) -> str:
    """One comparable text per value, the same for both warehouses' Python types."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | decimal.Decimal):
        number = float(value)
        if number.is_integer() and abs(number) < 2**53:
            return str(int(number))  # the emulator returns some NUMBER results as FLOAT
        return format(number, ".9g")
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, default=normalise, sort_keys=True, separators=(",", ":"))
    return str(value)


def column_values(rows: Sequence[tuple], index: int) -> list[str]:
    return sorted(normalise(row[index]) for row in rows)


def compare_tables(
    model: str,
    left_name: str,
    left: tuple[list[str], list[tuple]],
    right_name: str,
    right: tuple[list[str], list[tuple]],
    skip: Iterable[str] = (),
) -> list[str]:
    """Differences between two fetched tables: row count, column names, per-column checksums
    (with a sample of the differing values). Empty when they hold the same data."""
    (left_cols, left_rows), (right_cols, right_rows) = left, right
    problems = []
    if len(left_rows) != len(right_rows):
        problems.append(f"{model}: {len(left_rows)} rows on {left_name}, {len(right_rows)} on {right_name}")
    if set(left_cols) != set(right_cols):
        problems.append(
            f"{model}: columns only on {left_name}: {sorted(set(left_cols) - set(right_cols))}, "
            f"only on {right_name}: {sorted(set(right_cols) - set(left_cols))}"
        )
    skipped = set(skip)
    for column in left_cols:
        if column not in right_cols or column in skipped:
            continue
        left_values = column_values(left_rows, left_cols.index(column))
        right_values = column_values(right_rows, right_cols.index(column))
        if left_values == right_values:  # both sorted: equal as multisets
            continue
        only_left = list((Counter(left_values) - Counter(right_values)).elements())
        only_right = list((Counter(right_values) - Counter(left_values)).elements())
        problems.append(
            f"{model}.{column}: values differ ({len(only_left)} only on {left_name}, e.g. {only_left[:5]}; "
            f"{len(only_right)} only on {right_name}, e.g. {only_right[:5]})"
        )
    return problems


# --- whole warehouses ---------------------------------------------------------------------------


@dataclass
class Comparison:
    tables: list[str]  # schema.table, compared
    differences: dict[str, list[str]]  # schema.table -> its differences (only tables that differ)

    @property
    def differing(self) -> int:
        return len(self.differences)

    def lines(self) -> list[str]:
        out = [line for table in self.tables for line in self.differences.get(table, [])]
        out.append(f"{self.differing} of {len(self.tables)} core and analytics tables differ")
        return out


def duckdb_tables(con: Any, schemas: Sequence[str] = ("core", "analytics")) -> list[str]:
    rows = con.sql(
        "select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE'"
        f" and table_schema in ({', '.join(repr(s) for s in schemas)}) order by 1, 2"
    ).fetchall()
    return [f"{schema}.{table}" for schema, table in rows]


def duckdb_fetch(con: Any, relation: str) -> tuple[list[str], list[tuple]]:
    rel = con.sql(f"select * from {relation}")
    return [c.lower() for c in rel.columns], rel.fetchall()


def snowflake_tables(cur: Any, database: str, schemas: Sequence[str] = ("core", "analytics")) -> list[str]:
    listed = ", ".join(repr(s.upper()) for s in schemas)
    cur.execute(
        f"select lower(table_schema), lower(table_name) from {database}.INFORMATION_SCHEMA.TABLES"
        f" where table_schema in ({listed}) and table_type = 'BASE TABLE' order by 1, 2"
    )
    return [f"{schema}.{table}" for schema, table in cur.fetchall()]


def snowflake_fetch(cur: Any, database: str, relation: str) -> tuple[list[str], list[tuple]]:
    from snowflake.connector.constants import FIELD_ID_TO_NAME

    cur.execute(f"select * from {database}.{relation}")
    rows = [tuple(row) for row in cur.fetchall()]
    columns = [d.name.lower() for d in cur.description]
    json_columns = [i for i, d in enumerate(cur.description) if FIELD_ID_TO_NAME.get(d.type_code) in JSON_TYPES]
    if json_columns:
        rows = [
            tuple(json.loads(v) if i in json_columns and isinstance(v, str) else v for i, v in enumerate(row))
            for row in rows
        ]
    return columns, rows


def compare_warehouses(duck_con: Any, sf_cursor: Any, database: str = "ANALYTICS") -> Comparison:
    """Every core and analytics table of either warehouse: a missing table, a row count or a
    column's checksum that differs is named."""
    duck = duckdb_tables(duck_con)
    snow = snowflake_tables(sf_cursor, database)
    tables = sorted(set(duck) | set(snow))
    differences: dict[str, list[str]] = {}
    for table in tables:
        if table not in snow or table not in duck:
            differences[table] = [f"{table}: only on {'DuckDB' if table in duck else 'Snowflake'}"]
        elif problems := compare_tables(
            table, "Snowflake", snowflake_fetch(sf_cursor, database, table), "DuckDB", duckdb_fetch(duck_con, table)
        ):
            differences[table] = problems
    return Comparison(tables, differences)
