"""Produce the next MovieLens delivery and land it as a new batch (`make deliver`).

A delivery holds only what changed, in the ml-20m formats: new, late, re-delivered and corrected
ratings, new and withdrawn tags (tag-removals.csv), corrected movies; each kind is off unless given
a count, and --size-pct P sizes them all from the base data set (see preset()). It lands through
the uploader (validated first) as the next unused batch of the destination; a copy of every
delivery is kept in --state-dir (with delivery.json), so the next one knows what was delivered
without reading the landing zone back. The same seed, base and earlier deliveries give the same
bytes.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import re
import shutil
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import IO

import click
import duckdb
import numpy as np

from scripts import contract
from scripts.common import UserError
from scripts.dataset import generate
from scripts.dataset.generate import HALF_STARS_FROM, NO_GENRES, in_sorted, sorted_unique
from scripts.landing import upload
from scripts.landing.validate import sql_quote

DEFAULT_STATE_DIR = "data/deliveries"
MANIFEST = "delivery.json"
DAY = 86_400
WINDOW = 7 * DAY  # the new events of one delivery span the week after the latest one seen
NEW_USER_SHARE = 0.05  # share of the new ratings that come from users never seen before
REAPPLY_SHARE = 0.1  # share of the new tags that re-apply a withdrawn tag, where there are some
GENRES = sorted(generate.GENRES, key=lambda g: g == "IMAX")  # IMAX last within a movie's list, as in ml-20m
MOVIES, RATINGS, TAGS, TAG_REMOVALS = (contract.FILES[t] for t in ("movies", "ratings", "tags", "tag_removals"))
TABLE_OF = {name: table for table, name in contract.FILES.items()}
YEAR_SUFFIX = re.compile(r"\((\d{4})(?:([\u2013-])(\d{4})?)?\)(\s*)$")


class DeliveryError(UserError):
    """An error the user can fix; its message is the one line they see."""


@dataclass(frozen=True)
class Sizes:
    """How many rows of each kind one delivery holds."""

    new_ratings: int = 0
    late_ratings: int = 0
    redeliver: int = 0
    corrections: int = 0
    new_tags: int = 0
    remove_tags: int = 0
    movie_corrections: int = 0


def preset(size_pct: float, base_ratings: int, base_tags: int, base_movies: int) -> Sizes:
    """The --size-pct mix (see the module doc); every kind at least 1 when size_pct > 0."""

    def at_least_one(x: float) -> int:
        return max(1, round(x)) if size_pct > 0 else 0

    new = at_least_one(base_ratings * size_pct / 100)
    tags = at_least_one(base_tags * size_pct / 100)
    return Sizes(
        new_ratings=new,
        late_ratings=at_least_one(new * 0.1),
        redeliver=at_least_one(new * 0.02),
        corrections=at_least_one(new * 0.05),
        new_tags=tags,
        remove_tags=at_least_one(tags * 0.1),
        movie_corrections=at_least_one(base_movies * size_pct / 1000),
    )


# --- the landing zone and the state folder ------------------------------------------------


def dest_text(dest: str | os.PathLike | None) -> str:
    """The destination as one comparable string: s3://bucket/prefix or an absolute folder."""
    kind, where, prefix = upload.parse_dest(dest)
    if kind == "s3":
        return f"s3://{where}/{prefix}".rstrip("/")
    return str(Path(where).resolve())


def state_batches(state_dir: Path) -> dict[int, dict]:
    """{batch: manifest} of the deliveries kept in the state folder."""
    batches = {}
    for folder in sorted(state_dir.glob("batch=*")):
        match = re.fullmatch(r"batch=(\d{4})", folder.name)
        if not match or not folder.is_dir():
            continue
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            manifest = {}
        manifest["tables"] = sorted(TABLE_OF[p.name] for p in folder.glob("*.csv") if p.name in TABLE_OF)
        batches[int(match.group(1))] = manifest
    return batches


def next_batch(src: Path, dest: str | os.PathLike | None, state_dir: Path, client=None) -> int:
    """The batch number of the next delivery, after checking that the landing zone, the base
    data set and the state folder agree. Removes leftovers of a delivery that never landed."""
    where = dest_text(dest)
    # {(table, batch): size in bytes} of every delivered file already in the landing zone
    found = upload.landed(*upload.parse_dest(dest), client)
    landed = {key: size for key, (_, size) in found.items() if key[0] in contract.DELIVERED}
    if ("ratings", 0) not in landed:
        raise DeliveryError(
            f"{where} has no ratings/batch=0000/: land the base data set first "
            f"(python -m scripts upload --src {src} --dest {where})"
        )
    base_size = (src / RATINGS).stat().st_size
    if landed["ratings", 0] != base_size:
        raise DeliveryError(
            f"--src {src} is not the base data set landed at {where} (ratings.csv is {base_size:,} bytes, "
            f"batch=0000 holds {landed['ratings', 0]:,}): pass the folder that was landed as batch 0"
        )
    batch = max(b for _, b in landed) + 1
    if batch > 9999:
        raise DeliveryError(f"{where} already holds batch=9999: no batch number is left")
    kept = state_batches(state_dir)
    for manifest in kept.values():
        if manifest.get("dest") not in (None, where):
            raise DeliveryError(
                f"--state-dir {state_dir} holds the deliveries to {manifest['dest']}, not {where}: "
                "pass another --state-dir for this destination"
            )
    for number in range(1, batch):
        tables = sorted({t for t, b in landed if b == number})
        if not tables and number not in kept:
            continue  # a gap in the numbering: nothing was delivered as this batch
        copy = state_dir / upload.batch_folder(number)
        if number not in kept:
            raise DeliveryError(
                f"{where} holds batch={number:04d} ({', '.join(tables)}), which --state-dir {state_dir} lacks: "
                f"copy that delivery into {copy}/ or pass the --state-dir that produced it"
            )
        if missing := sorted(set(kept[number]["tables"]) - set(tables)):
            raise DeliveryError(
                f"batch={number:04d} is only partly landed in {where} (missing {', '.join(missing)}): finish it "
                f"with python -m scripts upload --src {copy} --dest {where} --batch {number} "
                f"--tables {','.join(kept[number]['tables'])}"
            )
        if extra := sorted(set(tables) - set(kept[number]["tables"])):
            raise DeliveryError(
                f"{where} holds {', '.join(extra)} in batch={number:04d}, which {copy} lacks: copy the file(s) there"
            )
    for number in kept:
        if number >= batch:  # produced but never landed (a failed upload): produced again now
            shutil.rmtree(state_dir / upload.batch_folder(number))
    return batch


# --- what was delivered before --------------------------------------------------------------


@dataclass
class History:
    """Everything delivered so far (base data set + earlier deliveries), in delivery order."""

    # ratings, one entry per row
    users: np.ndarray  # int64
    movies: np.ndarray  # int64
    half_stars: np.ndarray  # int64, rating * 2
    times: np.ndarray  # int64 epoch seconds
    batches: np.ndarray  # int64
    base_ratings: int
    # tags and removals: (userId, movieId, tag as delivered, tag trimmed, timestamp, batch)
    tags: list[tuple]
    removals: list[tuple]
    base_tags: int
    # movies: the latest delivered row per movie id
    movie_rows: dict[int, tuple[str, str]]
    base_movies: int

    @cached_property
    def tag_state(self) -> TagState:
        """Which tags are applied now (computed once)."""
        latest: dict[tuple, tuple] = {}
        applied: dict[tuple, int] = {}
        for row in self.tags:
            user, movie, _text, trimmed, at, batch = row
            key = (user, movie, trimmed)
            if None in key or not trimmed:  # an empty tag is rejected, never applied (fct_tags)
                continue
            applied[key] = max(applied.get(key, -1), batch)
            best = latest.get(key)
            if best is None or (at or 0, -batch) > (best[4] or 0, -best[5]):
                latest[key] = row
        removed: dict[tuple, int] = {}
        for user, movie, _text, trimmed, _at, batch in self.removals:
            key = (user, movie, trimmed)
            removed[key] = max(removed.get(key, -1), batch)
        keys = sorted(applied)
        current = [k for k in keys if k not in removed or applied[k] > removed[k]]
        withdrawn = [k for k in keys if k in removed and applied[k] <= removed[k]]
        return TagState(current=current, withdrawn=withdrawn, latest=latest)


def _read(con, path: Path, columns: dict[str, str], select: str):
    """Run `select` over one CSV file (named src); one clear error for a bad file."""
    spec = ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items())
    query = f"select {select} from read_csv('{sql_quote(path)}', header = true, columns = {{{spec}}}) as src"
    try:
        return con.execute(query)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise DeliveryError(
            f"cannot read {path} ({first}): it must be an ml-20m {path.name} with header {','.join(columns)}"
        ) from None


def load_history(src: Path, state_dir: Path, batch: int, say=lambda _msg: None) -> History:
    """Read the base data set and the deliveries before `batch` kept in the state folder."""
    for name in (MOVIES, RATINGS, TAGS):
        if not (src / name).is_file():
            raise DeliveryError(f"missing {src / name}: --src must be the folder of the base data set (batch 0)")
    folders = [(0, src)] + [(b, state_dir / upload.batch_folder(b)) for b in range(1, batch)]
    with duckdb.connect() as con:
        con.execute("set preserve_insertion_order = true")
        rating_cols = {"userId": "BIGINT", "movieId": "BIGINT", "rating": "DOUBLE", "timestamp": "BIGINT"}
        tag_cols = {"userId": "BIGINT", "movieId": "BIGINT", "tag": "VARCHAR", "timestamp": "BIGINT"}
        parts, tags, removals, movie_rows = [], [], [], {}
        counts = {}
        for number, folder in folders:
            path = folder / RATINGS
            if path.is_file():
                clock = time.perf_counter()
                select = "userId, movieId, cast(round(rating * 2) as bigint) as h, timestamp"
                cols = _read(con, path, rating_cols, select).fetchnumpy()
                part = [np.asarray(cols[c], dtype=np.int64) for c in ("userId", "movieId", "h", "timestamp")]
                if any(np.ma.is_masked(c) for c in cols.values()):
                    raise DeliveryError(f"{path} has empty values: every rating row needs all four fields")
                parts.append((*part, np.full(len(part[0]), number, dtype=np.int64)))
                counts.setdefault(RATINGS, len(part[0]))
                say(f"  read {path}  {len(part[0]):,} rows  {time.perf_counter() - clock:.1f} s")
            for name, into in ((TAGS, tags), (TAG_REMOVALS, removals)):
                path = folder / name
                if path.is_file():
                    rows = _read(con, path, tag_cols, "userId, movieId, tag, trim(tag), timestamp").fetchall()
                    into += [(*row, number) for row in rows]
                    counts.setdefault(name, len(rows))
            path = folder / MOVIES
            if path.is_file():
                with open(path, newline="", encoding="utf-8") as handle:
                    reader = csv.reader(handle)
                    next(reader, None)
                    rows = [row for row in reader if row]
                try:
                    movie_rows.update((int(row[0]), (row[1], row[2])) for row in rows)
                except (ValueError, IndexError):
                    raise DeliveryError(f"{path} has a malformed row: expected movieId,title,genres") from None
                counts.setdefault(MOVIES, len(rows))
    if not counts.get(RATINGS):
        raise DeliveryError(f"{src / RATINGS} holds no rating: --src must be the base data set (batch 0)")
    users, movies, half_stars, times, batches = (np.concatenate(col) for col in zip(*parts, strict=True))
    base = {"base_ratings": counts[RATINGS], "base_tags": counts[TAGS], "base_movies": counts[MOVIES]}
    return History(
        users, movies, half_stars, times, batches, tags=tags, removals=removals, movie_rows=movie_rows, **base
    )


@dataclass
class TagState:
    """Which tags are applied now, by the rule of fct_tags: the latest application per
    (user, movie, trimmed tag) unless a removal came in the same or a later batch."""

    current: list[tuple]  # (userId, movieId, trimmed tag), sorted
    withdrawn: list[tuple]  # applied once, removed since
    latest: dict[tuple, tuple]  # key -> its latest application (a History.tags row)


# --- drawing a delivery ---------------------------------------------------------------------


def _distinct_first(keys: np.ndarray) -> np.ndarray:
    """Indices of the first occurrence of each key, in their original order."""
    _, first = np.unique(keys, return_index=True)
    first.sort()
    return first


class Drawer:
    """Draws the rows of one delivery from the history; deterministic for a seed and batch."""

    def __init__(self, history: History, seed: int, batch: int):
        self.h = history
        self.rng = np.random.default_rng([seed, batch])
        self.stride = int(max(history.movies.max(initial=0), max(history.movie_rows, default=0))) + 1
        self.keys = history.users * self.stride + history.movies
        self.existing = sorted_unique(self.keys.copy())
        self.known_users = np.flatnonzero(np.bincount(history.users))  # distinct, ascending, in one pass
        tag_times = [row[4] for row in history.tags + history.removals if row[4] is not None]
        self.latest = int(max(int(history.times.max(initial=0)), max(tag_times, default=0)))
        self.window = (self.latest + 1, self.latest + WINDOW)
        if self.window[1] > time.time():
            raise DeliveryError(
                f"the data already holds events up to {time.strftime('%Y-%m-%d', time.gmtime(self.latest))}: "
                "a delivery a week later would be in the future"
            )
        counts = np.bincount(history.half_stars, minlength=11)[1:11].astype(float)
        self.star_p = counts / counts.sum() if counts.sum() else np.full(10, 0.1)
        self.movie_ids = np.asarray(sorted(history.movie_rows), dtype=np.int64)
        popularity = np.bincount(history.movies, minlength=self.stride)[self.movie_ids] + 1.0
        self.movie_p = popularity / popularity.sum()

    def stars(self, times: np.ndarray) -> np.ndarray:
        """Half stars by the mix delivered so far; MovieLens gave whole stars only before 2003-02-18:
        those are rounded up to a whole star."""
        half = self.rng.choice(np.arange(1, 11), size=len(times), p=self.star_p)
        whole = np.clip(2 * np.ceil(half / 2), 2, 10).astype(np.int64)
        return np.where(times < HALF_STARS_FROM, whole, half)

    def window_times(self, n: int) -> np.ndarray:
        return self.rng.integers(self.window[0], self.window[1] + 1, n)

    def new_pairs(self, n: int, users: np.ndarray) -> np.ndarray:
        """Keys of n distinct (user, movie) pairs never rated before, users drawn from `users`
        and movies by popularity; the draw order is kept."""
        keys = np.empty(0, np.int64)
        for _ in range(100):
            want = n - len(keys)
            if want <= 0:
                return keys[:n]
            draw = int(want * 1.3) + 16
            candidates = self.rng.choice(users, draw) * self.stride + self.rng.choice(
                self.movie_ids, draw, p=self.movie_p
            )
            candidates = candidates[~in_sorted(self.existing, candidates)]
            keys = np.concatenate([keys, candidates])
            keys = keys[_distinct_first(keys)]
        raise DeliveryError(f"could not find {n:,} (user, movie) pairs not rated yet: ask for fewer new ratings")

    def existing_rows(self, n: int, exclude: np.ndarray) -> np.ndarray:
        """Indices of n rating rows with distinct (user, movie) pairs, none of them in exclude."""
        if n == 0:
            return np.empty(0, np.int64)
        total = len(self.keys)
        picked = np.empty(0, np.int64)
        for draw in (2 * n + 64, 8 * n + 256, total):
            rows = self.rng.choice(total, size=min(total, draw), replace=False)
            rows = rows[~np.isin(self.keys[rows], exclude)]
            picked = rows[_distinct_first(self.keys[rows])][:n]
            if len(picked) == n:
                return picked
        raise DeliveryError(f"only {len(picked):,} rated (user, movie) pairs are left to pick {n:,} from")

    def ratings(self, sizes: Sizes) -> tuple[list[tuple], dict[str, int]]:
        """Rows (userId, movieId, half stars, timestamp) of ratings.csv, sorted by user and movie."""
        h = self.h
        n_new, n_late = sizes.new_ratings, sizes.late_ratings
        # A few new ratings come from brand-new users (about 5 each), the rest from known users.
        from_new_users = round(n_new * NEW_USER_SHARE)
        first_new_user = int(h.users.max()) + 1
        new_users = np.arange(first_new_user, first_new_user + max(1, from_new_users // 5))
        known = self.new_pairs(n_new - from_new_users + n_late, self.known_users)
        newcomers = self.new_pairs(from_new_users, new_users)
        keys = np.concatenate([known[: n_new - from_new_users], newcomers, known[n_new - from_new_users :]])
        times = np.concatenate(
            [
                self.window_times(n_new),
                self.rng.integers(int(h.times.min()), self.latest, n_late),
            ]
        )
        blocks = [(keys // self.stride, keys % self.stride, self.stars(times), times)]

        # Corrections: pairs already rated, a new value with a newer timestamp than any of theirs.
        corrected = self.existing_rows(sizes.corrections, exclude=np.empty(0, np.int64))
        ckeys = self.keys[corrected]
        if len(ckeys):
            rows = np.flatnonzero(np.isin(self.keys, ckeys))
            # the current value of each pair: newest timestamp, then earliest batch, then higher rating
            rows = rows[np.lexsort((-h.half_stars[rows], h.batches[rows], -h.times[rows], self.keys[rows]))]
            first = np.unique(self.keys[rows], return_index=True)[1]
            current = {
                int(k): (int(s), int(t))
                for k, s, t in zip(*(a[rows][first] for a in (self.keys, h.half_stars, h.times)), strict=True)
            }
            newest = np.asarray([current[int(k)][1] for k in ckeys]) + 1
            ctimes = np.maximum(newest, self.rng.integers(newest, self.window[1] + 1))
            cstars = self.stars(ctimes)
            old = np.asarray([current[int(k)][0] for k in ckeys])
            same = cstars == old
            step = np.where(ctimes < HALF_STARS_FROM, 2, 1)
            cstars[same] = np.where(old[same] + step[same] <= 10, old[same] + step[same], old[same] - step[same])
            blocks.append((ckeys // self.stride, ckeys % self.stride, cstars, ctimes))

        # Re-deliveries: exact copies of rows delivered before (other pairs than the corrections).
        again = self.existing_rows(sizes.redeliver, exclude=ckeys)
        blocks.append((h.users[again], h.movies[again], h.half_stars[again], h.times[again]))

        cols = [np.concatenate(col) for col in zip(*blocks, strict=True)]
        order = np.lexsort((cols[1], cols[0]))
        rows = list(zip(*(c[order].tolist() for c in cols), strict=True))
        counts = {"new": n_new, "late": n_late, "corrected": len(ckeys), "redelivered": len(again)}
        return rows, counts

    def tags(self, sizes: Sizes) -> tuple[list[tuple], list[tuple], dict[str, int]]:
        """Rows of tags.csv (new tags) and tag-removals.csv (withdrawn tags)."""
        state = self.h.tag_state
        current, withdrawn, latest_row = state.current, state.withdrawn, state.latest

        if sizes.remove_tags > len(current):
            raise DeliveryError(
                f"--remove-tags {sizes.remove_tags:,}: only {len(current):,} tags are currently applied"
            )
        picked = self.rng.choice(len(current), size=sizes.remove_tags, replace=False)
        removing = [current[i] for i in sorted(picked.tolist())]
        removal_times = self.window_times(len(removing)).tolist()
        removals = [
            (user, movie, latest_row[(user, movie, trimmed)][2], at)
            for (user, movie, trimmed), at in zip(removing, removal_times, strict=True)
        ]

        # New tags: a few withdrawn tags applied again, the rest drawn from the vocabulary.
        taken = {(u, m, t.lower()) for u, m, t in current} | {(u, m, t.lower()) for u, m, t in removing}
        chosen: list[tuple] = []
        n_again = min(len(withdrawn), round(sizes.new_tags * REAPPLY_SHARE))
        for i in sorted(self.rng.choice(len(withdrawn), size=n_again, replace=False).tolist()):
            user, movie, trimmed = withdrawn[i]
            if (user, movie, trimmed.lower()) not in taken:
                taken.add((user, movie, trimmed.lower()))
                chosen.append((user, movie, latest_row[withdrawn[i]][2]))
        n_again = len(chosen)
        vocabulary = Counter(row[2] for row in self.h.tags if row[2] is not None and row[2].strip())
        texts = sorted(vocabulary)
        freq = np.asarray([vocabulary[t] for t in texts], dtype=float)
        if sizes.new_tags and not texts:
            raise DeliveryError("the base data set has no tags to draw new tags from")
        tag_users = np.asarray(sorted({row[0] for row in self.h.tags if row[0] is not None}), dtype=np.int64)
        for _ in range(100):
            want = sizes.new_tags - len(chosen)
            if want <= 0:
                break
            draw = 2 * want + 8
            users = np.where(
                self.rng.random(draw) < 0.8,
                self.rng.choice(tag_users if len(tag_users) else self.known_users, draw),
                self.rng.choice(self.known_users, draw),
            )
            movies = self.rng.choice(self.movie_ids, draw, p=self.movie_p)
            words = self.rng.choice(len(texts), draw, p=freq / freq.sum())
            for user, movie, word in zip(users.tolist(), movies.tolist(), words.tolist(), strict=True):
                text = texts[word]
                key = (user, movie, text.strip(" ").lower())
                if key not in taken and len(chosen) < sizes.new_tags:
                    taken.add(key)
                    chosen.append((user, movie, text))
        else:
            raise DeliveryError(f"could not find {sizes.new_tags:,} new tags: ask for fewer")
        new_times = self.window_times(len(chosen)).tolist()
        new_tags = sorted((u, m, text, at) for (u, m, text), at in zip(chosen, new_times, strict=True))
        counts = {"new": len(new_tags), "re-applied": n_again, "removed": len(removals)}
        return new_tags, sorted(removals), counts

    def movies(self, sizes: Sizes) -> tuple[list[tuple], dict[str, int]]:
        """Rows of movies.csv: existing movies with a corrected title (year) or genres."""
        n = sizes.movie_corrections
        if n > len(self.movie_ids):
            raise DeliveryError(f"--movie-corrections {n:,}: there are only {len(self.movie_ids):,} movies")
        picked = np.sort(self.rng.choice(self.movie_ids, size=n, replace=False))
        fix_title = self.rng.random(n) < 0.5
        rows = []
        for movie_id, title_fix in zip(picked.tolist(), fix_title.tolist(), strict=True):
            title, genres = self.h.movie_rows[movie_id]
            if title_fix:
                title = self._corrected_title(title)
            else:
                genres = self._corrected_genres(genres)
            rows.append((movie_id, title, genres))
        titles = int(fix_title.sum())
        return rows, {"title": titles, "genres": n - titles}

    def _corrected_title(self, title: str) -> str:
        """The release year moved by one (a range keeps its length); a year added if none."""
        match = YEAR_SUFFIX.search(title)
        delta = int(self.rng.choice([-1, 1]))
        if not match:
            return f"{title.rstrip()} ({int(self.rng.integers(1950, 2015))})"
        start, dash, end, spaces = match.groups()
        if not 1870 <= int(start) + delta <= 2030:  # stg_movielens__movies accepts 1870-2030
            delta = -delta
        text = str(int(start) + delta) + (dash or "") + (str(int(end) + delta) if end else "")
        return f"{title[: match.start()]}({text}){spaces}"

    def _corrected_genres(self, genres: str) -> str:
        """One genre added, or one removed from a list of several."""
        listed = [] if genres == NO_GENRES else [g for g in genres.split("|") if g]
        missing = [g for g in GENRES if g not in listed]
        if len(listed) > 1 and (not missing or self.rng.random() < 0.5):
            listed.pop(int(self.rng.integers(len(listed))))
        else:
            listed.append(missing[int(self.rng.integers(len(missing)))])
        rank = {g: i for i, g in enumerate(GENRES)}
        return "|".join(sorted(listed, key=lambda g: rank.get(g, -1)))


# --- writing and landing ----------------------------------------------------------------------


def deliver(
    src: str | os.PathLike,
    dest: str | os.PathLike | None = None,
    *,
    size_pct: float | None = None,
    seed: int = 42,
    state_dir: str | os.PathLike = DEFAULT_STATE_DIR,
    client=None,
    stream: IO[str] | None = None,
    validate: bool = False,
    **counts: int,
) -> dict:
    """Produce the next delivery, keep it in state_dir and land it under dest.

    counts: rows of each kind by Sizes field name (new_ratings=1000, remove_tags=5, ...); with
    size_pct every kind not given comes from preset(). Returns {"batch", "dest", "sizes",
    "files": [{"file", "rows", "counts", "path", "rejected"}...], "state", "rejects"}. Raises
    DeliveryError or upload.UploadError (one line for the user). validate: check the files with
    scripts/landing/validate.py before they land (as upload_dir(validate=True) does).
    """
    stream = stream if stream is not None else sys.stderr
    src, state = Path(src), Path(state_dir)
    unknown = sorted(set(counts) - {f.name for f in fields(Sizes)})
    if unknown:
        raise TypeError(f"unknown kind {unknown[0]!r}: use {', '.join(f.name for f in fields(Sizes))}")
    if any(n is not None and n < 0 for n in counts.values()):
        raise DeliveryError("counts must be >= 0")
    if size_pct is not None and not 0 < size_pct <= 100:
        raise DeliveryError(f"--size-pct {size_pct:g} is out of range: use a percentage above 0, at most 100")
    given = {k: n for k, n in counts.items() if n is not None}
    if size_pct is None and not any(given.values()):
        raise DeliveryError("nothing to deliver: pass --size-pct P or a count such as --new-ratings 1000")
    if not (src / RATINGS).is_file():
        raise DeliveryError(f"--src {src} holds no ratings.csv: pass the folder of the base data set (batch 0)")

    say = functools.partial(print, file=stream, flush=True)
    batch = next_batch(src, dest, state, client)
    where = dest_text(dest)
    say(f"delivery batch={batch:04d} to {where}: reading the base data set and {batch - 1} earlier deliveries")
    history = load_history(src, state, batch, say)
    if size_pct is None:
        sizes = Sizes(**given)
    else:
        base = asdict(preset(size_pct, history.base_ratings, history.base_tags, history.base_movies))
        base["remove_tags"] = min(base["remove_tags"], len(history.tag_state.current))
        sizes = Sizes(**{**base, **given})

    clock = time.perf_counter()
    drawer = Drawer(history, seed, batch)
    files: dict[str, tuple[list, dict[str, int]]] = {}
    if sizes.new_ratings or sizes.late_ratings or sizes.redeliver or sizes.corrections:
        rows, kinds = drawer.ratings(sizes)
        files[RATINGS] = ([(u, m, f"{half / 2:.1f}", at) for u, m, half, at in rows], kinds)
    if sizes.new_tags or sizes.remove_tags:
        new_tags, removals, kinds = drawer.tags(sizes)
        if new_tags:
            files[TAGS] = (new_tags, {"new": kinds["new"], "re-applied": kinds["re-applied"]})
        if removals:
            files[TAG_REMOVALS] = (removals, {"removed": kinds["removed"]})
    if sizes.movie_corrections:
        rows, kinds = drawer.movies(sizes)
        files[MOVIES] = (rows, kinds)
    say(f"  drew {sum(len(rows) for rows, _ in files.values()):,} rows  {time.perf_counter() - clock:.1f} s")

    # Keep the delivery (written aside, then renamed into place), then land it.
    folder = state / upload.batch_folder(batch)
    partial = state / f".{upload.batch_folder(batch)}.{os.getpid()}.partial"
    try:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        for name, (rows, _) in files.items():
            generate.write_rows(partial / name, name, rows)
        manifest = {
            "batch": batch,
            "dest": where,
            "src": str(src.resolve()),
            "seed": seed,
            "sizes": asdict(sizes),
            "files": {name: kinds for name, (_, kinds) in files.items()},
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(partial, folder)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise DeliveryError(f"cannot write the delivery into --state-dir {state} ({exc.strerror})") from None
    tables = [TABLE_OF[name] for name in files]
    landed = upload.upload_dir(
        folder, dest, batch=batch, tables=tables, client=client, stream=stream, validate=validate
    )
    paths = landed["uploaded"] + landed["skipped"]
    rejected = {checked.path.name: len(checked.rejects) for checked in landed.get("checked", [])}
    result_files = [
        {
            "file": name,
            "rows": len(rows),
            "counts": kinds,
            "path": next(p for p in paths if p.endswith(f"/{TABLE_OF[name]}/{upload.batch_folder(batch)}/{name}")),
            "rejected": rejected.get(name, 0),
        }
        for name, (rows, kinds) in files.items()
    ]
    return {
        "batch": batch,
        "dest": where,
        "sizes": sizes,
        "files": result_files,
        "state": str(folder),
        "rejects": landed.get("rejects"),
    }


# --- command line ------------------------------------------------------------------------------


@click.command("deliver", epilog="Each kind is off unless given a count (or --size-pct).")
@click.option("--src", required=True, help="folder of the base data set, landed as batch 0000")
@click.option("--dest", help="s3://bucket/prefix or a local folder (default s3://$S3_BUCKET/$S3_PREFIX)")
@click.option(
    "--state-dir", default=DEFAULT_STATE_DIR, show_default=True, help="where a copy of every delivery is kept"
)
@click.option("--seed", type=click.IntRange(min=0), default=42, show_default=True, help="random seed")
@click.option(
    "--size-pct",
    type=click.FloatRange(0, 100, min_open=True),
    help="preset: every kind sized from P % of the base data set",
)
@click.option("--new-ratings", type=click.IntRange(min=0), help="new pairs, newer than anything seen")
@click.option("--late-ratings", type=click.IntRange(min=0), help="new pairs with old timestamps")
@click.option("--redeliver", type=click.IntRange(min=0), help="exact copies of delivered ratings")
@click.option("--corrections", type=click.IntRange(min=0), help="new values of existing ratings")
@click.option("--new-tags", type=click.IntRange(min=0), help="tags not currently applied")
@click.option("--remove-tags", type=click.IntRange(min=0), help="withdrawals of current tags")
@click.option("--movie-corrections", type=click.IntRange(min=0), help="corrected titles or genres")
@click.option("--quiet", is_flag=True, help="no progress on stderr")
def command(src, dest, state_dir, seed, size_pct, quiet, **counts) -> None:
    """Produce the next MovieLens delivery and land it as <dest>/<table>/batch=<NNNN>/<file>."""
    try:
        result = deliver(
            src,
            dest,
            size_pct=size_pct,
            seed=seed,
            state_dir=state_dir,
            stream=io.StringIO() if quiet else sys.stderr,
            validate=True,
            **counts,
        )
    except KeyboardInterrupt:
        raise DeliveryError("interrupted; run again (a delivery that did not land is redone)", 130) from None
    for item in result["files"]:
        kinds = ", ".join(f"{kind} {n:,}" for kind, n in item["counts"].items() if n)
        rows = f"{item['rows']:>9,} row{'s' if item['rows'] != 1 else ' '}"
        print(f"{item['file']:<17} {rows} ({kinds})  {item['path']}")
        if item["rejected"]:
            print(f"{'':<17} {item['rejected']:>9,} rejected, listed in {result['rejects']}")
    print(f"batch={result['batch']:04d} landed in {result['dest']}; a copy is kept in {result['state']}")
