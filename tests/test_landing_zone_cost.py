"""The landing-zone record costs a listing, not a read: a build's first hook never holds a file's
content in memory, however large the file (macros/raw/landing_zone_guard.sql).

A landing zone of tiny generated data plus one 2 GiB file (sparse: no disk used); `dbt run` of one
view, so that only the on-run-start hooks touch the landing zone. The md5 the record used to keep
read every new file whole through read_blob: on this landing zone that held 2 GiB in memory.
"""

from __future__ import annotations

import os
import subprocess
import sys

import duckdb
import pytest

from scripts.dataset import generate as gen
from tests.dbt_runner import DBT, ROOT, dbt_env

BIG = 2 * 1024**3


@pytest.mark.dbt
def test_recording_a_large_file_reads_none_of_it(tmp_path):
    base, landing = tmp_path / "base", tmp_path / "landing"
    gen.generate(base, 0.001, 5, quiet=True)
    subprocess.run(
        [sys.executable, "-m", "scripts", "upload", "--src", str(base), "--dest", str(landing), "--batch", "0"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    big = landing / "genome_scores" / "batch=0001" / "genome-scores.csv"
    big.parent.mkdir(parents=True)
    with open(big, "wb") as handle:
        handle.truncate(BIG)

    env = dbt_env(tmp_path, str(landing))
    proc = subprocess.Popen(
        [DBT, "run", "--select", "stg_movielens__genome_tags"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, output[-3000:]
    peak_mib = usage.ru_maxrss / 1024
    assert peak_mib < 1024, f"dbt peaked at {peak_mib:.0f} MiB recording a {BIG // 1024**2} MiB file"

    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        recorded = con.sql("select size from raw.landing_files where filename = ?", params=[str(big)]).fetchall()
    assert recorded == [(BIG,)]
