"""`make prod-smoke` offline: it refuses without settings in one line, its own SQL is Snowflake SQL,
and the whole run (throwaway database, two deliveries, load, builds, comparison with DuckDB,
teardown) passes against the emulator, leaving no database and no S3 object behind."""

from __future__ import annotations

import os
import subprocess

import pytest
import sqlglot

from scripts.landing import s3_local
from scripts.tools import prod_smoke
from tests.dbt_runner import ROOT
from tests.snowflake_helpers import EMULATOR_PYTHON, free_port, snowflake_connect, start_emulator, stop_emulator


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


@pytest.mark.dbt
@pytest.mark.emulator
def test_prod_smoke_runs_on_the_emulator_and_leaves_nothing(moto_server, tmp_path):
    if not EMULATOR_PYTHON.is_file():
        pytest.fail(f"{EMULATOR_PYTHON} is missing: run `make emulator-setup` (make test does it)")
    client = s3_local.client(moto_server)
    client.create_bucket(Bucket="smoke-landing")
    port = free_port()
    proc = start_emulator(port, tmp_path / "db", moto_server, tmp_path / "emulator.log")
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "SNOWFLAKE_", "AWS_"))}
        env.update(
            PROD_SMOKE_PREFIX="smoke",
            S3_BUCKET="smoke-landing",
            S3_PREFIX="movielens/raw",
            SNOWFLAKE_EMULATOR_PORT=str(port),
            SNOWFLAKE_EMULATOR_PASSWORD="emulator",
            SNOWFLAKE_DISABLE_PLATFORM_DETECTION="true",
            DBT_SEND_ANONYMOUS_USAGE_STATS="false",
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_REGION="us-east-1",
            S3_ENDPOINT_URL=moto_server,
        )
        said: list[str] = []
        comparison = prod_smoke.smoke(
            env, tmp_path / "work", client, lambda: snowflake_connect(port), target="emulator",
            s3_endpoint=moto_server, say=said.append,
        )  # fmt: skip
        con = snowflake_connect(port)
        try:
            databases = {row[1] for row in con.cursor().execute("show databases").fetchall()}
        finally:
            con.close()
    finally:
        stop_emulator(proc)
    assert comparison.differing == 0 and len(comparison.tables) >= 15, "\n".join(comparison.lines())
    builds = [line for line in said if line.startswith("prod-smoke: dbt build") and line.endswith(": ok")]
    assert len(builds) == 3 and "unit_test" in builds[1], said
    assert not [d for d in databases if d.startswith("SMOKE_")], databases
    assert "deleted 0 object" not in said[-1] and client.list_objects_v2(Bucket="smoke-landing").get("KeyCount") == 0
