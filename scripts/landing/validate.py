"""Check a delivery folder before it lands (`python -m scripts validate`; upload and deliver call it).

A file that cannot be read unambiguously stops the delivery with one line `<file>: line <n>:
<problem>: <fix>` (ValidationError): a missing required file in batch 0, an empty file, a header
other than ml-20m's, a wrong column count, an unbalanced quote, invalid UTF-8, a repeated key or an
invalid row in movies or the genome files. Any other invalid row (the rules of scripts/contract.py,
written here in DuckDB SQL as CHECKS) is rejected: the file lands as it is, and the row is listed
with its file, line, text and reason in the batch's rejects file, which the warehouse reads as the
`rejected_rows` source. Blank lines hold no data and are skipped, as on both targets. Line numbers
count the header as line 1. DuckDB reads the files with the raw views' dialect
(macros/raw/raw_layer.sql); Python's csv module only reads files that contain a quote.
"""

from __future__ import annotations

import csv
import itertools
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import click
import duckdb

from scripts import contract
from scripts.common import UserError

# The delivered files (scripts/contract.py); the first delivery may lack tag_removals.
FILES = contract.DELIVERED
HEADERS = {table: contract.RAW[table].header for table in FILES}
OPTIONAL_TABLES = contract.OPTIONAL_TABLES & set(FILES)
GENOME_TABLES = contract.GENOME_TABLES
# Tables whose invalid rows are rejected (listed) rather than stopping the delivery; a file where
# most rows would be rejected is wrong as a whole and stops instead.
REJECTING_TABLES = {"ratings", "tags", "tag_removals", "links"}
MAX_REJECTED_SHARE = 0.5
SHARE_FROM_ROWS = 1000

# The rejects file: one per delivery, beside the data, read by the warehouse as a raw table.
REJECTS_TABLE = contract.REJECTS_TABLE
REJECTS_FILE = contract.FILES[REJECTS_TABLE]
REJECTS_HEADER = contract.RAW[REJECTS_TABLE].header

# The rules (scripts/contract.py) in DuckDB SQL over the raw text (every column read as varchar).
# A value is valid when it is written exactly as the number written back, which is also a cheap
# test (no regular expression for the 20M valid rows of ratings.csv).
RATINGS_SQL = "(" + ", ".join(f"'{r}'" for r in contract.RATINGS) + ")"


def _plain_int(column: str, low: int, high: int) -> str:
    value = f"try_cast({column} as bigint)"
    return f"coalesce(cast({value} as varchar) = {column} and {value} between {low} and {high}, false)"


IS_RATING = f"coalesce(rating in {RATINGS_SQL}, false)"
# Only rows whose rating is not one of the listed spellings reach the regular expression.
IS_NUMBER = f"case when {IS_RATING} then true else regexp_full_match(coalesce(rating, ''), '{contract.A_NUMBER}') end"
IS_EPOCH = _plain_int('"timestamp"', 0, contract.MAX_EPOCH)


def _positive_int(column: str) -> str:
    return _plain_int(column, 1, contract.MAX_INT)


@dataclass(frozen=True)
class Check:
    """One row rule: SQL that is true for a valid row, the problem, the fix."""

    valid: str
    problem: str
    fix: str


ID_FIX = "ids are positive whole numbers written plainly (1, 2, ...: no sign, space or leading zero)"
RATING_FIX = "ratings are written 0.5, 1.0 (or 1), 1.5, ... 5.0 (or 5)"
EPOCH_FIX = "timestamps are whole seconds since 1970-01-01 UTC, written plainly"
CHECKS: dict[str, list[Check]] = {
    "ratings": [
        Check(_positive_int("userid"), contract.USER_ID, ID_FIX),
        Check(_positive_int("movieid"), contract.MOVIE_ID, ID_FIX),
        Check(IS_NUMBER, contract.NOT_A_NUMBER, RATING_FIX),
        Check(IS_RATING, contract.NOT_HALF_STARS, RATING_FIX),
        Check(IS_EPOCH, contract.BAD_TIMESTAMP, EPOCH_FIX),
    ],
    "movies": [
        Check(_positive_int("movieid"), contract.MOVIE_ID, ID_FIX),
        Check("title is not null", "title is empty", "every movie needs a title"),
    ],
    "links": [
        Check(_positive_int("movieid"), contract.MOVIE_ID, ID_FIX),
        Check(
            f"regexp_full_match(coalesce(imdbid, ''), '{contract.IMDB_ID}')",
            contract.BAD_IMDB_ID,
            "write the IMDb id without its tt prefix",
        ),
        Check(
            f"tmdbid is null or regexp_full_match(tmdbid, '{contract.TMDB_ID}')",
            contract.BAD_TMDB_ID,
            "leave tmdbId empty when unknown",
        ),
    ],
    "tags": [
        Check(_positive_int("userid"), contract.USER_ID, ID_FIX),
        Check(_positive_int("movieid"), contract.MOVIE_ID, ID_FIX),
        # Empty, or spaces only (quoted or not): trim() as the warehouse does it on both targets.
        Check("coalesce(trim(tag) != '', false)", contract.EMPTY_TAG, "every tag row needs its text"),
        Check(IS_EPOCH, contract.BAD_TIMESTAMP, EPOCH_FIX),
    ],
    "genome_scores": [
        Check(_positive_int("movieid"), contract.MOVIE_ID, ID_FIX),
        Check(_positive_int("tagid"), contract.TAG_ID, ID_FIX),
        Check(
            "coalesce(try_cast(relevance as double) between 0 and 1, false)",
            "relevance is not a number from 0 to 1",
            "relevance is a number from 0 to 1",
        ),
    ],
    "genome_tags": [
        Check(_positive_int("tagid"), contract.TAG_ID, ID_FIX),
        Check("tag is not null", "tag is empty", "every genome tag needs its text"),
    ],
}
CHECKS["tag_removals"] = CHECKS["tags"]
# Tables whose movie ids must be known (in a movies.csv of this or an earlier delivery).
MOVIE_TABLES = {"ratings", "tags", "links", "genome_scores", "tag_removals"}
# Keys a single file may not repeat (ratings: the duplicates are rejected, not stopped).
KEYS = {
    "movies": ("movieid",),
    "links": ("movieid",),
    "genome_tags": ("tagid",),
    "genome_scores": ("movieid", "tagid"),
}


class ValidationError(UserError):
    """A delivery that must not land; the message is the one line the user sees."""


@dataclass
class Reject:
    line: int
    raw_text: str
    reason: str


@dataclass
class FileResult:
    """One checked file: its data rows and the rows the warehouse will leave out."""

    table: str
    path: Path
    rows: int
    rejects: list[Reject] = field(default_factory=list)
    seconds: float = 0.0
    blank_lines: list[int] = field(default_factory=list)  # skipped: they hold no data

    @property
    def loaded(self) -> int:
        return self.rows - len(self.rejects)

    def reasons(self) -> Counter:
        return Counter(r.reason for r in self.rejects)


def _stop(path: Path, line: int | None, problem: str, fix: str) -> ValidationError:
    where = f"{path}: line {line}" if line else f"{path}"
    return ValidationError(f"{where}: {problem}: {fix}")


# --- structure ------------------------------------------------------------------------------


def _check_header(path: Path, table: str) -> None:
    expected = HEADERS[table]
    fix = f"deliver the file with the ml-20m header {','.join(expected)} (those names, in that order)"
    with open(path, "rb") as handle:
        first = handle.readline()
    if not first:
        raise _stop(path, 1, "empty file (0 bytes, not even a header)", fix)
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _stop(path, 1, _utf8_problem(first, exc), "save the file as UTF-8") from None
    text = text.rstrip("\r\n")
    if text.startswith("\ufeff"):
        raise _stop(path, 1, "the file starts with a byte-order mark (BOM)", "save it as UTF-8 without BOM")
    found = next(csv.reader([text])) if text else []
    if tuple(found) == expected:
        return
    if sorted(found) == sorted(expected):
        problem = f"columns reordered: header is {text!r}, expected {','.join(expected)!r}"
    elif len(found) != len(expected):
        problem = f"header has {len(found)} columns ({text!r}), expected {len(expected)} ({','.join(expected)!r})"
    else:
        renamed = [f"{f!r} for {e!r}" for f, e in zip(found, expected, strict=True) if f != e]
        problem = f"columns renamed: header is {text!r}, expected {','.join(expected)!r} ({', '.join(renamed)})"
    raise _stop(path, 1, problem, fix)


def _utf8_problem(raw: bytes, exc: UnicodeDecodeError) -> str:
    bad = raw[exc.start : exc.end].hex(" ")
    return f"invalid UTF-8 (byte {bad} at column {exc.start + 1})"


@dataclass
class _Scan:
    newlines: int = 0
    has_quote: bool = False
    ends_with_newline: bool = True
    trailing_blanks: int = 0  # blank lines at the end of the file


def _scan(path: Path, chunk: int = 16 << 20) -> _Scan:
    """One pass over the bytes: newlines, any quote character, blank lines at the end."""
    scan, offset, previous = _Scan(), 0, b""
    with open(path, "rb") as handle:
        while data := handle.read(chunk):
            scan.newlines += data.count(b"\n")
            scan.has_quote = scan.has_quote or b'"' in data
            offset += len(data)
            previous = data
    scan.ends_with_newline = previous.endswith(b"\n")
    tail = previous.rstrip(b"\r\n")
    if len(tail) < len(previous) and (tail or offset > len(previous)):
        scan.trailing_blanks = previous[len(tail) :].count(b"\n") - 1
    return scan


def sql_quote(path: Path) -> str:
    return str(path).replace("'", "''")


def read_csv_sql(path: Path, table: str) -> str:
    """read_csv with the raw views' dialect (macros/raw/raw_layer.sql): every column text."""
    columns = ", ".join(f"'{name.lower()}': 'varchar'" for name in HEADERS[table])
    return (
        f"read_csv('{sql_quote(path)}', auto_detect = false, header = true, delim = ',', quote = '\"', "
        f"escape = '\"', strict_mode = true, columns = {{{columns}}})"
    )


_DUCK_LINE = re.compile(r"CSV Error on Line: (\d+)")
_DUCK_COLUMNS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")


def _duckdb_problem(path: Path, table: str, message: str) -> ValidationError:
    """One line from DuckDB's multi-line CSV error (its 'Line' counts lines as read)."""
    line_match = _DUCK_LINE.search(message)
    line = int(line_match.group(1)) if line_match else None
    columns = _DUCK_COLUMNS.search(message)
    if columns:
        return _stop(path, line, *_column_count(table, int(columns.group(2))))
    if "unterminated quote" in message:
        return _stop(path, line, "unbalanced quote: a quoted value is never closed", _QUOTE_FIX)
    if "Invalid unicode" in message:
        return _stop(path, line, _utf8_problem_at(path, line), "save the file as UTF-8")
    first = " ".join(message.strip().splitlines()[:1]) or "unreadable CSV"
    return _stop(path, line, f"not readable as CSV ({first})", "deliver an RFC 4180 CSV file (comma, double quotes)")


_QUOTE_FIX = 'close the quote, or double a quote inside a quoted value ("")'


def _utf8_problem_at(path: Path, line: int | None) -> str:
    """The invalid byte of a line, if the line is known and holds one."""
    if line:
        with open(path, "rb") as handle:
            raw = next(itertools.islice(handle, line - 1, None), b"")
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return _utf8_problem(raw, exc)
    return "invalid UTF-8"


def _column_count(table: str, found: int) -> tuple[str, str]:
    expected = HEADERS[table]
    return (
        f"wrong column count: {found} values, expected {len(expected)} ({','.join(expected)})",
        'quote values that contain a comma ("a, b") and give every row all its columns',
    )


def _python_structure(path: Path, table: str, blanks: list[int]) -> list[int]:
    """Parse a file that has quotes with Python's csv module: the line each row starts on.
    Blank lines hold no data: both targets skip them; their numbers go to `blanks`."""
    width = len(HEADERS[table])
    starts: list[int] = []

    def lines() -> Iterable[str]:
        with open(path, "rb") as handle:
            for number, raw in enumerate(handle, 1):
                try:
                    yield raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise _stop(path, number, _utf8_problem(raw, exc), "save the file as UTF-8") from None

    reader = csv.reader(lines(), strict=True)
    next(reader)  # the header, checked already
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            text = str(exc)
            if "unexpected end of data" in text or "field larger than field limit" in text:
                problem = f"unbalanced quote: the quoted value opened on line {start} is never closed"
                raise _stop(path, start, problem, _QUOTE_FIX) from None
            if "NUL" in text:
                raise _stop(path, reader.line_num, "NUL byte in the line", "remove it") from None
            raise _stop(path, reader.line_num, f"unbalanced quote ({text})", _QUOTE_FIX) from None
        if not row:
            blanks.append(start)
            continue
        if len(row) != width:
            raise _stop(path, start, *_column_count(table, len(row)))
        starts.append(start)
    return starts


def _structure(con, path: Path, table: str) -> tuple[int, list[int] | None, int, list[int]]:
    """Check the file's structure; return (rows, line of each row or None if row n is on line
    n + 1, number of lines, the blank lines). Blank lines are skipped, never stop a file: they
    hold no data and both targets skip them (DuckDB's read_csv; Snowflake's SKIP_BLANK_LINES)."""
    scan = _scan(path)
    lines = scan.newlines + (0 if scan.ends_with_newline else 1)
    starts, blanks = None, []
    if scan.has_quote:
        starts = _python_structure(path, table, blanks)
    try:
        rows = con.execute(f"select count(*) from {read_csv_sql(path, table)}").fetchone()[0]
    except duckdb.Error as exc:
        raise _duckdb_problem(path, table, str(exc)) from None
    if starts is None and rows == lines - 1 - scan.trailing_blanks:
        # Row n on line n + 1; blank lines, if any, only at the end (the common case, cheap).
        blanks = list(range(lines - scan.trailing_blanks + 1, lines + 1))
    elif starts is None:
        starts = _python_structure(path, table, blanks)  # rows and lines disagree: map them exactly
    if starts is not None and len(starts) != rows:
        raise _stop(
            path, None, f"DuckDB reads {rows} rows, Python's csv module {len(starts)}", "deliver an RFC 4180 CSV file"
        )
    return rows, starts, lines, blanks


# --- rows -----------------------------------------------------------------------------------


def _reason_sql(table: str, known: bool) -> str:
    whens = [f"when not ({check.valid}) then '{check.problem}'" for check in CHECKS[table]]
    if known and table in MOVIE_TABLES:
        whens.append(
            f"when try_cast(movieid as bigint) not in (select movie_id from known) then '{contract.UNKNOWN_MOVIE}'"
        )
    return "case " + " ".join(whens) + " end"


def _fixes(table: str) -> dict[str, str]:
    fixes = {check.problem: check.fix for check in CHECKS[table]}
    fixes[contract.UNKNOWN_MOVIE] = "deliver the movie in movies.csv (this delivery or an earlier one)"
    return fixes


def _invalid_rows(con, path: Path, table: str, known: bool) -> tuple[list[tuple[int, str]], bool]:
    """(row number, reason) of every invalid row, in file order, and whether the first of them
    is a repeated key (which stops the file). Row numbers come from row_number() over () on a
    single-file read, which follows the file's order."""
    source = read_csv_sql(path, table)
    reason = _reason_sql(table, known)
    checked = f"select row_number() over () as row_no, *, {reason} as reason from {source}"
    listed = f"select row_no, reason from ({checked}) where reason is not null order by row_no"
    if table == "ratings":
        # First one parallel pass that only counts (the clean case ends here), then, if needed,
        # the rows in file order: the reasons, and the losers of each repeated (user, movie)
        # among the valid rows.
        pair = f"try_cast(userid as bigint) * {contract.MAX_INT + 1} + try_cast(movieid as bigint)"
        invalid, repeated = con.execute(
            f"""
            select
                count(*) filter (where reason is not null),
                count(*) filter (where reason is null) - count(distinct pair) filter (where reason is null)
            from (select {reason} as reason, {pair} as pair from {source})
            """
        ).fetchone()
        if not repeated:
            return con.execute(listed).fetchall() if invalid else [], False
        sql = f"""
            with checked as materialized (
                select
                    row_number() over () as row_no,
                    {reason} as reason,
                    {pair} as pair,
                    try_cast("timestamp" as bigint) as t,
                    try_cast(rating as double) as r
                from {source}
            ),
            repeated as (
                select pair from checked where reason is null group by pair having count(*) > 1
            ),
            ranked as (
                select
                    checked.row_no,
                    row_number() over (
                        partition by checked.pair order by checked.t desc, checked.r desc, checked.row_no
                    ) as rank
                from checked
                inner join repeated on checked.pair = repeated.pair
                where checked.reason is null
            )
            select row_no, reason from checked where reason is not null
            union all
            select row_no, '{contract.DUPLICATE_PAIR}' from ranked where rank > 1
            order by row_no
        """
        return con.execute(sql).fetchall(), False
    found = []
    if con.execute(f"select count(*) from {source} where ({reason}) is not null").fetchone()[0]:
        found = con.execute(listed).fetchall()
    if table in KEYS and (table in REJECTING_TABLES or not found):
        # A key repeated among the valid rows: which row is the right one is a guess (a stop).
        key = ", ".join(f"try_cast({column} as bigint)" for column in KEYS[table])
        repeated = con.execute(
            f"select 1 from {source} where ({reason}) is null group by {key} having count(*) > 1 limit 1"
        ).fetchall()
        if repeated:  # only then find the first repeated row (a window over the whole file)
            repeated = con.execute(
                f"select row_no from ({checked}) where reason is null "
                f"qualify row_number() over (partition by {key} order by row_no) > 1 order by row_no limit 1"
            ).fetchall()
            names = " and ".join(HEADERS[table][[h.lower() for h in HEADERS[table]].index(c)] for c in KEYS[table])
            return [(repeated[0][0], f"duplicate {names}: the same key is on an earlier line")], True
    return found, False


def _raw_lines(path: Path, spans: list[tuple[int, int]]) -> dict[int, str]:
    """The text of lines start..end (1-based, inclusive) of each span, keyed by start, without
    the final line break. Reads the file up to the last line needed."""
    owner = {line: start for start, end in spans for line in range(start, end + 1)}
    parts: dict[int, list[bytes]] = {}
    if not owner:
        return {}
    last = max(owner)
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            start = owner.get(number)
            if start is not None:
                parts.setdefault(start, []).append(raw)
            if number >= last:
                break
    return {start: b"".join(chunks).decode("utf-8").rstrip("\r\n") for start, chunks in parts.items()}


def validate_file(path: str | Path, table: str, known_movie_ids: Iterable[int] | None = None) -> FileResult:
    """Check one delivered file of `table`. Raises ValidationError (one line) when it must not
    land; otherwise returns its row count and the rows the warehouse leaves out (ratings only).
    Movie ids are checked against known_movie_ids unless it is None."""
    path = Path(path)
    if table not in HEADERS:
        raise ValidationError(f"{path}: unknown table {table!r}: use one of {', '.join(HEADERS)}")
    clock = time.perf_counter()
    if not path.is_file():
        raise _stop(path, None, "no such file", f"deliver {FILES[table]} for table {table}")
    _check_header(path, table)
    with duckdb.connect() as con:
        con.execute("set preserve_insertion_order = true")
        rows, starts, lines, blanks = _structure(con, path, table)
        known = known_movie_ids is not None and table in MOVIE_TABLES
        if known:
            ids = sorted({int(i) for i in known_movie_ids})
            if not ids and rows:
                raise _stop(
                    path,
                    None,
                    "no movie is known: no movies.csv in this delivery nor landed before",
                    "land movies.csv first, or with this file",
                )
            con.execute("create temp table known (movie_id bigint)")
            if ids:
                text = ",".join(map(str, ids))
                con.execute("insert into known select unnest(string_split(?, ','))::bigint", [text])
        try:
            invalid, repeated_key = _invalid_rows(con, path, table, known) if rows else ([], False)
        except duckdb.Error as exc:
            raise _duckdb_problem(path, table, str(exc)) from None

    def span(row_no: int) -> tuple[int, int]:
        if starts is None:
            return row_no + 1, row_no + 1
        end = starts[row_no] - 1 if row_no < len(starts) else lines
        return starts[row_no - 1], end

    if invalid and (repeated_key or table not in REJECTING_TABLES):
        row_no, reason = invalid[0]
        more = f" (and {len(invalid) - 1} more row(s))" if len(invalid) > 1 else ""
        fix = _fixes(table).get(reason, "deliver each key once per file")
        raise _stop(path, span(row_no)[0], reason + more, fix)
    if rows >= SHARE_FROM_ROWS and len(invalid) > MAX_REJECTED_SHARE * rows:
        row_no, reason = invalid[0]
        raise _stop(
            path,
            None,
            f"{len(invalid):,} of {rows:,} rows would be rejected (line {span(row_no)[0]}: {reason}, ...): "
            "the file looks wrong as a whole",
            "fix it and deliver it again (rows are listed one by one only when they are the exception)",
        )
    texts = _raw_lines(path, [span(row_no) for row_no, _ in invalid])
    rejects = [Reject(span(row_no)[0], texts.get(span(row_no)[0], ""), reason) for row_no, reason in invalid]
    return FileResult(table, path, rows, rejects, time.perf_counter() - clock, blanks)


# --- a delivery folder ----------------------------------------------------------------------


def movie_ids(path: str | Path) -> set[int]:
    """The movie ids of a movies.csv (rows whose id is not a number are skipped)."""
    sql = f"select distinct try_cast(movieid as bigint) from {read_csv_sql(Path(path), 'movies')}"
    with duckdb.connect() as con:
        try:
            return {row[0] for row in con.execute(sql).fetchall() if row[0] is not None}
        except duckdb.Error as exc:
            raise _duckdb_problem(Path(path), "movies", str(exc)) from None


def missing_files(src: str | Path) -> list[str]:
    """The files a first delivery (a MovieLens release folder) lacks: every table but the
    optional ones; the genome files are optional together (ml-latest-small has neither), but
    one without the other is missing its pair."""
    src = Path(src)
    have = {t for t in FILES if (src / FILES[t]).is_file()}
    optional = OPTIONAL_TABLES | (set() if have & set(GENOME_TABLES) else set(GENOME_TABLES))
    return [FILES[t] for t in FILES if t not in optional and t not in have]


def plan_tables(src: Path, tables: list[str] | None, batch: int) -> list[str]:
    """The tables of a delivery folder to check, movies first. The first delivery (batch 0)
    must hold every required table; a later one holds what changed."""
    if tables is None:
        missing = missing_files(src)
        if batch == 0 and missing:
            raise ValidationError(
                f"{src / missing[0]}: missing: the first delivery (batch 0) needs a file for every table "
                f"(missing: {', '.join(missing)}): add the file(s), or land the tables you have "
                "with --tables and the rest later in the same batch"
            )
        tables = [t for t in FILES if (src / FILES[t]).is_file()]
    for table in tables:
        if table not in FILES:
            raise ValidationError(f"unknown table {table!r}: use some of {', '.join(FILES)}")
        if not (src / FILES[table]).is_file():
            raise _stop(src / FILES[table], None, "missing", f"add the file or leave table {table} out of --tables")
    return sorted(tables, key=lambda t: t != "movies")


def validate_dir(
    src: str | Path,
    tables: list[str] | None = None,
    batch: int = 0,
    known_movie_ids: Iterable[int] | None = (),
    stream: IO[str] | None = None,
) -> list[FileResult]:
    """Check every file of a delivery folder, movies first (its ids become known for the other
    files). known_movie_ids: the movies of earlier deliveries; None skips the movie check."""
    src = Path(src)
    if not src.is_dir():
        raise ValidationError(f"--src {src} is not a folder: point it at a folder of MovieLens CSV files")
    known = None if known_movie_ids is None else set(known_movie_ids)
    results = []
    for table in plan_tables(src, tables, batch):
        path = src / FILES[table]
        result = validate_file(path, table, known)
        if table == "movies" and known is not None:
            known |= movie_ids(path)
        results.append(result)
        if stream is not None:
            print(f"  checked {describe(result)}", file=stream, flush=True)
    return results


def describe(result: FileResult) -> str:
    text = f"{result.path.name}  {result.rows:,} row{'s' if result.rows != 1 else ''}"
    if result.rejects:
        reasons = "; ".join(f"{reason}: {n:,}" for reason, n in sorted(result.reasons().items()))
        text += f", {len(result.rejects):,} rejected ({reasons})"
    if result.blank_lines:
        first = result.blank_lines[0]
        text += f", {len(result.blank_lines):,} blank line(s) skipped (line {first}{', ...' if len(result.blank_lines) > 1 else ''})"
    return f"{text}  {result.seconds:.1f} s"


def write_rejects(results: Iterable[FileResult], source_files: dict[str, str], out: str | Path) -> int:
    """Write the rejects of a delivery to `out` (header + one row per rejected row); returns
    the number of rows. source_files: table -> the landed file's URL, as the warehouse's
    `filename` column shows it. Every value is quoted, so commas, quotes, newlines and
    backslashes in raw_text read back the same on DuckDB and Snowflake."""
    count = 0
    with open(out, "w", newline="", encoding="utf-8") as handle:
        handle.write(",".join(REJECTS_HEADER) + "\n")
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\n")
        for result in results:
            for reject in result.rejects:
                writer.writerow([result.table, source_files[result.table], reject.line, reject.raw_text, reject.reason])
                count += 1
    return count


# --- command line ---------------------------------------------------------------------------


def table_list(ctx, param, values: tuple[str, ...]) -> list[str] | None:
    """--tables ratings,tags (or repeated): the tables named, None when not given."""
    return [t for value in values for t in value.split(",") if t] or None


@click.command("validate")
@click.option(
    "--src", required=True, type=click.Path(path_type=Path), help="folder holding movies.csv, ratings.csv, ..."
)
@click.option("--batch", type=int, default=0, show_default=True, help="the delivery's batch (0 must hold every table)")
@click.option("--tables", multiple=True, callback=table_list, help="only these tables, comma-separated")
@click.option("--known-movies", multiple=True, type=click.Path(), help="movies.csv of an earlier delivery (repeatable)")
@click.option("--show", type=int, default=5, show_default=True, help="rejected rows to print per file")
def command(src: Path, batch: int, tables: list[str] | None, known_movies: tuple[str, ...], show: int) -> None:
    """Check the MovieLens CSV files of a delivery folder, landing nothing."""
    known: set[int] | None = set()
    for path in known_movies:
        known |= movie_ids(path)
    movies = src / FILES["movies"]
    if tables is not None and "movies" not in tables and movies.is_file():
        validate_file(movies, "movies")  # its ids count only if it is valid
        known |= movie_ids(movies)
    elif not known_movies and not movies.is_file():
        known = None  # nothing to check the movie ids against
    results = validate_dir(src, tables, batch, known, stream=sys.stderr)
    for result in results:
        for reject in result.rejects[:show]:
            print(f"{result.path}: line {reject.line}: {reject.reason}: {reject.raw_text}")
        if len(result.rejects) > show:
            print(f"{result.path}: ... {len(result.rejects) - show:,} more rejected row(s)")
    rows = sum(r.rows for r in results)
    rejected = sum(len(r.rejects) for r in results)
    if known is None:
        print("note: movie ids not checked (no movies.csv here and no --known-movies)", file=sys.stderr)
    print(f"ok: {len(results)} file(s), {rows:,} rows, {rejected:,} would be rejected, none stops the delivery")
