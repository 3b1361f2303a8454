"""Changing data on the Snowflake emulator: after a full build, two deliveries (corrections only,
then every kind: new, late, corrected and re-delivered ratings, new and removed tags, movie
corrections) are loaded with COPY INTO and built incrementally after each delivery; the result
must equal a from-scratch build of the same raw files on DuckDB, table by table (fct_ratings and
every incremental model downstream of the facts). The last build is a `dbt build` whose data tests
check only the batches the first build's tests did not. dbt must never write to the raw tables."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from scripts.common import WITHOUT_UNIT_TESTS
from scripts.dataset import deliver as delivery
from scripts.dataset import generate as gen
from scripts.landing import s3_local, upload
from tests.dbt_runner import dbt_env, run_dbt
from tests.snowflake_helpers import (
    EMULATOR_PYTHON,
    compare_tables,
    emulator_dbt_env,
    free_port,
    snowflake_fetch,
    start_emulator,
    stop_emulator,
    table_checksums,
)

pytestmark = [pytest.mark.dbt, pytest.mark.emulator]

BUCKET = "snowflake-deliveries"
RAW_ROOT = f"s3://{BUCKET}/movielens/raw"
ROOT = Path(__file__).resolve().parent.parent
MART_MODELS = sorted((p.parent.name, p.stem) for p in ROOT.glob("models/marts/*/*.sql"))
# One delivery of one kind before the mixed one: corrections, the kind that moves a rating to
# another month and so tests the user-keyed models' delete+insert. Each kind alone is checked on
# DuckDB (tests/test_deliveries.py); the SQL they run differs between targets only in the macros.
SEQUENCE = [{"corrections": 70}]
KINDS = {  # the last delivery: every kind
    "new_ratings": 300,
    "late_ratings": 60,
    "redeliver": 40,
    "corrections": 50,
    "new_tags": 20,
    "remove_tags": 5,
    "movie_corrections": 4,
}


# tests/test_snowflake.py runs the unit tests on the emulator.
NO_UNIT_TESTS = ["build", *WITHOUT_UNIT_TESTS]


def raw_checksums(port: int) -> dict[str, dict[str, str]]:
    checksums = {}
    for table in upload.TABLES:
        columns, rows, _ = snowflake_fetch(port, f"select * from ANALYTICS.RAW.{table}")
        checksums[table] = table_checksums(columns, rows)
    return checksums


@pytest.fixture(scope="module")
def cycle(moto_server, tmp_path_factory) -> dict:
    """Base landed and built on the emulator, one delivery landed, loaded and built incrementally."""
    if not EMULATOR_PYTHON.is_file():
        pytest.fail(f"{EMULATOR_PYTHON} is missing: run `make emulator-setup` (make test does it)")
    base = tmp_path_factory.mktemp("sfd-base")
    gen.generate(base, 0.001, 11, quiet=True)
    client = s3_local.client(moto_server)
    client.create_bucket(Bucket=BUCKET)
    upload.upload_dir(base, RAW_ROOT, batch=0, client=client, validate=True, stream=None)

    workdir = tmp_path_factory.mktemp("sfd-emulator")
    port = free_port()
    proc = start_emulator(port, workdir / "db", moto_server, workdir / "emulator.log")
    try:
        env = emulator_dbt_env(workdir, RAW_ROOT, port, moto_server)
        run_dbt(["run-operation", "load_raw"], env)
        run_dbt(["seed"], env)
        run_dbt(NO_UNIT_TESTS, env)
        state = workdir / "deliveries"
        for seed, kinds in enumerate(SEQUENCE, start=20):
            delivery.deliver(base, RAW_ROOT, seed=seed, state_dir=state, client=client, stream=None, **kinds)
            run_dbt(["run-operation", "load_raw"], env)
            run_dbt(["run"], env)  # every model: the incremental ones carry history
        delivered = delivery.deliver(base, RAW_ROOT, seed=3, state_dir=state, client=client, stream=None, **KINDS)
        run_dbt(["run-operation", "load_raw"], env)
        freshness = run_dbt(["source", "freshness"], env)
        raw_before = raw_checksums(port)
        incremental = run_dbt(NO_UNIT_TESTS, env)
        raw_after = raw_checksums(port)
        emulator_tables = {
            (schema, model): snowflake_fetch(port, f"select * from ANALYTICS.{schema}.{model}")[:2]
            for schema, model in MART_MODELS
        }
    finally:
        stop_emulator(proc)

    duck = tmp_path_factory.mktemp("sfd-duckdb")
    run_dbt(["build"], dbt_env(duck, RAW_ROOT, endpoint=moto_server))
    with duckdb.connect(str(duck / "warehouse.duckdb"), read_only=True) as con:
        duck_tables = {}
        for schema, model in MART_MODELS:
            rel = con.sql(f"select * from {schema}.{model}")
            duck_tables[schema, model] = ([c.lower() for c in rel.columns], rel.fetchall())
    return {
        "delivered": delivered,
        "incremental": incremental,
        "freshness": freshness,
        "raw_before": raw_before,
        "raw_after": raw_after,
        "emulator": emulator_tables,
        "duckdb": duck_tables,
    }


def test_the_delivery_holds_every_kind(cycle):
    assert cycle["delivered"]["batch"] == len(SEQUENCE) + 1
    by_file = {file["file"]: file["counts"] for file in cycle["delivered"]["files"]}
    assert set(by_file) == {"ratings.csv", "tags.csv", "tag-removals.csv", "movies.csv"}, by_file
    assert all(n > 0 for n in by_file["ratings.csv"].values()) and len(by_file["ratings.csv"]) == 4, by_file
    assert "OK created sql incremental model core.fct_ratings" in cycle["incremental"].stdout
    for model in ("core.dim_users", "analytics.mart_user_activity", "analytics.mart_genre_trends"):
        assert f"OK created sql incremental model {model}" in cycle["incremental"].stdout, model


def test_source_freshness_reads_when_the_raw_tables_were_loaded(cycle):
    out = cycle["freshness"].stdout
    for table in ("ratings", "movies", "tags", "genome_scores"):
        assert f"PASS freshness of movielens.{table}" in out, out[-3000:]


def test_dbt_never_writes_to_the_raw_tables(cycle):
    assert cycle["raw_before"] == cycle["raw_after"]


@pytest.mark.parametrize(("schema", "model"), MART_MODELS, ids=[f"{s}.{m}" for s, m in MART_MODELS])
def test_incremental_on_the_emulator_equals_a_full_build(cycle, schema, model):
    problems = compare_tables(
        f"{schema}.{model}",
        "the emulator (incremental)",
        cycle["emulator"][schema, model],
        "DuckDB (full build)",
        cycle["duckdb"][schema, model],
    )
    assert not problems, "\n".join(problems)
