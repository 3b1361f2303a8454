"""`make update`: build only what is downstream of a raw table with a newer file than at the last
update (`source_status:fresher+`), everything the first time. One dbt process runs both steps
(`dbt source freshness`, then `dbt build`), so a re-run with nothing new costs one dbt start-up.
The state of a successful update is kept in <target path>/last-update."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import click

from scripts.common import UserError

STATE = "last-update"  # under the dbt target path


def save_state(target: Path) -> None:
    """Keep the last freshness results and manifest as the state the next update compares with."""
    (target / STATE).mkdir(parents=True, exist_ok=True)
    for name in ("sources.json", "manifest.json"):
        shutil.copy(target / name, target / STATE / name)


def update(target_name: str | None, build_args: list[str]) -> int:
    """Freshness, then the build of what is fresher; 1 if the build failed, 0 if it passed."""
    from dbt.cli.main import dbtRunner  # a second to import: only when the command runs

    on = ["--target", target_name] if target_name else []
    target = Path(os.environ.get("DBT_TARGET_PATH", "target"))
    state = target / STATE
    dbt = dbtRunner()
    # The sources warn after a week and never error, so a failure here is a failed query: building
    # against the previous sources.json would then select nothing and pass.
    freshness = dbt.invoke(["source", "freshness", *on])
    if not freshness.success:
        raise UserError(f"dbt source freshness failed, nothing built: {freshness.exception or 'see the lines above'}")
    selection = (
        ["--select", "source_status:fresher+", "--state", str(state)] if (state / "sources.json").is_file() else []
    )
    build = dbt.invoke(["build", *on, *selection, *build_args])
    if build.exception is not None:
        raise UserError(f"dbt build failed: {build.exception}", exit_code=2)
    if not build.success:
        return 1
    save_state(target)
    return 0


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--target", "target_name", help="dbt target of both steps (the profile's default if not given)")
@click.argument("build_args", nargs=-1, type=click.UNPROCESSED)
def command(target_name: str | None, build_args: tuple[str, ...]) -> int:
    """Build what is downstream of a raw table with a newer file; BUILD_ARGS go to `dbt build`."""
    return update(target_name, list(build_args))
