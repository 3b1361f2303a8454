#!/usr/bin/env python
"""Local Snowflake emulator for the offline checks of the Snowflake (prod) target.

There is no Snowflake account, so the Snowflake path of the project (dbt-snowflake) is run against
fakesnow (https://github.com/tekumara/fakesnow) in server mode, which speaks Snowflake's REST
protocol over http and executes the SQL in DuckDB.

fakesnow pins its own duckdb, so this script runs from its own virtualenv, as a separate process:

    python3 -m venv .venv-fakesnow
    .venv-fakesnow/bin/pip install -r requirements-fakesnow.lock
    .venv-fakesnow/bin/python scripts/emulator/snowflake_emulator.py --port 8765 [--db-path DIR] &
    .venv-fakesnow/bin/python scripts/emulator/snowflake_emulator.py --port 8765 --check --wait 60

It prints one ready line (``snowflake-emulator ready on HOST:PORT ... pid=N``) once it accepts
connections, and serves until SIGINT or SIGTERM (then closes its databases and exits 0). ``--check``
needs nothing but the standard library: it exits 0 when an emulator answers a login on that port,
1 otherwise (``--wait N`` keeps trying for N seconds).

With ``--db-path DIR`` every database is a DuckDB file in DIR, and stages, file formats and internal
stage files live there too, so tables and COPY load history survive dbt invocations and restarts.
Without it everything is in memory for the server's lifetime. Only one emulator can use a DIR.

A dbt profile points dbt-snowflake at it with:
    type: snowflake, account/user/password: anything, host: 127.0.0.1, port: <port>, protocol: http
Raw snowflake-connector scripts should also set SNOWFLAKE_DISABLE_PLATFORM_DETECTION=true (or
platform_detection_timeout_seconds=0, dbt-snowflake's default): otherwise the connector probes cloud
metadata addresses on every connect.

COPY INTO works from internal stages (PUT), from `file://` stages (emulator only) and, given
``--s3-endpoint-url`` (eg: a moto server on 127.0.0.1), from `s3://` stages.

fakesnow 0.11.22 runs most of what dbt-snowflake 1.12 sends. The rest is worked around below, by
wrapping or replacing fakesnow internals in this process only (the dbt models stay plain Snowflake
SQL). Each workaround says which Snowflake behaviour it restores and when it can be dropped; they
are written against fakesnow 0.11.22 (see requirements-fakesnow.in). ``--list-workarounds`` lists
them; ``--no-workarounds`` serves plain fakesnow, to see which of them a newer fakesnow still needs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

READY_PREFIX = "snowflake-emulator ready"

# One line per workaround, in the order of the code below (printed by --list-workarounds).
WORKAROUNDS = [
    "temporary tables/views with a qualified name (db.schema.x__dbt_tmp), dropped at logout",
    "logout reaches the server (login returns a master token)",
    "CREATE TABLE IF NOT EXISTS leaves an existing table and its load history alone",
    "MERGE: unqualified NOT MATCHED INSERT values refer to the source",
    "a failed statement is an SQL error (never HTTP 500) and the session stays usable",
    "comment/varchar-length bookkeeping written outside the caller's transaction",
    "views listed in INFORMATION_SCHEMA.TABLES",
    "NULL timestamps reach the client as NULL, not 1970-01-01",
    "results of more than one arrow batch (over ~1M rows)",
    "CSV read by Snowflake's documented rules: defaults, escapes, NULL_IF, empty fields, blank lines, CRLF",
    "option values given as identifiers (FORMAT_NAME = db.schema.fmt)",
    "COPY transformations: $n beyond a record's last field is NULL (no column-count check)",
    "COPY transformations: a failed numeric cast aborts the COPY naming the file and line",
    "COPY transformations: $n, METADATA$FILENAME, METADATA$FILE_ROW_NUMBER, one current_timestamp()",
    "COPY: prefix listing of file:// stages, file:// names in load history, PATTERN",
    "COPY with ON_ERROR = ABORT_STATEMENT is all-or-nothing; its result lists only the files it loaded",
    "every DuckDB integer type (UBIGINT, HUGEINT, ...) described as NUMBER(38,0)",
    "DROP DATABASE [IF EXISTS]: detached, and its file under --db-path deleted",
]


# ---------------------------------------------------------------------------------------------
# --check: standard library only, so any python can probe the port
# ---------------------------------------------------------------------------------------------


def _post(url: str, body: dict[str, Any], headers: dict[str, str], timeout: float) -> dict[str, Any]:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json", **headers},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - loopback only
        return json.loads(resp.read() or b"{}")


def check(host: str, port: int, timeout: float = 2.0) -> bool:
    """True when a fakesnow server answers a Snowflake login on host:port."""
    base = f"http://{host}:{port}"
    try:
        login = _post(
            f"{base}/session/v1/login-request",
            {"data": {"SESSION_PARAMETERS": {}}},
            {},
            timeout,
        )
        token = login.get("data", {}).get("token") if login.get("success") else None
        if not token:
            return False
        # log the probe session out again, so probes don't pile up in the server
        _post(f"{base}/session?delete=true", {}, {"Authorization": f'Snowflake Token="{token}"'}, timeout)
        return True
    except (OSError, urllib.error.URLError, ValueError):
        return False


# ---------------------------------------------------------------------------------------------
# Workarounds. Everything below imports fakesnow, so it only runs inside .venv-fakesnow.
# ---------------------------------------------------------------------------------------------

EMU_OBJECTS_ATTR = "_emulator_session_objects"


def _norm(ident: Any) -> str | None:
    """Snowflake identifier resolution: unquoted names are upper case, quoted ones kept as written."""
    from sqlglot import exp

    if ident is None:
        return None
    if isinstance(ident, exp.Identifier):
        return ident.this if ident.quoted else ident.this.upper()
    return str(ident).upper()


def _table_key(table: Any, conn: Any) -> tuple[str, str, str]:
    catalog = _norm(table.args.get("catalog")) or conn.database or ""
    schema = _norm(table.args.get("db")) or conn.schema or ""
    return catalog, schema, _norm(table.this) or ""


def _quoted_name(key: tuple[str, str, str]) -> str:
    return ".".join('"' + part.replace('"', '""') + '"' for part in key)


def _relation_exists(duck_conn: Any, key: tuple[str, str, str]) -> bool:
    # duckdb names are case-insensitive, so two names differing in case only cannot coexist there
    sql = (
        "select 1 from duckdb_tables() where lower(database_name) = lower(?) and lower(schema_name) = lower(?) "
        "and lower(table_name) = lower(?)"
    )
    return bool(duck_conn.execute(sql, list(key)).fetchall())


def _abort_failed_transaction(cursor: Any) -> None:
    """Leave the session usable after a failed statement.

    DuckDB marks the whole transaction aborted when a statement in it fails, and refuses every
    later statement until a ROLLBACK. Snowflake only rolls back the failed statement. DuckDB cannot
    do that, so roll back the transaction, but only when DuckDB actually aborted it.
    """
    import duckdb

    duck = cursor._duck_conn  # noqa: SLF001
    try:
        duck.execute("select 1").fetchall()
        return  # the transaction (if any) is still usable
    except duckdb.Error:
        pass
    try:
        duck.rollback()
    except duckdb.Error:
        pass
    cursor._conn._in_transaction = False  # noqa: SLF001


def _rewrite_statement(cursor: Any, expression: Any) -> Any:
    """Statement-level rewrites, applied to the parsed Snowflake statement before fakesnow's own."""
    from sqlglot import exp

    conn = cursor._conn  # noqa: SLF001

    # --- Temporary tables and views -----------------------------------------------------------
    # Restores: `create [or replace] temporary table|view db.schema.x`, with the fully qualified name
    # dbt-snowflake uses for unit tests, snapshots and incremental models (`x__dbt_tmp`), and later
    # references to it by that name. DuckDB keeps temporary objects in its own `temp` catalog and
    # refuses a qualified name ("TEMPORARY table names can *only* use the temp catalog"), and fakesnow
    # passes the name through. The object is created as an ordinary table/view in the named schema
    # instead, and dropped when the session that made it logs out (or the emulator stops), which is
    # the lifetime of a Snowflake temporary object. Unlike Snowflake, another session can see it in
    # the meantime; dbt's tmp names are per model, so runs do not collide.
    # Drop when fakesnow fixes qualified names of temporary tables/views.
    if isinstance(expression, exp.Create) and str(expression.args.get("kind") or "").upper() in {"TABLE", "VIEW"}:
        props = expression.args.get("properties")
        temp_props = [p for p in (props.expressions if props else []) if isinstance(p, exp.TemporaryProperty)]
        if temp_props and (table := expression.find(exp.Table)) is not None:
            remaining = [p for p in props.expressions if not isinstance(p, exp.TemporaryProperty)]
            if remaining:
                props.set("expressions", remaining)
            else:
                expression.set("properties", None)
            objects = getattr(conn, EMU_OBJECTS_ATTR, None)
            if objects is None:
                objects = {}
                setattr(conn, EMU_OBJECTS_ATTR, objects)
            objects[_table_key(table, conn)] = str(expression.args["kind"]).upper()

    # --- CREATE TABLE IF NOT EXISTS on an existing table -----------------------------------------
    # Restores: `create table if not exists` leaves an existing table alone, load history included,
    # and answers "<NAME> already exists, statement succeeded.". fakesnow clears the table's COPY
    # load history after any CREATE TABLE, so a second COPY INTO loaded every file again.
    # Drop when fakesnow only clears load history for a table it actually (re)created.
    if (
        isinstance(expression, exp.Create)
        and str(expression.args.get("kind") or "").upper() == "TABLE"
        and expression.args.get("exists")
        and not expression.args.get("replace")
        and (table := expression.find(exp.Table)) is not None
    ):
        key = _table_key(table, conn)
        if _relation_exists(cursor._duck_conn, key):  # noqa: SLF001
            message = f"{key[2]} already exists, statement succeeded."
            return exp.select(exp.alias_(exp.Literal.string(message), "status", quoted=True))

    # --- DROP DATABASE ----------------------------------------------------------------------------
    # Restores: DROP DATABASE [IF EXISTS] <name> (`make prod-smoke` drops its throwaway database).
    # fakesnow hands it to DuckDB, which has no such statement ("syntax error at or near DATABASE").
    # Detach the database and delete its file under --db-path, so the name can be created afresh.
    # Drop when fakesnow supports DROP DATABASE.
    if isinstance(expression, exp.Drop) and str(expression.args.get("kind") or "").upper() == "DATABASE":
        import snowflake.connector.errors as sf_errors

        target = expression.find(exp.Table)
        name = _norm(target.this) if target is not None else ""
        duck = cursor._duck_conn  # noqa: SLF001
        attached = {row[0] for row in duck.execute("select database_name from duckdb_databases()").fetchall()}
        found = next((db for db in attached if db.upper() == name.upper()), None)
        if found is None:
            if not expression.args.get("exists"):
                raise sf_errors.ProgrammingError(
                    msg=f"Database '{name}' does not exist or not authorized.", errno=2003, sqlstate="02000"
                )
            return exp.select(exp.alias_(exp.Literal.string(f"{name} does not exist, drop skipped."), "status"))
        if (conn.database or "").upper() == found.upper():
            # Snowflake leaves the session without a current database; DuckDB needs another default
            from fakesnow.instance import GLOBAL_DATABASE_NAME

            duck.execute(f"use {GLOBAL_DATABASE_NAME}")
            conn.database, conn.database_set = None, False
        duck.execute(f'detach database "{found}"')
        if getattr(conn, "db_path", None):
            for suffix in (".db", ".db.wal"):
                path = os.path.join(conn.db_path, found + suffix)
                if os.path.exists(path):
                    os.remove(path)
        return exp.select(exp.alias_(exp.Literal.string(f"{name} successfully dropped."), "status", quoted=True))

    # --- MERGE ... WHEN NOT MATCHED THEN INSERT (a, b) VALUES (a, b) ------------------------------
    # Restores: unqualified columns in the VALUES of a NOT MATCHED clause refer to the source row
    # (the target has no row there), as dbt-snowflake's merge writes them. fakesnow evaluates them
    # over its target-FULL-JOIN-source candidates table, where they are ambiguous ("Ambiguous
    # reference to column name"). Qualify them with the source's name or alias.
    # Drop when fakesnow's merge resolves unqualified insert values against the source.
    if isinstance(expression, exp.Merge):
        source = expression.args.get("using")
        alias = source.args.get("alias") if source is not None else None
        source_ident = alias.this if alias is not None and alias.this is not None else getattr(source, "this", None)
        if isinstance(source_ident, exp.Identifier):
            whens = expression.args.get("whens")
            for when in whens.expressions if whens is not None else []:
                then = when.args.get("then")
                if when.args.get("matched") or not isinstance(then, exp.Insert):
                    continue
                values = then.args.get("expression")
                for column in list(values.find_all(exp.Column)) if values is not None else []:
                    if not column.args.get("table"):
                        column.set("table", source_ident.copy())

    return expression


def _install_cursor_workarounds(fakesnow_cursor: Any) -> None:
    import snowflake.connector.errors as sf_errors

    cls = fakesnow_cursor.FakeSnowflakeCursor
    original_explode = cls._transform_explode  # noqa: SLF001
    original_execute = cls.execute

    def _transform_explode(self: Any, expression: Any) -> list[Any]:
        return original_explode(self, _rewrite_statement(self, expression))

    # Restores: a failed statement is an ordinary SQL error and the session stays usable.
    # fakesnow answers an exception it does not expect (eg: an unsupported option) with HTTP 500,
    # which the connector retries for minutes before giving up; and a failure inside an explicit
    # transaction left DuckDB's transaction aborted, failing every later statement of the session.
    # Drop when fakesnow maps every error to a Snowflake error response and recovers its session.
    def execute(self: Any, command: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return original_execute(self, command, *args, **kwargs)
        except (sf_errors.ProgrammingError, sf_errors.OperationalError):
            _abort_failed_transaction(self)
            raise
        except Exception as e:  # noqa: BLE001 - every failure becomes a SQL error for the client
            _abort_failed_transaction(self)
            raise sf_errors.ProgrammingError(
                msg=f"SQL execution error (emulator, not supported by fakesnow): {type(e).__name__}: {e}",
                errno=603,
                sqlstate="XX000",
            ) from e

    cls._transform_explode = _transform_explode  # noqa: SLF001
    cls.execute = execute


def _install_bookkeeping_workaround(info_schema: Any, get_duck_conn: Any) -> None:
    # Restores: table comments and varchar lengths can be recorded by a statement inside an explicit
    # transaction (dbt wraps snapshot and incremental MERGEs in BEGIN ... COMMIT). fakesnow records
    # them in its `_fs_global` bookkeeping database from the caller's DuckDB transaction, and DuckDB
    # lets one transaction write to a single database only ("a transaction that has already modified
    # database ..."). Write them from a separate DuckDB connection (own, auto-committed transaction),
    # as fakesnow already does for file formats. The caller then runs a harmless no-op.
    # Drop when fakesnow writes its bookkeeping outside the caller's transaction.
    original_comment = info_schema.insert_table_comment_sql
    original_lengths = info_schema.insert_text_lengths_sql
    noop = "select 'Statement executed successfully.' as status"

    def run_separately(sql: str) -> str:
        with get_duck_conn().cursor() as side:
            side.execute(sql)
        return noop

    info_schema.insert_table_comment_sql = lambda *a, **k: run_separately(original_comment(*a, **k))
    info_schema.insert_text_lengths_sql = lambda *a, **k: run_separately(original_lengths(*a, **k))


def _install_views_in_information_schema(info_schema: Any) -> None:
    # Restores: views are listed in INFORMATION_SCHEMA.TABLES (TABLE_TYPE = 'VIEW'), which dbt's
    # catalog query (`dbt docs generate`) reads; fakesnow lists base tables only.
    # Drop when fakesnow's _fs_tables view includes views.
    original = info_schema.per_db_creation_sql
    marker = "create view if not exists ${catalog}._fs_information_schema._fs_tables AS"
    template_text = info_schema.SQL_CREATE_INFORMATION_SCHEMA_TABLES_VIEW.template
    if marker not in template_text:  # fakesnow changed: leave it alone
        return
    views_sql = """
union all
select
    views.database_name, views.schema_name, views.view_name, 'SYSADMIN', 'VIEW', 'NO', NULL::VARCHAR,
    NULL, NULL, 1, NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR, 'NO', 'YES',
    NULL::VARCHAR, to_timestamp(0)::timestamptz, to_timestamp(0)::timestamptz, to_timestamp(0)::timestamptz,
    'SYSADMIN', 'NO', views.comment, 'NO', 'NO', 'NO', 'NO', 'NO'
from duckdb_views views
where views.database_name = '${catalog}'
  and views.schema_name != '_fs_information_schema'
  and not views.internal
"""
    from string import Template

    replaced = template_text.replace(marker, marker.replace("create view if not exists", "create or replace view"))
    tables_with_views = Template(replaced.rstrip() + views_sql)

    def per_db_creation_sql(catalog: str) -> str:
        return original(catalog) + ";\n" + tables_with_views.substitute(catalog=catalog) + ";\n"

    info_schema.per_db_creation_sql = per_db_creation_sql


def _install_arrow_workarounds(arrow: Any, server: Any) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    original_ts = arrow.timestamp_to_sf_struct

    # Restores: NULL timestamps reach the client as NULL (eg: a snapshot's open `dbt_valid_to`), not
    # 1970-01-01. fakesnow's struct encoding of timestamps drops the validity of the values, so the
    # connector decodes a null as epoch 0. Carry the nulls on the struct itself.
    # Drop when fakesnow keeps nulls in timestamp_to_sf_struct.
    def timestamp_to_sf_struct(ts: Any) -> Any:
        if isinstance(ts, pa.ChunkedArray):
            ts = ts.combine_chunks()
        out = original_ts(ts)
        if not ts.null_count:
            return out
        fields = [out.type.field(i) for i in range(out.type.num_fields)]
        children = [pc.fill_null(out.field(i), 0) for i in range(out.type.num_fields)]
        return pa.StructArray.from_arrays(children, fields=fields, mask=pc.is_null(ts))

    arrow.timestamp_to_sf_struct = timestamp_to_sf_struct

    # Restores: results of any size. fakesnow refuses a result that DuckDB hands over in more than
    # one arrow batch (over ~1M rows: "NotImplementedError: 2 batches"). Merge the chunks first.
    # Drop when fakesnow's to_ipc writes every batch.
    original_ipc = server.to_ipc

    def to_ipc(table: Any) -> Any:
        return original_ipc(table.combine_chunks() if table.num_rows else table)

    server.to_ipc = to_ipc


# --- COPY INTO ----------------------------------------------------------------------------------

# METADATA$FILE_ROW_NUMBER counts the file's records from its first line, header lines included,
# skipped blank lines not. (Assumption: documented as "row number for each record in the staged
# data file".)
ROW_NUMBER_COUNTS_HEADER = True


def _metadata_filename(url: str, stage: Any) -> str:
    """METADATA$FILENAME: the file's path inside the stage (internal) or the bucket (external)."""
    from pathlib import PurePath
    from urllib.parse import urlparse

    path = stage.file_path(url)
    if stage.is_internal(path):
        # <bucket>/<DB>/<SCHEMA>/<STAGE>/<path in stage>
        return "/".join(PurePath(path).relative_to(stage.LOCAL_BUCKET_PATH).parts[3:])
    return urlparse(url).path.lstrip("/")


def _install_copy_workarounds(copy_into: Any, stage: Any, s3_mirror: Any | None) -> None:
    # Restores: Snowflake's CSV reading (see SnowflakeCSV below). fakesnow hands the file to DuckDB's
    # read_csv with DuckDB's rules and a few of Snowflake's options, refuses the others (ENCODING,
    # SKIP_BLANK_LINES, ESCAPE_UNENCLOSED_FIELD = '\\', ...) and stores wrong defaults for named
    # formats (ESCAPE_UNENCLOSED_FIELD = NONE). Drop when fakesnow reads CSV by Snowflake's rules.
    import fakesnow.transforms.file_format as file_format_module
    from sqlglot import exp

    file_format_module.CSV_DEFAULT_OPTIONS.clear()
    file_format_module.CSV_DEFAULT_OPTIONS.update(SNOWFLAKE_CSV_DEFAULTS)
    copy_into.handle_csv = lambda options: SnowflakeCSV.from_options(options, copy_into.ReadCSV, stage)

    # Restores: an option whose value is a (qualified) object name, eg:
    # FILE_FORMAT = (FORMAT_NAME = raw.movielens_csv), which Snowflake takes quoted or not. fakesnow
    # only takes the quoted form ("Table as an option value not implemented").
    # Drop when fakesnow parses identifiers as option values.
    import fakesnow.transforms.options as options_module

    original_option_value = options_module._option_value  # noqa: SLF001

    def _option_value(value: Any) -> Any:
        if isinstance(value, (exp.Table, exp.Column, exp.Dot, exp.Identifier)):
            return value.sql(dialect="snowflake")
        return original_option_value(value)

    options_module._option_value = _option_value  # noqa: SLF001

    # Restores: COPY INTO t (cols) FROM (SELECT $1, $2, METADATA$FILENAME, METADATA$FILE_ROW_NUMBER,
    # current_timestamp() FROM @stage) for CSV. fakesnow only maps `$1:key` of JSON/Parquet and fails
    # on `$n` of a CSV file (AttributeError, HTTP 500). Rewrite `$n` to the n-th CSV field, and the
    # metadata columns to the file's name and each record's number.
    # Drop when fakesnow supports positional columns and metadata columns in COPY transformations.
    original_inserts = copy_into._inserts  # noqa: SLF001

    def _inserts(expr: Any, params: Any, urls: list[str], parquet_info: Any = None) -> list[Any]:
        from_ = expr.args["files"][0]
        if not (isinstance(from_, exp.Subquery) and isinstance(params.file_format, copy_into.ReadCSV)):
            return original_inserts(expr, params, urls, parquet_info)
        select = from_.this
        # $n beyond a record's last field reads as NULL, so the parsed file has at least n columns
        # (docs: "Transforming data during a load": ERROR_ON_COLUMN_COUNT_MISMATCH is ignored).
        positions = [
            int(e.this.this)
            for e in select.find_all(exp.Parameter)
            if isinstance(e.this, exp.Literal) and not e.this.is_string
        ]
        inserts = []
        for url in urls:
            columns = []
            for projection in select.expressions:
                columns.append(projection.copy().transform(lambda e, u=url: _csv_column(e, u, stage)))
            read = params.file_format.read_expression(url, min_columns=max(positions, default=0))
            source = exp.Table(this=read, alias=exp.TableAlias(this=exp.to_identifier("_fs_file")))
            inserts.append(exp.Insert(this=expr.this, expression=exp.Select(expressions=columns).from_(source)))
        return inserts

    copy_into._inserts = _inserts  # noqa: SLF001

    if s3_mirror is not None:
        s3_mirror.install(copy_into, stage)

    # Restores: a path prefix on a file:// stage (`@stage/dir/part_`) selects every file whose path
    # starts with it, in subdirectories too, as on s3:// and internal stages; and files are named
    # file:///... whether globbed or listed in FILES=, so load history recognises them either way.
    # fakesnow globbed `<prefix>/*` (the prefix had to be a directory; no recursion) and recorded
    # globbed files without the scheme. (file:// stages exist in the emulator only.)
    # Restores: PATTERN = '<regex>', matched (whole) against the file's path in the stage (internal)
    # or bucket (external), like METADATA$FILENAME. fakesnow rejects PATTERN.
    # Drop when fakesnow supports PATTERN and prefix listing of file:// stages.
    original_glob = copy_into._source_glob  # noqa: SLF001

    def _source_glob(source: str, duck_conn: Any) -> list[str]:
        urls = _list_local_prefix(source) if source.startswith("file://") else original_glob(source, duck_conn)
        if pattern := getattr(_COPY_STATE, "pattern", None):
            regex = re.compile(pattern, re.DOTALL)
            urls = [u for u in urls if regex.fullmatch(_metadata_filename(u, stage))]
        return urls

    copy_into._source_glob = _source_glob  # noqa: SLF001


def _list_local_prefix(source: str) -> list[str]:
    from urllib.parse import unquote, urlparse

    prefix = unquote(urlparse(source).path)
    base = prefix if prefix.endswith("/") else os.path.dirname(prefix)
    found = []
    for root, _dirs, files in os.walk(base or "/"):
        for name in files:
            path = os.path.join(root, name)
            if path.startswith(prefix):
                found.append("file://" + path)
    return sorted(found)


# per-statement COPY state (the server runs each statement synchronously on one thread)
_COPY_STATE = threading.local()


def _install_copy_statement_workaround(fakesnow_cursor: Any) -> None:
    import datetime

    import duckdb
    from sqlglot import exp

    original_copy_into = fakesnow_cursor.copy_into

    # Restores: ON_ERROR = ABORT_STATEMENT loads all files or none. fakesnow inserts file by file in
    # autocommit mode, so a bad second file left the first file's rows loaded, without load history,
    # and the next COPY loaded them again. Run the COPY in one transaction (unless the session is
    # already in one, which then fails as a whole).
    # Also: current_timestamp() in a COPY transformation is one value for the whole statement, and
    # the result lists the files loaded, not those skipped because they were loaded before.
    # Drop when fakesnow's COPY is atomic and reports like Snowflake.
    def copy_into(duck_conn: Any, current_database: Any, current_schema: Any, expr: Any, *args: Any, **kw: Any) -> str:
        expr = expr.copy()
        params = expr.args.get("params") or []
        pattern = None
        for param in list(params):
            if isinstance(param.this, exp.Var) and param.this.name.upper() == "PATTERN":
                value = param.args.get("expression")
                if not (isinstance(value, exp.Literal) and value.is_string):
                    raise NotImplementedError("PATTERN must be a string literal")
                pattern = value.this
                params.remove(param)
        _COPY_STATE.pattern = pattern
        _COPY_STATE.now = datetime.datetime.now(datetime.UTC)
        _COPY_STATE.parsed = []
        try:
            duck_conn.begin()
            began = True
        except duckdb.TransactionException:
            began = False
        try:
            sql = original_copy_into(duck_conn, current_database, current_schema, expr, *args, **kw)
            if began:
                duck_conn.commit()
            # Snowflake lists only the files it loaded, or answers "Copy executed with 0 files
            # processed." when there were none; fakesnow adds a LOAD_SKIPPED row per file loaded before
            loaded = f"select * from ({sql}) where status <> 'LOAD_SKIPPED'"
            if not duck_conn.execute(f"select count(*) from ({loaded})").fetchone()[0]:
                loaded = "select 'Copy executed with 0 files processed.' as status"
            duck_conn.execute(loaded)
            return loaded
        except BaseException as e:
            if began:
                try:
                    duck_conn.rollback()
                except duckdb.Error:
                    pass
            if isinstance(e, duckdb.Error) and CAST_ERROR_MARKER in str(e):
                import snowflake.connector.errors as sf_errors

                message = str(e).split(CAST_ERROR_MARKER, 1)[1]
                raise sf_errors.ProgrammingError(msg=message, errno=100038, sqlstate="22018") from None
            raise
        finally:
            _COPY_STATE.pattern = None
            _COPY_STATE.now = None
            for path in getattr(_COPY_STATE, "parsed", None) or []:  # the parsed copies of the files
                try:
                    os.remove(path)
                except OSError:
                    pass
            _COPY_STATE.parsed = None

    fakesnow_cursor.copy_into = copy_into


NUMERIC_TYPES = {"DECIMAL", "BIGINT", "INT", "SMALLINT", "TINYINT", "DOUBLE", "FLOAT", "BIGDECIMAL"}
CAST_ERROR_MARKER = "\x1fsnowflake-copy-error\x1f"


def _csv_column(e: Any, url: str, stage: Any) -> Any:
    from sqlglot import exp

    if isinstance(e, exp.Column) and isinstance(e.this, exp.Parameter):
        e = e.this  # t.$1 -> $1
    if isinstance(e, exp.Parameter) and isinstance(e.this, exp.Literal) and not e.this.is_string:
        return exp.column(f"column{int(e.this.this) - 1}", table="_fs_file")
    if isinstance(e, exp.Column) and not e.args.get("table") and isinstance(e.this, exp.Identifier):
        name = e.this.this.upper()
        if name == "METADATA$FILENAME":
            return exp.Literal.string(_metadata_filename(url, stage))
        if name == "METADATA$FILE_ROW_NUMBER":
            return exp.column("_fs_row", table="_fs_file")
    if isinstance(e, exp.CurrentTimestamp) and getattr(_COPY_STATE, "now", None) is not None:
        return exp.cast(exp.Literal.string(_COPY_STATE.now.isoformat()), "TIMESTAMPTZ")
    # A value that does not convert fails the record, and ON_ERROR = ABORT_STATEMENT stops the COPY
    # with the file and line (docs: COPY INTO <table>, ON_ERROR; error 100038 "Numeric value ... is
    # not recognized"). DuckDB's cast error names neither, so the failing record raises it itself.
    if isinstance(e, exp.Cast) and not isinstance(e, exp.TryCast) and e.to.this.name in NUMERIC_TYPES:
        value = e.this.copy().transform(lambda x: _csv_column(x, url, stage))  # children first
        e = exp.Cast(this=value.copy(), to=e.to.copy())
        message = exp.DPipe(
            this=exp.DPipe(
                this=exp.DPipe(
                    this=exp.Literal.string(f"{CAST_ERROR_MARKER}Numeric value '"),
                    expression=exp.cast(value.copy(), "VARCHAR"),
                ),
                expression=exp.Literal.string(f"' is not recognized\n  File '{_metadata_filename(url, stage)}', line "),
            ),
            expression=exp.cast(exp.column("_fs_line", table="_fs_file"), "VARCHAR"),
        )
        bad = exp.and_(
            exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null())),
            exp.Is(this=exp.TryCast(this=value.copy(), to=e.to.copy()), expression=exp.Null()),
        )
        return exp.Case(ifs=[exp.If(this=bad, true=exp.func("error", message))], default=e)
    return e


# Snowflake's documented CSV defaults (docs: CREATE FILE FORMAT, "Format type options", TYPE = CSV).
SNOWFLAKE_CSV_DEFAULTS: dict[str, Any] = {
    "FIELD_DELIMITER": ",",
    "SKIP_HEADER": 0,
    "FIELD_OPTIONALLY_ENCLOSED_BY": "NONE",
    "ESCAPE": "NONE",
    "ESCAPE_UNENCLOSED_FIELD": "\\",
    "NULL_IF": ["\\N"],
    "EMPTY_FIELD_AS_NULL": True,
    "SKIP_BLANK_LINES": False,
    "TRIM_SPACE": False,
    "ENCODING": "UTF8",
    "REPLACE_INVALID_CHARACTERS": False,
    "ERROR_ON_COLUMN_COUNT_MISMATCH": True,
    "COMPRESSION": "AUTO",
}

# where parsed files are kept (set by apply_workarounds)
_PARSE_DIR: list[str] = []


def _copy_error(message: str, name: str, line: int) -> Exception:
    import snowflake.connector.errors as sf_errors

    return sf_errors.ProgrammingError(msg=f"{message}\n  File '{name}', line {line}", errno=100065, sqlstate="22000")


def _flag(value: Any) -> bool:
    return str(value).upper() in {"TRUE", "1"}


def _char(value: Any) -> str | None:
    text = str(value)
    return None if text.upper() == "NONE" or text == "" else text


class SnowflakeCSV:
    """A CSV file read the way Snowflake's COPY documents it, into a Parquet file DuckDB then reads.

    Columns column0..columnN-1 (every field as text, NULL past a record's last field), _fs_line (the
    file line the record starts on) and _fs_row (METADATA$FILE_ROW_NUMBER). Options and defaults:
    docs.snowflake.com/en/sql-reference/sql/create-file-format (TYPE = CSV).
    Approximations: one escape character serves enclosed and unenclosed fields (ESCAPE must be NONE
    or equal ESCAPE_UNENCLOSED_FIELD), and error messages name the file and line in Snowflake's
    shape but not its exact wording.
    """

    def __init__(self, options: dict[str, Any], stage: Any):
        self.stage = stage
        self.skip_header = int(options["SKIP_HEADER"])
        self.sep = str(options["FIELD_DELIMITER"])
        self.quote = _char(options["FIELD_OPTIONALLY_ENCLOSED_BY"])
        self.escape = _char(options["ESCAPE"])
        self.escape_unenclosed = _char(options["ESCAPE_UNENCLOSED_FIELD"])
        null_if = options["NULL_IF"]
        self.null_if = {str(v) for v in (null_if if isinstance(null_if, list) else [null_if])}
        self.empty_field_as_null = _flag(options["EMPTY_FIELD_AS_NULL"])
        self.skip_blank_lines = _flag(options["SKIP_BLANK_LINES"])
        self.trim_space = _flag(options["TRIM_SPACE"])
        self.replace_invalid = _flag(options["REPLACE_INVALID_CHARACTERS"])
        self.compression = str(options["COMPRESSION"]).upper()

    @classmethod
    def from_options(cls, options: dict[str, Any], base: type, stage: Any) -> Any:
        """The handler fakesnow's COPY uses (a subclass of its ReadCSV, which its code checks for)."""
        options = {k.upper(): v for k, v in options.items() if k.upper() != "TYPE"}
        unknown = set(options) - set(SNOWFLAKE_CSV_DEFAULTS) - {"RECORD_DELIMITER"}
        if unknown:
            raise NotImplementedError(f"FILE_FORMAT option(s) {sorted(unknown)}")
        if str(options.pop("RECORD_DELIMITER", "\n")) not in {"\n", "\\n"}:
            raise NotImplementedError("RECORD_DELIMITER other than the new line")
        if str(options.get("ENCODING", "UTF8")).upper().replace("-", "") != "UTF8":
            raise NotImplementedError(f"FILE_FORMAT option ENCODING = {options['ENCODING']}")
        if str(options.get("COMPRESSION", "AUTO")).upper() not in {"AUTO", "NONE", "GZIP"}:
            raise NotImplementedError(f"COMPRESSION = {options['COMPRESSION']}")
        reader = cls({**SNOWFLAKE_CSV_DEFAULTS, **options}, stage)
        if reader.escape and reader.escape != reader.escape_unenclosed:
            raise NotImplementedError("FILE_FORMAT option ESCAPE other than NONE or ESCAPE_UNENCLOSED_FIELD")

        def read_expression(_handler: Any, url: str, min_columns: int = 0) -> Any:
            return reader.read_expression(url, min_columns)

        handler_class = type("SnowflakeReadCSV", (base,), {"read_expression": read_expression})
        return handler_class(skip_header=reader.skip_header, quote=reader.quote, sep=reader.sep)

    # --- reading --------------------------------------------------------------------------------

    def _local_path(self, url: str) -> str:
        from urllib.parse import unquote, urlparse

        import fakesnow.copy_into as copy_into

        if url.startswith("file://"):
            return unquote(urlparse(url).path)
        if url.startswith("s3://"):
            return copy_into.FileTypeHandler.file_literal(url).this  # the S3 mirror's local copy
        return self.stage.file_path(url)

    def read_expression(self, url: str, min_columns: int = 0) -> Any:
        import hashlib

        import pyarrow as pa
        import pyarrow.parquet as pq
        from sqlglot import exp

        path = self._local_path(url)
        columns, lines, rows = self.parse(path, _metadata_filename(url, self.stage))
        width = max(min_columns, max((len(r) for r in columns), default=0), 1)
        arrays = {
            f"column{i}": pa.array([r[i] if i < len(r) else None for r in columns], type=pa.string())
            for i in range(width)
        }
        arrays["_fs_line"] = pa.array(lines, type=pa.int64())
        arrays["_fs_row"] = pa.array(rows, type=pa.int64())
        os.makedirs(_PARSE_DIR[0], exist_ok=True)
        target = os.path.join(
            _PARSE_DIR[0], hashlib.sha256(f"{url}|{time.time_ns()}".encode()).hexdigest()[:20] + ".parquet"
        )
        pq.write_table(pa.table(arrays), target)
        if getattr(_COPY_STATE, "parsed", None) is not None:
            _COPY_STATE.parsed.append(target)
        return exp.func("read_parquet", exp.Literal.string(target))

    def parse(self, path: str, name: str) -> tuple[list[list[str | None]], list[int], list[int]]:
        """(records, the line each starts on, METADATA$FILE_ROW_NUMBER of each)."""
        import csv
        import gzip
        import io

        with open(path, "rb") as handle:
            data = handle.read()
        if self.compression == "GZIP" or (self.compression == "AUTO" and data[:2] == b"\x1f\x8b"):
            data = gzip.decompress(data)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            if not self.replace_invalid:
                # docs: ENCODING / REPLACE_INVALID_CHARACTERS = FALSE: invalid UTF-8 is an error
                line = data.count(b"\n", 0, e.start) + 1
                raise _copy_error(f"Invalid UTF8 detected in string '0x{data[e.start]:02X}'", name, line) from None
            text = data.decode("utf-8", errors="replace")

        consumed = [0]
        raw: list[str] = []

        def source():
            for line in io.StringIO(text, newline=""):
                consumed[0] += 1
                raw.append(line)
                yield line

        lines_iter = source()
        for _ in range(self.skip_header):  # docs: SKIP_HEADER: number of lines at the start of the file to skip
            if next(lines_iter, None) is None:
                break
        # docs: FIELD_OPTIONALLY_ENCLOSED_BY: a quote inside an enclosed field is escaped by doubling it;
        # ESCAPE_UNENCLOSED_FIELD (default backslash) escapes the next character, the record end included.
        escape = self.escape_unenclosed
        reader = csv.reader(
            lines_iter,
            delimiter=self.sep,
            quotechar=self.quote or '"',
            quoting=csv.QUOTE_MINIMAL if self.quote else csv.QUOTE_NONE,
            doublequote=True,
            escapechar=escape,
            strict=True,
        )
        csv.field_size_limit(sys.maxsize)
        records: list[list[str | None]] = []
        starts: list[int] = []
        numbers: list[int] = []
        number = self.skip_header if ROW_NUMBER_COUNTS_HEADER else 0
        while True:
            start = consumed[0] + 1
            raw.clear()
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as e:
                if "end of data" in str(e) or "EOF" in str(e):
                    message = f"Found an enclosed field (opened by {self.quote}) that is never closed"
                else:
                    message = f"Found character instead of field delimiter '{self.sep}' ({e})"
                raise _copy_error(message, name, start) from None
            if not fields:
                # docs: SKIP_BLANK_LINES (default FALSE): a blank line is otherwise a record of one empty field
                if self.skip_blank_lines:
                    continue
                fields = [""]
            records.append(self._values(fields, raw))
            number += 1
            starts.append(start)
            numbers.append(number)
        return records, starts, numbers

    def _values(self, fields: list[str], raw: list[str]) -> list[str | None]:
        if not self.trim_space and "" not in fields and not (self.null_if and self.null_if.intersection(fields)):
            return fields  # nothing to convert (the common record)
        quoted = None
        values: list[str | None] = []
        for i, value in enumerate(fields):
            if self.trim_space:
                value = value.strip(" ")
            if value in self.null_if:  # docs: NULL_IF: these strings are replaced with SQL NULL
                values.append(None)
            elif value == "" and self.empty_field_as_null:
                # docs: EMPTY_FIELD_AS_NULL covers empty fields, "two successive delimiters (e.g. ,,)";
                # an enclosed empty string ("") is a string.
                if quoted is None:
                    quoted = self._quoted_fields("".join(raw)) if self.quote and self.quote in "".join(raw) else []
                values.append("" if i < len(quoted) and quoted[i] else None)
            else:
                values.append(value)
        return values

    def _quoted_fields(self, record: str) -> list[bool]:
        """Which fields of one record were enclosed in quotes (only needed for empty fields)."""
        flags: list[bool] = []
        i, n = 0, len(record.rstrip("\r\n"))
        while i <= n:
            if i < n and record[i] == self.quote:
                flags.append(True)
                i += 1
                while i < len(record):
                    if record[i] == self.quote:
                        if i + 1 < len(record) and record[i + 1] == self.quote:
                            i += 2
                            continue
                        break
                    i += 1
                i = record.find(self.sep, i)
            else:
                flags.append(False)
                i = record.find(self.sep, i)
            if i < 0 or i >= n:
                break
            i += 1
        return flags


class S3Mirror:
    """COPY INTO from s3:// stages without DuckDB's httpfs extension.

    Emulator-only substitute: DuckDB reads s3:// through httpfs, and no httpfs build matches the
    duckdb that fakesnow pins (httpfs for 1.5.6 is not on PyPI; loading the 1.5.5 one into 1.5.6
    fails). So list the stage's objects with boto3 against --s3-endpoint-url (eg: a moto server on
    127.0.0.1), download each file once to a local cache, and let DuckDB read the copy. Load
    history and METADATA$FILENAME keep the s3:// names. The stage's CREDENTIALS are ignored; the
    AWS_* environment variables (default: test/test, us-east-1) are used.
    Drop when an httpfs matching fakesnow's duckdb can be installed.
    """

    def __init__(self, endpoint_url: str, cache_dir: str):
        self.endpoint_url = endpoint_url
        self.cache_dir = cache_dir
        self._client = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3

                self._client = boto3.client(
                    "s3",
                    endpoint_url=self.endpoint_url,
                    aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
                    aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
                    region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
                )
            return self._client

    def list(self, source: str) -> list[str]:
        from urllib.parse import urlparse

        parsed = urlparse(source)
        bucket, prefix = parsed.netloc, parsed.path.lstrip("/")
        urls = []
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                if not obj["Key"].endswith("/"):
                    urls.append(f"s3://{bucket}/{obj['Key']}")
        return sorted(urls)

    def local_copy(self, url: str) -> str:
        import hashlib
        from urllib.parse import urlparse

        parsed = urlparse(url)
        bucket, key = parsed.netloc, parsed.path.lstrip("/")
        head = self.client().head_object(Bucket=bucket, Key=key)
        tag = hashlib.sha256(f"{url}|{head.get('ETag')}".encode()).hexdigest()[:16]
        target = os.path.join(self.cache_dir, tag, os.path.basename(key))
        if not os.path.exists(target):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            self.client().download_file(bucket, key, target + ".part")
            os.replace(target + ".part", target)
        return target

    def install(self, copy_into: Any, stage: Any) -> None:
        import snowflake.connector.errors as sf_errors
        from sqlglot import exp

        original_glob = copy_into._source_glob  # noqa: SLF001
        mirror = self

        def _source_glob(source: str, duck_conn: Any) -> list[str]:
            if not source.startswith("s3://"):
                return original_glob(source, duck_conn)
            try:
                return mirror.list(source)
            except Exception as e:  # noqa: BLE001
                raise sf_errors.ProgrammingError(
                    msg=f"Failed to list {source}: {e}", errno=91016, sqlstate="22000"
                ) from e

        copy_into._source_glob = _source_glob  # noqa: SLF001

        original_literal = copy_into.FileTypeHandler.file_literal

        def file_literal(url: str) -> Any:
            if url.startswith("s3://"):
                try:
                    return exp.Literal.string(mirror.local_copy(url))
                except Exception as e:  # noqa: BLE001
                    raise sf_errors.ProgrammingError(
                        msg=f"Failed to read {url}: {e}", errno=91016, sqlstate="22000"
                    ) from e
            return original_literal(url)

        copy_into.FileTypeHandler.file_literal = staticmethod(file_literal)
        # ReadJSON builds its literal itself
        original_json = copy_into.ReadJSON.read_expression

        def read_json_expression(self: Any, url: str) -> Any:
            return original_json(self, mirror.local_copy(url) if url.startswith("s3://") else url)

        copy_into.ReadJSON.read_expression = read_json_expression


# --- server-level ----------------------------------------------------------------------------------


def _drop_session_objects(conn: Any) -> None:
    """Drop the temporary tables/views a session created (see the temporary-table workaround)."""
    import duckdb

    objects = getattr(conn, EMU_OBJECTS_ATTR, None) or {}
    if not objects:
        return
    duck = conn._duck_conn  # noqa: SLF001
    try:
        duck.rollback()
    except duckdb.Error:
        pass
    for key, kind in list(objects.items()):
        try:
            duck.execute(f"drop {kind.lower()} if exists {_quoted_name(key)}")
        except duckdb.Error:
            pass
        objects.pop(key, None)


def _install_server_workarounds(server: Any) -> None:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    original_query = server.query_request
    original_session = server.session

    # Restores: an ordinary SQL error, not HTTP 500, for whatever fails outside the statement itself
    # (eg: a result column type fakesnow cannot describe). The connector retries 500s for minutes.
    # Drop when fakesnow answers all errors as Snowflake error responses.
    async def query_request(request: Any) -> Any:
        response = await original_query(request)
        if response.status_code != 500:
            return response
        try:
            message = json.loads(response.body).get("message") or "internal error"
        except ValueError:
            message = "internal error"
        try:
            conn = server.to_conn(server.to_token(request))
            cursor = conn.cursor()
            _abort_failed_transaction(cursor)
        except Exception:  # noqa: BLE001, S110 - best effort
            pass
        code = "000603"
        return JSONResponse(
            {
                "data": {"errorCode": code, "sqlState": "XX000"},
                "code": code,
                "message": f"SQL execution error (emulator, not supported by fakesnow): {message}",
                "success": False,
            }
        )

    # Restores: temporary objects disappear when their session ends (see the temporary-table
    # workaround), and the session's DuckDB connection is closed.
    async def session(request: Any) -> Any:
        if request.query_params.get("delete"):
            try:
                token = server.to_token(request)
                conn = server.sessions.get(token)
            except Exception:  # noqa: BLE001
                conn = None
            response = await original_session(request)
            if conn is not None:
                _drop_session_objects(conn)
                try:
                    conn.close()
                except Exception:  # noqa: BLE001, S110
                    pass
            return response
        return await original_session(request)

    # Restores: logout. The connector only sends its logout (`/session?delete=true`) for a session
    # whose login returned a master token, which fakesnow's login does not; so sessions were never
    # ended, their temporary objects stayed and their DuckDB connections leaked. Add one.
    # Drop when fakesnow's login returns a masterToken.
    original_login = server.login_request

    async def login_request(request: Any) -> Any:
        import secrets

        response = await original_login(request)
        try:
            body = json.loads(response.body)
        except ValueError:
            return response
        data = body.get("data") or {}
        if body.get("success") and "masterToken" not in data:
            data.update(masterToken=secrets.token_urlsafe(32), masterValidityInSeconds=14400, validityInSeconds=3600)
            return JSONResponse(body, status_code=response.status_code)
        return response

    # ... and say why: a result column type fakesnow cannot describe (eg: INTERVAL, SMALLINT) is
    # reported as such instead of "Unhandled exception".
    import snowflake.connector.errors as sf_errors

    original_rowtype = server.describe_as_rowtype

    def describe_as_rowtype(described: Any) -> Any:
        try:
            return original_rowtype(described)
        except NotImplementedError as e:
            raise sf_errors.ProgrammingError(
                msg=f"SQL execution error (emulator, not supported by fakesnow): result {e}",
                errno=603,
                sqlstate="XX000",
            ) from e

    server.describe_as_rowtype = describe_as_rowtype

    replacements = {original_query: query_request, original_session: session, original_login: login_request}
    routes = [
        Route(r.path, replacements.get(r.endpoint, r.endpoint), methods=list(r.methods or [])) for r in server.routes
    ]
    server.query_request = query_request
    server.session = session
    server.login_request = login_request
    server.routes = routes
    server.app = Starlette(debug=False, routes=routes)


def _persistent_instance(server: Any, db_path: str) -> Any:
    """One shared fakesnow instance whose databases, stages and file formats live under db_path.

    Every database is a DuckDB file `<db_path>/<NAME>.db` (fakesnow's own db_path support), so
    tables and COPY load history survive dbt invocations and emulator restarts. fakesnow keeps stages,
    file formats and comments in an in-memory `_fs_global` database and internal-stage files in a
    temporary directory; they are moved to `<db_path>/_FS_GLOBAL.db` and `<db_path>/stages/` here.
    """
    from fakesnow import info_schema
    from fakesnow.instance import GLOBAL_DATABASE_NAME, FakeSnow
    from fakesnow.transforms import show, stage

    os.makedirs(db_path, exist_ok=True)
    stage_dir = os.path.join(os.path.abspath(db_path), "stages")
    os.makedirs(stage_dir, exist_ok=True)
    stage.LOCAL_BUCKET_PATH = stage_dir

    fs = FakeSnow(db_path=os.path.abspath(db_path))
    global_file = os.path.join(os.path.abspath(db_path), f"{GLOBAL_DATABASE_NAME.upper()}.db")
    fs.duck_conn.execute(f"DETACH {GLOBAL_DATABASE_NAME}")
    fs.duck_conn.execute(f"ATTACH '{global_file}' AS {GLOBAL_DATABASE_NAME}")
    fs.duck_conn.execute(info_schema.fs_global_creation_sql())
    fs.duck_conn.execute(show.fs_global_creation_sql())
    return fs


def _install_integer_types(info_schema: Any) -> None:
    """Restores: Snowflake has one integer type, NUMBER(38,0). fakesnow maps only DuckDB's BIGINT
    to NUMBER in INFORMATION_SCHEMA.COLUMNS, so a column computed by a DuckDB function returning
    UBIGINT (array_size -> json_array_length) is described as UBIGINT, and dbt writes that type
    into SQL it generates (unit-test fixtures), which then fails. Every DuckDB integer type is
    described as NUMBER(38,0) here. Must run before the information-schema view is created.
    Drop when fakesnow maps all integer types."""
    ints = "('TINYINT','SMALLINT','INTEGER','BIGINT','HUGEINT','UTINYINT','USMALLINT','UINTEGER','UBIGINT','UHUGEINT')"
    sql = info_schema.SQL_CREATE_GLOBAL_INFORMATION_SCHEMA_COLUMNS_VIEW
    sql = sql.replace("columns.data_type='BIGINT'", "columns.data_type in " + ints)
    sql = sql.replace(
        "case when columns.data_type='DOUBLE' then NULL else columns.numeric_scale end",
        "case when columns.data_type='DOUBLE' then NULL when columns.data_type in "
        + ints
        + " then 0 else columns.numeric_scale end",
    )
    if sql.count(ints) != 4:
        raise RuntimeError("fakesnow's INFORMATION_SCHEMA.COLUMNS changed: review _install_integer_types")
    info_schema.SQL_CREATE_GLOBAL_INFORMATION_SCHEMA_COLUMNS_VIEW = sql


def apply_workarounds(server: Any, s3_endpoint_url: str | None, cache_dir: str) -> list[str]:
    import fakesnow.arrow as arrow
    import fakesnow.copy_into as copy_into
    import fakesnow.cursor as fakesnow_cursor
    import fakesnow.info_schema as info_schema
    import fakesnow.transforms.stage as stage

    _install_cursor_workarounds(fakesnow_cursor)
    _install_bookkeeping_workaround(info_schema, lambda: server.shared_fs.duck_conn)
    _install_views_in_information_schema(info_schema)
    _install_arrow_workarounds(arrow, server)
    _PARSE_DIR[:] = [os.path.join(cache_dir, "parsed")]
    mirror = S3Mirror(s3_endpoint_url, os.path.join(cache_dir, "s3")) if s3_endpoint_url else None
    _install_copy_workarounds(copy_into, stage, mirror)
    _install_copy_statement_workaround(fakesnow_cursor)
    _install_server_workarounds(server)
    return WORKAROUNDS + (["COPY INTO from s3:// stages through boto3"] if mirror else [])


# ---------------------------------------------------------------------------------------------
# serve
# ---------------------------------------------------------------------------------------------


def serve(args: argparse.Namespace) -> int:
    import logging
    import tempfile

    import uvicorn

    started = time.monotonic()
    import fakesnow.info_schema as fakesnow_info_schema

    if not args.no_workarounds:
        # Before fakesnow.server is imported: it creates the global database and its
        # information-schema views at import time (and _persistent_instance does again below).
        _install_integer_types(fakesnow_info_schema)
    import fakesnow.server as server

    if args.db_path:
        server.shared_fs = _persistent_instance(server, args.db_path)
    cache_dir = os.path.join(args.db_path, "cache") if args.db_path else tempfile.mkdtemp(prefix="fs_emulator_")
    applied: list[str] = []
    if not args.no_workarounds:
        applied = apply_workarounds(server, args.s3_endpoint_url, cache_dir)

    logging.getLogger("fakesnow.server").setLevel(getattr(logging, args.log_level.upper()))
    # sqlglot warns about every Snowflake-only property it drops (eg: TRANSIENT on dbt's tables)
    logging.getLogger("sqlglot").setLevel(logging.ERROR if args.log_level in {"warning", "error"} else logging.INFO)
    config = uvicorn.Config(
        server.app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=args.log_level == "debug",
    )
    uv = uvicorn.Server(config)
    # signals are handled here, so that the databases are closed (checkpointed) on the way out
    uv.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    stop = threading.Event()

    def on_signal(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    thread = threading.Thread(target=uv.run, name="fakesnow-server", daemon=True)
    thread.start()
    while thread.is_alive() and not uv.started:
        time.sleep(0.05)
    if not uv.started:
        print(f"snowflake-emulator: failed to start on {args.host}:{args.port}", file=sys.stderr)
        return 1

    print(
        f"{READY_PREFIX} on {args.host}:{args.port} in {time.monotonic() - started:.2f}s "
        f"(db_path={args.db_path or ':memory:'}, workarounds={len(applied)}, pid={os.getpid()})",
        flush=True,
    )
    while not stop.wait(0.5):
        if not thread.is_alive():
            return 1

    uv.should_exit = True
    thread.join(timeout=10)
    for conn in list(server.sessions.values()):
        _drop_session_objects(conn)
    try:
        server.shared_fs.duck_conn.close()
    except Exception:  # noqa: BLE001, S110
        pass
    print("snowflake-emulator stopped", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    parser.add_argument(
        "--db-path",
        help="keep databases, stages and load history in this directory (created if missing); "
        "default: in memory, for the server's lifetime",
    )
    parser.add_argument("--check", action="store_true", help="exit 0 if an emulator answers on --port, else 1")
    parser.add_argument("--wait", type=float, default=0, help="with --check: keep trying for this many seconds")
    parser.add_argument(
        "--s3-endpoint-url",
        default=os.environ.get("FS_S3_ENDPOINT_URL") or os.environ.get("S3_ENDPOINT_URL"),
        help="S3 endpoint (eg: http://127.0.0.1:5555, a moto server) for COPY INTO from s3:// stages; "
        "default: $FS_S3_ENDPOINT_URL or $S3_ENDPOINT_URL. Keys: $AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY",
    )
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--no-workarounds", action="store_true", help="serve plain fakesnow (for diagnosis)")
    parser.add_argument("--list-workarounds", action="store_true", help="print the workarounds and exit")
    args = parser.parse_args(argv)

    if args.list_workarounds:
        print("\n".join(WORKAROUNDS + ["COPY INTO from s3:// stages through boto3 (with --s3-endpoint-url)"]))
        return 0

    if args.check:
        deadline = time.monotonic() + args.wait
        while True:
            if check(args.host, args.port):
                return 0
            if time.monotonic() >= deadline:
                return 1
            time.sleep(0.25)

    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
