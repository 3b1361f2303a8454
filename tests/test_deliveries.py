"""Deliveries after the first load, on DuckDB with a local-folder landing zone (scale 0.001).

- scripts/dataset/deliver.py writes what each flag says (new, late, re-delivered and corrected ratings,
  new and withdrawn tags, corrected movies), deterministically, and only ever adds files.
- Equivalence: after a sequence of deliveries, the warehouse built incrementally (a build after
  each delivery, one DuckDB file) equals a --full-refresh build of the same raw data (another
  file): every table of the core and analytics schemas, row for row.
- A second build with no new delivery changes nothing; raw files are never rewritten.
- Snapshots hold exactly the SCD2 history of a small hand-made sequence.
- A build killed while fct_ratings runs, then run again, ends where an uninterrupted build does.

The sequences, the hand-made history and the interruption's reference are built once for the
module, in parallel (dbt runs in subprocesses); each keeps one dbt workdir and one DuckDB path,
so that dbt parses the project once per workdir and then reuses its partial parse.
"""

from __future__ import annotations

import concurrent.futures
import csv
import hashlib
import io
import json
import math
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

from scripts.cli import run
from scripts.dataset import deliver as dlv
from scripts.dataset import generate as gen
from scripts.landing import upload
from tests.dbt_runner import DBT, ROOT, dbt_env, run_dbt

SCALE = 0.001
SEED = 7
MART_SCHEMAS = ("core", "analytics")
# dbt build without data tests or snapshots: seeds and every model (what the comparison needs).
MODELS_ONLY = ["build", "--exclude", "resource_type:test", "resource_type:snapshot"]
FULL_REFRESH = [*MODELS_ONLY, "--full-refresh"]
# Every model (seeds are loaded by the first build): fct_ratings and the incremental models
# downstream of the facts carry history from one build to the next.
INCREMENTAL_STEP = ["run"]


# The tables that carry history from one build to the next: a re-run with nothing new leaves them as they are.
INCREMENTAL_TABLES = (
    "core.fct_ratings",
    "core.fct_genome_scores",
    "core.dim_users",
    "analytics.mart_user_activity",
    "analytics.mart_genre_trends",
    "analytics.mart_movie_stats",
    "analytics.mart_movie_top_tags",
)


# --- helpers ------------------------------------------------------------------------------------


def land_base(base: Path, landing: Path) -> None:
    upload.upload_dir(base, dest=str(landing), batch=0, validate=True, stream=io.StringIO())


def deliver(base: Path, landing: Path, state: Path, seed: int = 1, **kinds) -> dict:
    return dlv.deliver(base, str(landing), seed=seed, state_dir=state, stream=io.StringIO(), **kinds)


def dbt(workdir: Path, landing: Path, args: list[str], check: bool = True) -> subprocess.CompletedProcess:
    return run_dbt(args, dbt_env(workdir, str(landing)), check=check)


def copy_db(src: Path, dest: Path) -> None:
    """Copy a DuckDB file (and its write-ahead log, if any) that no process has open."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dest)
    wal, dest_wal = Path(f"{src}.wal"), Path(f"{dest}.wal")
    dest_wal.unlink(missing_ok=True)
    if wal.exists():
        shutil.copy(wal, dest_wal)


def file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under folder, by relative path."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def tables_of(con, database: str, schemas=MART_SCHEMAS) -> list[str]:
    """schema.table of every table of `schemas` in one attached database."""
    rows = con.execute(
        "select schema_name || '.' || table_name from duckdb_tables() "
        "where database_name = ? and list_contains(?, schema_name) order by 1",
        [database, list(schemas)],
    ).fetchall()
    return [name for (name,) in rows]


FLOAT_TOLERANCE = 1e-12  # relative, on DOUBLE columns only (see table_differences)


def _rows_match(left: list[tuple], right: list[tuple], floats: list[bool]) -> bool:
    """Do two lists of rows pair up (in some order) with equal values, DOUBLE values within
    FLOAT_TOLERANCE? Rows are paired after sorting on their exact columns, then their rounded floats."""
    if len(left) != len(right):
        return False

    def key(row):
        return tuple(
            (v is None, round(v, 6) if f and v is not None else v)
            for v, f in sorted(zip(row, floats, strict=True), key=lambda x: x[1])
        )

    for a, b in zip(sorted(left, key=key), sorted(right, key=key), strict=True):
        for x, y, f in zip(a, b, floats, strict=True):
            if f and x is not None and y is not None:
                if not math.isclose(x, y, rel_tol=FLOAT_TOLERANCE, abs_tol=FLOAT_TOLERANCE):
                    return False
            elif x != y:
                return False
    return True


def table_differences(left: Path, right: Path, schemas=MART_SCHEMAS, ignore: tuple[str, ...] = (), noise=None) -> dict:
    """{table: problem} for every table of `schemas` whose rows differ between two DuckDB files,
    or that only one of the files has.

    Rows are compared as multisets, every column exactly: EXCEPT ALL both ways. DuckDB does not
    sum or average doubles in a fixed order (threads, preserve_insertion_order = false), so a
    DOUBLE aggregate such as stddev_samp can differ in its last bits between two builds of the
    same rows; rows flagged by EXCEPT ALL therefore still match if they pair up with every other
    column equal and DOUBLE columns within FLOAT_TOLERANCE. Such tables go to `noise` (a dict).
    """
    con = duckdb.connect()
    try:
        con.execute(f"attach '{left}' as l (read_only)")
        con.execute(f"attach '{right}' as r (read_only)")
        names = {side: set(tables_of(con, side, schemas)) for side in ("l", "r")}
        problems = {name: "only in one file" for name in names["l"] ^ names["r"]}
        columns = "*" + (f" exclude ({', '.join(ignore)})" if ignore else "")
        for name in sorted(names["l"] & names["r"]):
            counts = [con.sql(f"select count(*) from {side}.{name}").fetchone()[0] for side in ("l", "r")]
            only = {
                (a, b): con.sql(f"select {columns} from {a}.{name} except all select {columns} from {b}.{name}")
                for a, b in (("l", "r"), ("r", "l"))
            }
            floats = [str(kind) in ("DOUBLE", "FLOAT") for kind in only["l", "r"].dtypes]
            left_only, right_only = (only[pair].fetchall() for pair in (("l", "r"), ("r", "l")))
            if counts[0] != counts[1] or not _rows_match(left_only, right_only, floats):
                problems[name] = (
                    f"rows {counts[0]} vs {counts[1]}; {len(left_only)} only left, {len(right_only)} only right"
                )
            elif left_only and noise is not None:
                noise[name] = len(left_only)
        return problems
    finally:
        con.close()


def checksums(path: Path, schemas=MART_SCHEMAS) -> dict[str, tuple[int, int]]:
    """(row count, order-independent sum of row hashes) of every table of `schemas`."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            name: con.sql(f"select count(*), coalesce(sum(hash(t)), 0) from {name} as t").fetchone()
            for name in tables_of(con, path.stem, schemas)
        }
    finally:
        con.close()


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def expected_ratings(landing: Path) -> dict[tuple[int, int], tuple[float, int, int]]:
    """The winning rating per (user, movie), computed here from the landed CSVs: newest timestamp,
    then earliest batch, then higher rating. {(user, movie): (rating, timestamp, batch)}."""
    best: dict[tuple[int, int], tuple[int, int, float]] = {}
    for path in sorted(landing.glob("ratings/batch=*/ratings.csv")):
        batch = int(path.parent.name.removeprefix("batch="))
        for row in read_rows(path):
            key = (int(row["userId"]), int(row["movieId"]))
            candidate = (int(row["timestamp"]), -batch, float(row["rating"]))
            if key not in best or candidate > best[key]:
                best[key] = candidate
    return {key: (rating, ts, -neg_batch) for key, (ts, neg_batch, rating) in best.items()}


# --- data ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("base")
    gen.generate(out, SCALE, SEED, quiet=True)
    return out


# --- deliver.py on its own (no dbt) -------------------------------------------------------------


@pytest.fixture(scope="module")
def two_deliveries(base, tmp_path_factory):
    """A landing zone with the base and two mixed deliveries; the files of each."""
    root = tmp_path_factory.mktemp("delivered")
    landing, state = root / "landing", root / "state"
    land_base(base, landing)
    kinds = dict(
        new_ratings=300,
        late_ratings=100,
        redeliver=60,
        corrections=80,
        new_tags=30,
        remove_tags=25,
        movie_corrections=12,
    )
    first = deliver(base, landing, state, seed=5, **kinds)
    second = deliver(base, landing, state, seed=5, **kinds)
    return landing, state, kinds, first, second


def test_each_kind_holds_what_its_flag_says(base, two_deliveries):
    landing, state, kinds, _, result = two_deliveries
    assert result["batch"] == 2
    before = [base / "ratings.csv", state / "batch=0001" / "ratings.csv"]
    earlier_rows = [row for path in before for row in read_rows(path)]
    seen = {tuple(r.values()) for r in earlier_rows}
    by_pair: dict[tuple[str, str], list[dict]] = {}
    for row in earlier_rows:
        by_pair.setdefault((row["userId"], row["movieId"]), []).append(row)
    latest_seen = max(int(r["timestamp"]) for r in earlier_rows)
    for path in (base / "tags.csv", state / "batch=0001" / "tags.csv", state / "batch=0001" / "tag-removals.csv"):
        latest_seen = max(latest_seen, *(int(r["timestamp"]) for r in read_rows(path)))

    path = landing / "ratings" / "batch=0002" / "ratings.csv"
    text = path.read_bytes()
    assert b"\r" not in text and text.startswith(b"userId,movieId,rating,timestamp\n")
    rows = read_rows(path)
    assert len({(r["userId"], r["movieId"]) for r in rows}) == len(rows), "a pair twice in one delivery"
    assert all(r["rating"] in {f"{h / 2:.1f}" for h in range(1, 11)} for r in rows)
    new = [r for r in rows if (r["userId"], r["movieId"]) not in by_pair]
    assert sum(int(r["timestamp"]) > latest_seen for r in new) == kinds["new_ratings"]
    assert sum(int(r["timestamp"]) < latest_seen for r in new) == kinds["late_ratings"]
    old = [r for r in rows if (r["userId"], r["movieId"]) in by_pair]
    again = [r for r in old if tuple(r.values()) in seen]
    assert len(again) == kinds["redeliver"]
    corrected = [r for r in old if tuple(r.values()) not in seen]
    assert len(corrected) == kinds["corrections"]
    for row in corrected:
        history = by_pair[row["userId"], row["movieId"]]
        newest = max(history, key=lambda r: int(r["timestamp"]))
        assert int(row["timestamp"]) > int(newest["timestamp"]) and row["rating"] != newest["rating"]

    applied = {(r["userId"], r["movieId"], r["tag"].strip(" ")) for r in read_rows(base / "tags.csv")}
    applied |= {(r["userId"], r["movieId"], r["tag"].strip(" ")) for r in read_rows(state / "batch=0001/tags.csv")}
    applied -= {
        (r["userId"], r["movieId"], r["tag"].strip(" ")) for r in read_rows(state / "batch=0001/tag-removals.csv")
    }
    removals = read_rows(landing / "tag_removals" / "batch=0002" / "tag-removals.csv")
    assert len(removals) == kinds["remove_tags"]
    assert all((r["userId"], r["movieId"], r["tag"].strip(" ")) in applied for r in removals)
    new_tags = read_rows(landing / "tags" / "batch=0002" / "tags.csv")
    assert len(new_tags) == kinds["new_tags"]
    assert not any((r["userId"], r["movieId"], r["tag"].strip(" ")) in applied for r in new_tags)
    assert all(int(r["timestamp"]) > latest_seen for r in removals + new_tags)

    movies = {r["movieId"]: r for r in read_rows(base / "movies.csv")}
    movies.update({r["movieId"]: r for r in read_rows(state / "batch=0001" / "movies.csv")})
    path = landing / "movies" / "batch=0002" / "movies.csv"
    corrected_movies = read_rows(path)
    assert len(corrected_movies) == kinds["movie_corrections"]
    for row in corrected_movies:
        before_row = movies[row["movieId"]]
        assert (row["title"] != before_row["title"]) + (row["genres"] != before_row["genres"]) == 1
    rewritten = io.StringIO(newline="")
    writer = csv.writer(rewritten, lineterminator="\n")
    writer.writerow(["movieId", "title", "genres"])
    writer.writerows([r["movieId"], r["title"], r["genres"]] for r in corrected_movies)
    assert path.read_text(encoding="utf-8") == rewritten.getvalue(), "not written like ml-20m"


def test_state_dir_keeps_an_exact_copy_of_each_delivery(two_deliveries):
    landing, state, _, first, second = two_deliveries
    for result in (first, second):
        for item in result["files"]:
            kept = Path(result["state"]) / item["file"]
            assert Path(item["path"]).read_bytes() == kept.read_bytes()
    manifest = json.loads((state / "batch=0002" / "delivery.json").read_text())
    assert manifest["dest"] == str(landing.resolve()) and manifest["seed"] == 5


def test_same_seed_gives_the_same_bytes(base, tmp_path):
    outputs = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        landing, state = tmp_path / name / "landing", tmp_path / name / "state"
        land_base(base, landing)
        for _ in range(2):
            deliver(base, landing, state, seed=seed, size_pct=1)
        outputs.append({k: v for k, v in file_hashes(landing).items() if "batch=0000" not in k})
    assert outputs[0] == outputs[1]
    assert len(outputs[0]) == 8  # ratings, tags, tag-removals, movies in each of two batches
    assert outputs[0] != outputs[2]


def test_size_pct_sizes_the_delivery_from_the_base(base, tmp_path):
    land_base(base, tmp_path / "landing")
    result = deliver(base, tmp_path / "landing", tmp_path / "state", size_pct=2, late_ratings=0)
    ratings = gen.row_counts(SCALE)["ratings.csv"]
    assert result["sizes"].new_ratings == round(ratings * 0.02)
    assert result["sizes"].late_ratings == 0  # a flag next to --size-pct overrides the preset
    counts = {item["file"]: item["counts"] for item in result["files"]}
    assert counts["ratings.csv"]["new"] == round(ratings * 0.02)


def test_cli_prints_one_line_per_file_and_one_line_errors(base, tmp_path, capsys):
    landing, state = tmp_path / "landing", tmp_path / "state"
    land_base(base, landing)
    common = ["--src", str(base), "--dest", str(landing), "--state-dir", str(state), "--quiet"]
    assert run("deliver", *common, "--new-ratings", "10", "--remove-tags", "2") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("ratings.csv") and "new 10" in out[0]
    assert out[0].endswith(str(landing / "ratings" / "batch=0001" / "ratings.csv"))
    assert out[1].startswith("tag-removals.csv") and "removed 2" in out[1]
    assert out[2].startswith("batch=0001 landed in")

    cases = [
        ([*common], "nothing to deliver"),
        ([*common, "--remove-tags", "100000"], "tags are currently applied"),
        (["--src", str(tmp_path / "nowhere"), "--dest", str(landing), "--new-ratings", "1"], "holds no ratings.csv"),
        ([*common[:3], str(tmp_path / "empty"), *common[4:], "--new-ratings", "1"], "land the base data set first"),
        ([*common[:5], str(tmp_path / "other-state"), "--new-ratings", "1"], "which --state-dir"),
    ]
    for argv, message in cases:
        assert run("deliver", *argv) == 1
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err, err
    other = tmp_path / "landing2"
    land_base(base, other)
    assert run("deliver", *common[:3], str(other), *common[4:], "--new-ratings", "1") == 1
    assert "holds the deliveries to" in capsys.readouterr().err
    assert run("deliver", *common, "--new-ratings", "-1") == 2
    assert file_hashes(landing).keys() == {
        *(f"{t}/batch=0000/{n}" for t, n in upload.TABLES.items() if t not in upload.OPTIONAL_TABLES),
        "rejected_rows/batch=0000/rejected-rows.csv",  # the generated empty tags
        "ratings/batch=0001/ratings.csv",
        "tag_removals/batch=0001/tag-removals.csv",
    }


# --- equivalence: incremental builds vs a full refresh -----------------------------------------

# Each delivery of "one-kind-each" holds one kind of change (the re-delivery with new ratings, so
# that it is not empty), so that a wrong result points at its kind; "mixed" lands them together.
SEQUENCES = {
    "one-kind-each": [
        dict(late_ratings=300),
        dict(new_ratings=150, redeliver=200),
        dict(corrections=300),
        dict(corrections=300),
    ],
    "mixed": [
        dict(size_pct=2),
        dict(
            new_ratings=150,
            late_ratings=100,
            redeliver=80,
            corrections=80,
            new_tags=20,
            remove_tags=15,
            movie_corrections=10,
        ),
        dict(size_pct=1, remove_tags=20),
    ],
}


@dataclass
class Sequence:
    workdir: Path  # one dbt workdir (and DuckDB path) per sequence, so dbt parses the project once
    landing: Path
    state: Path
    hashes: list[dict[str, str]] = field(default_factory=list)  # landing files after each delivery
    deliveries: list[dict] = field(default_factory=list)
    error: BaseException | None = None

    @property
    def incremental(self) -> Path:
        return self.workdir / "incremental.duckdb"

    @property
    def full(self) -> Path:
        return self.workdir / "full.duckdb"


def move_db(workdir: Path, name: str) -> Path:
    """Move the workdir's warehouse.duckdb (and its WAL) aside as <name>; frees the path."""
    target = workdir / name
    os.replace(workdir / "warehouse.duckdb", target)
    if Path(f"{workdir / 'warehouse.duckdb'}.wal").exists():
        os.replace(f"{workdir / 'warehouse.duckdb'}.wal", f"{target}.wal")
    return target


def run_sequence(base: Path, root: Path, name: str) -> Sequence:
    """Land the base, then each delivery followed by an incremental build; then rebuild everything
    with --full-refresh from the same landing zone into a fresh DuckDB file.

    The incremental models (fct_ratings and the models downstream of the facts) carry history from
    one build to the next, so every build between deliveries builds every model; the last one is a
    complete `dbt build` (data tests and snapshots too) for the mixed sequence, seeds and models for
    the others.
    """
    seq = Sequence(root / "dbt", root / "landing", root / "state")
    try:
        land_base(base, seq.landing)
        seq.hashes.append(file_hashes(seq.landing))
        dbt(seq.workdir, seq.landing, MODELS_ONLY)
        steps = SEQUENCES[name]
        for number, kinds in enumerate(steps, start=1):
            seq.deliveries.append(deliver(base, seq.landing, seq.state, seed=number, **kinds))
            seq.hashes.append(file_hashes(seq.landing))
            last = ["build"] if name == "mixed" else MODELS_ONLY
            dbt(seq.workdir, seq.landing, last if number == len(steps) else INCREMENTAL_STEP)
        move_db(seq.workdir, seq.incremental.name)
        dbt(seq.workdir, seq.landing, FULL_REFRESH)
        move_db(seq.workdir, seq.full.name)
    except BaseException as exc:  # reported by the tests of this sequence
        seq.error = exc
    return seq


@dataclass
class Handmade:
    workdir: Path
    after: list[dict[str, list[tuple]]] = field(default_factory=list)  # snapshot rows after each build
    error: BaseException | None = None


@dataclass
class Interruption:
    workdir: Path
    landing: Path
    error: BaseException | None = None

    @property
    def before(self) -> Path:  # the warehouse before the delivery's build
        return self.workdir / "before.duckdb"

    @property
    def reference(self) -> Path:  # after an uninterrupted `dbt build` of the delivery
        return self.workdir / "reference.duckdb"


def prepare_interruption(base: Path, root: Path) -> Interruption:
    """A landing zone with one big delivery (so that the merge takes a while), the warehouse as it
    was before the delivery's build, and the warehouse after an uninterrupted build of it."""
    made = Interruption(root / "dbt", root / "landing")
    try:
        land_base(base, made.landing)
        dbt(made.workdir, made.landing, MODELS_ONLY)
        copy_db(made.workdir / "warehouse.duckdb", made.before)
        deliver(base, made.landing, root / "state", new_ratings=100_000, corrections=2_000, redeliver=500, new_tags=10)
        dbt(made.workdir, made.landing, ["build", "--exclude", "resource_type:test"])
        move_db(made.workdir, made.reference.name)
    except BaseException as exc:
        made.error = exc
    return made


@pytest.fixture(scope="module")
def built(base, tmp_path_factory):
    """Every sequence, the hand-made SCD2 history and the interruption's reference, built in
    parallel (each in its own dbt subprocesses and DuckDB files)."""
    root = tmp_path_factory.mktemp("sequences")
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        jobs = {name: pool.submit(run_sequence, base, root / name, name) for name in SEQUENCES}
        jobs["handmade"] = pool.submit(run_handmade, root / "handmade")
        jobs["interruption"] = pool.submit(prepare_interruption, base, root / "interruption")
        return {name: job.result() for name, job in jobs.items()}


def sequence(built, name) -> Sequence:
    seq = built[name]
    if seq.error is not None:
        raise seq.error
    return seq


@pytest.mark.dbt
@pytest.mark.parametrize("name", SEQUENCES)
def test_incremental_builds_equal_a_full_refresh(built, name):
    seq = sequence(built, name)
    noise: dict[str, int] = {}
    assert table_differences(seq.incremental, seq.full, noise=noise) == {}
    print(f"{name}: rows differing only in the last bits of a DOUBLE: {noise or 'none'}")
    con = duckdb.connect(str(seq.incremental), read_only=True)
    tables = tables_of(con, "incremental")
    assert "core.fct_ratings" in tables and len(tables) >= 14
    actual = {
        (user, movie): (float(rating), ts, batch)
        for user, movie, rating, ts, batch in con.sql(
            "select user_id, movie_id, rating, epoch(rated_at)::bigint, batch_id from core.fct_ratings"
        ).fetchall()
    }
    con.close()
    # ...and both equal the winning rows computed here, in Python, from the landed CSVs.
    assert actual == expected_ratings(seq.landing)
    assert {b for _, _, b in actual.values()} > {0}, "no delivered rating won anywhere"


def compiled(workdir: Path, path: str) -> str:
    return (workdir / "target" / "compiled" / "movielens" / path).read_text()


@pytest.fixture(scope="module")
def rerun(built) -> dict:
    """The mixed sequence's incremental warehouse built again with nothing new: the checksums of
    its tables before and after, a copy of it (rerun.duckdb), and what dbt compiled and reported."""
    seq = sequence(built, "mixed")
    workdir = seq.workdir  # its DuckDB path is free: the sequence moved both files aside
    copy_db(seq.incremental, workdir / "warehouse.duckdb")
    every_schema = (*MART_SCHEMAS, "snapshots")
    before = checksums(workdir / "warehouse.duckdb", every_schema)
    dbt(workdir, seq.landing, ["build"])
    copy_db(workdir / "warehouse.duckdb", workdir / "rerun.duckdb")  # as the re-run left it
    results = json.loads((workdir / "target" / "run_results.json").read_text())["results"]
    unique = next((workdir / "target" / "compiled").rglob("unique_combination_fct_ratings_user_id__movie_id*.sql"))
    return {
        "seq": seq,
        "schemas": every_schema,
        "before": before,
        "after": checksums(workdir / "warehouse.duckdb", every_schema),
        "results": {r["unique_id"]: r for r in results},
        "compiled": {
            name: compiled(workdir, path)
            for name, path in {
                "fct_ratings": "models/marts/core/fct_ratings.sql",
                "dim_users": "models/marts/core/dim_users.sql",
                "mart_genre_trends": "models/marts/analytics/mart_genre_trends.sql",
                "raw_rating_test": "tests/assert_every_raw_rating_is_valid.sql",
            }.items()
        }
        | {"unique_test": unique.read_text()},
    }


@pytest.mark.dbt
def test_rerun_without_a_delivery_changes_nothing(rerun):
    seq, before, after = rerun["seq"], rerun["before"], rerun["after"]
    # The incremental tables and the snapshots: not one row changed, added or removed.
    for name in (*INCREMENTAL_TABLES, "snapshots.snap_movies", "snapshots.snap_tags"):
        assert after[name] == before[name], name
    # The tables rebuilt from scratch: the same rows (DOUBLE aggregates up to their last bits).
    noise: dict[str, int] = {}
    rebuilt = seq.workdir / "rerun.duckdb"
    assert table_differences(rebuilt, seq.incremental, rerun["schemas"], noise=noise) == {}
    assert {name for name in after if after[name] != before[name]} == set(noise)
    print(f"rebuilt tables differing only in the last bits of a DOUBLE: {noise or 'none'}")

    fct = rerun["results"]["model.movielens.fct_ratings"]
    assert fct["status"] == "success"
    # dbt-duckdb reports no row count for an incremental merge: {"_message": "OK"}.
    assert fct["adapter_response"].get("rows_affected") in (None, 0), fct["adapter_response"]
    # So count what the merge had to apply: the compiled incremental query, run again now.
    query = rerun["compiled"]["fct_ratings"]
    assert "not in" in query, "the re-run did not read only the files not merged yet"
    con = duckdb.connect()
    con.execute(f"attach '{rebuilt}' as warehouse (read_only)")  # the name the compiled SQL uses
    con.execute("use warehouse")
    assert con.sql(f"select count(*) from ({query})").fetchone()[0] == 0
    con.close()


@pytest.mark.dbt
def test_a_rerun_rebuilds_nothing_and_tests_only_new_batches(rerun):
    """Nothing new: the incremental models read nothing and the data tests on the facts check no
    row; a bad row of a batch not tested yet is still caught, and a run testing every batch
    (a full refresh does the same) catches a bad row in a batch tested before."""
    seq = rerun["seq"]
    workdir = seq.workdir
    newest = len(SEQUENCES["mixed"])
    assert f"batch_id > {newest}" in rerun["compiled"]["dim_users"]
    assert "where false" in rerun["compiled"]["mart_genre_trends"]
    assert "where false" in rerun["compiled"]["raw_rating_test"]
    assert f"batch_id > {newest}" in rerun["compiled"]["unique_test"]

    con = duckdb.connect(str(workdir / "warehouse.duckdb"))
    # A rating of a batch not tested yet, by a user nobody knows; a copy of a row of batch 1.
    con.execute(
        "insert into core.fct_ratings select 999999999, movie_id, rating, rated_date, rated_at, "
        f"replace(source_file, 'batch=0001', 'batch={newest + 1:04d}'), {newest + 1} "
        "from core.fct_ratings where batch_id = 1 limit 1"
    )
    con.execute("insert into core.fct_ratings select * from core.fct_ratings where batch_id = 1 limit 1")
    con.close()

    def failed_tests(args: list[str]) -> set[str]:
        assert dbt(workdir, seq.landing, args, check=False).returncode == 1
        results = json.loads((workdir / "target" / "run_results.json").read_text())["results"]
        return {r["unique_id"].split(".")[2] for r in results if r["status"] == "fail"}

    assert failed_tests(["test"]) == {"relationships_fct_ratings_user_id__user_id__ref_dim_users_"}
    assert failed_tests(["test", "--vars", "{test_every_batch: true}"]) == {
        "relationships_fct_ratings_user_id__user_id__ref_dim_users_",
        "unique_combination_fct_ratings_user_id__movie_id",
    }


@pytest.mark.dbt
def test_source_freshness_reads_the_landing_zone(built):
    seq = sequence(built, "mixed")
    out = dbt(seq.workdir, seq.landing, ["source", "freshness"]).stdout
    for table in ("ratings", "movies", "tags", "tag_removals", "genome_scores"):
        assert f"PASS freshness of movielens.{table}" in out, out[-3000:]
    sources = json.loads((seq.workdir / "target" / "sources.json").read_text())["results"]
    newest = {r["unique_id"].split(".")[-1]: r["max_loaded_at"] for r in sources}
    # the delivered tables' newest file is the last delivery's, landed after the base's genome scores
    assert newest["ratings"] >= newest["genome_scores"], newest


@pytest.mark.dbt
def test_raw_files_are_never_rewritten(built):
    seq = sequence(built, "mixed")
    for number, (earlier, later) in enumerate(zip(seq.hashes, seq.hashes[1:], strict=False), start=1):
        assert {k: later[k] for k in earlier} == earlier, f"delivery {number} changed an earlier file"
        added = set(later) - set(earlier)
        assert added and all(f"/batch={number:04d}/" in path for path in added)
    # after every build (and the re-run test), byte for byte what the last delivery left
    assert file_hashes(seq.landing) == seq.hashes[-1]
    for result in seq.deliveries:
        for item in result["files"]:
            assert Path(item["path"]).read_bytes() == (Path(result["state"]) / item["file"]).read_bytes()


# --- exact SCD2 history for a hand-made sequence ------------------------------------------------

T0, T1, T2 = 1_200_000_000, 1_300_000_000, 1_400_000_000
HANDMADE = {
    0: {
        "movies.csv": [
            ("movieId", "title", "genres"),
            (1, "Toy Story (1995)", "Adventure|Animation|Children|Comedy|Fantasy"),
            (2, "American President, The (1995)", "Comedy|Drama|Romance"),
            (3, "Heat (1995)", "Action|Crime|Thriller"),
        ],
        "links.csv": [("movieId", "imdbId", "tmdbId"), (1, "0114709", 862), (2, "0112346", 9087), (3, "0113277", 949)],
        "ratings.csv": [
            ("userId", "movieId", "rating", "timestamp"),
            (1, 1, "4.0", T0),
            (1, 2, "3.5", T0 + 60),
            (2, 3, "5.0", T0 + 120),
        ],
        "tags.csv": [("userId", "movieId", "tag", "timestamp"), (1, 2, "funny", T0)],
        "genome-tags.csv": [("tagId", "tag"), (1, "funny")],
        "genome-scores.csv": [("movieId", "tagId", "relevance"), (1, 1, "0.50000")],
    },
    # the same tag (user, movie, text) applied again later: a new version; a corrected title
    1: {
        "tags.csv": [("userId", "movieId", "tag", "timestamp"), (1, 2, "funny", T1)],
        "movies.csv": [("movieId", "title", "genres"), (3, "Heat (1996)", "Action|Crime|Thriller")],
    },
    # the tag withdrawn
    2: {"tag-removals.csv": [("userId", "movieId", "tag", "timestamp"), (1, 2, "funny", T2)]},
}
SNAPSHOT_BUILD = ["build", "--select", "+snap_tags", "+snap_movies", "--indirect-selection", "cautious"]


def run_handmade(root: Path) -> Handmade:
    made = Handmade(root / "dbt")
    try:
        landing = root / "landing"
        for batch, files in HANDMADE.items():
            folder = root / f"delivery{batch}"
            folder.mkdir(parents=True)
            for name, rows in files.items():
                with open(folder / name, "w", newline="", encoding="utf-8") as handle:
                    csv.writer(handle, lineterminator="\n").writerows(rows)
            tables = [dlv.TABLE_OF[name] for name in files]
            upload.upload_dir(
                folder, dest=str(landing), batch=batch, tables=tables, validate=True, stream=io.StringIO()
            )
            dbt(made.workdir, landing, SNAPSHOT_BUILD)
            con = duckdb.connect(str(made.workdir / "warehouse.duckdb"), read_only=True)
            made.after.append(
                {
                    "tags": con.sql(
                        "select tag, epoch(tagged_at)::bigint, dbt_valid_from, dbt_valid_to, dbt_is_deleted "
                        "from snapshots.snap_tags order by dbt_valid_from, dbt_is_deleted"
                    ).fetchall(),
                    "movies": con.sql(
                        "select movie_id, title_as_published, dbt_valid_from, dbt_valid_to, dbt_is_deleted "
                        "from snapshots.snap_movies order by movie_id, dbt_valid_from"
                    ).fetchall(),
                    "is_deleted_type": con.sql(
                        "select data_type from information_schema.columns "
                        "where table_name = 'snap_tags' and column_name = 'dbt_is_deleted'"
                    ).fetchone()[0],
                }
            )
            con.close()
    except BaseException as exc:
        made.error = exc
    return made


@pytest.mark.dbt
def test_snapshots_hold_the_exact_scd2_history(built):
    made = built["handmade"]
    if made.error is not None:
        raise made.error
    first, second, third = made.after
    # dbt-duckdb writes dbt_is_deleted as text: 'True' / 'False'
    assert first["is_deleted_type"] == "VARCHAR"

    ((tag, at, s1, to, deleted),) = first["tags"]
    assert (tag, at, to, deleted) == ("funny", T0, None, "False")

    v1, v2 = second["tags"]
    s2 = v2[2]
    assert v1 == ("funny", T0, s1, s2, "False")  # closed when v2 opens
    assert v2 == ("funny", T1, s2, None, "False") and s2 > s1

    v1_after, v2_after, gone = third["tags"]
    s3 = gone[2]
    assert v1_after == v1
    assert v2_after == ("funny", T1, s2, s3, "False")  # closed at the removal
    assert gone == ("funny", T1, s3, None, "True") and s3 > s2  # the deletion record
    assert [row for row in third["tags"] if row[3] is None and row[4] != "True"] == [], "a tag still open"

    assert [(m, t, d) for m, t, _, _, d in first["movies"]] == [
        (1, "Toy Story (1995)", "False"),
        (2, "American President, The (1995)", "False"),
        (3, "Heat (1995)", "False"),
    ]
    heat = [row for row in second["movies"] if row[0] == 3]
    assert heat == [
        (3, "Heat (1995)", first["movies"][2][2], heat[1][2], "False"),
        (3, "Heat (1996)", heat[1][2], None, "False"),
    ]
    assert len(second["movies"]) == 4
    assert third["movies"] == second["movies"]  # a delivery without movies changes no movie


# --- interruption ---------------------------------------------------------------------------------

KILL_AT = {
    # as soon as dbt starts the model
    "model-start": "START sql incremental model core.fct_ratings",
    # inside the merge: the delete of the delete+insert is sent, the COMMIT is not yet
    "mid-merge": 'delete from "warehouse"."core"."fct_ratings"',
}


def kill_dbt_build(workdir: Path, landing: Path, marker: str, timeout: float = 120) -> str:
    """Start `dbt build`, SIGKILL its process group when marker reaches logs/dbt.log; the new log text."""
    log = workdir / "logs" / "dbt.log"
    offset = log.stat().st_size if log.exists() else 0
    proc = subprocess.Popen(
        [DBT, "build"],
        cwd=ROOT,
        env=dbt_env(workdir, str(landing)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    text = ""
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if log.exists():
                with open(log, "rb") as handle:
                    handle.seek(offset)
                    text = handle.read().decode("utf-8", "replace")
                if marker in text:
                    os.killpg(proc.pid, signal.SIGKILL)
                    break
            time.sleep(0.002)
    finally:
        if proc.poll() is None and marker not in text:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    with open(log, "rb") as handle:
        handle.seek(offset)
        return handle.read().decode("utf-8", "replace")


@pytest.mark.dbt
@pytest.mark.parametrize("point", KILL_AT)
def test_a_killed_build_recovers_on_the_next_run(built, point):
    made = built["interruption"]
    if made.error is not None:
        raise made.error
    marker, workdir, db = KILL_AT[point], made.workdir, made.workdir / "warehouse.duckdb"
    for _attempt in range(3):  # the kill must land before fct_ratings is committed
        copy_db(made.before, db)
        log = kill_dbt_build(workdir, made.landing, marker)
        tail = log[log.find(marker) :] if marker in log else ""
        if marker in log and "OK created sql incremental model core.fct_ratings" not in tail and "COMMIT" not in tail:
            break
    else:
        pytest.fail(f"could not kill dbt build at {marker!r} before fct_ratings was committed")
    last = [line for line in log.splitlines() if "fct_ratings" in line][-1]
    print(f"{point}: killed after {last[:160]!r}")

    # The killed process released DuckDB's file lock: a read-write connection opens at once.
    con = duckdb.connect(str(db))
    # The merge was all or nothing: fct_ratings is as it was before the build, no work table left.
    previous = checksums(made.before, ("core",))["core.fct_ratings"]
    assert con.sql("select count(*), coalesce(sum(hash(t)), 0) from core.fct_ratings as t").fetchone() == previous
    assert con.sql("select count(*) from duckdb_tables() where table_name like '%dbt_tmp%'").fetchone()[0] == 0
    con.close()

    dbt(workdir, made.landing, ["build"])
    noise: dict[str, int] = {}
    assert table_differences(db, made.reference, noise=noise) == {}
    print(f"{point}: rows differing only in the last bits of a DOUBLE: {noise or 'none'}")
    snapshot_times = ("dbt_scd_id", "dbt_updated_at", "dbt_valid_from", "dbt_valid_to")
    assert table_differences(db, made.reference, ("snapshots",), snapshot_times) == {}
