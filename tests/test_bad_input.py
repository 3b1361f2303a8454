"""Bad deliveries: what lands, what stops, and that every delivered row is accounted for.

Each case of tests/fixtures/bad_input/ is a delivery folder with an expected.json:

    outcome  stop    the validator refuses the file: one line naming the file, the line and the
                     problem (expected["stop"]), nothing lands, the uploader exits 1 with no traceback
             reject  the files land; the invalid rows are listed (expected["rejects"]: line, raw
                     text, reason) and the build goes on
             accept  the files land as they are (a header-only file: 0 rows)

The data files are stored as <name>.csv.txt (dbt parses every .csv under tests/fixtures/ as a
unit-test fixture) and copied under their real names into a delivery folder. The landing cases
are delivered one batch each on top of a small clean base (fixtures/bad_input/base, batch 0),
built once on DuckDB (local landing folder) and once on the Snowflake emulator (moto S3, COPY INTO),
and reconciled per delivered file: rows in the file = rows loaded + rows in fct_rejected_rows.
Files copied into the landing zone past the validator make the build fail instead.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from scripts import contract
from scripts.common import WITHOUT_UNIT_TESTS
from scripts.landing import s3_local, upload, validate
from tests.dbt_runner import ROOT, dbt_env, run_dbt
from tests.snowflake_helpers import (
    emulator_dbt_env,
    running_emulator,
    snowflake_fetch,
)

FIXTURES = ROOT / "tests" / "fixtures" / "bad_input"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "expected.json").is_file())
EXPECTED = {case: json.loads((FIXTURES / case / "expected.json").read_text(encoding="utf-8")) for case in CASES}
STOP_CASES = [case for case in CASES if EXPECTED[case]["outcome"] == "stop"]
LANDED_CASES = [case for case in CASES if EXPECTED[case]["outcome"] != "stop"]
BATCH = {case: number for number, case in enumerate(LANDED_CASES, 1)}  # batch 0 is the base
# Only what the reconciliation needs: the models that load or list rows and their tests.
BUILD = [
    "build",
    "--select",
    "+fct_ratings",
    "+fct_tags",
    "+dim_movies",
    "+fct_rejected_rows",
    "assert_every_raw_rating_is_valid",
    "assert_every_raw_tag_is_valid",
    "assert_every_raw_link_is_valid",
    "--indirect-selection",
    "cautious",
    *WITHOUT_UNIT_TESTS,
]
# Every landed case, header_only included: the emulator loads a header-only file as 0 rows, as Snowflake does.
EMULATOR_CASES = LANDED_CASES
BUCKET = "bad-input"
PREFIX = "movielens/raw"
TABLE_OF = {name: table for table, name in upload.TABLES.items()}


def delivery(case: str, dest: Path) -> Path:
    """The case's files under their real names in a fresh delivery folder."""
    dest.mkdir(parents=True)
    for path in (FIXTURES / case).glob("*.csv.txt"):
        shutil.copyfile(path, dest / path.name.removesuffix(".txt"))
    return dest


def tables_of(folder: Path) -> list[str]:
    return [TABLE_OF[p.name] for p in sorted(folder.glob("*.csv"))]


def data_rows(path: Path) -> int:
    """Rows of a delivered file, header excluded, counted here with the csv module (a blank
    line holds no row)."""
    with open(path, newline="", encoding="utf-8") as handle:
        return sum(1 for row in csv.reader(handle) if row) - 1


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return delivery("base", tmp_path_factory.mktemp("bad-input") / "base")


@pytest.fixture(scope="module")
def base_movie_ids(base) -> set[int]:
    return validate.movie_ids(base / "movies.csv")


def landed_base(base: Path, landing: Path) -> Path:
    upload.upload_dir(base, str(landing), batch=0, validate=True, stream=io.StringIO())
    return landing


def landing_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


# --- stop: one line naming the file, the line and the problem; nothing lands ---------------------


def test_every_case_of_the_issue_has_a_fixture():
    assert {
        "wrong_column_count",
        "unbalanced_quote",
        "non_numeric_rating",
        "rating_out_of_range",
        "bad_ids",
        "unknown_movie",
        "duplicate_pair",
        "invalid_utf8",
        "empty_file",
        "header_only",
        "renamed_columns",
        "reordered_columns",
        "missing_file",
        "blank_line",
        "trailing_blank_line",
        "crlf",
        "empty_tag",
        "empty_tag_removal",
        "bad_id_in_tags",
        "invalid_links",
    } <= set(CASES)


def test_only_what_cannot_be_read_unambiguously_stops():
    """Blank lines, CRLF, empty tags and invalid tag rows land (rejected row by row where needed)."""
    assert {case for case in STOP_CASES} == {
        "empty_file",
        "invalid_utf8",
        "missing_file",
        "renamed_columns",
        "reordered_columns",
        "unbalanced_quote",
        "wrong_column_count",
    }


@pytest.mark.parametrize("case", STOP_CASES)
def test_validator_stops_with_file_line_and_problem(case, base_movie_ids, tmp_path):
    expected = EXPECTED[case]["stop"]
    folder = delivery(case, tmp_path / case)
    first = EXPECTED[case].get("first_delivery", False)

    with pytest.raises(validate.ValidationError) as caught:
        validate.validate_dir(folder, None if first else tables_of(folder), 0 if first else 1, base_movie_ids)

    message = str(caught.value)
    where = f"{folder / expected['file']}: " + (f"line {expected['line']}: " if expected["line"] else "")
    assert message.startswith(where), message
    assert "\n" not in message
    for fragment in expected["message"]:
        assert fragment in message, message


@pytest.mark.parametrize("case", STOP_CASES)
def test_upload_refuses_a_stop_case_and_lands_nothing(case, base, tmp_path):
    """The command line: exit 1, one line `error: <file>: line <n>: <problem>: <fix>`, no traceback."""
    landing = tmp_path / "landing"
    if not EXPECTED[case].get("first_delivery"):
        landed_base(base, landing)
    before = landing_files(landing) if landing.exists() else set()
    folder = delivery(case, tmp_path / case)
    args = ["--src", str(folder), "--dest", str(landing)]
    if not EXPECTED[case].get("first_delivery"):
        args += ["--batch", "1", "--tables", ",".join(tables_of(folder))]

    result = subprocess.run(
        [sys.executable, "-m", "scripts", "upload", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    expected = EXPECTED[case]["stop"]
    assert lines[0].startswith(f"error: {folder / expected['file']}: "), lines[0]
    if expected["line"]:
        assert f": line {expected['line']}: " in lines[0]
    assert (landing_files(landing) if landing.exists() else set()) == before


def test_upload_to_s3_refuses_a_stop_case_and_lands_nothing(s3_bucket, base, tmp_path):
    client = upload.s3_client()
    upload.upload_dir(base, batch=0, validate=True, stream=io.StringIO())
    before = {o["Key"] for o in client.list_objects_v2(Bucket=s3_bucket).get("Contents", [])}
    folder = delivery("unbalanced_quote", tmp_path / "delivery")

    with pytest.raises(upload.UploadError, match=r"movies\.csv: line 3: unbalanced quote"):
        upload.upload_dir(folder, batch=1, tables=["movies"], validate=True, stream=io.StringIO())

    assert {o["Key"] for o in client.list_objects_v2(Bucket=s3_bucket).get("Contents", [])} == before


# --- reject and accept: the validator's account of each file -------------------------------------


@pytest.mark.parametrize("case", LANDED_CASES)
def test_validator_lists_the_rejected_rows(case, base_movie_ids, tmp_path):
    expected = EXPECTED[case]
    folder = delivery(case, tmp_path / case)

    results = validate.validate_dir(folder, tables_of(folder), 1, base_movie_ids)

    assert {r.path.name: r.rows for r in results} == expected["rows"]
    found = [
        {"file": r.path.name, "line": j.line, "raw_text": j.raw_text, "reason": j.reason}
        for r in results
        for j in r.rejects
    ]
    assert found == expected["rejects"]
    assert {r.path.name: r.blank_lines for r in results if r.blank_lines} == expected.get("blank_lines", {})
    for result in results:
        assert result.rows == data_rows(result.path) == result.loaded + len(result.rejects)


def test_a_file_rejected_as_a_whole_stops(base_movie_ids, tmp_path):
    """Rows are listed one by one when they are the exception; most of a file invalid stops it."""
    folder = tmp_path / "delivery"
    folder.mkdir()
    rows = "".join(f"{u},1,{7 if u % 4 else 4.0},1400000000\n" for u in range(1, 1001))
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + rows)

    with pytest.raises(validate.ValidationError, match=r"ratings\.csv: 750 of 1,000 rows would be rejected"):
        validate.validate_dir(folder, ["ratings"], 1, base_movie_ids)


def test_ratings_without_any_known_movie_stop(tmp_path):
    folder = delivery("duplicate_pair", tmp_path / "delivery")
    with pytest.raises(validate.ValidationError, match=r"ratings\.csv: no movie is known"):
        validate.validate_dir(folder, ["ratings"], 0, set())


def test_validate_cli_reports_rejects_and_exits_0(base, tmp_path):
    folder = delivery("rating_out_of_range", tmp_path / "delivery")
    result = subprocess.run(
        [sys.executable, "-m", "scripts", "validate", "--src", str(folder), "--batch", "1"]
        + ["--known-movies", str(base / "movies.csv")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (
        f"{folder / 'ratings.csv'}: line 2: rating is not one of 0.5, 1.0, 1.5 ... 5.0: 31,1,7,1400000000"
        in result.stdout
    )
    assert "3 would be rejected" in result.stdout


# --- landed on DuckDB: a local landing zone, one dbt build ---------------------------------------


def land_cases(base: Path, work: Path, dest: str, cases: list[str], client=None) -> dict[str, dict]:
    """Base as batch 0, then each landing case as its own batch, through the validating upload."""
    upload.upload_dir(base, dest, batch=0, client=client, validate=True, stream=io.StringIO())
    landed = {}
    for case in cases:
        folder = delivery(case, work / case)
        landed[case] = upload.upload_dir(
            folder,
            dest,
            batch=BATCH[case],
            tables=tables_of(folder),
            client=client,
            validate=True,
            stream=io.StringIO(),
        )
    return landed


@pytest.fixture(scope="module")
def duckdb_build(base, tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("bad-input-duckdb")
    landing = work / "landing"
    landed = land_cases(base, work, str(landing), LANDED_CASES)
    proc = run_dbt(BUILD, dbt_env(work, str(landing)), check=False)
    return {"landing": landing, "landed": landed, "proc": proc, "db": work / "warehouse.duckdb"}


@pytest.mark.dbt
def test_the_duckdb_build_passes_with_the_rejects(duckdb_build):
    proc = duckdb_build["proc"]
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "assert_every_raw_rating_is_valid" in proc.stdout


# Rows loaded per delivered file: ratings and tags in their facts, movies in staging (one row per
# movie), removals that withdraw a tag (valid ones), links that dim_movies joins. Each case's tags and movies are new, so they
# are counted under their own file.
LOADED_SQL = (
    "select source_file, count(*) from {core}.fct_ratings group by source_file",
    "select source_file, count(*) from {core}.fct_tags group by source_file",
    "select source_file, count(*) from {staging}.stg_movielens__movies group by source_file",
    "select source_file, count(*) from {staging}.stg_movielens__tag_removals where tag_id is not null "
    "and removed_at is not null group by source_file",
    # links as dim_movies joins them: valid, and not delivered before their movie
    "select links.source_file, count(*) from {staging}.stg_movielens__links as links "
    "inner join {staging}.stg_movielens__movies as movies on links.movie_id = movies.movie_id "
    "and links.batch_id >= movies.first_batch_id group by links.source_file",
)
# What landed of the CRLF case, read back: titles and tags as written, no carriage return.
CRLF_VALUES_SQL = (
    "select 'movie' as kind, title_as_published as value from {staging}.stg_movielens__movies "
    "where movie_id in (20, 21) union all "
    "select 'tag', tag from {core}.fct_tags where user_id = 16 order by 1, 2"
)


def crlf_expected() -> list[tuple[str, str]]:
    with open(FIXTURES / "crlf" / "movies.csv.txt", newline="", encoding="utf-8") as handle:
        movies = [("movie", row[1].strip()) for row in list(csv.reader(handle))[1:] if row]
    with open(FIXTURES / "crlf" / "tags.csv.txt", newline="", encoding="utf-8") as handle:
        tags = [("tag", row[2].strip()) for row in list(csv.reader(handle))[1:] if row]
    return sorted(movies + tags)


def duckdb_counts(db: Path) -> tuple[dict, dict]:
    with duckdb.connect(str(db), read_only=True) as con:
        loaded = {}
        for sql in LOADED_SQL:
            loaded |= dict(con.sql(sql.format(core="core", staging="staging")).fetchall())
        rejects: dict[str, list] = {}
        for source_file, line, raw_text, reason in con.sql(
            "select source_file, line_number, raw_text, reason from core.fct_rejected_rows order by 1, 2"
        ).fetchall():
            rejects.setdefault(source_file, []).append((line, raw_text, reason))
    return loaded, rejects


def reconcile(case: str, landed_path, loaded: dict, rejects: dict) -> None:
    """rows in each delivered file = rows loaded + rows in fct_rejected_rows, and the listed rows
    are the expected ones."""
    expected = EXPECTED[case]
    for name, rows in expected["rows"].items():
        source_file = landed_path(TABLE_OF[name], BATCH[case])
        assert data_rows(FIXTURES / case / f"{name}.txt") == rows
        listed = rejects.get(source_file, [])
        wanted = [(r["line"], r["raw_text"], r["reason"]) for r in expected["rejects"] if r["file"] == name]
        assert listed == wanted, source_file
        assert loaded.get(source_file, 0) + len(listed) == rows, (
            f"{source_file}: {rows} rows delivered, {loaded.get(source_file, 0)} loaded + {len(listed)} rejected"
        )


@pytest.mark.dbt
@pytest.mark.parametrize("case", LANDED_CASES)
def test_duckdb_accounts_for_every_delivered_row(duckdb_build, case):
    loaded, rejects = duckdb_counts(duckdb_build["db"])
    root = duckdb_build["landing"]
    reconcile(case, lambda table, batch: upload.landed_uri("local", str(root), "", table, batch), loaded, rejects)


@pytest.mark.dbt
def test_duckdb_reads_crlf_values_as_written(duckdb_build):
    with duckdb.connect(str(duckdb_build["db"]), read_only=True) as con:
        values = con.sql(CRLF_VALUES_SQL.format(core="core", staging="staging")).fetchall()
    assert values == crlf_expected()
    assert not any("\r" in value for _, value in values)


@pytest.mark.dbt
def test_duckdb_loads_the_clean_base_whole(duckdb_build, base):
    loaded, rejects = duckdb_counts(duckdb_build["db"])
    source_file = upload.landed_uri("local", str(duckdb_build["landing"]), "", "ratings", 0)
    assert loaded[source_file] == data_rows(base / "ratings.csv") and source_file not in rejects


# --- past the validator: files copied straight into the landing zone -----------------------------


def bypass(base: Path, work: Path, case: str) -> subprocess.CompletedProcess:
    """Land the base through the validator, then copy a case's files into batch 1 without it."""
    landing = landed_base(base, work / "landing")
    for path in delivery(case, work / case).glob("*.csv"):
        target = landing / TABLE_OF[path.name] / "batch=0001" / path.name
        target.parent.mkdir(parents=True)
        shutil.copyfile(path, target)
    return run_dbt(BUILD, dbt_env(work, str(landing)), check=False)


@pytest.mark.dbt
def test_a_malformed_file_past_the_validator_stops_dbt_at_its_line(base, tmp_path):
    """Only the validator names the file in its own one-line message; DuckDB's strict read still
    stops the build, naming the line (and, in its option dump, the file)."""
    proc = bypass(base, tmp_path, "wrong_column_count")
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "CSV Error on Line: 3" in output and "Expected Number of Columns: 4 Found: 5" in output
    assert str(tmp_path / "landing" / "ratings" / "batch=0001" / "ratings.csv") in output
    assert "Traceback" not in output


@pytest.mark.dbt
def test_invalid_rows_past_the_validator_fail_the_reconciliation(base, tmp_path):
    """Rows nobody listed would vanish silently: assert_every_raw_rating_is_valid fails on them."""
    proc = bypass(base, tmp_path, "rating_out_of_range")
    assert proc.returncode != 0
    assert "Failure in test assert_every_raw_rating_is_valid" in proc.stdout, proc.stdout[-3000:]
    compiled = next((tmp_path / "target" / "compiled").rglob("assert_every_raw_rating_is_valid.sql"))
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        failures = con.sql(compiled.read_text()).fetchall()
    source_file = str(tmp_path / "landing" / "ratings" / "batch=0001" / "ratings.csv")
    assert failures == [(source_file, contract.NOT_HALF_STARS, 3, 0)]


# --- landed on the Snowflake emulator: moto S3, COPY INTO, one dbt build --------------------------


@pytest.fixture(scope="module")
def emulator_build(base, moto_server, tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("bad-input-emulator")
    client = s3_local.client(moto_server)
    client.create_bucket(Bucket=BUCKET)
    raw_root = f"s3://{BUCKET}/{PREFIX}"
    land_cases(base, work, raw_root, EMULATOR_CASES, client=client)
    with running_emulator(work, moto_server) as port:
        env = emulator_dbt_env(work, raw_root, port, moto_server)
        run_dbt(["run-operation", "load_raw"], env)
        build = run_dbt(BUILD, env, check=False)
        loaded = {}
        for sql in LOADED_SQL:
            _, rows, _ = snowflake_fetch(port, sql.format(core="ANALYTICS.CORE", staging="ANALYTICS.STAGING"))
            loaded |= {f: int(n) for f, n in rows}
        _, crlf_values, _ = snowflake_fetch(
            port, CRLF_VALUES_SQL.format(core="ANALYTICS.CORE", staging="ANALYTICS.STAGING")
        )
        _, rows, _ = snowflake_fetch(
            port,
            "select source_file, line_number, raw_text, reason from ANALYTICS.CORE.FCT_REJECTED_ROWS order by 1, 2",
        )
        rejects: dict[str, list] = {}
        for source_file, line, raw_text, reason in rows:
            rejects.setdefault(source_file, []).append((int(line), raw_text, reason))
    return {
        "build": build,
        "loaded": loaded,
        "rejects": rejects,
        "root": raw_root,
        "crlf_values": [tuple(row) for row in crlf_values],
    }


@pytest.mark.dbt
@pytest.mark.emulator
def test_the_emulator_build_passes_with_the_rejects(emulator_build):
    build = emulator_build["build"]
    assert build.returncode == 0, build.stdout[-4000:]


@pytest.mark.dbt
@pytest.mark.emulator
@pytest.mark.parametrize("case", EMULATOR_CASES)
def test_emulator_accounts_for_every_delivered_row(emulator_build, case):
    reconcile(
        case,
        lambda table, batch: upload.landed_uri("s3", BUCKET, PREFIX, table, batch),
        emulator_build["loaded"],
        emulator_build["rejects"],
    )


@pytest.mark.dbt
@pytest.mark.emulator
def test_emulator_reads_crlf_values_as_written(emulator_build):
    assert emulator_build["crlf_values"] == crlf_expected()
