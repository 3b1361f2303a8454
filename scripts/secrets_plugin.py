"""detect-secrets plugins for the project's own rules (.secrets.baseline loads this file).

detect-secrets finds AWS key ids, quoted AWS secret keys, private keys and service tokens. These
add what it cannot know: dbt's masked DBT_ENV_SECRET_* variables must never get a literal value,
YAML passwords must come from env_var() without a default, and an unquoted 40-character
`aws_secret_access_key = ...` (an ~/.aws/credentials or .env line) is a secret too.
A deliberate fake (a test fixture) is allowed with `# pragma: allowlist secret` on its line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from detect_secrets.core.potential_secret import PotentialSecret
from detect_secrets.plugins.base import BasePlugin, RegexBasedDetector

# A value that points at a secret instead of holding one: $VAR, {{ env_var() }}, os.environ...,
# or a placeholder such as ..., <password>, ***.
REFERENCE_PREFIXES = ("$", "{{", "{%", "%(", "os.environ", "os.getenv", "env_var(", "getenv(")
PLACEHOLDER = re.compile(r"^(?:\.\.\.|…|<[^>]*>|\*+|x+|X+)$")
EMPTY = ("", "none", "null", "~", '""', "''")
# `password: value` (also private_key_passphrase:, "db_password": ...) as a YAML mapping entry.
YAML_PASSWORD = re.compile(
    r"^\s*(?:-\s+)?[\"']?(?P<key>[\w-]*(?:password|passphrase|passwd))[\"']?\s*:(?:\s+(?P<value>.*))?$",
    re.IGNORECASE,
)
ENV_VAR_DEFAULT = re.compile(r"env_var\(\s*(['\"])[^'\"]*\1\s*,\s*(['\"])(?P<default>.+?)\2\s*\)")
# DBT_ENV_SECRET_X=value (shell, .env, Makefile `:=`/`?=`, os.environ[...] = value),
# DBT_ENV_SECRET_X: value (YAML env blocks, JSON), setenv("DBT_ENV_SECRET_X", value).
DBT_SECRET = re.compile(
    r"(?P<quote>[\"']?)DBT_ENV_SECRET_\w+(?P=quote)\]?\s*(?P<op>:=|\?=|=(?!=)|:|,)\s*(?P<value>.*)$"
)


def _unquote(value: str) -> str:
    """A scalar as written: the quoted part if quoted, else up to a comment or `;`."""
    value = value.strip()
    if value[:1] in ("'", '"'):
        end = value.find(value[0], 1)
        return value[1:end] if end > 0 else value[1:]
    for stop in (" #", "\t#", ";"):
        value = value.split(stop, 1)[0]
    return value.strip().rstrip(",)")


def _is_reference(value: str) -> bool:
    return value.lower() in EMPTY or value.startswith(REFERENCE_PREFIXES) or bool(PLACEHOLDER.match(value))


class _LinePlugin(BasePlugin):
    """A rule that depends on the file's type: analyze_line gets the file name, analyze_string not."""

    def analyze_string(self, string: str) -> Iterator[str]:
        yield from self.secrets_in(string, "")

    def analyze_line(self, filename: str, line: str, line_number: int = 0, **kwargs: Any) -> set[PotentialSecret]:
        return {
            PotentialSecret(type=self.secret_type, filename=filename, secret=secret, line_number=line_number)
            for secret in self.secrets_in(line, Path(filename).suffix.lower())
        }

    def secrets_in(self, line: str, suffix: str) -> Iterator[str]:
        raise NotImplementedError


class YamlPasswordDetector(_LinePlugin):
    """dbt profiles and CI files: a password is "{{ env_var('DBT_ENV_SECRET_...') }}" with no default."""

    secret_type = "Literal password in YAML: use {{ env_var('DBT_ENV_SECRET_...') }} with no default"

    def secrets_in(self, line: str, suffix: str) -> Iterator[str]:
        match = YAML_PASSWORD.match(line) if suffix in (".yml", ".yaml") else None
        if not match or match.group("key").upper().startswith("DBT_ENV_SECRET_") or match.group("value") is None:
            return
        raw = match.group("value").strip()
        if raw.startswith("#"):
            return
        value = _unquote(raw)
        if "env_var(" in value:
            yield from (m.group("default") for m in ENV_VAR_DEFAULT.finditer(value))
        elif not _is_reference(value):  # ${{ secrets.X }} in a CI file, $VAR and <password> are fine
            yield value


class DbtEnvSecretDetector(_LinePlugin):
    """dbt masks DBT_ENV_SECRET_* in its logs: their values belong in the environment, never in a file."""

    secret_type = "Hard-coded value of a DBT_ENV_SECRET_ variable: set it in the environment instead"

    def secrets_in(self, line: str, suffix: str) -> Iterator[str]:
        is_python = suffix == ".py"
        for match in DBT_SECRET.finditer(line):
            op, raw = match.group("op"), match.group("value").strip()
            if op == "," and not re.search(r"setenv\(\s*$|environ\.setdefault\(\s*$", line[: match.start()]):
                continue  # a list of names, not an assignment
            if is_python and (op == ":" and match.group("quote") or raw[:1] not in ("'", '"')):
                continue  # a dict key (a description of the variable), or an expression, not a literal
            value = _unquote(raw)
            if not _is_reference(value):
                yield value


class AwsSecretAssignmentDetector(RegexBasedDetector):
    """detect-secrets' AWS detector wants the key quoted; credentials and .env files write it bare."""

    secret_type = "AWS secret access key (40 characters)"
    denylist = (
        re.compile(
            r"aws_secret_access_key[\"']?\]?\s*(?::=|\?=|=|:)\s*[\"']?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])",
            re.IGNORECASE,
        ),
    )
