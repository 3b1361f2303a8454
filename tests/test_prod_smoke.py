"""`make prod-smoke` offline: it refuses without settings in one line and its own SQL is Snowflake
SQL. Its whole run (throwaway database, deliveries, loads, builds, comparison with DuckDB, teardown)
against the emulator is in tests/test_snowflake_deliveries.py, whose changing-data checks inspect
that same run."""

from __future__ import annotations

import subprocess

import pytest
import sqlglot

from scripts.tools import prod_smoke
from tests.dbt_runner import ROOT


def test_prod_smoke_refuses_without_settings_in_one_line():
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    proc = subprocess.run(["make", "-s", "prod-smoke"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.startswith("make prod-smoke: missing settings")]
    assert len(lines) == 1, proc.stderr
    for name in ("SNOWFLAKE_ACCOUNT", "SNOWFLAKE_STORAGE_INTEGRATION", "PROD_SMOKE_PREFIX", "AWS_ACCESS_KEY_ID"):
        assert name in lines[0]


def test_prod_smoke_sql_is_snowflake_sql():
    database = prod_smoke.database_name("movielens_smoke")
    assert database.startswith("MOVIELENS_SMOKE_")
    for sql in prod_smoke.setup_sql(database, "raw") + prod_smoke.teardown_sql(database):
        parsed = sqlglot.parse_one(sql, read="snowflake")
        assert parsed.sql(dialect="snowflake").lower() == sql.lower(), sql
    with pytest.raises(ValueError, match="plain identifier"):
        prod_smoke.database_name("my-smoke; drop database prod")
