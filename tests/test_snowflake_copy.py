"""The emulator's COPY INTO follows Snowflake's documented CSV behaviour where the project depends on it.

Each test lands a few hostile bytes in a file:// stage of the emulator and loads them with COPY, with
Snowflake's defaults and with the options the project sets (macros/snowflake/raw_load.sql). Each
behaviour is cited from Snowflake's documentation beside its code in scripts/emulator/snowflake_emulator.py:

- a transforming COPY (`select t.$1 ... from @stage`) ignores ERROR_ON_COLUMN_COUNT_MISMATCH: $n past
  a record's last field is NULL ("Transforming data during a load");
- ESCAPE_UNENCLOSED_FIELD defaults to backslash; NULL_IF defaults to ('\\N'); SKIP_BLANK_LINES
  defaults to FALSE; EMPTY_FIELD_AS_NULL covers two successive delimiters, not an enclosed "";
- the record delimiter is the new line, `\\r\\n` included;
- a value that does not convert, invalid UTF-8 and a quote never closed stop the COPY
  (ON_ERROR = ABORT_STATEMENT) naming the file and the line.
"""

from __future__ import annotations

import ast
import itertools
import re

import pytest
import snowflake.connector

from tests.dbt_runner import ROOT
from tests.snowflake_helpers import running_emulator, snowflake_connect

pytestmark = pytest.mark.emulator


def _project_format() -> str:
    """The options raw_csv_format_options() returns, read from the macro's string literals, so a
    change to the project's file format is the one these tests check."""
    text = (ROOT / "macros" / "snowflake" / "raw_load.sql").read_text(encoding="utf-8")
    body = re.search(r"macro raw_csv_format_options\(\) %\}(.*?)\{% endmacro", text, re.S).group(1)
    return "".join(ast.literal_eval(literal) for literal in re.findall(r'"(?:[^"\\]|\\.)*"', body))


PROJECT_FORMAT = _project_format()
_names = itertools.count()


@pytest.fixture(scope="module")
def emulator(moto_server, tmp_path_factory):
    work = tmp_path_factory.mktemp("sf-copy")
    with running_emulator(work, moto_server) as port:
        con = snowflake_connect(port)
        con.cursor().execute("create schema if not exists ANALYTICS.COPYTEST")
        yield con, work / "files"
        con.close()


def copy(emulator, data: bytes, fields: int, file_format: str, name: str = "data.csv") -> list[tuple]:
    """Land `data` as its own stage folder, COPY it into a fresh table of `fields` text columns with
    a transformation ($1..$fields), return the loaded rows in file order."""
    con, files = emulator
    case = f"c{next(_names)}"
    folder = files / case
    folder.mkdir(parents=True)
    (folder / name).write_bytes(data)
    cur = con.cursor()
    columns = ", ".join(f"f{i} varchar" for i in range(1, fields + 1))
    cur.execute(f"create table ANALYTICS.COPYTEST.{case} ({columns}, row_number number)")
    cur.execute(f"create stage ANALYTICS.COPYTEST.{case}_stage url = 'file://{folder}/'")
    positions = ", ".join(f"t.${i}" for i in range(1, fields + 1))
    cur.execute(
        f"copy into ANALYTICS.COPYTEST.{case} from (select {positions}, metadata$file_row_number"
        f" from @ANALYTICS.COPYTEST.{case}_stage as t) file_format = ({file_format}) on_error = abort_statement"
    )
    cur.execute(f"select * exclude (row_number) from ANALYTICS.COPYTEST.{case} order by row_number")
    return [tuple(row) for row in cur.fetchall()]


def copy_error(emulator, data: bytes, fields: int, file_format: str, select: str | None = None) -> str:
    with pytest.raises(snowflake.connector.errors.ProgrammingError) as caught:
        if select is None:
            copy(emulator, data, fields, file_format)
        else:
            con, files = emulator
            case = f"c{next(_names)}"
            (files / case).mkdir(parents=True)
            (files / case / "data.csv").write_bytes(data)
            cur = con.cursor()
            cur.execute(f"create table ANALYTICS.COPYTEST.{case} (f1 number)")
            cur.execute(f"create stage ANALYTICS.COPYTEST.{case}_stage url = 'file://{files / case}/'")
            cur.execute(
                f"copy into ANALYTICS.COPYTEST.{case} from (select {select} from @ANALYTICS.COPYTEST.{case}_stage as t)"
                f" file_format = ({file_format}) on_error = abort_statement"
            )
    return caught.value.msg


# --- the documented behaviour ------------------------------------------------------------------


def test_a_transforming_copy_ignores_the_column_count(emulator):
    data = b"a,b,c\n1,2,3\n4,5,6,7\n8,9\n"
    rows = copy(emulator, data, 4, "type = csv skip_header = 1 error_on_column_count_mismatch = true")
    assert rows == [("1", "2", "3", None), ("4", "5", "6", "7"), ("8", "9", None, None)]


def test_escape_unenclosed_field_defaults_to_backslash(emulator):
    data = b"a,b\n1,C:\\path\\x\n2,end\\\n3,z\n"
    assert copy(emulator, data, 2, "type = csv skip_header = 1") == [("1", "C:pathx"), ("2", "end\n3")]
    kept = copy(emulator, data, 2, "type = csv skip_header = 1 escape_unenclosed_field = none")
    assert kept == [("1", "C:\\path\\x"), ("2", "end\\"), ("3", "z")]


def test_null_if_defaults_to_backslash_n(emulator):
    data = b"a,b\n1,\\N\n2,x\n"
    assert copy(emulator, data, 2, "type = csv skip_header = 1 escape_unenclosed_field = none") == [
        ("1", None),
        ("2", "x"),
    ]
    kept = copy(emulator, data, 2, "type = csv skip_header = 1 escape_unenclosed_field = none null_if = ()")
    assert kept == [("1", "\\N"), ("2", "x")]


def test_skip_blank_lines_defaults_to_false(emulator):
    data = b"a,b\n1,x\n\n2,y\n\n"
    assert copy(emulator, data, 2, "type = csv skip_header = 1") == [("1", "x"), (None, None), ("2", "y"), (None, None)]
    assert copy(emulator, data, 2, "type = csv skip_header = 1 skip_blank_lines = true") == [("1", "x"), ("2", "y")]


def test_empty_field_as_null_covers_empty_fields_not_enclosed_empty_strings(emulator):
    data = b'a,b,c\n1,,""\n'
    enclosed = "type = csv skip_header = 1 field_optionally_enclosed_by = '\"'"
    assert copy(emulator, data, 3, enclosed) == [("1", None, "")]
    assert copy(emulator, data, 3, enclosed + " empty_field_as_null = false") == [("1", "", "")]


def test_crlf_ends_a_record_and_doubled_quotes_stay_one_quote(emulator):
    data = b'movieId,title,genres\r\n1,"Say ""Hi"" (1999)",Comedy\r\n2,"Heat, The (1995)",Action\r\n'
    rows = copy(emulator, data, 3, "type = csv skip_header = 1 field_optionally_enclosed_by = '\"'")
    assert rows == [("1", 'Say "Hi" (1999)', "Comedy"), ("2", "Heat, The (1995)", "Action")]
    rows = copy(emulator, data, 3, PROJECT_FORMAT)
    assert rows == [("1", 'Say "Hi" (1999)', "Comedy"), ("2", "Heat, The (1995)", "Action")]


def test_the_project_format_keeps_every_byte_as_text(emulator):
    data = 'a,b,c\r\n1,C:\\path\\,\\N\r\n2,"",\U0001f3ac caf\u00e9\r\n\r\n3,,"a ""q"""\r\n\r\n'.encode()
    rows = copy(emulator, data, 3, PROJECT_FORMAT)
    assert rows == [("1", "C:\\path\\", "\\N"), ("2", "", "\U0001f3ac caf\u00e9"), ("3", "", 'a "q"')]


def test_a_header_only_file_loads_no_rows(emulator):
    assert copy(emulator, b"userId,movieId,rating,timestamp\n", 4, PROJECT_FORMAT) == []


def test_a_value_that_does_not_convert_stops_the_copy_at_its_line(emulator):
    message = copy_error(emulator, b"n\n1\n\n2x\n", 1, PROJECT_FORMAT, select="cast(t.$1 as number)")
    assert "Numeric value '2x' is not recognized" in message and "line 4" in message, message
    assert "data.csv" in message


def test_invalid_utf8_stops_the_copy_at_its_line(emulator):
    message = copy_error(emulator, b"a,b\n1,x\n2,caf\xe9\n", 2, PROJECT_FORMAT)
    assert "Invalid UTF8" in message and "line 3" in message and "data.csv" in message, message


def test_a_quote_never_closed_stops_the_copy_at_its_line(emulator):
    message = copy_error(emulator, b'a,b\n1,x\n2,"open\n3,y\n', 2, PROJECT_FORMAT)
    assert "line 3" in message and "data.csv" in message, message
