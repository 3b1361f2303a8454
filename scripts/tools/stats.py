"""Row counts of the built DuckDB warehouse and what the snapshots hold (`make stats`). With
--landing-zone: the landing zone the warehouse was built from (raw.landing_zone) as `s3 <bucket>
<prefix>` or `local <folder>`, which the Makefile reads so a build reads the zone it read before.
"""

from __future__ import annotations

from pathlib import Path

import click
import duckdb

from scripts.common import UserError

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


@click.command("stats")
@click.option("--db", default="warehouse/dev.duckdb", show_default=True)
@click.option("--landing-zone", is_flag=True, help="print the landing zone the warehouse was built from")
def command(db: str, landing_zone: bool) -> None:
    """Row counts of the built DuckDB warehouse and what the snapshots hold."""
    if landing_zone:
        root = recorded_landing_zone(db) if Path(db).is_file() else None
        if root:
            print(landing_zone_words(root))
        return
    if not Path(db).is_file():
        raise UserError(f"{db} does not exist: build the warehouse first (make dev)")
    try:
        con = duckdb.connect(db, read_only=True)
    except duckdb.IOException as exc:
        raise UserError(f"cannot open {db} ({str(exc).splitlines()[0]}): is a build running?") from None
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
