"""Changing data on the Snowflake emulator, through `make prod-smoke`'s own run: after a full build
in a throwaway database, two deliveries (corrections only, then every kind: new, late, corrected
and re-delivered ratings, new and removed tags, movie corrections) are loaded with COPY INTO and
built incrementally after each delivery; the result must equal a from-scratch build of the same
raw files on DuckDB, table by table (fct_ratings and every incremental model downstream of the
facts). The builds after the first are `dbt build`s whose data tests check only the new batches.
dbt must never write to the raw tables, source freshness reads when they were loaded, and the run
leaves no database and no S3 object behind. One emulator run serves every test here (the checks
without the emulator are in tests/test_prod_smoke.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scripts.landing import s3_local, upload
from scripts.tools import prod_smoke
from tests.snowflake_helpers import (
    running_emulator,
    snowflake_connect,
    snowflake_fetch,
    table_checksums,
)

pytestmark = [pytest.mark.dbt, pytest.mark.emulator]

BUCKET = "smoke-landing"
ROOT = Path(__file__).resolve().parent.parent
MART_MODELS = sorted((p.parent.name, p.stem) for p in ROOT.glob("models/marts/*/*.sql"))


class Recorder(prod_smoke.Watch):
    """Keeps what the smoke run did, and the raw tables' checksums after each raw load and after
    each Snowflake build (read before the run drops its database)."""

    def __init__(self, port: int):
        self.port = port
        self.summaries: list[dict] = []  # each delivery's summary
        self.outputs: list[tuple[str, list[str], str]] = []  # (target, args, stdout) of each dbt command
        self.raw: list[tuple[list[str], dict]] = []  # (args, raw checksums) after each load and build

    def delivered(self, summary: dict) -> None:
        self.summaries.append(summary)

    def ran(self, database: str, target: str, args: list[str], stdout: str) -> None:
        self.outputs.append((target, args, stdout))
        if target != "ci" and args[0] in ("run-operation", "build"):
            self.raw.append((args, self.raw_checksums(database)))

    def raw_checksums(self, database: str) -> dict[str, dict[str, str]]:
        checksums = {}
        for table in upload.TABLES:
            columns, rows, _ = snowflake_fetch(self.port, f"select * from {database}.RAW.{table}")
            checksums[table] = table_checksums(columns, rows)
        return checksums

    def output(self, target: str, *args: str) -> list[str]:
        """The stdout of every dbt command on target whose arguments start with args."""
        return [out for t, a, out in self.outputs if t == target and a[: len(args)] == list(args)]


@pytest.fixture(scope="module")
def smoke_run(moto_server, tmp_path_factory) -> dict:
    """`make prod-smoke`'s run against the emulator: base, two deliveries, builds, DuckDB, teardown."""
    client = s3_local.client(moto_server)
    client.create_bucket(Bucket=BUCKET)
    work = tmp_path_factory.mktemp("smoke")
    with running_emulator(work, moto_server) as port:
        recorder = Recorder(port)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "SNOWFLAKE_", "AWS_"))}
        env.update(
            PROD_SMOKE_PREFIX="smoke",
            S3_BUCKET=BUCKET,
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
            env, work / "run", client, lambda: snowflake_connect(port), target="emulator",
            s3_endpoint=moto_server, say=said.append, watch=recorder,
        )  # fmt: skip
        con = snowflake_connect(port)
        try:
            databases = {row[1] for row in con.cursor().execute("show databases").fetchall()}
        finally:
            con.close()
    objects_left = client.list_objects_v2(Bucket=BUCKET).get("KeyCount")
    return {"comparison": comparison, "said": said, "databases": databases, "objects_left": objects_left,
            "recorder": recorder}  # fmt: skip


def test_prod_smoke_runs_on_the_emulator_and_leaves_nothing(smoke_run):
    comparison, said = smoke_run["comparison"], smoke_run["said"]
    assert comparison.differing == 0 and len(comparison.tables) >= 15, "\n".join(comparison.lines())
    builds = [line for line in said if line.startswith("prod-smoke: dbt build") and line.endswith(": ok")]
    # the base build with the unit tests, one build per delivery without them, then DuckDB's
    assert len(builds) == len(prod_smoke.DELIVERIES) + 2, said
    assert "unit_test" not in builds[0] and all("unit_test" in line for line in builds[1:-1]), said
    assert not [d for d in smoke_run["databases"] if d.startswith("SMOKE_")], smoke_run["databases"]
    assert "deleted 0 object" not in said[-1] and smoke_run["objects_left"] == 0, said[-1]


def test_the_deliveries_hold_every_kind(smoke_run):
    summaries = smoke_run["recorder"].summaries
    assert [s["batch"] for s in summaries] == list(range(1, len(prod_smoke.DELIVERIES) + 1))
    by_file = {file["file"]: file["counts"] for file in summaries[0]["files"]}
    assert set(by_file) == {"ratings.csv"}, by_file
    assert {kind: n for kind, n in by_file["ratings.csv"].items() if n} == {"corrected": 70}, by_file
    by_file = {file["file"]: file["counts"] for file in summaries[-1]["files"]}
    assert set(by_file) == {"ratings.csv", "tags.csv", "tag-removals.csv", "movies.csv"}, by_file
    assert all(n > 0 for n in by_file["ratings.csv"].values()) and len(by_file["ratings.csv"]) == 4, by_file


def test_each_delivery_is_built_incrementally(smoke_run):
    builds = smoke_run["recorder"].output("emulator", "build")
    assert len(builds) == len(prod_smoke.DELIVERIES) + 1
    for out in builds[1:]:
        assert "OK created sql incremental model core.fct_ratings" in out, out[-3000:]
        for model in ("core.dim_users", "analytics.mart_user_activity", "analytics.mart_genre_trends"):
            assert f"OK created sql incremental model {model}" in out, model


def test_source_freshness_reads_when_the_raw_tables_were_loaded(smoke_run):
    (out,) = smoke_run["recorder"].output("emulator", "source", "freshness")
    for table in ("ratings", "movies", "tags", "genome_scores"):
        assert f"PASS freshness of movielens.{table}" in out, out[-3000:]


def test_dbt_never_writes_to_the_raw_tables(smoke_run):
    raw = smoke_run["recorder"].raw
    loads = [i for i, (args, _) in enumerate(raw) if args[0] == "run-operation"]
    assert len(loads) == len(prod_smoke.DELIVERIES) + 1, [args for args, _ in raw]
    for i in loads:  # each raw load, then the build after it (the base's seed runs between them)
        (_, after_load), (build_args, after_build) = raw[i], raw[i + 1]
        assert build_args[0] == "build"
        assert after_load == after_build, f"dbt {' '.join(build_args)} changed a raw table"
    assert raw[loads[0]][1] != raw[loads[-1]][1]  # the checksums see a load


@pytest.mark.parametrize(("schema", "model"), MART_MODELS, ids=[f"{s}.{m}" for s, m in MART_MODELS])
def test_incremental_on_the_emulator_equals_a_full_build(smoke_run, schema, model):
    comparison = smoke_run["comparison"]
    assert f"{schema}.{model}" in comparison.tables, comparison.tables
    assert not comparison.differences.get(f"{schema}.{model}"), "\n".join(comparison.differences[f"{schema}.{model}"])
