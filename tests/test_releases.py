"""A real MovieLens release folder, as a user hands it over, through `make dev`: never written
into, and loaded with its quirks on DuckDB and on the Snowflake emulator with the same values.

tests/fixtures/releases/ml-latest-small holds the four files of ml-latest-small's format (no
genome files) with real quirks: CRLF line endings, quoted titles with commas, doubled quotes and
accents, an empty tmdbId, tags that are empty or only spaces (quoted or not; real ml-20m has
`116460,123,,1199450867`) and tags.csv ending in a blank line. (Stored as *.csv.txt: dbt reads
every .csv under tests/fixtures/ as a unit-test fixture.)
"""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from scripts import contract
from scripts.common import WITHOUT_UNIT_TESTS
from tests.dbt_runner import ROOT, run_dbt, user_shell_env
from tests.snowflake_helpers import (
    compare_tables,
    emulator_dbt_env,
    running_emulator,
    snowflake_fetch,
)

pytestmark = pytest.mark.dbt

FIXTURE = ROOT / "tests" / "fixtures" / "releases" / "ml-latest-small"
BUCKET = "release-test"
PREFIX = "movielens/raw"
RAW_ROOT = f"s3://{BUCKET}/{PREFIX}"
MART_MODELS = sorted((p.parent.name, p.stem) for p in ROOT.glob("models/marts/*/*.sql"))


def release_folder(dest: Path) -> Path:
    dest.mkdir(parents=True)
    for path in FIXTURE.glob("*.csv.txt"):
        shutil.copyfile(path, dest / path.name.removesuffix(".txt"))
    return dest


def every_byte(folder: Path) -> dict[str, bytes]:
    """Every file under the folder (names and contents), the folder's own listing included."""
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"" for p in sorted(folder.rglob("*"))}


def tag_rows(folder: Path) -> list[tuple[int, list[str], str]]:
    """(line, fields, raw text) of every tags.csv row, read with the csv module."""
    raw = (folder / "tags.csv").read_bytes().decode("utf-8").split("\r\n")
    with open(folder / "tags.csv", newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        return [(reader.line_num, row, raw[reader.line_num - 1]) for row in reader if row]


@pytest.fixture(scope="module")
def make_dev(moto_server, tmp_path_factory) -> dict:
    """`make dev DATA_DIR=<the release folder>` against the local S3 server, DuckDB in a temp file."""
    work = tmp_path_factory.mktemp("release-make-dev")
    folder = release_folder(work / "ml-latest-small")
    before = every_byte(folder)
    env = user_shell_env()  # not the landing zone and S3 settings `make test` exports
    env.update(
        S3_ENDPOINT_URL=moto_server,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        S3_BUCKET=BUCKET,
        S3_PREFIX=PREFIX,
        DUCKDB_PATH=str(work / "dev.duckdb"),
        DBT_TARGET_PATH=str(work / "target"),
        DBT_LOG_PATH=str(work / "logs"),
    )
    proc = subprocess.run(
        ["make", "dev", f"DATA_DIR={folder}", "SCALE=0.001"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    return {"proc": proc, "folder": folder, "before": before, "db": work / "dev.duckdb"}


def test_make_dev_leaves_every_byte_of_the_users_folder_unchanged(make_dev):
    assert every_byte(make_dev["folder"]) == make_dev["before"]


def test_make_dev_lands_and_builds_the_release_with_every_test_passing(make_dev):
    proc = make_dev["proc"]
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "no genome files" in proc.stderr
    summary = next(line for line in proc.stdout.splitlines() if "TOTAL=" in line)
    assert " WARN=0 ERROR=0 SKIP=0 " in summary, summary
    assert "assert_every_raw_tag_is_valid" in proc.stdout


@pytest.fixture(scope="module")
def duck(make_dev):
    if make_dev["proc"].returncode != 0:
        pytest.fail("make dev failed: see test_make_dev_lands_and_builds_the_release_with_every_test_passing")
    with duckdb.connect(str(make_dev["db"]), read_only=True) as con:
        yield con


def test_every_empty_tag_is_listed_as_rejected_with_its_line_and_text(duck, make_dev):
    expected = [
        (line, text, contract.EMPTY_TAG) for line, row, text in tag_rows(make_dev["folder"]) if not row[2].strip(" ")
    ]
    assert len(expected) == 4
    listed = duck.sql(
        "select line_number, raw_text, reason from core.fct_rejected_rows where table_name = 'tags' order by 1"
    ).fetchall()
    assert listed == expected
    source = duck.sql("select distinct source_file from core.fct_rejected_rows").fetchall()
    assert source == [(f"{RAW_ROOT}/tags/batch=0000/tags.csv",)]


def test_tag_counts_reconcile_from_raw_to_the_marts(duck, make_dev):
    """Rows in tags.csv = fct_tags + rejected (the build's assert_every_raw_tag_is_valid checks the raw
    view against the rejects); dim_users, mart_user_activity and snap_tags count what fct_tags holds."""
    rows = tag_rows(make_dev["folder"])
    fct = duck.sql("select count(*) from core.fct_tags").fetchone()[0]
    rejected = duck.sql("select count(*) from core.fct_rejected_rows where table_name = 'tags'").fetchone()[0]
    assert len(rows) == fct + rejected == 8 and rejected == 4
    assert duck.sql("select sum(tag_count) from core.dim_users").fetchone()[0] == fct
    assert duck.sql("select sum(tag_count) from analytics.mart_user_activity").fetchone()[0] == fct
    current = duck.sql("select count(*) from snapshots.snap_tags where dbt_valid_to is null").fetchone()[0]
    assert current == fct
    assert duck.sql("select count(*) from core.fct_tags where tag is null or trim(tag) = ''").fetchone()[0] == 0
    # User 116460 has only an empty tag and no rating: not a user of the warehouse.
    assert duck.sql("select count(*) from core.dim_users where user_id = 116460").fetchone()[0] == 0
    # User 5 only tags: a user, with one tag and no rating.
    assert duck.sql("select rating_count, tag_count from core.dim_users where user_id = 5").fetchall() == [(0, 1)]


def test_no_genome_files_leave_the_genome_tables_empty(duck):
    for relation in ("core.fct_genome_scores", "core.dim_genome_tags"):
        assert duck.sql(f"select count(*) from {relation}").fetchone()[0] == 0, relation
    assert duck.sql("select count(*) from core.dim_movies").fetchone()[0] == 9


def test_values_land_as_written_without_carriage_returns(duck, make_dev):
    with open(make_dev["folder"] / "movies.csv", newline="", encoding="utf-8") as handle:
        titles = sorted(row[1].strip() for row in list(csv.reader(handle))[1:] if row)
    assert sorted(r[0] for r in duck.sql("select title_as_published from core.dim_movies").fetchall()) == titles
    for relation, column in (("core.dim_movies", "genres"), ("core.fct_tags", "tag"), ("core.fct_ratings", "rating")):
        found = duck.sql(f"select count(*) from {relation} where cast({column} as varchar) like '%' || chr(13) || '%'")
        assert found.fetchone()[0] == 0, relation


# --- the same landing zone on the Snowflake emulator ---------------------------------------------


@pytest.fixture(scope="module")
def emulator_build(make_dev, moto_server, tmp_path_factory) -> dict:
    if make_dev["proc"].returncode != 0:
        pytest.fail("make dev failed: nothing landed for the emulator")
    work = tmp_path_factory.mktemp("release-emulator")
    with running_emulator(work, moto_server) as port:
        env = emulator_dbt_env(work, RAW_ROOT, port, moto_server)
        env.update(S3_BUCKET=BUCKET, S3_PREFIX=PREFIX)
        load = run_dbt(["run-operation", "load_raw"], env, check=False)
        # Every data test on the release; the unit tests read fixtures (test_snowflake runs them here).
        build = run_dbt(["build", *WITHOUT_UNIT_TESTS], env, check=False)
        tables = {}
        for schema, model in [*MART_MODELS, ("snapshots", "snap_tags")]:
            columns, rows, _ = snowflake_fetch(port, f"select * from ANALYTICS.{schema}.{model}")
            tables[f"{schema}.{model}"] = (columns, rows)
    return {"load": load, "build": build, "tables": tables}


@pytest.mark.emulator
def test_the_emulator_loads_and_builds_the_release_with_every_test_passing(emulator_build):
    assert emulator_build["load"].returncode == 0, emulator_build["load"].stdout[-3000:]
    build = emulator_build["build"]
    assert build.returncode == 0, build.stdout[-4000:]


@pytest.mark.emulator
@pytest.mark.parametrize(("schema", "model"), MART_MODELS, ids=[f"{s}.{m}" for s, m in MART_MODELS])
def test_the_emulator_holds_the_same_values_as_duckdb(emulator_build, duck, schema, model):
    relation = f"{schema}.{model}"
    sf_columns, sf_rows = emulator_build["tables"][relation]
    rel = duck.sql(f"select * from {relation}")
    columns, types = [c.lower() for c in rel.columns], [str(t) for t in rel.types]
    skip = {c for c, t in zip(columns, types, strict=True) if t.endswith("[]") or t.startswith("STRUCT")}
    skip |= {"genre_list"}  # a DuckDB list, a Snowflake ARRAY: not comparable value by value
    problems = compare_tables(
        relation, "the emulator", (sf_columns, sf_rows), "DuckDB", (columns, rel.fetchall()), skip
    )
    assert not problems, "\n".join(problems)


@pytest.mark.emulator
def test_the_emulator_snapshot_holds_the_same_current_tags(emulator_build, duck):
    columns, rows = emulator_build["tables"]["snapshots.snap_tags"]
    current = sorted(row[columns.index("tag_id")] for row in rows if row[columns.index("dbt_valid_to")] is None)
    assert current == sorted(r[0] for r in duck.sql("select tag_id from core.fct_tags").fetchall())
