"""Table-by-table comparison of two warehouses: row counts and per-column checksums.

Small on purpose (used by scripts/prod_smoke.py); tests/snowflake_helpers.py holds the same rule for
the test suite. A value is compared by one normalised text per Python type, so a Snowflake NUMBER
returned as Decimal equals DuckDB's integer or double, and a naive timestamp equals an aware one in UTC.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
from collections import Counter
from collections.abc import Sequence
from typing import Any

NULL = "\x00NULL"


def normalise(value: Any) -> str:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | decimal.Decimal):
        number = float(value)
        if number.is_integer() and abs(number) < 2**53:
            return str(int(number))
        return format(number, ".9g")
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _values(rows: Sequence[tuple], index: int) -> list[str]:
    return sorted(normalise(row[index]) for row in rows)


def compare(
    table: str,
    left_name: str,
    left: tuple[list[str], list[tuple]],
    right_name: str,
    right: tuple[list[str], list[tuple]],
) -> list[str]:
    """One line per difference (row count, columns, each column whose checksum differs); empty if equal."""
    (left_cols, left_rows), (right_cols, right_rows) = left, right
    left_cols, right_cols = [c.lower() for c in left_cols], [c.lower() for c in right_cols]
    problems = []
    if len(left_rows) != len(right_rows):
        problems.append(f"{table}: {len(left_rows)} rows on {left_name}, {len(right_rows)} on {right_name}")
    if set(left_cols) != set(right_cols):
        problems.append(
            f"{table}: columns only on {left_name}: {sorted(set(left_cols) - set(right_cols))}, "
            f"only on {right_name}: {sorted(set(right_cols) - set(left_cols))}"
        )
    for column in left_cols:
        if column not in right_cols:
            continue
        a, b = _values(left_rows, left_cols.index(column)), _values(right_rows, right_cols.index(column))
        if hashlib.sha256("\x1f".join(a).encode()).digest() == hashlib.sha256("\x1f".join(b).encode()).digest():
            continue
        only_left = list((Counter(a) - Counter(b)).elements())[:3]
        only_right = list((Counter(b) - Counter(a)).elements())[:3]
        problems.append(
            f"{table}.{column}: values differ (e.g. {only_left} on {left_name}, {only_right} on {right_name})"
        )
    return problems
