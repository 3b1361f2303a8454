"""Scan files for credentials that must never be committed (run by the pre-commit hook).

    python -m scripts.check_secrets models/x.yml profiles/profiles.yml ...

Finds AWS access key ids, private key blocks, 40-character AWS secret access keys, literal
passwords in YAML (anything but an env_var() call without a default), and hard-coded values of
dbt's masked DBT_ENV_SECRET_* variables. Prints `path:line: what was found` for each finding
(the secret itself is never printed) and exits 1 if there is any. Binary files are skipped.

A line that is a deliberate fake (a test fixture) is allowed by putting the marker
`secret-scan: allow` in a comment on that line, e.g. `key = "..."  # secret-scan: allow`.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

ALLOW_MARKER = "secret-scan: allow"
YAML_SUFFIXES = {".yml", ".yaml"}

AWS_KEY_ID = re.compile(r"(?<![A-Z0-9])AKIA[0-9A-Z]{16}(?![A-Z0-9])")
PRIVATE_KEY = re.compile(r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----")
AWS_SECRET = re.compile(
    r"aws_secret_access_key[\"']?\]?\s*(?::=|\?=|=|:)\s*[\"']?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])",
    re.IGNORECASE,
)
# `password: value` (also private_key_passphrase:, db_password:, "password": ...) as a YAML mapping entry.
YAML_PASSWORD = re.compile(
    r"^\s*(?:-\s+)?[\"']?(?P<key>[\w-]*(?:password|passphrase|passwd))[\"']?\s*:(?:\s+(?P<value>.*))?$",
    re.IGNORECASE,
)
ENV_VAR_CALL = re.compile(r"env_var\(\s*(['\"])[^'\"]*\1\s*(?:,\s*(['\"])(?P<default>.*?)\2\s*)?\)")
# DBT_ENV_SECRET_X=value (shell, .env, Makefile `:=`/`?=`, Python kwargs, os.environ[...] = value),
# DBT_ENV_SECRET_X: value (YAML env blocks, JSON), setenv("DBT_ENV_SECRET_X", value).
DBT_SECRET = re.compile(
    r"(?P<quote>[\"']?)(?P<name>DBT_ENV_SECRET_\w+)(?P=quote)\]?\s*(?P<op>:=|\?=|=(?!=)|:|,)\s*(?P<value>.*)$"
)
PLACEHOLDER = re.compile(r"^(?:\.\.\.|…|<[^>]*>|\*+|x+|X+)$")


class Finding(NamedTuple):
    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


def _unquote(value: str) -> str:
    """The value of a scalar as written: the quoted part if quoted, else up to a comment or `;`."""
    value = value.strip()
    if value[:1] in ("'", '"'):
        end = value.find(value[0], 1)
        return value[1:end] if end > 0 else value[1:]
    for stop in (" #", "\t#", ";"):
        value = value.split(stop, 1)[0]
    return value.strip().rstrip(",)")


def _is_reference(value: str) -> bool:
    """True for values that point at a secret instead of holding one: $VAR, {{ env_var() }}, os.environ..."""
    return (
        not value
        or value.startswith(("$", "{{", "{%", "%(", "os.environ", "os.getenv", "env_var(", "getenv("))
        or bool(PLACEHOLDER.match(value))
        or value.lower() in ("none", "null", "~", '""', "''")
    )


def _yaml_password(key: str, raw_value: str | None) -> str | None:
    if raw_value is None:
        return None
    stripped = raw_value.strip()
    if stripped.startswith("#"):
        return None
    value = _unquote(stripped)
    if value.lower() in ("", "~", "null"):
        return None
    if "env_var(" in value:
        calls = list(ENV_VAR_CALL.finditer(value))
        if any(call.group("default") for call in calls):
            return f"`{key}` has a literal default in env_var(): leave the default empty"
        return None
    if value.startswith("$") or PLACEHOLDER.match(value):
        return None  # ${{ secrets.X }} in a CI file, $VAR, or a placeholder like <password>
    return f"`{key}` is a literal password: use \"{{{{ env_var('DBT_ENV_SECRET_...') }}}}\""


def _dbt_secret(match: re.Match, is_python: bool) -> str | None:
    op, raw = match.group("op"), match.group("value").strip()
    if op == "," and not re.search(r"setenv\(\s*$|environ\.setdefault\(\s*$", match.string[: match.start()]):
        return None  # a list of names, not an assignment
    if op == ":" and match.group("quote") and is_python:
        return None  # a dict key in Python code (e.g. a description of the variable)
    if is_python and raw[:1] not in ("'", '"'):
        return None  # assigned from an expression, not a literal
    value = _unquote(raw)
    if _is_reference(value):
        return None
    return f"{match.group('name')} has a hard-coded value: set it in the environment instead"


def scan_text(text: str, path: str) -> list[Finding]:
    """All findings in one file's text; `path` decides which rules apply (YAML, Python) and is reported."""
    suffix = Path(path).suffix.lower()
    is_yaml, is_python = suffix in YAML_SUFFIXES, suffix == ".py"
    findings = []
    for number, line in enumerate(text.splitlines(), start=1):
        if ALLOW_MARKER in line:
            continue
        for what in _line_findings(line, is_yaml, is_python):
            findings.append(Finding(path, number, what))
    return findings


def _line_findings(line: str, is_yaml: bool, is_python: bool) -> Iterator[str]:
    for match in AWS_KEY_ID.finditer(line):
        yield f"AWS access key id ({match.group()[:4]}...)"
    match = PRIVATE_KEY.search(line)
    if match:
        yield f"private key block ({match.group()})"
    for _ in AWS_SECRET.finditer(line):
        yield "AWS secret access key (40 characters)"
    if is_yaml:
        match = YAML_PASSWORD.match(line)
        if match and not match.group("key").upper().startswith("DBT_ENV_SECRET_"):
            what = _yaml_password(match.group("key"), match.group("value"))
            if what:
                yield what
    for match in DBT_SECRET.finditer(line):
        what = _dbt_secret(match, is_python)
        if what:
            yield what


def scan_file(path: str | Path) -> list[Finding]:
    """Findings in one file; [] for binary files (a NUL byte in the first 8 KiB)."""
    data = Path(path).read_bytes()
    if b"\0" in data[:8192]:
        return []
    return scan_text(data.decode("utf-8", errors="replace"), str(path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="check_secrets",
        description="Fail if the given files contain credentials. Mark a deliberate fake with `# secret-scan: allow`.",
    )
    parser.add_argument("files", nargs="*", help="files to scan (binary files are skipped)")
    args = parser.parse_args(argv)

    findings: list[Finding] = []
    unreadable = 0
    for name in args.files:
        try:
            findings.extend(scan_file(name))
        except OSError as exc:
            print(f"check_secrets: cannot read {name} ({exc.strerror}): pass existing files", file=sys.stderr)
            unreadable += 1
    for finding in findings:
        print(finding)
    if findings:
        print(
            f"check_secrets: {len(findings)} possible secret(s): move them to environment variables, "
            f"or mark a test fixture line with `# {ALLOW_MARKER}`",
            file=sys.stderr,
        )
        return 1
    return 2 if unreadable else 0


if __name__ == "__main__":
    sys.exit(main())
