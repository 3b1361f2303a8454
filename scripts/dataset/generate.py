"""Generate a deterministic data set shaped like MovieLens 20M (`make data`).

Writes the six ml-20m files (scripts/contract.py) with the quirks of the real ones that the models
must handle (QUIRK_MOVIES, QUIRK_TAGS, EMPTY_TAG_SHARE, a blank line ending tags.csv). The same
seed and scale give byte-identical files; scale 1.0 gives the ml-20m row counts (sizes()). Files are
written under temporary names and renamed only when all six are complete. With --unless-present
(`make data`) a folder holding a MovieLens release is used as it is, and only folders under
data/generated/ are written into (ensure_data()).
"""

from __future__ import annotations

import csv
import math
import os
import re
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import click
import duckdb
import numpy as np

from scripts import contract
from scripts.common import ROOT, UserError
from scripts.landing import validate

# The generator's own folders: the only place `make data` writes into.
GENERATED_ROOT = ROOT / "data" / "generated"
LINE_ENDINGS = {"lf": "\n", "crlf": "\r\n"}

FILES = contract.ML20M  # the six ml-20m files, in the order they are written
HEADERS = {raw.file: raw.header for raw in contract.RAW_FILES}
MOVIES, RATINGS, TAGS, LINKS, GENOME_SCORES, GENOME_TAGS = FILES

# The ml-20m genres, alphabetical (within a movie's list IMAX comes last).
GENRES = tuple(
    "Action|Adventure|Animation|Children|Comedy|Crime|Documentary|Drama|Fantasy|Film-Noir|Horror|IMAX|"
    "Musical|Mystery|Romance|Sci-Fi|Thriller|War|Western".split("|")
)
NO_GENRES = "(no genres listed)"
# How many ml-20m movies carry each genre: the weights for synthetic genre lists.
_GENRE_WEIGHTS = (3520, 2329, 1027, 1139, 8374, 2939, 2471, 13344, 1412, 330, 2611, 196)
_GENRE_WEIGHTS += (1036, 1514, 4127, 1743, 4178, 1194, 676)

# ml-20m sizes (README of ml-20m): the counts at scale 1.0.
FULL_RATINGS = 20_000_263
FULL_TAGS = 465_564
FULL_MOVIES = 27_278
FULL_USERS = 138_493
FULL_TAG_USERS = 7_801
FULL_GENOME_MOVIES = 10_381
FULL_GENOME_TAGS = 1_128
FULL_TAG_VOCABULARY = 38_644
MAX_MOVIE_ID = 131_262

# Timestamps, epoch seconds UTC.
TS_MIN = 789_609_600  # 1995-01-09 00:00:00, first day of ml-20m ratings
TS_MAX = 1_427_846_399  # 2015-03-31 23:59:59, last day of ml-20m
HALF_STARS_FROM = 1_045_526_400  # 2003-02-18: before it MovieLens had whole stars only
TAGS_FROM = 1_135_382_400  # 2005-12-24: MovieLens tagging starts

MIN_RATINGS_PER_USER = 20  # as in ml-20m
MAX_USER_SHARE = 0.35  # a user rates at most this share of the rated movies
CATALOG_PER_MEAN_USER = 60  # movies >= 60 x mean ratings per user, see sizes()
MAX_MOVIE_USERS = 1.2  # a movie is drawn for at most ~1.2 x users ratings (before repeats)
UNRATED_SHARE = 0.0196  # 534 of the 27,278 ml-20m movies have no rating


class QuirkMovie(NamedTuple):
    title: str
    genres: str
    quirks: tuple[str, ...]


# Hand-written titles, always the first movies (the i-th gets the i-th smallest movieId).
# Quirk labels: comma (title quoted in the CSV), quote (doubled in the CSV), accent,
# article (leading article moved to the end: The/A/An or foreign), duplicate (same title
# on two movieIds), no_year, year_range (EN DASH), trailing_space, alternate_title,
# no_genres, imax, children.
# One per line: title ; genres ; quirk labels (- for none). Trailing spaces of a title are kept.
QUIRK_MOVIES = tuple(
    QuirkMovie(title, genres, tuple(quirks.split()) if quirks != "-" else ())
    for title, genres, quirks in (
        line.split(" ; ")
        for line in """
Toy Story (1995) ; Adventure|Animation|Children|Comedy|Fantasy ; children
American President, The (1995) ; Comedy|Drama|Romance ; comma article
Misérables, Les (1995) ; Drama|War ; comma accent article
City of Lost Children, The (Cité des enfants perdus, La) (1995) ; Adventure|Drama|Fantasy|Mystery|Sci-Fi ; comma accent article alternate_title
Shawshank Redemption, The (1994) ; Crime|Drama ; comma article
Man for All Seasons, A (1966) ; Drama ; comma article
American Werewolf in London, An (1981) ; Comedy|Horror|Thriller ; comma article
Dolce Vita, La (1960) ; Drama ; comma article
Gattopardo, Il (Leopard, The) (1963) ; Drama|War ; comma article alternate_title
Boot, Das (Boat, The) (1981) ; Action|Drama|War ; comma article alternate_title
Shichinin no samurai (Seven Samurai) (1954) ; Action|Adventure|Drama ; alternate_title
Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001) ; Comedy|Romance ; comma accent article alternate_title
"Great Performances" Cats (1998) ; Musical ; quote
Twin Peaks: "Pilot", The Original (1990) ; Drama|Mystery ; quote comma
War of the Worlds (2005) ; Action|Adventure|Sci-Fi|Thriller ; duplicate
War of the Worlds (2005) ; Action|Sci-Fi ; duplicate
Emma (1996) ; Comedy|Drama|Romance ; duplicate
Emma (1996) ; Romance ; duplicate
Death Note: Desu nôto (2006–2007) ; (no genres listed) ; accent year_range no_genres
Fawlty Towers (1975–1979) ; Comedy ; year_range
Cosmos ; Documentary ; no_year
Babylon 5 ; Sci-Fi ; no_year
Hamlet (2000)  ; Drama ; trailing_space
Nosferatu (1922)   ; Horror ; trailing_space
Li'l Quinquin (2014) ; (no genres listed) ; no_genres
Dark Knight, The (2008) ; Action|Crime|Drama|IMAX ; comma article imax
Avatar (2009) ; Action|Adventure|Sci-Fi|IMAX ; imax
Maltese Falcon, The (1941) ; Film-Noir|Mystery ; comma article
Good, the Bad and the Ugly, The (Buono, il brutto, il cattivo, Il) (1966) ; Action|Adventure|Western ; comma article alternate_title
Crouching Tiger, Hidden Dragon (Wo hu cang long) (2000) ; Action|Drama|Romance ; comma alternate_title
Wallace & Gromit: A Close Shave (1995) ; Animation|Children|Comedy ; children
Dr. Strangelove or: How I Learned to Stop Worrying and Love the Bomb (1964) ; Comedy|War ; -
""".strip("\n").splitlines()
    )
)


# Hand-written tags, always applied (see _forced_tags): mixed case and surrounding spaces
# of one tag, commas, doubled quotes.
QUIRK_TAGS = (
    "dark comedy",
    "Dark Comedy",
    " dark comedy ",
    "DARK COMEDY",
    "funny, but sad",
    'so bad it\'s "good"',
    '"twist" ending, sort of',
    "Oscar (Best Picture)",
    "BD-R",
    "atmospheric",
)
# The tag that several users always apply (to the same movie).
SHARED_TAG = "atmospheric"
# Share of tag rows whose text is empty or only spaces (at least 2: one of each), as in real
# ml-20m; the warehouse keeps them in raw and lists them as rejected from fct_tags.
EMPTY_TAG_SHARE = 1 / 25_000
EMPTY_TAGS = ("", "   ")
_POPULAR_TAGS = tuple(
    "sci-fi|based on a book|comedy|action|surreal|twist ending|funny|visually appealing|dystopia|classic|"
    "quirky|thought-provoking|Nudity (Topless)|psychology|stylized|nonlinear|religion|Criterion|"
    "time travel|Betamax".split("|")
)
_GENOME_TAGS = tuple(
    "007|007 (series)|18th century|1920s|1970s|absurd|action|adapted from:book|aliens|animated|"
    "atmospheric|based on a book|cult classic|dark comedy|dystopia|feel-good|film noir|nudity (topless)|"
    "oscar (best picture)|twist ending|visually appealing|world war ii".split("|")
)

_ADJECTIVES = tuple(
    "Silent|Broken|Golden|Hidden|Last|Lost|Wild|Dark|Bright|Crimson|Frozen|Secret|Burning|Endless|Hollow|"
    "Little|Long|Midnight|Quiet|Red|Savage|Strange|Sweet|Velvet|Wicked|Blue|Distant|Electric|Fallen|"
    "Forgotten|Gentle|Haunted|Iron|Lonely|Lucky|Mad|Northern|Painted|Restless|Rising|Silver|Stolen|"
    "Summer|Tender|Twisted|Winter|Young|Bitter|Brave|Cold|Deadly|Empty|Fast|Final|Glass|Grand|Green|High|"
    "Hot|Lazy|Perfect|Royal".split("|")
)
_VOWEL_ADJECTIVES = tuple(
    "American|Angry|Awkward|Early|Easy|Empty|Endless|Electric|Eternal|Honest|Idle|Icy|Impossible|"
    "Innocent|Odd|Old|Open|Ordinary|Unfinished|Unlikely|Urban|Uneasy".split("|")
)
_NOUNS = tuple(
    "River|Road|Night|City|Heart|Garden|Storm|Kingdom|House|Mirror|Island|Summer|Winter|Shadow|Promise|"
    "Letter|Dream|Journey|Stranger|Witness|Horizon|Harbor|Valley|Empire|Circus|Detective|Dancer|Soldier|"
    "Hunter|Sister|Brother|Daughter|Husband|Wife|Train|Bridge|Desert|Forest|Ocean|Station|Machine|Game|"
    "Secret|Season|Voyage|Affair|Legend|Ghost|Angel|Devil|Thief|King|Queen|Prince|Doctor|Lady|Widow|Wolf|"
    "Tiger|Dragon|Bird|Mountain|Border|Frontier|Planet|Star|Moon|Sun|Fire|Rain|Snow|Wind".split("|")
)
_PLACES = tuple(
    "Paris|Rome|Berlin|Tokyo|Texas|Brooklyn|Harlem|Chicago|Vegas|Alaska|Vienna|Havana|Bombay|Cairo|"
    "Lisbon|Prague|Manhattan|Montana|Mexico|Shanghai".split("|")
)
_NAMES = tuple(
    "Annie|Billy|Charlie|Dolores|Eddie|Frank|Grace|Harry|Isabel|Jack|Kate|Louis|Max|Nora|Oscar|Paulie|"
    "Rosa|Sam|Tom|Vera|Walter|Zelda".split("|")
)
# Foreign titles: (name, article). The article is moved to the end as in ml-20m.
_FOREIGN = (
    ("Vie en rose", "La"),
    ("Dernier métro", "Le"),
    ("Enfants du paradis", "Les"),
    ("Sorpasso", "Il"),
    ("Laberinto del fauno", "El"),
    ("Himmel über Berlin", "Der"),
    ("Boot", "Das"),
    ("Grande bellezza", "La"),
    ("Mépris", "Le"),
    ("Olvidados", "Los"),
    ("Ehe der Maria Braun", "Die"),
    ("Sjunde inseglet", "Det"),
    ("Chien andalou", "Un"),
    ("Femme est une femme", "Une"),
)
_TAG_WORDS = tuple(
    "great|slow|weird|sad|beautiful|boring|creepy|clever|cheesy|epic|gritty|dark|funny|cute|violent|"
    "quiet|loud|long|short|smart|dumb|stylish|bleak|tense|campy|touching|surreal|gory|witty|brutal|moody|"
    "classic|overrated|underrated|haunting|charming|pretentious|predictable|hilarious|slick".split("|")
)
_TAG_NOUNS = tuple(
    "soundtrack|acting|ending|plot|dialogue|cinematography|villain|hero|twist|music|script|cast|romance|"
    "story|visuals|effects|atmosphere|characters|humor|action|writing|direction|pacing|photography|"
    "setting|costumes|score".split("|")
)


@dataclass(frozen=True)
class Sizes:
    """How much data one scale produces (see sizes())."""

    users: int
    ratings: int
    movies: int
    genome_movies: int
    genome_tags: int
    tags: int
    tag_users: int
    tag_vocabulary: int


def check_scale(scale: float) -> float:
    """The scale as a float; ValueError unless 0 < scale <= 1."""
    try:
        value = float(scale)
    except (TypeError, ValueError):
        raise ValueError(f"scale must be a number, got {scale!r}") from None
    if not 0 < value <= 1:  # also rejects nan
        raise ValueError(f"scale must be > 0 and <= 1 (1.0 = ml-20m size), got {scale!r}")
    return value


def sizes(scale: float) -> Sizes:
    """The sizes at one scale s (0 < s <= 1); round() is Python's (half to even).

        users          = max(10, round(138,493 * s))       distinct userId in ratings
        ratings        = max(20 * users, round(20,000,263 * s))
        movies = links = max(60, round(27,278 * s), ceil(60 * ratings / users))
        genome movies  = max(5, round(10,381 * s))
        genome-tags    = max(20, round(1,128 * s))
        genome-scores  = genome movies * genome-tags
        tags           = max(40, round(465,564 * s))
        tag users      = min(users, max(3, round(7,801 * s)))   distinct userId in tags
        tag vocabulary = max(60, round(38,644 * s))         distinct tag strings offered

    Scale 1.0 gives exactly ml-20m. The catalogue does not shrink below 60 times the mean
    ratings per user (about 8,670 movies, the floor below s = 0.32). Users keep the
    ml-20m activity (at least 20 ratings, 144 on average), and a smaller catalogue could
    not hold that many distinct (user, movie) pairs with a popularity as skewed as
    ml-20m's: the top 1% of the movies holding over 20% of the ratings while the most
    popular movie is rated by about half of the users. A sample of ml-20m users looks
    the same: a few thousand users still rate thousands of movies.
    """
    s = check_scale(scale)
    users = max(10, round(FULL_USERS * s))
    ratings = max(MIN_RATINGS_PER_USER * users, round(FULL_RATINGS * s))
    movies = max(60, round(FULL_MOVIES * s), math.ceil(CATALOG_PER_MEAN_USER * ratings / users))
    return Sizes(
        users=users,
        ratings=ratings,
        movies=movies,
        genome_movies=max(5, round(FULL_GENOME_MOVIES * s)),
        genome_tags=max(20, round(FULL_GENOME_TAGS * s)),
        tags=max(40, round(FULL_TAGS * s)),
        tag_users=min(users, max(3, round(FULL_TAG_USERS * s))),
        tag_vocabulary=max(60, round(FULL_TAG_VOCABULARY * s)),
    )


def row_counts(scale: float) -> dict[str, int]:
    """Rows (header excluded) of each of the six files at one scale; see sizes()."""
    sz = sizes(scale)
    return {
        MOVIES: sz.movies,
        RATINGS: sz.ratings,
        TAGS: sz.tags,
        LINKS: sz.movies,
        GENOME_SCORES: sz.genome_movies * sz.genome_tags,
        GENOME_TAGS: sz.genome_tags,
    }


# --- movies and links --------------------------------------------------------------------


@dataclass
class Movies:
    ids: np.ndarray  # int64, ascending
    titles: list[str]
    genres: list[str]
    years: np.ndarray  # int64 release year (for imdbId order)
    weights: np.ndarray  # float64 popularity, 0 for movies nobody rates
    quality: np.ndarray  # float64 offset of the movie's mean rating


def _movie_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """n sorted, non-contiguous ids in 1..131262, both ends included as in ml-20m."""
    inner = rng.choice(np.arange(2, MAX_MOVIE_ID), size=n - 2, replace=False)
    return np.sort(np.concatenate([[1, MAX_MOVIE_ID], inner]).astype(np.int64))


def _synthetic_title(rng: np.random.Generator, pattern: int, pick) -> str:
    adjective, noun, noun2 = pick(_ADJECTIVES), pick(_NOUNS), pick(_NOUNS)
    shapes = (  # one per weight of _TITLE_PATTERN_P; a shape draws its other words only when chosen
        lambda: f"{adjective} {noun}",
        lambda: noun,
        lambda: f"{adjective} {noun}, The",
        lambda: f"{noun} of {pick(_PLACES)}",
        lambda: f"{noun} in {pick(_PLACES)}, A",
        lambda: f"{pick(_VOWEL_ADJECTIVES)} {noun}, An",
        lambda: f"{pick(_NAMES)}'s {noun}",
        lambda: f"{adjective} {noun} {int(rng.integers(2, 5))}",
        lambda: f"{noun}: {adjective} {noun2}",
        lambda: f"{', '.join(pick(_FOREIGN))} ({adjective} {noun}, The)",  # name, article (alternate title)
        lambda: f"{pick(_NAMES)} and {pick(_NAMES)}",
    )
    return shapes[pattern]()


_TITLE_PATTERN_P = (0.22, 0.10, 0.18, 0.10, 0.05, 0.03, 0.08, 0.05, 0.07, 0.06, 0.06)
_YEAR_RE = re.compile(r"\((\d{4})")


# Within a movie genres are alphabetical, except IMAX (a format) which comes last.
_GENRE_POSITION = [len(GENRES) if g == "IMAX" else i for i, g in enumerate(GENRES)]


def _synthetic_genres(rng: np.random.Generator, n: int) -> list[str]:
    """n genre lists: 1-5 distinct genres by ml-20m frequency, alphabetical but IMAX
    last, as in ml-20m ("Action|Adventure|Sci-Fi|IMAX"); ~1% `(no genres listed)`."""
    k = rng.choice(np.arange(1, 6), size=n, p=(0.40, 0.33, 0.18, 0.07, 0.02))
    # Weighted sampling without replacement per row: the k largest Gumbel-perturbed keys.
    keys = np.log(np.asarray(_GENRE_WEIGHTS, dtype=np.float64)) + rng.gumbel(size=(n, len(GENRES)))
    order = np.argsort(-keys, axis=1)
    k[(k == 1) & (order[:, 0] == GENRES.index("IMAX"))] = 2  # IMAX is a format: never alone
    none = rng.random(n) < 0.009
    out = []
    for row in range(n):
        if none[row]:
            out.append(NO_GENRES)
        else:
            chosen = sorted(order[row, : k[row]].tolist(), key=_GENRE_POSITION.__getitem__)
            out.append("|".join(GENRES[i] for i in chosen))
    return out


def _make_movies(rng: np.random.Generator, sz: Sizes) -> Movies:
    n = sz.movies
    n_quirk = len(QUIRK_MOVIES)
    n_synth = n - n_quirk
    ids = _movie_ids(rng, n)

    def pick(words):
        return words[int(rng.integers(len(words)))]

    years = np.minimum(2015, 2016 - np.floor(rng.exponential(22.0, n_synth))).astype(np.int64)
    years = np.maximum(years, 1902)
    patterns = rng.choice(len(_TITLE_PATTERN_P), size=n_synth, p=_TITLE_PATTERN_P)
    endings = rng.random(n_synth)
    titles = [movie.title for movie in QUIRK_MOVIES]
    for i in range(n_synth):
        name = _synthetic_title(rng, int(patterns[i]), pick)
        year = int(years[i])
        if endings[i] < 0.006:
            titles.append(name)
        elif endings[i] < 0.009:
            first = min(year, 2015 - 7)
            titles.append(f"{name} ({first}–{first + int(rng.integers(1, 8))})")
        elif endings[i] < 0.011:
            titles.append(f"{name} ({year}) ")
        else:
            titles.append(f"{name} ({year})")
    genres = [movie.genres for movie in QUIRK_MOVIES] + _synthetic_genres(rng, n_synth)
    quirk_years = [int(m.group(1)) if (m := _YEAR_RE.search(q.title)) else 2000 for q in QUIRK_MOVIES]
    all_years = np.concatenate([np.asarray(quirk_years, dtype=np.int64), years])

    weights = _popularity(rng, n, max_share=MAX_MOVIE_USERS * sz.users / sz.ratings)
    # Popular movies are rated a little higher; centred on the average rating.
    log_w = np.log(np.where(weights > 0, weights, 1.0))
    quality = rng.normal(0.0, 0.45, n) + 0.05 * (log_w - log_w.mean())
    quality -= np.average(quality, weights=weights)
    return Movies(ids, titles, genres, all_years, weights, quality)


def _popularity(rng: np.random.Generator, n: int, max_share: float) -> np.ndarray:
    """Share of the ratings each movie is drawn with: lognormal (heavily skewed), the
    least popular ~2% never rated, no movie above max_share (the excess is spread over
    the others in proportion), so that the most popular movie is rated by about half
    of the users, as in ml-20m."""
    weights = rng.lognormal(0.0, 2.6, n)
    n_unrated = round(UNRATED_SHARE * n)
    if n_unrated:
        weights[np.argsort(weights, kind="stable")[:n_unrated]] = 0.0
    weights /= weights.sum()
    for _ in range(100):
        over = weights > max_share
        if not over.any():
            break
        excess = (weights[over] - max_share).sum()
        weights[over] = max_share
        under = ~over & (weights > 0)
        weights[under] *= 1 + excess / weights[under].sum()
    return weights


def _links(rng: np.random.Generator, movies: Movies) -> tuple[list[str], list[str]]:
    """7-digit imdbIds (about 70% below 1,000,000, so with leading zeros), ordered by
    release year, and tmdbIds with ~1% empty (at least one)."""
    n = len(movies.ids)
    n_low = max(1, math.ceil(0.7 * n))
    low = rng.choice(np.arange(1, 1_000_000), size=n_low, replace=False)
    high = rng.choice(np.arange(1_000_000, 4_000_000), size=n - n_low, replace=False)
    imdb = np.sort(np.concatenate([low, high]))
    by_year = np.argsort(movies.years + rng.random(n), kind="stable")
    imdb_of = np.empty(n, dtype=np.int64)
    imdb_of[by_year] = imdb
    tmdb = rng.choice(np.arange(2, 420_000), size=n, replace=False)
    empty = np.zeros(n, dtype=bool)
    empty[rng.choice(n, size=max(1, round(0.0093 * n)), replace=False)] = True
    imdb_text = [f"{v:07d}" for v in imdb_of.tolist()]
    tmdb_text = ["" if e else str(v) for v, e in zip(tmdb.tolist(), empty.tolist(), strict=True)]
    return imdb_text, tmdb_text


# --- ratings -------------------------------------------------------------------------------


def _user_counts(rng: np.random.Generator, sz: Sizes, cap: int) -> np.ndarray:
    """Ratings per user: at least 20 (fewer only if ratings < 20 * users), heavy-tailed
    like ml-20m (median about half the mean), at most cap; sums to sz.ratings."""
    floor = max(1, min(MIN_RATINGS_PER_USER, sz.ratings // sz.users))
    appetite = rng.lognormal(0.0, 1.37, sz.users)
    p = appetite / appetite.sum()
    counts = floor + rng.multinomial(sz.ratings - floor * sz.users, p)
    for _ in range(100):
        excess = int(np.maximum(counts - cap, 0).sum())
        if not excess:
            return counts.astype(np.int64)
        counts = np.minimum(counts, cap)
        room = p * (counts < cap)
        counts += rng.multinomial(excess, room / room.sum())
    raise RuntimeError("could not spread the ratings over the users")


def in_sorted(haystack: np.ndarray, needles: np.ndarray) -> np.ndarray:
    if not len(haystack):
        return np.zeros(len(needles), dtype=bool)
    pos = np.minimum(np.searchsorted(haystack, needles), len(haystack) - 1)
    return haystack[pos] == needles


class _Alias:
    """Walker's alias table: O(1) vectorized draws of indices in proportion to weights
    (much faster than searchsorted on a cumulative sum for tens of millions of draws).
    Zero weights are never drawn."""

    def __init__(self, weights: np.ndarray):
        n = len(weights)
        scaled = (weights * (n / weights.sum())).tolist()
        self.prob = np.ones(n)
        self.alias = np.arange(n)
        small = [i for i, v in enumerate(scaled) if v < 1.0]
        large = [i for i, v in enumerate(scaled) if v >= 1.0]
        prob, alias = self.prob.tolist(), self.alias.tolist()
        while small and large:
            lo, hi = small.pop(), large.pop()
            prob[lo], alias[lo] = scaled[lo], hi
            scaled[hi] += scaled[lo] - 1.0
            (small if scaled[hi] < 1.0 else large).append(hi)
        for i in small:  # only rounding left: keep them, unless of zero weight
            prob[i] = 1.0 if weights[i] > 0 else 0.0
            if not weights[i] > 0:
                alias[i] = int(np.argmax(weights))
        self.prob = np.asarray(prob)
        self.alias = np.asarray(alias, dtype=np.int64)

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        index = rng.integers(0, len(self.prob), size)
        keep = rng.random(size) < self.prob[index]
        return np.where(keep, index, self.alias[index])


def sorted_unique(keys: np.ndarray) -> np.ndarray:
    """np.unique for big int arrays: sort in place and drop repeats (numpy 2's hash-based
    np.unique is several times slower here)."""
    keys.sort()
    if len(keys) < 2:
        return keys
    keep = np.empty(len(keys), dtype=bool)
    keep[0] = True
    np.not_equal(keys[1:], keys[:-1], out=keep[1:])
    return keys[keep]


def _sample_pairs(rng: np.random.Generator, counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Sorted int64 keys user * n_movies + movie: counts[u] distinct movies per user u,
    drawn with probability proportional to weights (zero weight: never drawn).

    All draws are made in bulk; repeated pairs are dropped and the users left short
    draw again (more each round) until every user has their count.
    """
    n_movies = len(weights)
    table = _Alias(weights)
    keys = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    keys *= n_movies
    keys += table.draw(rng, len(keys))
    keys = sorted_unique(keys)
    deficit = counts - np.bincount(keys // n_movies, minlength=len(counts))
    extra = np.empty(0, dtype=np.int64)
    factor = 1.5
    for _ in range(200):
        short = np.flatnonzero(deficit)
        if not len(short):
            break
        want = np.ceil(deficit[short] * factor).astype(np.int64) + 2
        drawn = np.repeat(short, want) * n_movies
        drawn += table.draw(rng, len(drawn))
        _, first = np.unique(drawn, return_index=True)
        drawn = drawn[np.sort(first)]  # distinct, in draw order, still grouped by user
        drawn = drawn[~(in_sorted(keys, drawn) | in_sorted(extra, drawn))]
        owner = drawn // n_movies
        rank = np.arange(len(drawn)) - np.searchsorted(owner, owner, side="left")
        drawn = drawn[rank < deficit[owner]]
        deficit -= np.bincount(drawn // n_movies, minlength=len(counts))
        extra = np.sort(np.concatenate([extra, drawn]))
        factor *= 2
    else:
        raise RuntimeError("could not draw distinct (user, movie) pairs")
    if len(extra):
        keys = np.insert(keys, np.searchsorted(keys, extra), extra)
    return keys


@dataclass
class Ratings:
    users: np.ndarray  # int32 userId (1-based), ascending
    movies: np.ndarray  # int32 movieId, ascending within user
    half_stars: np.ndarray  # int8, rating * 2 (1..10)
    timestamps: np.ndarray  # int64 epoch seconds
    counts: np.ndarray  # ratings per user (index = userId - 1)


def _make_ratings(rng: np.random.Generator, sz: Sizes, movies: Movies) -> Ratings:
    n_rated = int((movies.weights > 0).sum())
    cap = max(MIN_RATINGS_PER_USER, int(MAX_USER_SHARE * n_rated))
    counts = _user_counts(rng, sz, cap)
    keys = _sample_pairs(rng, counts, movies.weights)
    n_movies = len(movies.ids)
    user_index = keys // n_movies
    movie_index = keys - user_index * n_movies
    del keys

    # When: each user is active from a start time over a span (many within one day).
    start = TS_MIN + (TS_MAX - TS_MIN) * rng.beta(1.1, 1.0, sz.users)
    span = np.where(
        rng.random(sz.users) < 0.4,
        rng.uniform(60, 86_400, sz.users),
        rng.exponential(250 * 86_400, sz.users),
    )
    offset = rng.random(len(user_index))
    offset *= offset
    timestamps = start[user_index] + span[user_index] * offset
    del offset
    timestamps = np.minimum(timestamps, TS_MAX).astype(np.int64)

    # How many stars: user generosity + movie quality + left-skewed noise, and a few
    # ratings from a movie's haters; whole stars only before 2003-02-18.
    generosity = rng.normal(0.0, 0.4, sz.users)
    score = rng.gamma(2.5, 0.5, len(user_index))
    np.subtract(3.65 + 1.25, score, out=score)
    score += generosity[user_index]
    score += movies.quality[movie_index]
    haters = np.flatnonzero(rng.random(len(score)) < 0.04)
    score[haters] = rng.normal(1.3, 0.7, len(haters))
    whole = timestamps < HALF_STARS_FROM
    half_stars = np.where(whole, 2 * np.rint(score), np.rint(2 * score))
    del score
    half_stars = np.clip(half_stars, np.where(whole, 2, 1), 10).astype(np.int8)
    return Ratings(
        users=(user_index + 1).astype(np.int32),
        movies=movies.ids[movie_index].astype(np.int32),
        half_stars=half_stars,
        timestamps=timestamps,
        counts=counts,
    )


# --- tags ----------------------------------------------------------------------------------


def _tag_vocabulary(rng: np.random.Generator, size: int) -> list[str]:
    """size distinct tag strings: popular and quirk tags first, then synthetic ones in
    mixed case (up to 44,000 of them); the list order is the popularity order."""
    vocabulary = dict.fromkeys(_POPULAR_TAGS + QUIRK_TAGS)
    words, nouns = len(_TAG_WORDS), len(_TAG_NOUNS)
    space = words * nouns + words * words * nouns + nouns
    for index in rng.permutation(space).tolist():
        if len(vocabulary) >= size:
            break
        if index < nouns:
            text = _TAG_NOUNS[index]
        elif index < nouns + words * nouns:
            w, n = divmod(index - nouns, nouns)
            text = f"{_TAG_WORDS[w]} {_TAG_NOUNS[n]}"
        else:
            rest, n = divmod(index - nouns - words * nouns, nouns)
            w1, w2 = divmod(rest, words)
            text = f"{_TAG_WORDS[w1]} {_TAG_WORDS[w2]} {_TAG_NOUNS[n]}"
        style = index % 50
        if style < 6:
            text = text.title()
        elif style == 6:
            text = text.upper()
        elif style == 7:
            text = f" {text} "
        vocabulary.setdefault(text)
    return list(vocabulary)


def _forced_tags(
    tag_users: np.ndarray, popular: np.ndarray, vocabulary: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user, movie index, tag index) rows that carry every tag quirk at every scale."""
    index = {text: i for i, text in enumerate(vocabulary)}
    heavy = int(tag_users[0])
    n = len(tag_users)
    rows = [
        (heavy, int(popular[0]), index[text])
        for text in (
            "dark comedy",
            "funny, but sad",
            'so bad it\'s "good"',
            '"twist" ending, sort of',
            "Oscar (Best Picture)",
            "BD-R",
        )
    ]
    rows += [
        (heavy, int(popular[1]), index["Dark Comedy"]),
        (int(tag_users[1 % n]), int(popular[2]), index[" dark comedy "]),
        (int(tag_users[2 % n]), int(popular[3]), index["DARK COMEDY"]),
    ]
    rows += [(int(u), int(popular[4]), index[SHARED_TAG]) for u in tag_users[:5]]
    users, movies, tags = (np.asarray(col, dtype=np.int64) for col in zip(*rows, strict=True))
    return users, movies, tags


def _tag_sessions(
    rng: np.random.Generator,
    users: np.ndarray,
    movie_cdf: np.ndarray,
    tag_cdf: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One random tag row per entry of users (sorted): consecutive rows of a user often
    share a movie (a user applying several tags to one movie at once)."""
    n = len(users)
    new_session = rng.random(n) < 0.45
    new_session[0] = True
    new_session[1:] |= users[1:] != users[:-1]
    session = np.cumsum(new_session) - 1
    n_sessions = int(session[-1]) + 1
    session_movie = np.searchsorted(movie_cdf, rng.random(n_sessions), side="right")
    session_time = rng.integers(TAGS_FROM, TS_MAX - 600, n_sessions)
    movies = session_movie[session]
    times = session_time[session] + rng.integers(0, 600, n)
    tags = np.searchsorted(tag_cdf, rng.random(n), side="right")
    return users, movies, tags, times


def _make_tags(
    rng: np.random.Generator, sz: Sizes, movies: Movies, rating_counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """(userId, movieId, tag, timestamp) sorted by user, movie, time; no user applies the
    same tag (compared trimmed and lower-cased) twice to one movie."""
    n_movies = len(movies.ids)
    vocabulary = _tag_vocabulary(rng, sz.tag_vocabulary)
    normal_ids: dict[str, int] = {}
    normal = np.asarray(
        [normal_ids.setdefault(t.strip().lower(), len(normal_ids)) for t in vocabulary],
        dtype=np.int64,
    )
    tag_w = 1.0 / (np.arange(len(vocabulary)) + 10.0) ** 0.9
    tag_cdf = np.cumsum(tag_w) / tag_w.sum()
    movie_cdf = np.cumsum(movies.weights) / movies.weights.sum()

    # Taggers: users picked by rating activity; their tag counts are heavy-tailed.
    activity = rating_counts / rating_counts.sum()
    tag_users = np.sort(rng.choice(sz.users, size=sz.tag_users, replace=False, p=activity))
    appetite = rng.lognormal(0.0, 2.0, sz.tag_users)
    keenest = tag_users[np.argsort(-appetite, kind="stable")]
    popular = np.argsort(-movies.weights, kind="stable")
    f_users, f_movies, f_tags = _forced_tags(keenest, popular, vocabulary)
    forced = np.bincount(np.searchsorted(tag_users, f_users), minlength=sz.tag_users)
    target = forced + 1
    target += rng.multinomial(sz.tags - int(target.sum()), appetite / appetite.sum())
    f_times = rng.integers(TAGS_FROM, TS_MAX, len(f_users))

    # Draw rows for the users still short, drop repeats (first occurrence wins, so the
    # forced rows stay), keep the first target[u] rows of each user; repeat.
    cols = [f_users, f_movies, f_tags, f_times]
    want = target - forced
    n_normal = int(normal.max()) + 1
    for _ in range(100):
        short = np.flatnonzero(want)
        if not len(short):
            break
        batch = _tag_sessions(rng, np.repeat(tag_users[short], want[short]), movie_cdf, tag_cdf)
        cols = [np.concatenate([a, b]) for a, b in zip(cols, batch, strict=True)]
        key = (cols[0] * n_movies + cols[1]) * n_normal + normal[cols[2]]
        _, first = np.unique(key, return_index=True)
        first.sort()
        cols = [c[first] for c in cols]
        order = np.argsort(cols[0], kind="stable")
        cols = [c[order] for c in cols]
        owner = np.searchsorted(tag_users, cols[0])
        rank = np.arange(len(owner)) - np.searchsorted(owner, owner, side="left")
        keep = rank < target[owner]
        cols = [c[keep] for c in cols]
        want = target - np.bincount(owner[keep], minlength=sz.tag_users)
    else:
        raise RuntimeError("could not draw distinct tags")

    users, movie_index, tag_index, times = cols
    order = np.lexsort((tag_index, times, movie_index, users))
    texts = [vocabulary[i] for i in tag_index[order].tolist()]
    users, tag_movies = users[order] + 1, movies.ids[movie_index[order]]
    _blank_some_tags(users, tag_movies, texts)
    return users, tag_movies, texts, times[order]


def empty_tag_count(tags: int) -> int:
    """How many of `tags` rows the generator writes empty or only spaces."""
    return max(2, round(tags * EMPTY_TAG_SHARE))


def _blank_some_tags(users: np.ndarray, movies: np.ndarray, texts: list[str]) -> None:
    """Make EMPTY_TAG_SHARE of the rows (at least 2, evenly spread, never a QUIRK_TAGS row, at
    most one per (user, movie)) empty or only spaces, in place."""
    want = empty_tag_count(len(texts))
    quirks = set(QUIRK_TAGS)
    pairs: set[tuple[int, int]] = set()
    chosen = 0
    for i in np.linspace(0, len(texts) - 1, 4 * want).astype(np.int64).tolist():
        pair = (int(users[i]), int(movies[i]))
        if texts[i] in quirks or pair in pairs:
            continue
        pairs.add(pair)
        texts[i] = EMPTY_TAGS[chosen % len(EMPTY_TAGS)]
        chosen += 1
        if chosen == want:
            break


# --- genome --------------------------------------------------------------------------------


def _genome_tags(rng: np.random.Generator, n: int) -> list[str]:
    tags = dict.fromkeys(_GENOME_TAGS)
    while len(tags) < n:
        words = [str(rng.choice(_TAG_WORDS)), str(rng.choice(_TAG_NOUNS))]
        if rng.random() < 0.3:
            words.insert(0, str(rng.choice(_TAG_WORDS)))
        tags.setdefault(" ".join(words).lower())
    return list(tags)[:n]


def _genome_scores(rng: np.random.Generator, sz: Sizes, movies: Movies) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(movieId, tagId, relevance in 1/4000ths) for the most popular movies x all tags."""
    chosen = np.sort(np.argsort(-movies.weights, kind="stable")[: sz.genome_movies])
    n_tags = sz.genome_tags
    a = rng.uniform(0.5, 1.3, n_tags)
    b = rng.uniform(2.0, 10.0, n_tags)
    relevance = rng.beta(a, b, size=(sz.genome_movies, n_tags))
    signature = rng.random((sz.genome_movies, n_tags)) < 0.02
    relevance[signature] = 1.0 - 0.4 * rng.random(int(signature.sum()))
    quarters = np.clip(np.rint(relevance * 4000), 1, 4000).astype(np.int16)
    del relevance, signature
    movie_ids = np.repeat(movies.ids[chosen].astype(np.int32), n_tags)
    tag_ids = np.tile(np.arange(1, n_tags + 1, dtype=np.int32), sz.genome_movies)
    return movie_ids, tag_ids, quarters.ravel()


# --- writing -------------------------------------------------------------------------------


def write_rows(path: Path, name: str, rows: list, newline: str = "\n", blank_line: bool = False) -> int:
    """Write the header and rows with Python's csv module (quotes only where needed, as
    the ml-20m files do), and a blank line at the end if asked; returns the number of rows."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator=newline)
        writer.writerow(HEADERS[name])
        writer.writerows(rows)
        if blank_line:
            handle.write(newline)
    return len(rows)


# Text of each value, as DuckDB list literals indexed (from 1) by the stored integer:
# half stars 1..10 -> '0.5'..'5.0', relevance 1..4000 (1/4000ths) -> '0.00025'..'1.00000'.
# Much faster than printf() on tens of millions of rows.
_RATING_TEXT = "[" + ",".join(f"'{h / 2:.1f}'" for h in range(1, 11)) + "]"
_RELEVANCE_TEXT = "[" + ",".join(f"'{q / 4000:.5f}'" for q in range(1, 4001)) + "]"


def _copy_csv(path: Path, columns: dict[str, np.ndarray], select: str, newline: str = "\n") -> None:
    """Write `select ... from src` (src = the numpy columns) as CSV, in row order."""
    with duckdb.connect() as con:
        con.execute("set threads = 2")
        con.execute("set preserve_insertion_order = true")
        con.execute("set enable_progress_bar = false")
        con.register("src", columns)
        target = validate.sql_quote(path)
        ending = newline.replace("\r", "\\r").replace("\n", "\\n")
        con.execute(f"copy ({select}) to '{target}' (format csv, header, delimiter ',', new_line e'{ending}')")


class _Progress:
    """One short line per step on stderr: what, how many rows, how long."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.clock = time.perf_counter()

    def say(self, message: str) -> None:
        if not self.quiet:
            print(message, file=sys.stderr, flush=True)

    def step(self, what: str, rows: int | None = None) -> None:
        now = time.perf_counter()
        count = f"{rows:>12,} rows" if rows is not None else " " * 17
        self.say(f"  {what:<18} {count}  {now - self.clock:6.1f} s")
        self.clock = now


def generate(
    out_dir: str | os.PathLike, scale: float, seed: int, *, quiet: bool = False, line_ending: str = "lf"
) -> dict[str, int]:
    """Write the six files into out_dir (created if missing); returns rows per file.
    line_ending: "lf" (as MovieLens) or "crlf" (every line of every file).

    Each file is first written as out_dir/.<name>.<pid>.tmp; the six are renamed into
    place only when all are complete (genome-scores.csv last), and the temporary files
    are removed if anything fails. Progress goes to stderr unless quiet. ValueError for
    a bad scale or seed; OSError when out_dir cannot be written.
    """
    scale = check_scale(scale)
    sz = sizes(scale)
    if line_ending not in LINE_ENDINGS:
        raise ValueError(f"line_ending must be one of {', '.join(LINE_ENDINGS)}, got {line_ending!r}")
    newline = LINE_ENDINGS[line_ending]
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # One independent stream per part, so a change to one part leaves the others alone.
    movie_rng, link_rng, rating_rng, tag_rng, genome_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(5)
    )
    progress = _Progress(quiet)
    temps = {name: out / f".{name}.{os.getpid()}.tmp" for name in FILES}
    counts: dict[str, int] = {}

    def write(name: str, *columns) -> None:
        """One file from its columns with Python's csv module (tags.csv ends with a blank line)."""
        rows = list(zip(*(c.tolist() if isinstance(c, np.ndarray) else c for c in columns), strict=True))
        counts[name] = write_rows(temps[name], name, rows, newline, blank_line=name == TAGS)
        progress.step(name, counts[name])

    def copy(name: str, select: str, **columns: np.ndarray) -> None:
        """One file from numpy columns through DuckDB (`select ... from src`)."""
        _copy_csv(temps[name], columns, select, newline)
        counts[name] = len(next(iter(columns.values())))
        progress.step(name, counts[name])

    try:
        progress.say(f"generating scale {scale:g} seed {seed} into {out}")
        movies = _make_movies(movie_rng, sz)
        write(MOVIES, movies.ids, movies.titles, movies.genres)
        write(LINKS, movies.ids, *_links(link_rng, movies))
        ratings = _make_ratings(rating_rng, sz, movies)
        progress.step("(ratings drawn)")
        select = f"select u as userId, m as movieId, {_RATING_TEXT}[h] as rating, t as timestamp from src"
        copy(RATINGS, select, u=ratings.users, m=ratings.movies, h=ratings.half_stars, t=ratings.timestamps)
        rating_counts = ratings.counts
        del ratings  # 20M rows at scale 1: not kept while the tags are drawn
        write(TAGS, *_make_tags(tag_rng, sz, movies, rating_counts))
        write(GENOME_TAGS, range(1, sz.genome_tags + 1), _genome_tags(genome_rng, sz.genome_tags))
        movie_ids, tag_ids, quarters = _genome_scores(genome_rng, sz, movies)
        select = f"select m as movieId, t as tagId, {_RELEVANCE_TEXT}[q] as relevance from src"
        copy(GENOME_SCORES, select, m=movie_ids, t=tag_ids, q=quarters)

        # All six are complete: move them into place. genome-scores.csv goes last, as
        # `make data` takes ratings.csv and genome-scores.csv as the sign of a full set.
        for name in sorted(FILES, key=lambda name: name == GENOME_SCORES):
            os.replace(temps[name], out / name)
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
    return {name: counts[name] for name in FILES}


# --- the data folder of `make data` -----------------------------------------------------------


class DataDirError(UserError):
    """A data folder the generator must not write into; the message is the one line shown."""

    exit_code = 2


def is_generated_folder(folder: str | os.PathLike) -> bool:
    """True for a folder under data/generated/ (the generator's own), wherever it is named from."""
    return Path(folder).resolve().is_relative_to(GENERATED_ROOT.resolve())


def ensure_data(folder: str | os.PathLike) -> tuple[bool, str]:
    """What `make data` does with a folder: (generate?, what to say). A folder holding a
    MovieLens release (movies, ratings, tags and links; the genome files optional together) is
    used as it is. Otherwise only the generator's own folders under data/generated/ are written
    (all six files); any other folder raises DataDirError naming the missing files and the fix.
    Nothing here writes anything."""
    folder = Path(folder)
    mine = is_generated_folder(folder)
    present = [name for name in FILES if (folder / name).is_file()]
    missing = validate.missing_files(folder) if folder.is_dir() else None
    if mine and len(present) < len(FILES):
        return True, f"data: generating into {folder}"
    if missing == []:
        genome = "" if GENOME_SCORES in present else " (no genome files: the genome tables will be empty)"
        return False, f"data: using {folder} as it is{genome}"
    lacking = f"lacks {', '.join(missing)}" if missing else "does not exist"
    raise DataDirError(
        f"DATA_DIR={folder} {lacking}: put the MovieLens files there (movies.csv, ratings.csv, tags.csv, "
        "links.csv; genome-scores.csv and genome-tags.csv optional), e.g. `make download RELEASE=ml-latest-small` "
        "then DATA_DIR=data/ml-latest-small, or leave DATA_DIR unset to generate data under data/generated/ "
        "(nothing was written)"
    )


# --- command line --------------------------------------------------------------------------


def _scale(ctx, param, value: str) -> float:
    try:
        return check_scale(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _interrupt(signum, frame):
    raise KeyboardInterrupt


@click.command("generate")
@click.option("--scale", default="0.01", callback=_scale, help="fraction of ml-20m size, 0 < scale <= 1 (default 0.01)")
@click.option("--seed", type=click.IntRange(min=0), default=42, show_default=True, help="random seed")
@click.option("--out", type=click.Path(path_type=Path), help="output folder (default data/generated/sf<scale>)")
@click.option("--quiet", is_flag=True, help="no progress on stderr")
@click.option(
    "--line-ending", type=click.Choice(sorted(LINE_ENDINGS)), default="lf", help="lf (default, as MovieLens) or crlf"
)
@click.option(
    "--unless-present",
    is_flag=True,
    help="make data's mode: use --out as it is when it holds a MovieLens "
    "release; generate only into a folder under data/generated/, never into another one",
)
def command(scale: float, seed: int, out: Path | None, quiet: bool, line_ending: str, unless_present: bool) -> None:
    """Write the six ml-20m CSV files with synthetic, deterministic data."""
    out = out or Path(f"data/generated/sf{scale:g}")
    if unless_present:
        needed, message = ensure_data(out)
        print(message, file=sys.stderr)
        if not needed:
            return
    elif not is_generated_folder(out) and (there := [name for name in FILES if (out / name).exists()]):
        raise DataDirError(
            f"{out} already holds {', '.join(there)}, which would be overwritten: "
            "pass an empty folder or one under data/generated/ with --out"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise DataDirError(
            f"cannot write to output folder {str(out)!r} ({reason}): pass a writable folder with --out"
        ) from None
    # A termination request unwinds like Ctrl-C, so the temporary files are removed.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        generate(out, scale, seed, quiet=quiet, line_ending=line_ending)
    except OSError as exc:
        raise UserError(f"writing {str(out)!r} failed: {exc}") from None
    except KeyboardInterrupt:
        raise UserError("interrupted; no file was left half-written", 130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
