"""The project's one command line: `python -m scripts <command>` (the Makefile's calls), or
`movielens <command>` after `pip install -e .` (pyproject.toml). `python -m scripts --help` lists
the commands; each module below holds its command, imported only when it runs."""

from __future__ import annotations

import importlib
import sys

import click

from scripts.common import UserError

COMMANDS = {
    "generate": "scripts.dataset.generate",
    "download": "scripts.dataset.download",
    "deliver": "scripts.dataset.deliver",
    "validate": "scripts.landing.validate",
    "upload": "scripts.landing.upload",
    "s3": "scripts.landing.s3_local",
    "update": "scripts.tools.update",
    "stats": "scripts.tools.stats",
    "emulate": "scripts.tools.emulate",
    "prod-check": "scripts.tools.prod_check",
    "prod-smoke": "scripts.tools.prod_smoke",
    "bench": "scripts.tools.bench",
}


class Commands(click.Group):
    """Imports a command's module when it runs (boto3, duckdb and numpy take a second to load).
    Every failure is one line on stderr: `error: <message>`; exit code 2 for a bad command line,
    a UserError's exit_code (1 unless it says otherwise), 130 for Ctrl-C. A command may return
    its exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return importlib.import_module(COMMANDS[name]).command if name in COMMANDS else None

    def main(self, args=None, prog_name=None, **extra):  # noqa: ANN001 - click's signature
        try:
            code = super().main(args, prog_name, standalone_mode=False, **extra)
        except click.UsageError as exc:
            code = _fail(f"{exc.format_message()} (see --help)", 2)
        except click.ClickException as exc:
            code = _fail(exc.format_message(), exc.exit_code)
        except UserError as exc:
            code = _fail(str(exc), exc.exit_code)
        except (KeyboardInterrupt, click.Abort):
            code = _fail("interrupted", 130)
        sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> int:
    click.echo(f"error: {message}", err=True)
    return code


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """MovieLens warehouse: data, landing zone and tools (the Makefile's targets call these)."""


def run(*argv: object) -> int:
    """Run one command line in this process and return its exit code (as `python -m scripts` would)."""
    try:
        cli.main(args=[str(arg) for arg in argv], prog_name="python -m scripts")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    return 0
