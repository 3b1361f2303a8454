"""Tests of scripts/dataset/generate.py: sizes, headers, the ml-20m quirks, determinism
and the command line. Data is generated once per scale (0.01 and 0.001) per session."""

from __future__ import annotations

import csv
import hashlib
import math
import re
import subprocess
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from scripts.cli import run
from scripts.dataset import generate as gen

ROOT = Path(__file__).resolve().parents[1]

SCALES = {0.01: 42, 0.001: 7}  # scale -> seed
FILES = (
    "movies.csv",
    "ratings.csv",
    "tags.csv",
    "links.csv",
    "genome-scores.csv",
    "genome-tags.csv",
)
HALF_STEPS = {f"{n / 2:.1f}" for n in range(1, 11)}  # "0.5" .. "5.0"
TS_MIN = 789_609_600  # 1995-01-09 00:00:00 UTC
TS_END = 1_427_846_400  # 2015-04-01 00:00:00 UTC (exclusive)
YEAR_SUFFIX = re.compile(r" *\((\d{4})(?:–(\d{4}))?\)( *)$")
ARTICLE_AT_END = re.compile(r", (The|A|An|Les|La|Le|Il|El|Los|Das|Der|Die|Det|Un|Une)( \(.*\))?$")


def read(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows; blank lines (tags.csv ends with one) hold no row."""
    with open(path, newline="", encoding="utf-8") as handle:
        header, *rows = csv.reader(handle)
    return header, [row for row in rows if row]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Data:
    """One generated data set, read back with the csv module."""

    def __init__(self, folder: Path, scale: float, returned: dict[str, int]):
        self.folder, self.scale, self.returned = folder, scale, returned
        self.sizes = gen.sizes(scale)
        self.headers, self.rows = {}, {}
        for name in FILES:
            self.headers[name], self.rows[name] = read(folder / name)
        self.movies = self.rows["movies.csv"]
        self.ratings = self.rows["ratings.csv"]
        self.tags = self.rows["tags.csv"]
        self.links = self.rows["links.csv"]
        self.titles = [row[1] for row in self.movies]
        self.movie_ids = [int(row[0]) for row in self.movies]


@pytest.fixture(scope="session", params=sorted(SCALES), ids=lambda s: f"sf{s}")
def data(request, tmp_path_factory) -> Data:
    scale = request.param
    folder = tmp_path_factory.mktemp(f"sf{scale}")
    returned = gen.generate(folder, scale, SCALES[scale], quiet=True)
    return Data(folder, scale, returned)


# --- sizes -----------------------------------------------------------------------------


def test_full_scale_counts_are_exactly_ml20m():
    assert gen.row_counts(1.0) == {
        "movies.csv": 27_278,
        "ratings.csv": 20_000_263,
        "tags.csv": 465_564,
        "links.csv": 27_278,
        "genome-scores.csv": 11_709_768,
        "genome-tags.csv": 1_128,
    }
    full = gen.sizes(1.0)
    assert (full.users, full.genome_movies, full.tag_users) == (138_493, 10_381, 7_801)
    assert full.genome_movies * full.genome_tags == 11_709_768


def test_small_scale_counts_follow_the_documented_formula():
    sz = gen.sizes(0.01)
    assert (sz.users, sz.ratings, sz.tags) == (1_385, 200_003, 4_656)
    assert sz.movies == math.ceil(60 * 200_003 / 1_385) == 8_665  # catalogue floor
    assert (sz.genome_movies, sz.genome_tags) == (104, 20)
    assert gen.row_counts(0.01)["genome-scores.csv"] == 104 * 20
    assert gen.row_counts(0.5)["movies.csv"] == round(27_278 * 0.5)  # linear above floor


def test_tiny_scale_keeps_the_minimums():
    sz = gen.sizes(1e-7)
    assert sz.users == 10 and sz.ratings == 200  # 20 ratings per user
    assert sz.movies >= 60 and sz.genome_tags == 20 and sz.genome_movies == 5
    assert sz.tags == 40 and sz.tag_users == 3


@pytest.mark.parametrize("scale", [0, -0.5, 1.01, float("nan"), "x"])
def test_bad_scale_is_refused(scale):
    with pytest.raises(ValueError, match="scale"):
        gen.sizes(scale)


def test_row_counts_match_files_and_return_value(data):
    expected = gen.row_counts(data.scale)
    assert data.returned == expected
    assert {name: len(data.rows[name]) for name in FILES} == expected
    assert len({int(row[0]) for row in data.ratings}) == data.sizes.users


def test_headers_are_exactly_ml20m(data):
    for name in FILES:
        first_line = (data.folder / name).read_bytes().split(b"\n", 1)[0]
        assert first_line == ",".join(gen.HEADERS[name]).encode()
    assert data.headers["ratings.csv"] == ["userId", "movieId", "rating", "timestamp"]
    assert data.headers["genome-scores.csv"] == ["movieId", "tagId", "relevance"]


def test_no_temporary_files_are_left(data):
    assert sorted(p.name for p in data.folder.iterdir()) == sorted(FILES)


# --- movies and links ---------------------------------------------------------------------


def test_titles_with_commas_and_quotes_are_quoted_like_ml20m(data):
    raw = (data.folder / "movies.csv").read_text(encoding="utf-8")
    assert ',"American President, The (1995)",' in raw
    assert ',"""Great Performances"" Cats (1998)",' in raw
    with_comma = [t for t in data.titles if "," in t]
    assert len(with_comma) >= 10
    assert raw.count('""') >= 4  # doubled quotes
    assert '"Great Performances" Cats (1998)' in data.titles  # parsed back


def test_titles_carry_accents_and_moved_articles(data):
    assert "Misérables, Les (1995)" in data.titles
    assert sum(any(ord(c) > 127 for c in t) for t in data.titles) >= 3
    articles = Counter(m.group(1) for t in data.titles if (m := ARTICLE_AT_END.search(YEAR_SUFFIX.sub("", t))))
    assert {"The", "A", "An", "Les", "La", "Il"} <= set(articles)
    assert not any(re.match(r"(The|A|An) ", t) for t in [m.title for m in gen.QUIRK_MOVIES if "article" in m.quirks])


def test_same_title_on_two_movie_ids(data):
    ids_by_title = defaultdict(set)
    for movie_id, title, _ in data.movies:
        ids_by_title[title].add(movie_id)
    assert len(ids_by_title["War of the Worlds (2005)"]) == 2
    assert len(ids_by_title["Emma (1996)"]) == 2


def test_year_is_missing_ranged_padded_or_preceded_by_an_alternate_title(data):
    suffixes = [YEAR_SUFFIX.search(t) for t in data.titles]
    no_year = [t for t, m in zip(data.titles, suffixes, strict=True) if m is None]
    assert "Cosmos" in no_year and len(no_year) >= 2
    ranges = [m.group(0) for m in suffixes if m and m.group(2)]
    assert ranges and all("–" in r and "-" not in r for r in ranges)  # EN DASH
    assert "Fawlty Towers (1975–1979)" in data.titles
    trailing = [t for t, m in zip(data.titles, suffixes, strict=True) if m and m.group(3)]
    assert "Hamlet (2000) " in trailing and all(t != t.rstrip() for t in trailing)
    alternate = [t for t in data.titles if re.search(r"\S \([^()]+\) \(\d{4}\) *$", t)]
    assert "Shichinin no samurai (Seven Samurai) (1954)" in alternate and len(alternate) >= 5
    years = [int(m.group(1)) for m in suffixes if m]
    assert 1900 <= min(years) and max(years) <= 2015


def test_genres_come_from_the_fixed_list(data):
    seen = Counter()
    for _, _, genres in data.movies:
        parts = genres.split("|")
        if gen.NO_GENRES in parts:
            assert parts == [gen.NO_GENRES]  # only ever alone
        else:
            assert set(parts) <= set(gen.GENRES)
            assert len(set(parts)) == len(parts)
            story = [g for g in parts if g != "IMAX"]
            assert parts == sorted(story) + ["IMAX"] * ("IMAX" in parts)  # IMAX last
            assert parts != ["IMAX"]  # a format, never alone
        seen.update(parts)
    assert len(gen.GENRES) == 19 and gen.NO_GENRES not in gen.GENRES
    assert seen[gen.NO_GENRES] >= 2 and seen["IMAX"] >= 2 and seen["Children"] >= 2
    assert seen["Drama"] == max(seen.values())


def test_movie_ids_are_sorted_distinct_and_not_contiguous(data):
    ids = data.movie_ids
    assert ids == sorted(set(ids))
    assert max(ids) - min(ids) + 1 > len(ids)
    assert max(ids) <= 131_262
    # The hand-written quirk titles come first.
    assert data.titles[: len(gen.QUIRK_MOVIES)] == [q.title for q in gen.QUIRK_MOVIES]


def test_links_pad_imdb_ids_and_leave_some_tmdb_ids_empty(data):
    assert [int(row[0]) for row in data.links] == data.movie_ids
    imdb = [row[1] for row in data.links]
    assert all(re.fullmatch(r"\d{7}", v) for v in imdb)
    assert sum(v.startswith("0") for v in imdb) > len(imdb) / 2
    assert len(set(imdb)) == len(imdb)
    tmdb = [row[2] for row in data.links]
    assert 1 <= tmdb.count("") < len(tmdb) / 20
    assert all(v == "" or re.fullmatch(r"[1-9]\d*", v) for v in tmdb)
    raw = (data.folder / "links.csv").read_text()
    assert re.search(r"^\d+,0\d{6},$", raw, re.M)  # empty field, not ""


# --- ratings ------------------------------------------------------------------------------


def test_ratings_are_half_steps_written_like_ml20m(data):
    values = Counter(row[2] for row in data.ratings)
    assert set(values) <= HALF_STEPS
    assert {"0.5", "3.5", "4.0", "5.0"} <= set(values)
    assert values["4.0"] == max(values.values())  # the most common rating, as in ml-20m
    raw = (data.folder / "ratings.csv").read_text()
    assert re.search(r"^\d+,\d+,4\.0,\d{9,10}$", raw, re.M)
    assert '"' not in raw


def test_whole_stars_only_before_february_2003(data):
    half_star_era = 1_045_526_400
    old = [row[2] for row in data.ratings if int(row[3]) < half_star_era]
    assert old and all(v.endswith(".0") for v in old)
    assert any(v.endswith(".5") for v in (row[2] for row in data.ratings))


def test_rating_timestamps_are_within_ml20m_dates(data):
    stamps = [int(row[3]) for row in data.ratings]
    assert TS_MIN <= min(stamps) and max(stamps) < TS_END
    assert max(stamps) - min(stamps) > 10 * 365 * 86_400


def test_ratings_sorted_by_user_then_movie_and_pairs_unique(data):
    keys = [(int(row[0]), int(row[1])) for row in data.ratings]
    assert all(a < b for a, b in zip(keys, keys[1:], strict=False))  # strictly: no repeats
    users = sorted({u for u, _ in keys})
    assert users == list(range(1, data.sizes.users + 1))
    assert set(m for _, m in keys) <= set(data.movie_ids)


def test_every_user_has_at_least_20_ratings(data):
    per_user = Counter(row[0] for row in data.ratings)
    assert min(per_user.values()) >= 20
    assert max(per_user.values()) > 5 * sorted(per_user.values())[len(per_user) // 2]


def test_popularity_is_heavily_skewed(data):
    per_movie = Counter(row[1] for row in data.ratings)
    counts = sorted(per_movie.values(), reverse=True)
    top = math.ceil(0.01 * len(data.movies))
    assert sum(counts[:top]) >= 0.20 * len(data.ratings)
    assert counts[0] < 0.8 * data.sizes.users  # no movie rated by (nearly) everyone
    assert len(per_movie) < len(data.movies)  # some movies have no rating


# --- tags ---------------------------------------------------------------------------------


def test_tags_sorted_and_made_by_rating_users(data):
    keys = [(int(u), int(m), int(t)) for u, m, _, t in data.tags]
    assert keys == sorted(keys)
    assert {k[0] for k in keys} <= {int(row[0]) for row in data.ratings}
    assert len({k[0] for k in keys}) == data.sizes.tag_users
    assert {k[1] for k in keys} <= set(data.movie_ids)
    stamps = [k[2] for k in keys]
    assert TS_MIN <= min(stamps) and max(stamps) < TS_END


def test_tags_are_messy_free_text(data):
    texts = [row[2] for row in data.tags]
    raw = (data.folder / "tags.csv").read_text(encoding="utf-8")
    assert ',"funny, but sad",' in raw and "funny, but sad" in texts
    assert ',"so bad it\'s ""good""",' in raw and 'so bad it\'s "good"' in texts
    assert " dark comedy " in texts  # surrounding spaces kept
    variants = {t for t in texts if t.strip().lower() == "dark comedy"}
    assert {"dark comedy", "Dark Comedy", " dark comedy ", "DARK COMEDY"} <= variants


def test_a_few_tags_are_empty_or_only_spaces_like_real_ml20m(data):
    """Real ml-20m has tag rows like `116460,123,,1199450867`; the generator writes a few."""
    empty = [row for row in data.tags if not row[2].strip()]
    assert {row[2] for row in empty} == {"", "   "}
    assert len(empty) == gen.empty_tag_count(len(data.tags))
    raw = (data.folder / "tags.csv").read_text(encoding="utf-8")
    user, movie, _, stamp = next(row for row in empty if row[2] == "")
    assert f"\n{user},{movie},,{stamp}\n" in raw  # unquoted, as ml-20m writes it


def test_tags_csv_ends_with_a_blank_line_and_the_others_do_not(data):
    for name in FILES:
        raw = (data.folder / name).read_bytes()
        assert raw.endswith(b"\n\n") == (name == "tags.csv"), name
        assert b"\r" not in raw, name


def test_crlf_option_writes_every_line_with_crlf_and_the_same_rows(data, tmp_path):
    if data.scale != 0.001:
        pytest.skip("one scale is enough")
    gen.generate(tmp_path, data.scale, SCALES[data.scale], quiet=True, line_ending="crlf")
    for name in FILES:
        raw = (tmp_path / name).read_bytes()
        assert raw.count(b"\n") == raw.count(b"\r\n") > 0, name
        assert raw.replace(b"\r\n", b"\n") == (data.folder / name).read_bytes(), name


def test_many_users_share_a_tag_and_users_tag_a_movie_several_times(data):
    users_per_tag = defaultdict(set)
    tags_per_pair = Counter()
    for user, movie, tag, _ in data.tags:
        users_per_tag[tag.strip().lower()].add(user)
        tags_per_pair[user, movie] += 1
    assert len(users_per_tag[gen.SHARED_TAG]) >= 3
    assert max(tags_per_pair.values()) >= 5
    # No user applies the same tag (trimmed, any case) twice to one movie.
    keys = [(u, m, t.strip().lower()) for u, m, t, _ in data.tags]
    assert len(keys) == len(set(keys))


# --- genome -------------------------------------------------------------------------------


def test_genome_tags_are_numbered_from_one(data):
    rows = data.rows["genome-tags.csv"]
    assert [int(r[0]) for r in rows] == list(range(1, data.sizes.genome_tags + 1))
    assert len({r[1] for r in rows}) == len(rows) and all(r[1] for r in rows)


def test_genome_scores_cover_every_movie_and_tag_once(data):
    rows = data.rows["genome-scores.csv"]
    pairs = [(int(m), int(t)) for m, t, _ in rows]
    movies = sorted({m for m, _ in pairs})
    assert len(movies) == data.sizes.genome_movies
    assert set(movies) <= set(data.movie_ids)
    tags = range(1, data.sizes.genome_tags + 1)
    assert pairs == [(m, t) for m in movies for t in tags]  # complete, ordered, no repeats
    relevance = [r[2] for r in rows]
    assert all(re.fullmatch(r"[01]\.\d{5}", v) for v in relevance)
    values = [float(v) for v in relevance]
    assert 0 <= min(values) and max(values) <= 1
    assert sorted(values)[len(values) // 2] < 0.3 < max(values)  # mostly low, some high


# --- determinism, atomic writes, command line ------------------------------------------------


def test_same_seed_gives_identical_bytes(data, tmp_path):
    again = gen.generate(tmp_path, data.scale, SCALES[data.scale], quiet=True)
    assert again == data.returned
    for name in FILES:
        assert sha256(tmp_path / name) == sha256(data.folder / name), name


def test_another_seed_gives_other_data(data, tmp_path):
    gen.generate(tmp_path, data.scale, SCALES[data.scale] + 1, quiet=True)
    for name in ("movies.csv", "links.csv", "ratings.csv", "tags.csv", "genome-scores.csv"):
        assert sha256(tmp_path / name) != sha256(data.folder / name), name


def test_a_failed_run_leaves_no_half_file(tmp_path, monkeypatch):
    (tmp_path / "movies.csv").write_text("from an earlier run\n")

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gen, "_genome_scores", broken)
    with pytest.raises(OSError, match="No space"):
        gen.generate(tmp_path, 0.001, 1, quiet=True)
    assert [p.name for p in tmp_path.iterdir()] == ["movies.csv"]
    assert (tmp_path / "movies.csv").read_text() == "from an earlier run\n"


def test_cli_writes_the_files_and_reports_progress(tmp_path, capsys):
    out = tmp_path / "sf"
    assert run("generate", "--scale", "0.001", "--seed", "3", "--out", str(out)) == 0
    err = capsys.readouterr().err
    for name in FILES:
        assert name in err
        assert (out / name).is_file()
    assert f"{gen.row_counts(0.001)['ratings.csv']:,} rows" in err
    assert len(read(out / "ratings.csv")[1]) == gen.row_counts(0.001)["ratings.csv"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--scale", "0"], "scale"),
        (["--scale", "-1"], "scale"),
        (["--scale", "1.5"], "scale"),
        (["--scale", "lots"], "scale"),
        (["--seed", "-3"], "seed"),
    ],
)
def test_cli_bad_arguments_end_with_one_line_and_exit_2(argv, expected, tmp_path, capsys):
    assert run("generate", *argv, "--out", str(tmp_path / "never")) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and expected in err
    assert "Traceback" not in err
    assert not (tmp_path / "never").exists()


def test_cli_unwritable_out_dir_ends_with_one_line_and_exit_2(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert run("generate", "--scale", "0.001", "--out", str(blocker / "sf")) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert str(blocker / "sf") in err and "--out" in err


# --- make data: never into a user's folder ---------------------------------------------------------


def real_release(folder: Path) -> Path:
    """Four files in the format of ml-latest-small (no genome files)."""
    folder.mkdir(parents=True)
    (folder / "movies.csv").write_text("movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n")
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n")
    (folder / "tags.csv").write_text("userId,movieId,tag,timestamp\n2,1,funny,1445714994\n")
    (folder / "links.csv").write_text("movieId,imdbId,tmdbId\n1,0114709,862\n")
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_unless_present_uses_a_release_folder_as_it_is(tmp_path, capsys):
    folder = real_release(tmp_path / "ml-latest-small")
    before = snapshot(folder)
    assert run("generate", "--scale", "0.001", "--out", str(folder), "--unless-present") == 0
    assert snapshot(folder) == before
    assert "no genome files" in capsys.readouterr().err


def test_unless_present_never_writes_into_a_folder_missing_files(tmp_path, capsys):
    folder = real_release(tmp_path / "mine")
    (folder / "links.csv").unlink()
    (folder / "genome-tags.csv").write_text("tagId,tag\n1,007\n")
    before = snapshot(folder)
    assert run("generate", "--scale", "0.001", "--out", str(folder), "--unless-present") == 2
    err = capsys.readouterr().err.strip()
    assert snapshot(folder) == before
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith(f"error: DATA_DIR={folder} lacks links.csv, genome-scores.csv: ")
    assert "make download" in err and "nothing was written" in err


def test_unless_present_generates_only_under_data_generated(tmp_path, monkeypatch):
    monkeypatch.setattr(gen, "GENERATED_ROOT", tmp_path / "generated")
    assert gen.ensure_data(tmp_path / "generated" / "sf0.1") == (
        True,
        f"data: generating into {tmp_path / 'generated' / 'sf0.1'}",
    )
    with pytest.raises(gen.DataDirError, match="does not exist"):
        gen.ensure_data(tmp_path / "elsewhere")


def test_cli_refuses_to_overwrite_movielens_files_outside_data_generated(tmp_path, capsys):
    folder = real_release(tmp_path / "ml-latest-small")
    before = snapshot(folder)
    assert run("generate", "--scale", "0.001", "--out", str(folder)) == 2
    err = capsys.readouterr().err
    assert "would be overwritten" in err and len(err.strip().splitlines()) == 1
    assert snapshot(folder) == before


def test_make_data_passes_the_line_ending_and_keeps_crlf_data_apart():
    """`make data LINE_ENDING=crlf` generates into its own folder (make's dry run: nothing written)."""
    result = subprocess.run(
        ["make", "-n", "data", "SCALE=0.001", "LINE_ENDING=crlf"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    command = " ".join(result.stdout.replace("\\\n", " ").split())
    assert "--line-ending crlf --out data/generated/sf0.001-crlf --unless-present" in command
