"""The warehouse end to end on DuckDB: a tiny generated dataset lands in the local S3 server,
dbt builds every seed, model, snapshot and test reading it through httpfs, and the results are
checked against the generator's counts and against figures computed here, in plain Python,
straight from the CSVs."""

from __future__ import annotations

import csv
import math
import re
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest

from scripts.dataset import generate as gen
from scripts.landing import s3_local, upload
from tests.dbt_runner import dbt_env, httpfs_extension, run_dbt

pytestmark = pytest.mark.dbt

SCALE = 0.001
SEED = 7
BUCKET = "warehouse-test"
PREFIX = "movielens/raw"
BAYES_PRIOR = 100  # dbt_project.yml var bayes_min_ratings


@pytest.fixture(scope="session")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("generated")
    gen.generate(out, SCALE, SEED, quiet=True)
    return out


@pytest.fixture(scope="session")
def warehouse(generated, moto_server, tmp_path_factory) -> Path:
    """A DuckDB file built by `dbt seed` + `dbt build` from the landed CSVs; returns its path."""
    workdir = tmp_path_factory.mktemp("dbt")
    client = s3_local.client(moto_server)
    client.create_bucket(Bucket=BUCKET)
    upload.upload_dir(generated, f"s3://{BUCKET}/{PREFIX}", batch=0, client=client, validate=True, stream=None)
    env = dbt_env(workdir, f"s3://{BUCKET}/{PREFIX}", endpoint=moto_server)
    run_dbt(["build"], env)
    return workdir / "warehouse.duckdb"


@pytest.fixture(scope="session")
def db(warehouse, moto_server):
    """A read-only connection that can also read the staging views (they query S3)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    con.execute(f"load '{httpfs_extension()}'")
    endpoint = moto_server.removeprefix("http://")
    con.execute(
        "create secret (type s3, key_id 'testing', secret 'testing', region 'us-east-1', "
        f"endpoint '{endpoint}', url_style 'path', use_ssl false)"
    )
    yield con
    con.close()


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# --- row counts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relation", "file"),
    [
        ("staging.stg_movielens__movies", "movies.csv"),
        ("staging.stg_movielens__ratings", "ratings.csv"),
        ("staging.stg_movielens__tags", "tags.csv"),
        ("staging.stg_movielens__links", "links.csv"),
        ("staging.stg_movielens__genome_scores", "genome-scores.csv"),
        ("staging.stg_movielens__genome_tags", "genome-tags.csv"),
        ("core.dim_movies", "movies.csv"),
        ("core.fct_ratings", "ratings.csv"),
        ("core.fct_genome_scores", "genome-scores.csv"),
    ],
)
def test_row_counts_match_the_generated_files(db, relation, file):
    expected = gen.row_counts(SCALE)[file]
    assert db.sql(f"select count(*) from {relation}").fetchone()[0] == expected


def test_raw_rows_carry_their_s3_file(db):
    files = {row[0] for row in db.sql("select distinct source_file from core.fct_ratings").fetchall()}
    assert files == {f"s3://{BUCKET}/{PREFIX}/ratings/batch=0000/ratings.csv"}


def test_snapshots_hold_one_current_row_per_movie_and_tag(db):
    movies = db.sql("select count(*) from snapshots.snap_movies where dbt_valid_to is null").fetchone()[0]
    assert movies == gen.row_counts(SCALE)["movies.csv"]
    tags = db.sql("select count(*) from snapshots.snap_tags where dbt_valid_to is null").fetchone()[0]
    assert tags == db.sql("select count(*) from core.fct_tags").fetchone()[0] > 0


# --- independent computation ---------------------------------------------------------------

YEAR_SUFFIX = re.compile(r"\s*\((\d{4})(?:[\u2013-](\d{4})?)?\)$")


def parse_title(raw: str) -> tuple[str, int | None]:
    """Title and year, parsed here without SQL: the year in parentheses at the very end."""
    text = raw.strip()
    match = YEAR_SUFFIX.search(text)
    if not match:
        return text, None
    return text[: match.start()].strip(), int(match.group(1))


def test_dim_movies_matches_the_csv(db, generated):
    links = {row["movieId"]: row for row in read_csv(generated / "links.csv")}
    expected = {}
    for row in read_csv(generated / "movies.csv"):
        title, year = parse_title(row["title"])
        genres = "" if row["genres"] == "(no genres listed)" else row["genres"]
        link = links[row["movieId"]]
        tmdb = int(link["tmdbId"]) if link["tmdbId"] else None
        expected[int(row["movieId"])] = (title, year, genres, link["imdbId"], tmdb)
    actual = {
        row[0]: tuple(row[1:])
        for row in db.sql(
            "select movie_id, title, release_year, genres, imdb_id, tmdb_id from core.dim_movies"
        ).fetchall()
    }
    assert actual == expected


def movie_ratings(generated: Path) -> dict[int, list[tuple[int, float, int]]]:
    by_movie: dict[int, list[tuple[int, float, int]]] = defaultdict(list)
    for row in read_csv(generated / "ratings.csv"):
        by_movie[int(row["movieId"])].append((int(row["userId"]), float(row["rating"]), int(row["timestamp"])))
    return by_movie


def test_mart_movie_stats_matches_an_independent_computation(db, generated):
    by_movie = movie_ratings(generated)
    everything = [r for rows in by_movie.values() for _, r, _ in rows]
    global_mean = sum(everything) / len(everything)
    movie_ids = [int(row["movieId"]) for row in read_csv(generated / "movies.csv")]
    actual = {
        row[0]: row[1:]
        for row in db.sql(
            """
            select movie_id, rating_count, average_rating, rating_stddev, bayesian_average_rating,
                   epoch(first_rated_at), epoch(last_rated_at)
            from analytics.mart_movie_stats
            """
        ).fetchall()
    }
    assert set(actual) == set(movie_ids)
    for movie_id in movie_ids:
        rows = by_movie.get(movie_id, [])
        count, average, stddev, bayes, first, last = actual[movie_id]
        assert count == len(rows), movie_id
        ratings = [r for _, r, _ in rows]
        expected_bayes = (BAYES_PRIOR * global_mean + sum(ratings)) / (BAYES_PRIOR + len(ratings))
        assert bayes == pytest.approx(expected_bayes, abs=1e-9), movie_id
        if not rows:
            assert average is None and first is None
            continue
        mean = sum(ratings) / len(ratings)
        assert average == pytest.approx(mean, abs=1e-9), movie_id
        if len(ratings) > 1:
            spread = math.sqrt(sum((r - mean) ** 2 for r in ratings) / (len(ratings) - 1))
            assert stddev == pytest.approx(spread, abs=1e-9), movie_id
        else:
            assert stddev is None
        assert first == min(t for _, _, t in rows)
        assert last == max(t for _, _, t in rows)


def test_bayesian_average_does_not_crown_a_single_rating(db):
    top = db.sql(
        "select rating_count from analytics.mart_movie_stats order by bayesian_average_rating desc limit 5"
    ).fetchall()
    assert all(count >= 5 for (count,) in top)


def test_mart_genre_trends_matches_an_independent_computation(db, generated):
    genres = {}
    for row in read_csv(generated / "movies.csv"):
        genres[int(row["movieId"])] = [] if row["genres"] == "(no genres listed)" else row["genres"].split("|")
    count: dict[tuple[str, int], int] = defaultdict(int)
    total: dict[tuple[str, int], float] = defaultdict(float)
    users: dict[tuple[str, int], set[int]] = defaultdict(set)
    for movie_id, rows in movie_ratings(generated).items():
        for user_id, rating, timestamp in rows:
            year = _utc_year(timestamp)
            for genre in genres[movie_id]:
                count[genre, year] += 1
                total[genre, year] += rating
                users[genre, year].add(user_id)
    actual = {
        (row[0], row[1]): row[2:]
        for row in db.sql(
            "select genre_name, rating_year, rating_count, average_rating, distinct_users from analytics.mart_genre_trends"
        ).fetchall()
    }
    assert set(actual) == set(count)
    for key, (n, average, distinct) in actual.items():
        assert n == count[key], key
        assert average == pytest.approx(total[key] / count[key], abs=1e-9), key
        assert distinct == len(users[key]), key


def _utc_year(epoch_seconds: int) -> int:
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch_seconds, tz=dt.UTC).year


def test_future_timestamps_are_judged_in_utc_whatever_the_session_zone(warehouse, moto_server, tmp_path):
    """assert_no_timestamp_in_the_future on a machine west of UTC (DuckDB's session zone is the
    machine's): a rating an hour old is not in the future, one an hour ahead is. Compared with a
    zone-aware now(), the facts' UTC timestamps were read as Los Angeles time, 8 hours late."""
    import datetime as dt
    import shutil

    shutil.copy(warehouse, tmp_path / "warehouse.duckdb")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        for user_id, rated_at in ((900001, now - dt.timedelta(hours=1)), (900002, now + dt.timedelta(hours=1))):
            con.execute(
                "insert into core.fct_ratings (user_id, movie_id, rating, rated_date, rated_at, source_file, batch_id)"
                " values (?, 1, 4.0, ?, ?, 'ratings/batch=9999/ratings.csv', 9999)",
                [user_id, rated_at.date(), rated_at],
            )
    env = dbt_env(tmp_path, f"s3://{BUCKET}/{PREFIX}", endpoint=moto_server, TZ="America/Los_Angeles")
    proc = run_dbt(["test", "--select", "assert_no_timestamp_in_the_future", "--store-failures"], env, check=False)
    assert proc.returncode == 1, proc.stdout[-3000:]
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        flagged = con.sql("select happened_at from dbt_test__audit.assert_no_timestamp_in_the_future").fetchall()
    assert flagged == [(now + dt.timedelta(hours=1),)]
