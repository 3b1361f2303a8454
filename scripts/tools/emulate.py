"""`make emulate`: rehearse `make prod` offline for DATA_DIR. The files land in a local S3 server on
a free port; the Snowflake path (raw load, seed, build) runs on the emulator and the DuckDB path
(ci target) reads the same files; then every core and analytics table is compared
(scripts/tools/compare.py), or, when a target stops on a malformed file, the file and line each
names. Everything is written under --work; DATA_DIR is only read.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import click

from scripts.common import DBT, ROOT, WITHOUT_UNIT_TESTS, UserError, duckdb_env
from scripts.emulator.process import (
    EMULATOR_PYTHON,
    EmulatorStartError,
    free_port,
    snowflake_connect,
    start_emulator,
    stop_emulator,
)
from scripts.landing import s3_local, upload
from scripts.tools.compare import Comparison, compare_warehouses

BUCKET = "movielens-landing"
PREFIX = "movielens/raw"
DUCKDB_STOP = re.compile(r"CSV Error on Line: (\d+)")
DUCKDB_FILE = re.compile(r"file = (\S+)")  # in the option list of DuckDB's CSV error
SNOWFLAKE_STOP = re.compile(r"File '([^']+)', line (\d+)")


class EmulateError(UserError):
    """A problem the user can fix (missing folder, emulator venv); one line."""

    exit_code = 2


@dataclass
class Outcome:
    target: str
    steps: list[str] = field(default_factory=list)  # steps that ran, in order
    failed_step: str | None = None
    stop: tuple[str, int] | None = None  # (file under the landing prefix, line) of a malformed file
    failures: list[str] = field(default_factory=list)  # dbt nodes that did not pass
    message: str = ""

    def describe(self) -> str:
        if self.stop:
            return f"{self.target}: stopped in '{self.failed_step}' on {self.stop[0]} line {self.stop[1]}"
        if self.failed_step:
            nodes = f": {', '.join(self.failures)}" if self.failures else f": {self.message}"
            return f"{self.target}: '{self.failed_step}' failed{nodes}"
        return f"{self.target}: {', '.join(self.steps)} passed"


@dataclass
class Result:
    duckdb: Outcome
    snowflake: Outcome
    comparison: Comparison | None

    @property
    def agree(self) -> bool:
        if self.duckdb.stop or self.snowflake.stop:
            return self.duckdb.stop == self.snowflake.stop
        if sorted(self.duckdb.failures) != sorted(self.snowflake.failures):
            return False
        return self.comparison is not None and self.comparison.differing == 0

    def lines(self) -> list[str]:
        out = [self.duckdb.describe(), self.snowflake.describe()]
        if self.duckdb.stop or self.snowflake.stop:
            same = "the same file and line" if self.agree else "different places"
            out.append(
                f"both targets stop on {same}" if self.duckdb.stop and self.snowflake.stop else "one target stops"
            )
        elif self.comparison is not None:
            out += self.comparison.lines()
        else:
            out.append("no table compared: a target did not build")
        return out


def landed_path(url: str) -> str:
    """`s3://bucket/<prefix>/ratings/batch=0001/ratings.csv` -> `ratings/batch=0001/ratings.csv`."""
    marker = f"{PREFIX}/"
    return url.split(marker, 1)[1] if marker in url else url


def _failed_nodes(target: Path) -> list[str]:
    path = target / "run_results.json"
    if not path.is_file():
        return []
    results = json.loads(path.read_text())["results"]
    return sorted(r["unique_id"] for r in results if r["status"] not in ("success", "pass", "skipped"))


def _dbt(args: list[str], env: dict[str, str], log: IO[str]) -> subprocess.CompletedProcess:
    target = Path(env["DBT_TARGET_PATH"])
    (target / "run_results.json").unlink(missing_ok=True)
    proc = subprocess.run([DBT, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    log.write(f"$ dbt {' '.join(args)}\n{proc.stdout}\n{proc.stderr}\n")
    return proc


def _run_steps(name: str, steps: list[tuple[str, list[str]]], env: dict[str, str], log: IO[str]) -> Outcome:
    outcome = Outcome(name)
    for step, args in steps:
        proc = _dbt(args, env, log)
        outcome.steps.append(step)
        if proc.returncode == 0:
            continue
        outcome.failed_step = step
        output = proc.stdout + proc.stderr
        outcome.failures = _failed_nodes(Path(env["DBT_TARGET_PATH"])) if step != "raw load" else []
        if name == "DuckDB" and (line := DUCKDB_STOP.search(output)):
            file = DUCKDB_FILE.search(output[line.start() :]) or DUCKDB_FILE.search(output)
            outcome.stop = (landed_path(file.group(1)) if file else "?", int(line.group(1)))
        elif name == "Snowflake emulator" and (where := SNOWFLAKE_STOP.search(output)):
            outcome.stop = (landed_path(where.group(1)), int(where.group(2)))
        tail = [ln for ln in output.splitlines() if ln.strip()][-3:]
        outcome.message = " | ".join(tail)[:500]
        # a failing data test leaves the tables built: keep going only for the build itself
        if outcome.stop or step != "build":
            break
    return outcome


def run(data_dir: str | os.PathLike, work: str | os.PathLike, validate: bool = True) -> Result:
    """Land data_dir, build both targets, compare them. See the module docstring."""
    data_dir, work = Path(data_dir), Path(work).resolve()
    if not data_dir.is_dir():
        raise EmulateError(f"DATA_DIR={data_dir} is not a folder: point DATA_DIR at a folder of MovieLens CSV files")
    if not EMULATOR_PYTHON.is_file():
        raise EmulateError(f"{EMULATOR_PYTHON} is missing: run `make emulator-setup`")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    log = open(work / "emulate.log", "w", encoding="utf-8")  # noqa: SIM115 - closed below
    s3_port, sf_port = free_port(), free_port()
    s3_local.start_server(s3_port, work / "s3", timeout=20)
    endpoint = s3_local.endpoint_url(s3_port)
    emulator = None
    try:
        client = s3_local.client(endpoint)
        client.create_bucket(Bucket=BUCKET)
        raw_root = f"s3://{BUCKET}/{PREFIX}"
        try:
            upload.upload_dir(data_dir, raw_root, batch=0, client=client, validate=validate, stream=io.StringIO())
        except upload.UploadError as e:
            raise EmulateError(str(e)) from None

        def env_for(name: str, target: str) -> dict[str, str]:
            return duckdb_env(
                target=target,
                db=work / "duckdb.duckdb",
                raw_root=raw_root,
                target_path=work / f"target-{name}",
                log_path=work / f"logs-{name}",
                s3_endpoint=endpoint,
            )

        # The unit tests read fixtures, not DATA_DIR: both builds leave them out.
        build = ["build", *WITHOUT_UNIT_TESTS]
        duck = _run_steps("DuckDB", [("build", build)], env_for("duckdb", "ci"), log)

        try:
            emulator = start_emulator(sf_port, work / "emulator", endpoint, work / "emulator.log")
        except EmulatorStartError as error:
            raise EmulateError(
                f"the Snowflake emulator did not start on port {sf_port}: see {work / 'emulator.log'}"
            ) from error
        sf_env = env_for("emulator", "emulator")
        sf_env.update(
            SNOWFLAKE_EMULATOR_PORT=str(sf_port),
            SNOWFLAKE_EMULATOR_PASSWORD="emulator",
            SNOWFLAKE_RAW_DATABASE="ANALYTICS",
            SNOWFLAKE_STAGE_URL=f"{raw_root}/",
            SNOWFLAKE_DISABLE_PLATFORM_DETECTION="true",
        )
        steps = [("raw load", ["run-operation", "load_raw"]), ("seed", ["seed"]), ("build", build)]
        snow = _run_steps("Snowflake emulator", steps, sf_env, log)

        comparison = None
        if not duck.stop and not snow.stop and snow.steps == ["raw load", "seed", "build"]:
            comparison = _compare(work / "duckdb.duckdb", sf_port)
        return Result(duck, snow, comparison)
    finally:
        if emulator is not None:
            stop_emulator(emulator)
        s3_local.stop_server(s3_port, work / "s3")
        log.close()


def _compare(duck_path: Path, port: int) -> Comparison:
    import duckdb

    with closing(snowflake_connect(port, schema=None)) as sf, duckdb.connect(str(duck_path), read_only=True) as duck:
        return compare_warehouses(duck, sf.cursor())


@click.command("emulate")
@click.option("--data-dir", required=True, help="folder of MovieLens CSV files (only read)")
@click.option("--work", default=str(ROOT / "target" / "emulate"), help="working folder (re-created)")
@click.option("--validate/--no-validate", default=True, help="--no-validate: copy the files straight into the bucket")
def command(data_dir: str, work: str, validate: bool) -> int:
    """Rehearse `make prod` offline: exit 0 when the two targets agree, 1 when they differ."""
    result = run(data_dir, work, validate=validate)
    print("\n".join(result.lines()))
    print(f"(logs: {Path(work) / 'emulate.log'})")
    return 0 if result.agree else 1
