"""Privilege check for `make prod`: the privileges Snowflake documents for each statement, compared
with the grants of `make prod-setup` (scripts/tools/snowflake_setup.sql).

`required()` maps a statement to what it needs by statement kind and object kind (RULES, each row
citing Snowflake's "Access control requirements" for the command), so a new statement of a known
kind (another COPY, another CREATE ... ) is covered without a new rule, and a statement of an
unknown kind fails the check until a rule is added. `check()` replays the statements in order:
what the role creates it owns (an owner needs no grant on the object: OWNERSHIP carries every
privilege), what the set-up creates belongs to the administrator. It returns the missing grants
(naming the first statement needing each) and the grants no statement used (least privilege).

Snowflake rules applied throughout (docs.snowflake.com/en/user-guide/security-access-control-overview,
"Operating on an object in a schema requires at least one privilege on the parent database and
at least one privilege on the parent schema"): every object named needs USAGE on its database and
schema unless the role owns them; every query or DML needs USAGE on the warehouse
(docs.snowflake.com/en/user-guide/security-access-control-privileges, Virtual warehouse privileges).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp

DOCS = "docs.snowflake.com/en/sql-reference/sql/"

# statement kind -> (privileges on the object or its container, the documentation page)
# CREATE <kind> needs CREATE <kind> on the schema (CREATE SCHEMA on the database), even with IF NOT
# EXISTS on an existing object; OR REPLACE of an existing object needs OWNERSHIP of it.
RULES = {
    "create schema": ("CREATE SCHEMA on the database; OWNERSHIP to replace", DOCS + "create-schema"),
    "create table": ("CREATE TABLE on the schema (temporary too); OWNERSHIP to replace", DOCS + "create-table"),
    "create view": ("CREATE VIEW on the schema; OWNERSHIP to replace; SELECT on what it reads", DOCS + "create-view"),
    "create stage": (
        "CREATE STAGE on the schema; USAGE on its storage integration and file format; OWNERSHIP to replace",
        DOCS + "create-stage",
    ),
    "create file format": ("CREATE FILE FORMAT on the schema; OWNERSHIP to replace", DOCS + "create-file-format"),
    "drop": ("OWNERSHIP of the object", DOCS + "drop-table"),
    "alter": ("OWNERSHIP of the object", DOCS + "alter-table"),
    "insert": ("INSERT on the table (OVERWRITE: also DELETE); SELECT on what it reads", DOCS + "insert"),
    "merge": ("INSERT, UPDATE (and DELETE with a DELETE clause) on the target; SELECT on the source", DOCS + "merge"),
    "update": ("UPDATE on the table; SELECT on what it reads", DOCS + "update"),
    "delete": ("DELETE on the table; SELECT on what it reads", DOCS + "delete"),
    "truncate": ("TRUNCATE on the table", DOCS + "truncate-table"),
    "copy": ("INSERT on the table; USAGE on the external stage and the named file format", DOCS + "copy-into-table"),
    "select": ("SELECT on every table and view it reads", DOCS + "select"),
    "describe": ("any privilege on the object (SELECT taken)", DOCS + "desc-table"),
    "show": ("USAGE on the database and schema listed (SHOW lists only what the role can see)", DOCS + "show-objects"),
    "session": ("none: transaction control and session statements", DOCS + "begin"),
}

# object kinds the grants name
DATABASE, SCHEMA, WAREHOUSE, INTEGRATION = "DATABASE", "SCHEMA", "WAREHOUSE", "INTEGRATION"
FUTURE_TABLES = "FUTURE TABLES IN SCHEMA"

Name = tuple[str, ...]


@dataclass(frozen=True)
class Need:
    privilege: str
    kind: str
    name: Name
    rule: str

    def text(self) -> str:
        return f"{self.privilege} on {self.kind.lower()} {'.'.join(self.name)}"


@dataclass(frozen=True)
class Grant:
    privilege: str
    kind: str
    name: Name

    def text(self) -> str:
        return f"grant {self.privilege.lower()} on {self.kind.lower()} {'.'.join(self.name)}"


@dataclass
class Setup:
    """What `make prod-setup` leaves: the role's grants, the objects the administrator created."""

    role: str
    grants: set[Grant] = field(default_factory=set)
    existing: set[tuple[str, Name]] = field(default_factory=set)


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def split_statements(sql: str) -> list[str]:
    """Statements of a script or of one query dbt sent: `;`-separated outside quotes and comments,
    comments dropped, whitespace collapsed."""
    statements, current, i = [], [], 0
    while i < len(sql):
        c = sql[i]
        if sql.startswith("--", i):
            end = sql.find("\n", i)
            i = len(sql) if end < 0 else end
            continue
        if sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = len(sql) if end < 0 else end + 2
            current.append(" ")
            continue
        if c in "'\"":
            end = i + 1
            while end < len(sql):
                if sql[end] == c and sql[end : end + 2] != c * 2:
                    break
                end += 2 if sql[end : end + 2] == c * 2 or sql[end] == "\\" else 1
            current.append(sql[i : end + 1])
            i = end + 1
            continue
        if c == ";":
            statements.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    statements.append("".join(current))
    return [" ".join(s.split()) for s in statements if s.strip()]


def admin_creates(statement: str) -> bool:
    """A set-up statement creating a database or schema (run as the administrator)."""
    return bool(re.match(r"create (database|schema)\b", statement, re.IGNORECASE))


def _ident(part: str) -> str:
    part = part.strip()
    if part.startswith('"') and part.endswith('"'):
        return part[1:-1].replace('""', '"')
    return part.upper()


def parse_name(text: str) -> Name:
    parts = re.findall(r'"(?:[^"]|"")*"|[^.]+', text)
    return tuple(_ident(p) for p in parts)


NAME = r'((?:"(?:[^"]|"")*"|[\w$]+)(?:\.(?:"(?:[^"]|"")*"|[\w$]+))*)'


def parse_setup(sql: str, role: str) -> Setup:
    """The grants to `role` and the databases, schemas, warehouse and integration created."""
    setup = Setup(role=role.upper())
    for statement in split_statements(sql):
        created = re.match(
            rf"create (database|schema|warehouse|storage integration)( if not exists)? {NAME}", statement, re.I
        )
        if created:
            kind = created[1].upper().replace("STORAGE ", "")
            setup.existing.add((kind, parse_name(created[3])))
            continue
        granted = re.match(rf"grant (.+?) on (.+?) {NAME} to role {NAME}$", statement, re.I)
        if not granted or _ident(granted[4]) != setup.role:
            continue
        kind = " ".join(granted[2].upper().split())
        for privilege in granted[1].split(","):
            setup.grants.add(Grant(" ".join(privilege.upper().split()), kind, parse_name(granted[3])))
    return setup


# --------------------------------------------------------------------------------------------
# Statement -> needs
# --------------------------------------------------------------------------------------------


@dataclass
class Session:
    database: str
    schema: str
    warehouse: str
    rename: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)

    def resolve(self, name: Name, parts: int = 3) -> Name:
        """A full name (database, schema[, object]) for a name as written."""
        defaults = (self.database, self.schema)[: parts - 1] if parts == 3 else (self.database,)
        full = (*defaults[: parts - len(name)], *name) if len(name) < parts else name
        if len(full) >= 2 and full[:2] in self.rename:
            full = (*self.rename[full[:2]], *full[2:])
        return full


def _kind_of_create(statement: str) -> re.Match | None:
    return re.match(
        rf"create (or replace )?(?:(?:local |global )?(?:transient|temporary|temp|volatile) )*"
        rf"(table|view|stage|file format|schema)( if not exists)? {NAME}",
        statement,
        re.I,
    )


def _tables_read(statement: str, written: Name | None, session: Session) -> tuple[list[Name], str | None]:
    """Tables and views a statement reads (not CTEs, not the one it writes), or a parse problem."""
    try:
        tree = sqlglot.parse_one(statement.replace("%s", "null"), read="snowflake")
    except sqlglot.errors.SqlglotError as error:
        return [], f"cannot parse it to find what it reads: {' '.join(str(error).split())[:200]}"
    ctes = {cte.alias_or_name.upper() for cte in tree.find_all(exp.CTE)}
    read = []
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue  # a table function (lateral flatten), a VALUES list
        parts = tuple(
            p.this if p.quoted else p.this.upper()
            for p in (table.args.get("catalog"), table.args.get("db"), table.this)
            if isinstance(p, exp.Identifier)
        )
        if len(parts) == 1 and parts[0].upper() in ctes:
            continue
        name = session.resolve(parts)
        if name != written and name not in read:
            read.append(name)
    return read, None


def required(statement: str, session: Session) -> tuple[str, list[Need], list[tuple[str, Name]], str | None]:
    """(rule, needs, objects it creates as (kind, name), problem) for one statement."""
    s = statement.strip()
    low = s.lower()
    needs: list[Need] = []
    created: list[tuple[str, Name]] = []

    def container_usage(name: Name, rule: str) -> None:
        needs.append(Need("USAGE", DATABASE, name[:1], rule))
        if len(name) >= 3:
            needs.append(Need("USAGE", SCHEMA, name[:2], rule))

    def reads(written: Name | None, rule: str) -> str | None:
        tables, problem = _tables_read(s, written, session)
        for name in tables:
            if name[1].upper() == "INFORMATION_SCHEMA":
                needs.append(Need("USAGE", DATABASE, name[:1], rule))
                continue
            container_usage(name, rule)
            needs.append(Need("SELECT", "TABLE", name, rule))
        return problem

    def warehouse(rule: str) -> None:
        needs.append(Need("USAGE", WAREHOUSE, (session.warehouse,), rule))

    if re.match(r"(begin|commit|rollback|use |alter session|start transaction)\b", low) or low in {"begin", "commit"}:
        return "session", needs, created, None

    if m := _kind_of_create(s):
        kind = " ".join(m[2].upper().split())
        rule = "create " + kind.lower()
        if kind == "SCHEMA":
            name = session.resolve(parse_name(m[4]), parts=2)
            needs.append(Need("CREATE SCHEMA", DATABASE, name[:1], rule))
            needs.append(Need("USAGE", DATABASE, name[:1], rule))
            created.append((SCHEMA, name))
            if m[1]:
                needs.append(Need("OWNERSHIP", SCHEMA, name, rule))
            return rule, needs, created, None
        name = session.resolve(parse_name(m[4]))
        container_usage(name, rule)
        needs.append(Need(f"CREATE {kind}", SCHEMA, name[:2], rule))
        if m[1]:
            needs.append(Need("OWNERSHIP", kind, name, rule))
        created.append((kind, name))
        problem = None
        if kind in {"TABLE", "VIEW"} and re.search(r"\bas\s*\(?\s*(with|select)\b", low):
            warehouse(rule)
            problem = reads(name, rule)
        if kind == "STAGE":
            if integration := re.search(rf"storage_integration\s*=\s*{NAME}", s, re.I):
                needs.append(Need("USAGE", INTEGRATION, parse_name(integration[1]), rule))
            if file_format := re.search(rf"file_format\s*=\s*\(?\s*(?:format_name\s*=\s*)?{NAME}", s, re.I):
                needs.append(Need("USAGE", "FILE FORMAT", session.resolve(parse_name(file_format[1])), rule))
        return rule, needs, created, problem

    if m := re.match(rf"drop (table|view|schema|stage|file format)( if exists)? {NAME}", s, re.I):
        kind = m[1].upper()
        name = session.resolve(parse_name(m[3]), parts=2 if kind == "SCHEMA" else 3)
        needs.append(Need("OWNERSHIP", kind, name, "drop"))
        return "drop", needs, created, None

    if m := re.match(rf"alter (table|view)( if exists)? {NAME}", s, re.I):
        name = session.resolve(parse_name(m[3]))
        container_usage(name, "alter")
        needs.append(Need("OWNERSHIP", m[1].upper(), name, "alter"))
        return "alter", needs, created, None

    if m := re.match(rf"insert (overwrite )?into {NAME}", s, re.I):
        name = session.resolve(parse_name(m[2]))
        container_usage(name, "insert")
        warehouse("insert")
        needs.append(Need("INSERT", "TABLE", name, "insert"))
        if m[1]:
            needs.append(Need("DELETE", "TABLE", name, "insert"))
        problem = reads(name, "insert") if re.search(r"\bselect\b", low) else None
        return "insert", needs, created, problem

    if m := re.match(rf"merge into {NAME}", s, re.I):
        name = session.resolve(parse_name(m[1]))
        container_usage(name, "merge")
        warehouse("merge")
        needs += [Need("INSERT", "TABLE", name, "merge"), Need("UPDATE", "TABLE", name, "merge")]
        if re.search(r"\bthen\s+delete\b", low):
            needs.append(Need("DELETE", "TABLE", name, "merge"))
        return "merge", needs, created, reads(name, "merge")

    for verb, privilege in (("update", "UPDATE"), ("delete from", "DELETE"), ("truncate table", "TRUNCATE")):
        if m := re.match(rf"{verb}( if exists)? {NAME}", s, re.I):
            rule = verb.split()[0]
            name = session.resolve(parse_name(m[2]))
            container_usage(name, rule)
            warehouse(rule)
            needs.append(Need(privilege, "TABLE", name, rule))
            problem = reads(name, rule) if rule != "truncate" else None
            return rule, needs, created, problem

    if m := re.match(rf"copy into {NAME}", s, re.I):
        name = session.resolve(parse_name(m[1]))
        container_usage(name, "copy")
        warehouse("copy")
        needs.append(Need("INSERT", "TABLE", name, "copy"))
        for stage in re.findall(rf"@{NAME}", s):
            stage_name = session.resolve(parse_name(stage.split("/")[0]))
            container_usage(stage_name, "copy")
            needs.append(Need("USAGE", "STAGE", stage_name, "copy"))
        for file_format in re.findall(rf"format_name\s*=\s*'?{NAME}", s, re.I):
            needs.append(Need("USAGE", "FILE FORMAT", session.resolve(parse_name(file_format)), "copy"))
        return "copy", needs, created, None

    if m := re.match(rf"(?:describe|desc) (table|view) {NAME}", s, re.I):
        name = session.resolve(parse_name(m[2]))
        container_usage(name, "describe")
        needs.append(Need("SELECT", "TABLE", name, "describe"))
        return "describe", needs, created, None

    if low.startswith("show "):
        if m := re.search(rf"like '([^']*)' in database {NAME}", s, re.I):  # show schemas like 'x' in database d
            name = session.resolve((*parse_name(m[2]), m[1].upper()), parts=2)
            needs.append(Need("USAGE", DATABASE, name[:1], "show"))
        elif m := re.search(rf"\bin (database|schema|account)?\s*{NAME}", s, re.I):
            kind = (m[1] or "").lower()
            name = parse_name(m[2])
            if kind == "database":
                needs.append(Need("USAGE", DATABASE, session.resolve(name, parts=1), "show"))
            elif kind != "account":
                name = session.resolve(name, parts=2)
                needs += [Need("USAGE", DATABASE, name[:1], "show"), Need("USAGE", SCHEMA, name, "show")]
        return "show", needs, created, None

    if re.match(r"\(*\s*(select|with)\b", low):
        warehouse("select")
        return "select", needs, created, reads(None, "select")

    return "unknown", needs, created, "no privilege rule for this kind of statement: add one to RULES"


# --------------------------------------------------------------------------------------------
# The check
# --------------------------------------------------------------------------------------------


def _short(statement: str, width: int = 140) -> str:
    return statement if len(statement) <= width else statement[: width - 3] + "..."


def check(statements: list[str], setup: Setup, session: Session) -> tuple[list[str], list[str]]:
    """(missing, unused): one line per grant a statement needs that the set-up does not give
    (naming the first statement), and one per set-up grant no statement needs."""
    owned: set[tuple[str, Name]] = set()
    existing = set(setup.existing)
    used: set[Grant] = set()
    missing: dict[str, str] = {}

    def holds(need: Need) -> bool:
        kind = "TABLE" if need.kind == "VIEW" else need.kind
        if (kind, need.name) in owned or (need.kind, need.name) in owned:
            return True
        if kind in {"TABLE", "STAGE", "FILE FORMAT"} and (SCHEMA, need.name[:2]) in owned:
            return True  # the schema's owner may do anything in it (not a managed-access schema)
        if kind == SCHEMA and need.privilege.startswith("CREATE ") and (SCHEMA, need.name) in owned:
            return True
        grant = Grant(need.privilege, kind, need.name)
        if grant in setup.grants:
            used.add(grant)
            return True
        future = Grant(need.privilege, FUTURE_TABLES, need.name[:2])
        if kind == "TABLE" and future in setup.grants:
            used.add(future)
            return True
        return False

    for raw in statements:
        for statement in split_statements(raw):
            rule, needs, created, problem = required(statement, session)
            if problem:
                missing.setdefault(f"problem:{statement}", f"statement `{_short(statement)}`: {problem}")
            for need in needs:
                # replacing or dropping an object that does not exist yet needs no ownership
                if need.privilege == "OWNERSHIP" and (need.kind, need.name) not in existing:
                    continue
                # SHOW on a schema that does not exist (yet) lists nothing and needs nothing (dbt
                # lists every schema of the project before it creates them)
                if rule == "show" and (need.kind, need.name) not in existing:
                    continue
                if need.kind == SCHEMA and need.privilege.startswith("CREATE ") and (SCHEMA, need.name) not in existing:
                    key = f"schema:{'.'.join(need.name)}"
                    missing.setdefault(
                        key,
                        f"statement `{_short(statement)}`: schema {'.'.join(need.name)} does not exist "
                        "(neither `make prod-setup` nor an earlier statement creates it)",
                    )
                    continue
                if not holds(need):
                    missing.setdefault(
                        need.text(),
                        f"statement `{_short(statement)}` needs {need.text()} ({RULES[need.rule][1]}), "
                        "which `make prod-setup` does not grant",
                    )
            for kind, name in created:
                if (kind, name) not in existing:
                    owned.add((kind, name))
                    existing.add((kind, name))
            if rule == "drop" and needs:
                gone = (needs[0].kind, needs[0].name)
                existing.discard(gone)
                owned.discard(gone)
    unused = [
        f"`make prod-setup` grants {g.privilege.lower()} on {g.kind.lower()} {'.'.join(g.name)}, "
        "which no statement of `make prod` needs"
        for g in sorted(setup.grants - used, key=lambda g: (g.kind, g.name, g.privilege))
    ]
    return list(missing.values()), unused
