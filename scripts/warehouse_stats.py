"""Row counts of the built DuckDB warehouse, and what the snapshots hold: `make stats`.

    python -m scripts.warehouse_stats [--db warehouse/dev.duckdb]
    python -m scripts.warehouse_stats --db warehouse/dev.duckdb --landing-zone

Reads the file read-only; run it after `make dev` (or `make build`) to see what a delivery changed.
--landing-zone prints the landing zone the warehouse was built from (raw.landing_zone, written by
macros/raw/landing_zone_guard.sql) as `s3 <bucket> <prefix>` or `local <folder>`, and nothing for
a warehouse without one: the Makefile reads it so that a build reads the landing zone it read before.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

TABLES_SQL = """
    select table_schema, table_name
    from information_schema.tables
    where table_schema in ('core', 'analytics', 'snapshots') and table_type = 'BASE TABLE'
    order by table_schema, table_name
"""
SNAPSHOT_SQL = """
    select
        count(*) as rows,
        count(*) filter (where dbt_valid_to is null and coalesce(dbt_is_deleted, 'False') != 'True') as current,
        count(*) filter (where dbt_valid_to is not null) as superseded,
        count(*) filter (where dbt_is_deleted = 'True') as deletions
    from snapshots.{name}
"""


def recorded_landing_zone(db: str) -> str | None:
    """The landing zone (MOVIELENS_RAW_ROOT) the warehouse was built from, None if unknown."""
    try:
        with duckdb.connect(db, read_only=True) as con:
            row = con.execute("select raw_root from raw.landing_zone limit 1").fetchone()
    except duckdb.Error:  # no such table (never built), or locked by a running build
        return None
    return row[0] if row else None


def landing_zone_words(raw_root: str) -> str:
    """`s3 <bucket> <prefix>` or `local <folder>`: the Makefile's RAW, S3_BUCKET, S3_PREFIX."""
    if raw_root.startswith("s3://"):
        bucket, _, prefix = raw_root.removeprefix("s3://").partition("/")
        return f"s3 {bucket} {prefix.strip('/')}".rstrip()
    return f"local {raw_root}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="warehouse_stats", description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="warehouse/dev.duckdb")
    parser.add_argument(
        "--landing-zone", action="store_true", help="print the landing zone the warehouse was built from"
    )
    args = parser.parse_args(argv)
    if args.landing_zone:
        root = recorded_landing_zone(args.db) if Path(args.db).is_file() else None
        if root:
            print(landing_zone_words(root))
        return 0
    if not Path(args.db).is_file():
        print(f"error: {args.db} does not exist: build the warehouse first (make dev)", file=sys.stderr)
        return 1
    try:
        con = duckdb.connect(args.db, read_only=True)
    except duckdb.IOException as exc:
        print(f"error: cannot open {args.db} ({str(exc).splitlines()[0]}): is a build running?", file=sys.stderr)
        return 1
    with con:
        print(f"{'relation':<36} {'rows':>12}")
        for schema, name in con.execute(TABLES_SQL).fetchall():
            count = con.execute(f"select count(*) from {schema}.{name}").fetchone()[0]
            print(f"{schema + '.' + name:<36} {count:>12,}")
        batches = con.execute("select batch_id, count(*) from core.fct_ratings group by all order by 1").fetchall()
        print("\nfct_ratings rows by delivery batch: " + ", ".join(f"{b:04d}: {n:,}" for b, n in batches))
        for name in ("snap_movies", "snap_tags"):
            rows, current, superseded, deletions = con.execute(SNAPSHOT_SQL.format(name=name)).fetchone()
            print(
                f"{name}: {rows:,} rows: {current:,} current, {superseded:,} superseded, {deletions:,} deletion records"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
