"""Check the environment for `make prod` (`make prod-check`) and print the account set-up SQL
(`make prod-setup`: snowflake_setup.sql filled in)."""

from __future__ import annotations

import os
import string
import sys
from pathlib import Path

import click

SETUP_SQL = Path(__file__).with_name("snowflake_setup.sql")

# name -> what it is; every one must be set for `make prod`.
REQUIRED = {
    "SNOWFLAKE_ACCOUNT": "account identifier, e.g. xy12345.eu-west-1",
    "SNOWFLAKE_USER": "user dbt connects as",
    "SNOWFLAKE_RAW_DATABASE": "database holding the raw tables, e.g. RAW",
    "SNOWFLAKE_STORAGE_INTEGRATION": "storage integration for the stage's S3 access (make prod-setup creates it)",
}
# One of these must be set.
AUTHENTICATION = {
    "SNOWFLAKE_PRIVATE_KEY_PATH": "path of an RSA private key for key-pair auth (the default)",
    "DBT_ENV_SECRET_SNOWFLAKE_TOKEN": "programmatic access token, with SNOWFLAKE_AUTHENTICATOR=programmatic_access_token",
    "DBT_ENV_SECRET_SNOWFLAKE_PASSWORD": "password (single-factor: warned about)",
}
# Snowflake is blocking single-factor password sign-in for users; key-pair authentication and
# programmatic access tokens are its replacements for a service user such as dbt's.
PASSWORD_ONLY = (
    "make prod: warning: password-only sign-in (DBT_ENV_SECRET_SNOWFLAKE_PASSWORD): Snowflake is blocking "
    "single-factor passwords; set SNOWFLAKE_PRIVATE_KEY_PATH (key-pair, see README: Snowflake) or a "
    "programmatic access token instead"
)
# Used with these defaults when unset.
DEFAULTS = {
    "SNOWFLAKE_ROLE": "TRANSFORMER",
    "SNOWFLAKE_WAREHOUSE": "TRANSFORMING",
    "SNOWFLAKE_DATABASE": "ANALYTICS",
    "SNOWFLAKE_SCHEMA": "MOVIELENS",
    "SNOWFLAKE_RAW_SCHEMA": "raw",
    "S3_BUCKET": "movielens-landing",
    "S3_PREFIX": "movielens/raw",
}


def missing(env: dict[str, str]) -> list[str]:
    """One line per missing setting; empty when `make prod` can start."""
    lines = [f"{name} ({what})" for name, what in REQUIRED.items() if not env.get(name)]
    if not any(env.get(name) for name in AUTHENTICATION):
        lines.append(f"one of {' or '.join(AUTHENTICATION)} (authentication)")
    if env.get("DBT_ENV_SECRET_SNOWFLAKE_TOKEN") and env.get("SNOWFLAKE_AUTHENTICATOR") != "programmatic_access_token":
        lines.append(
            "SNOWFLAKE_AUTHENTICATOR=programmatic_access_token (to sign in with DBT_ENV_SECRET_SNOWFLAKE_TOKEN)"
        )
    if env.get("SNOWFLAKE_STAGE_AWS_KEY_ID"):
        lines.append(
            "no SNOWFLAKE_STAGE_AWS_KEY_ID (stage keys are not supported: they would be written into "
            "logged SQL; use SNOWFLAKE_STORAGE_INTEGRATION)"
        )
    return lines


def warnings(env: dict[str, str]) -> list[str]:
    """Settings `make prod` can start with but should not: one line each."""
    signs_in_otherwise = env.get("SNOWFLAKE_PRIVATE_KEY_PATH") or env.get("DBT_ENV_SECRET_SNOWFLAKE_TOKEN")
    if env.get("DBT_ENV_SECRET_SNOWFLAKE_PASSWORD") and not signs_in_otherwise:
        return [PASSWORD_ONLY]
    return []


def setup_sql(env: dict[str, str]) -> str:
    values = {
        **DEFAULTS,
        "SNOWFLAKE_RAW_DATABASE": "RAW",
        "SNOWFLAKE_STORAGE_INTEGRATION": "MOVIELENS_S3",
        "SNOWFLAKE_USER": "<your user>",
        "SNOWFLAKE_STORAGE_AWS_ROLE_ARN": "arn:aws:iam::<account>:role/<role>",
    }
    values.update({k: v for k, v in env.items() if v})
    return string.Template(SETUP_SQL.read_text(encoding="utf-8")).safe_substitute(values)


@click.command("prod-check")
@click.option("--setup-sql", "print_sql", is_flag=True, help="print the account set-up SQL")
def command(print_sql: bool) -> int:
    """Check the environment for `make prod` (or print the account set-up SQL)."""
    env = dict(os.environ)
    if print_sql:
        print(setup_sql(env))
        return 0
    for line in warnings(env):
        print(line, file=sys.stderr)
    problems = missing(env)
    if problems:
        print("make prod: missing settings: " + "; ".join(problems) + " (see README: Snowflake)", file=sys.stderr)
        return 1
    return 0
