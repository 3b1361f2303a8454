"""The Snowflake (prod) path, offline, on the Snowflake emulator (fakesnow, scripts/emulator/snowflake_emulator.py).

A tiny generated dataset lands in the local S3 server (moto). Then:

a. every node dbt compiles for Snowflake parses as Snowflake SQL (sqlglot), calls only allowlisted
   Snowflake functions and uses no DuckDB list type; a DuckDB-only model proves the check catches it;
b. the raw load (`dbt run-operation load_raw`: stage + COPY INTO from S3) loads every generated row
   with its full s3:// file URL, a second load loads nothing (load history), and `dbt seed` +
   `dbt build` (models, snapshots, unit and data tests) pass; a second `dbt build` (incremental)
   leaves fct_ratings unchanged;
c. every core and analytics table built on the emulator holds the same data as the DuckDB build
   (ci target) of the same landing zone: same rows, same values per column.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
import warnings
from pathlib import Path

import duckdb
import pytest
import snowflake.connector

from scripts.dataset import generate as gen
from scripts.landing import s3_local, upload
from tests.dbt_runner import ROOT, copy_project, dbt_env, httpfs_extension, run_dbt
from tests.snowflake_helpers import (
    compare_tables,
    emulator_dbt_env,
    running_emulator,
    snowflake_dialect_problems,
    snowflake_fetch,
    sql_problems,
    table_checksums,
)

SCALE = 0.001
SEED = 7
BUCKET = "snowflake-test"
PREFIX = "movielens/raw"
RAW_ROOT = f"s3://{BUCKET}/{PREFIX}"
RAW_TABLES = upload.TABLES  # raw table -> landed file name
MART_MODELS = sorted((p.parent.name, p.stem) for p in ROOT.glob("models/marts/*/*.sql"))
LOAD_LINE = re.compile(r"load_raw: (\w+): (\d+) new file\(s\), (\d+) row\(s\) loaded")


# --- fixtures: landing zone, emulator, Snowflake build, DuckDB build ----------------------------


@pytest.fixture(scope="module")
def landing(moto_server, tmp_path_factory) -> Path:
    """The tiny dataset generated and landed as batch 0 in s3://snowflake-test/movielens/raw."""
    out = tmp_path_factory.mktemp("sf-generated")
    gen.generate(out, SCALE, SEED, quiet=True)
    client = s3_local.client(moto_server)
    client.create_bucket(Bucket=BUCKET)
    upload.upload_dir(out, RAW_ROOT, batch=0, client=client, validate=True, stream=None)
    return out


@pytest.fixture(scope="module")
def emulator(landing, moto_server, tmp_path_factory):
    """Port of a Snowflake emulator whose s3:// stages read the moto server."""
    workdir = tmp_path_factory.mktemp("sf-emulator")
    with running_emulator(workdir, moto_server) as port:
        yield port


@pytest.fixture(scope="module")
def sf_workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("sf-dbt")


def emulator_env(workdir: Path, port: int, endpoint: str, target_dir: str = "target") -> dict[str, str]:
    """dbt's environment for the `emulator` target, with its own target folder."""
    return emulator_dbt_env(workdir, RAW_ROOT, port, endpoint, DBT_TARGET_PATH=str(workdir / target_dir))


def raw_state(port: int) -> dict[str, tuple[int, set[str]]]:
    """Per raw table: (row count, distinct filename values)."""
    state = {}
    for table in RAW_TABLES:
        _, rows, _ = snowflake_fetch(port, f"select filename, count(*) from ANALYTICS.RAW.{table} group by filename")
        state[table] = (sum(n for _, n in rows), {f for f, _ in rows})
    return state


def load_lines(stdout: str) -> dict[str, tuple[int, int]]:
    return {m[1]: (int(m[2]), int(m[3])) for m in LOAD_LINE.finditer(stdout)}


@pytest.fixture(scope="module")
def raw_loads(emulator, moto_server, sf_workdir) -> dict:
    """`dbt run-operation load_raw` twice: the log lines and the raw tables after each load."""
    env = emulator_env(sf_workdir, emulator, moto_server)
    first = run_dbt(["run-operation", "load_raw"], env)
    after_first = raw_state(emulator)
    second = run_dbt(["run-operation", "load_raw"], env)
    after_second = raw_state(emulator)
    return {
        "first": load_lines(first.stdout),
        "second": load_lines(second.stdout),
        "after_first": after_first,
        "after_second": after_second,
    }


def run_on_emulator(args: list[str], env: dict[str, str], target: Path) -> tuple:
    """Run dbt (no check); return (process, nodes that did not succeed with dbt's message)."""
    (target / "run_results.json").unlink(missing_ok=True)
    proc = run_dbt(args, env, check=False)
    if not (target / "run_results.json").is_file():
        return proc, [f"dbt {' '.join(args)} wrote no run_results.json:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"]
    return proc, failed_nodes(target)


def failed_nodes(target: Path) -> list[str]:
    """Nodes of the last dbt command that did not succeed, with dbt's message."""
    results = json.loads((target / "run_results.json").read_text())["results"]
    return [
        f"{r['unique_id']}: {r['status']}: {' '.join(str(r.get('message') or '').split())[:500]}"
        for r in results
        if r["status"] not in ("success", "pass")
    ]


def fct_ratings_state(port: int) -> tuple[int, dict[str, str]]:
    columns, rows, _ = snowflake_fetch(port, "select * from ANALYTICS.CORE.FCT_RATINGS")
    return len(rows), table_checksums(columns, rows)


@pytest.fixture(scope="module")
def sf_build(raw_loads, emulator, moto_server, sf_workdir) -> dict:
    """`dbt seed`, `dbt build`, then `dbt build` again (incremental) on the emulator, without the
    data tests the first build ran (its compiled SQL stays in the target folder)."""
    env = emulator_env(sf_workdir, emulator, moto_server)
    target = sf_workdir / "target"
    target.mkdir(exist_ok=True)
    built = {"seed": run_on_emulator(["seed"], env, target), "first": run_on_emulator(["build"], env, target)}
    built["first_results"] = json.loads((target / "run_results.json").read_text())["results"]
    built["fct_before"] = fct_ratings_state(emulator)
    built["second"] = run_on_emulator(["build", "--exclude-resource-type", "test", "unit_test"], env, target)
    built["fct_after"] = fct_ratings_state(emulator)
    built["target"] = target
    return built


@pytest.fixture(scope="module")
def duck_build(landing, moto_server, tmp_path_factory) -> Path:
    """The DuckDB warehouse (ci target) built by `dbt build` from the same landing zone."""
    workdir = tmp_path_factory.mktemp("sf-duckdb")
    run_dbt(["build"], dbt_env(workdir, RAW_ROOT, endpoint=moto_server))
    return workdir / "warehouse.duckdb"


# --- a. Snowflake dialect of every compiled node -------------------------------------------------


@pytest.fixture(scope="module")
def sf_compiled(raw_loads, emulator, moto_server, sf_workdir) -> Path:
    """Target folder of `dbt compile` on the emulator before the first build (compile introspects
    the warehouse): the incremental models' first-build SQL and the analyses, which the builds'
    compiled SQL (test_built_sql_is_snowflake_sql) does not hold."""
    env = emulator_env(sf_workdir, emulator, moto_server, target_dir="target-compile")
    run_dbt(["compile", "--select", "config.materialized:incremental", "resource_type:analysis"], env)
    return sf_workdir / "target-compile"


@pytest.mark.dbt
@pytest.mark.emulator
def test_every_compiled_node_is_snowflake_sql(sf_compiled):
    compiled = {p.stem for p in (sf_compiled / "compiled").rglob("*.sql")}
    assert {"fct_ratings", "fct_genome_scores", "top_movies"} <= compiled and len(compiled) >= 8, compiled
    problems = snowflake_dialect_problems(sf_compiled)
    assert not problems, "compiled SQL that is not Snowflake SQL:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("select list_transform(string_split(t, ' '), x -> upper(x)) from a", "list_transform"),
        ("select cast([] as varchar[]) as l from a", "varchar[]"),
        ("select x::int[] from a", "int[]"),
        ("select regexp_extract(t, 'b([0-9]+)', 1) from a", "regexp_extract"),
        ("select g.value from a, unnest(a.l) as g (value)", "unnest"),
        ("select * from generate_series(1, 10)", "generate_series"),
        ("select epoch(t), make_timestamp(1) from a", "epoch"),
        ("select try_cast(null as UBIGINT) as n", "does not parse"),
    ],
)
def test_the_dialect_check_flags_duckdb_sql(sql, expected):
    problems = sql_problems(sql)
    assert any(expected in p for p in problems), problems


def test_the_dialect_check_accepts_the_snowflake_macros_output():
    sql = (
        "select regexp_substr(t, '[(]([0-9]{4})[)]$', 1, 1, 'e', 1), to_timestamp_ntz(cast(s as bigint)),"
        " array_size(case when coalesce(g, '') = '' then array_construct() else split(g, '|') end)"
        " from a, lateral flatten(input => a.l) as genre"
    )
    assert sql_problems(sql) == []


@pytest.mark.dbt
@pytest.mark.emulator
def test_the_dialect_check_catches_a_duckdb_only_model(raw_loads, emulator, moto_server, tmp_path):
    project = copy_project(tmp_path / "project")
    analytics = project / "models" / "marts" / "analytics"
    (analytics / "mart_duckdb_only.sql").write_text(
        "select movie_id, list_transform(string_split(title, ' '), x -> upper(x)) as title_words\n"
        "from {{ ref('dim_movies') }}\n"
    )
    (analytics / "mart_duckdb_only_list_cast.sql").write_text(
        "select movie_id, cast([] as varchar[]) as no_words\nfrom {{ ref('dim_movies') }}\n"
    )
    env = emulator_env(tmp_path, emulator, moto_server, target_dir="target")
    env["DBT_PROFILES_DIR"] = str(project / "profiles")
    run_dbt(["compile", "--project-dir", str(project)], env)
    problems = snowflake_dialect_problems(tmp_path / "target")
    assert problems, "the check passed a project with DuckDB-only models"
    text = "\n".join(problems)
    assert re.search(r"model\.movielens\.mart_duckdb_only \(.*function list_transform\(\)", text), text
    assert re.search(r"model\.movielens\.mart_duckdb_only \(.*function string_split\(\)", text), text
    assert re.search(r"mart_duckdb_only_list_cast \(.*DuckDB list type varchar\[\]", text), text
    others = [p for p in problems if "mart_duckdb_only" not in p]
    assert not others, "problems outside the DuckDB-only models:\n" + "\n".join(others)


# --- b. the whole Snowflake path on the emulator -------------------------------------------------


@pytest.mark.dbt
@pytest.mark.emulator
def test_raw_load_loads_every_generated_row_with_its_s3_url(raw_loads):
    counts = gen.row_counts(SCALE)
    # The validator lists the generated empty tags in the batch's rejects file.
    counts[RAW_TABLES["rejected_rows"]] = gen.empty_tag_count(counts["tags.csv"])
    for table, file in RAW_TABLES.items():
        rows, files = raw_loads["after_first"][table]
        if file not in counts:  # optional table (tag_removals): the generator writes no such file
            assert (rows, files) == (0, set()), table
            assert raw_loads["first"][table] == (0, 0), table
            continue
        assert rows == counts[file], f"{table}: {rows} rows loaded, {counts[file]} generated"
        assert files == {f"{RAW_ROOT}/{table}/batch=0000/{file}"}, table
        assert raw_loads["first"][table] == (1, counts[file]), f"load_raw log for {table}"


@pytest.mark.dbt
@pytest.mark.emulator
def test_raw_filenames_are_the_ones_duckdb_reads(raw_loads, duck_build, moto_server):
    """DuckDB's raw views (read_csv over S3, filename = true) name the same files as Snowflake's COPY."""
    con = duckdb.connect(str(duck_build), read_only=True)
    try:
        con.execute(f"load '{httpfs_extension()}'")
        con.execute(
            "create secret (type s3, key_id 'testing', secret 'testing', region 'us-east-1', "
            f"endpoint '{moto_server.removeprefix('http://')}', url_style 'path', use_ssl false)"
        )
        for table in RAW_TABLES:
            duck = {row[0] for row in con.sql(f"select distinct filename from raw.{table}").fetchall()}
            assert duck - {None} == raw_loads["after_first"][table][1], table
    finally:
        con.close()


@pytest.mark.dbt
@pytest.mark.emulator
def test_a_second_raw_load_loads_nothing(raw_loads):
    assert raw_loads["after_second"] == raw_loads["after_first"]
    assert set(raw_loads["second"]) == set(RAW_TABLES), raw_loads["second"]
    assert all(logged == (0, 0) for logged in raw_loads["second"].values()), raw_loads["second"]


@pytest.mark.dbt
@pytest.mark.emulator
def test_seed_and_build_pass_on_the_emulator(sf_build):
    seed, seed_failures = sf_build["seed"]
    assert seed.returncode == 0, "dbt seed failed:\n" + "\n".join(seed_failures or [seed.stdout[-3000:]])
    build, failures = sf_build["first"]
    assert build.returncode == 0 and not failures, "dbt build failed on the emulator:\n" + "\n".join(
        failures or [build.stdout[-3000:]]
    )
    kinds = {r["unique_id"].split(".")[0] for r in sf_build["first_results"]}
    assert {"model", "seed", "snapshot", "test", "unit_test"} <= kinds, kinds


@pytest.mark.dbt
@pytest.mark.emulator
def test_incremental_rebuild_leaves_fct_ratings_unchanged(sf_build):
    build, failures = sf_build["second"]
    assert build.returncode == 0 and not failures, "second dbt build failed on the emulator:\n" + "\n".join(
        failures or [build.stdout[-3000:]]
    )
    run_sql = list((sf_build["target"] / "run").rglob("fct_ratings.sql"))
    assert run_sql and "merge into" in run_sql[0].read_text().lower(), "fct_ratings did not run incrementally"
    rows, _ = sf_build["fct_after"]
    assert rows == gen.row_counts(SCALE)["ratings.csv"]
    assert sf_build["fct_after"] == sf_build["fct_before"]


@pytest.mark.dbt
@pytest.mark.emulator
def test_built_sql_is_snowflake_sql(sf_build):
    """Every node's SQL as the builds compiled it: models (the incremental ones as the second build
    ran them), data and unit tests, snapshots; sf_compiled adds the rest."""
    compiled = list((sf_build["target"] / "compiled").rglob("*.sql"))
    assert len(compiled) > 100, f"only {len(compiled)} compiled files under {sf_build['target']}"
    problems = snowflake_dialect_problems(sf_build["target"])
    assert not problems, "SQL run on the emulator that is not Snowflake SQL:\n" + "\n".join(problems)


# --- c. parity with the DuckDB build --------------------------------------------------------------


def test_the_comparison_names_the_differing_column():
    columns = ["id", "score", "at"]
    left = [(1, 0.1 + 0.2, dt.datetime(2000, 1, 1)), (2, decimal.Decimal("4.5"), None)]
    assert (
        compare_tables("m", "a", (columns, left), "b", (columns, [(2, 4.5, None), (1, 0.3, dt.datetime(2000, 1, 1))]))
        == []
    )
    problems = compare_tables(
        "m", "a", (columns, left), "b", (columns, [(1, 0.3, dt.datetime(2000, 1, 1)), (2, 4.0, None)])
    )
    assert len(problems) == 1 and problems[0].startswith("m.score: values differ") and "'4.5'" in problems[0], problems
    problems = compare_tables("m", "a", (columns, left), "b", (["id", "score"], [(1, 0.3)]))
    assert any("1 on b" in p for p in problems) and any("only on a: ['at']" in p for p in problems), problems


@pytest.mark.dbt
@pytest.mark.emulator
def test_both_warehouses_hold_the_same_mart_tables(sf_build, duck_build, emulator):
    expected = set(MART_MODELS)
    _, rows, _ = snowflake_fetch(
        emulator,
        "select lower(table_schema), lower(table_name) from ANALYTICS.INFORMATION_SCHEMA.TABLES"
        " where table_schema in ('CORE', 'ANALYTICS') and table_type = 'BASE TABLE'",
    )
    tables = set(rows)
    assert tables == expected, (
        f"on the emulator, missing: {sorted(expected - tables)}, extra: {sorted(tables - expected)}"
    )
    with duckdb.connect(str(duck_build), read_only=True) as con:
        duck = con.sql(
            "select table_schema, table_name from information_schema.tables"
            " where table_schema in ('core', 'analytics') and table_type = 'BASE TABLE'"
        ).fetchall()
    tables = set(duck)
    assert tables == expected, f"on DuckDB, missing: {sorted(expected - tables)}, extra: {sorted(tables - expected)}"


ARRAY_TYPES = ("ARRAY", "OBJECT", "VARIANT")


@pytest.mark.dbt
@pytest.mark.emulator
@pytest.mark.parametrize(("schema", "model"), MART_MODELS, ids=[f"{s}.{m}" for s, m in MART_MODELS])
def test_emulator_and_duckdb_hold_the_same_data(sf_build, duck_build, emulator, schema, model):
    relation = f"{schema}.{model}"
    try:
        sf_cols, sf_rows, sf_types = snowflake_fetch(emulator, f"select * from ANALYTICS.{schema}.{model}")
    except snowflake.connector.errors.Error as error:
        unreadable = f"{relation}: cannot read it on the emulator: {error}"
    else:
        unreadable = None
    if unreadable:
        pytest.fail(unreadable)
    with duckdb.connect(str(duck_build), read_only=True) as con:
        rel = con.sql(f"select * from {relation}")
        duck_cols, duck_types = [c.lower() for c in rel.columns], [str(t) for t in rel.types]
        duck_rows = rel.fetchall()
    # Arrays (a DuckDB list, a Snowflake ARRAY returned as JSON text) cannot be compared value by value.
    skip = {c for c, t in zip(duck_cols, duck_types, strict=True) if t.endswith("[]") or t.startswith("STRUCT")}
    skip |= {c for c, t in zip(sf_cols, sf_types, strict=True) if t in ARRAY_TYPES}
    if skip:
        warnings.warn(f"{relation}: array column(s) {sorted(skip)} not compared", stacklevel=1)
    problems = compare_tables(relation, "the emulator", (sf_cols, sf_rows), "DuckDB", (duck_cols, duck_rows), skip)
    assert not problems, "\n".join(problems)
