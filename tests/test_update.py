"""`make update` (python -m scripts update): one dbt process runs `dbt source freshness`, then
`dbt build --select source_status:fresher+` against the state of the last successful update."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import duckdb
import pytest

from scripts.dataset import deliver as dlv
from scripts.dataset import generate as gen
from scripts.landing import upload
from tests.dbt_runner import ROOT, dbt_env

pytestmark = pytest.mark.dbt


def test_update_builds_only_what_a_fresher_source_feeds(tmp_path):
    """`make update` (python -m scripts update): the first builds everything; with nothing new the
    next builds nothing; after a delivery of ratings only, it builds what ratings feed and not the
    genome scores' models. A failed freshness query stops it before anything is built."""
    base, landing, workdir = tmp_path / "base", tmp_path / "landing", tmp_path / "dbt"
    gen.generate(base, 0.001, 5, quiet=True)
    upload.upload_dir(base, dest=str(landing), batch=0, validate=True, stream=io.StringIO())
    env = dbt_env(workdir, str(landing))

    def update(environ=env) -> tuple[subprocess.CompletedProcess, set[str] | None]:
        results = workdir / "target" / "run_results.json"
        results.unlink(missing_ok=True)
        # Without the data and unit tests, which this test is not about (BUILD_ARGS go to dbt build).
        command = [sys.executable, "-m", "scripts", "update", "--exclude-resource-type", "test", "unit_test"]
        proc = subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True)
        built = {r["unique_id"] for r in json.loads(results.read_text())["results"]} if results.exists() else None
        return proc, built

    proc, first = update()
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert {"model.movielens.fct_ratings", "model.movielens.fct_genome_scores"} <= first
    proc, again = update()
    assert proc.returncode == 0 and "does not match any enabled nodes" in proc.stdout, proc.stdout[-3000:]
    assert not again  # nothing ran

    delivered = dlv.deliver(
        base, str(landing), seed=9, state_dir=tmp_path / "state", stream=io.StringIO(), new_ratings=40
    )
    proc, after = update()
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert {"model.movielens.fct_ratings", "model.movielens.mart_movie_stats"} <= after
    assert "model.movielens.fct_genome_scores" not in after and "model.movielens.dim_genome_tags" not in after
    con = duckdb.connect(str(workdir / "warehouse.duckdb"), read_only=True)
    batches = con.sql("select batch_id, count(*) from core.fct_ratings group by all order by 1").fetchall()
    con.close()
    assert batches[-1] == (delivered["batch"], 40)

    # A freshness query that fails (the warehouse cannot be opened) stops the update in one line.
    (tmp_path / "not-a-database.duckdb").write_text("not a DuckDB file\n")
    broken = {**env, "DUCKDB_PATH": str(tmp_path / "not-a-database.duckdb")}
    proc, built = update(broken)
    assert proc.returncode == 1 and built is None
    assert proc.stderr.strip().splitlines()[-1].startswith("error: dbt source freshness failed, nothing built")
