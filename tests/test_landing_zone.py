"""The landing zone is the source of truth: durable offline, one per warehouse, never silently forgotten.

Run as a person would, through `make`, in copies of this checkout (tiny generated data, each copy
its own local S3 port and data/s3 folder):

- a restarted local S3 server keeps every delivery: `make dev`, `make deliver`, `make build`,
  `make s3-stop`, `make s3`, `make build` leaves fct_ratings, snap_movies and snap_tags exactly
  as before the restart;
- a warehouse built from a landing zone stays on it: `make dev RAW=local`, then `make build` and
  `make deliver` use data/landing; `make build RAW=s3` stops with one line; files lost from the
  landing zone stop the build with one line, and `--full-refresh` rebuilds without recording
  deletions;
- one local S3 server per checkout: a second copy's `make dev` on a port held by the first one's
  server stops with one line naming the port and the other checkout; on its own port it builds only
  its own deliveries;
- S3 unreachable at build time: `make build` and `make dev` end with one line naming the fix, not
  DuckDB's `IO Error`.

One copy per scenario, built once for the module (the dbt builds are the cost: about 10 s each);
the two local-folder scenarios share one copy, the lost files last.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import duckdb
import pytest

from scripts.common import free_port
from scripts.dataset import generate as gen
from scripts.landing import s3_local
from tests.dbt_runner import ROOT, user_shell_env

pytestmark = pytest.mark.dbt

SCALE = 0.001
SEED = 11
DELIVERY = "DELIVER_ARGS=--size-pct 5 --seed 3"
# What these scenarios check is the landing zone and the history, not the data: every dbt build
# here leaves out the data and unit tests (every other dbt test module runs them).
WITHOUT_TESTS = "--exclude-resource-type test unit_test"
HISTORY = {
    "fct_ratings": "select * from core.fct_ratings order by all",
    "snap_movies": "select * from snapshots.snap_movies order by all",
    "snap_tags": "select * from snapshots.snap_tags order by all",
}


def answers(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def copy_checkout(dest: Path) -> Path:
    """A copy of this checkout's files (what git would commit, plus untracked non-ignored files),
    with .venv linked to this checkout's."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in sorted(set(listed.split("\0"))):
        if name and (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name, follow_symlinks=False)
    (dest / ".venv").symlink_to((ROOT / ".venv").resolve(), target_is_directory=True)
    (dest / ".stamp").touch()  # stands for .venv/.installed: the shared venv is never reinstalled
    return dest


class Checkout:
    def __init__(self, path: Path, base: Path, port: int):
        self.path, self.base, self.port = path, base, port

    def make(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        clean = user_shell_env(DBT_USE_COLORS="false", **env)
        given = [arg.removeprefix("DBT_ARGS=") for arg in args if arg.startswith("DBT_ARGS=")]
        dbt_args = f"DBT_ARGS={' '.join([*given, WITHOUT_TESTS])}"
        args = tuple(arg for arg in args if not arg.startswith("DBT_ARGS="))
        command = [
            "make",
            *args,
            dbt_args,
            f"STAMP={self.path}/.stamp",
            f"DATA_DIR={self.base}",
            f"S3_LOCAL_PORT={self.port}",
        ]
        return subprocess.run(command, cwd=self.path, env=clean, capture_output=True, text=True, timeout=600)

    def ok(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        proc = self.make(*args, **env)
        assert proc.returncode == 0, f"make {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
        return proc

    def history(self, db: str = "warehouse/dev.duckdb") -> dict[str, list[tuple]]:
        with duckdb.connect(str(self.path / db), read_only=True) as con:
            return {name: con.sql(sql).fetchall() for name, sql in HISTORY.items()}

    def query(self, sql: str, db: str = "warehouse/dev.duckdb") -> list[tuple]:
        with duckdb.connect(str(self.path / db), read_only=True) as con:
            return con.sql(sql).fetchall()

    def stop(self) -> None:
        s3_local.stop_server(self.port, self.path / "data" / "s3")


def one_line(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """The single output line holding every needle; no traceback, no DuckDB IO Error."""
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output and "IO Error" not in output, output[-3000:]
    lines = [line for line in output.splitlines() if all(n in line for n in needles)]
    assert len(lines) == 1, f"expected one line with {needles}, got {lines}:\n{output[-3000:]}"
    return lines[0]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("base")
    gen.generate(out, SCALE, SEED, quiet=True)
    return out


@pytest.fixture(scope="module")
def checkouts(base, tmp_path_factory):
    made: list[Checkout] = []

    def new(name: str, port: int | None = None) -> Checkout:
        path = copy_checkout(tmp_path_factory.mktemp(name))
        made.append(Checkout(path, base, port or free_port()))
        return made[-1]

    yield new
    for checkout in made:
        checkout.stop()


@pytest.fixture(scope="module")
def delivered(checkouts) -> Checkout:
    """A checkout after `make dev` (S3 on its local server), `make deliver` and `make build`."""
    first = checkouts("first")
    first.ok("dev")
    first.ok("deliver", DELIVERY)
    first.ok("build")
    return first


def test_restarted_local_s3_keeps_every_delivery(delivered):
    before = delivered.history()
    assert {batch for (batch,) in delivered.query("select distinct batch_id from core.fct_ratings")} == {0, 1}
    delivered.ok("s3-stop")
    assert not answers(delivered.port), "the server still runs"
    delivered.ok("s3")
    delivered.ok("build")
    after = delivered.history()
    for name in HISTORY:
        assert len(after[name]) == len(before[name]) > 0, name
        assert after[name] == before[name], f"{name} changed across the restart"


def test_second_checkout_never_uses_another_checkouts_server(delivered, checkouts):
    second = checkouts("second", port=delivered.port)
    proc = second.make("dev")
    assert proc.returncode != 0
    line = one_line(proc, f"port {delivered.port}", "another checkout")
    assert str(delivered.path) in line and "S3_LOCAL_PORT" in line
    assert not (second.path / "warehouse" / "dev.duckdb").exists()
    stop = second.ok("s3-stop")
    assert "no local S3 server of this checkout" in stop.stdout
    assert s3_local.whois(delivered.port)["state_dir"] == str((delivered.path / "data" / "s3").resolve())

    second.port = free_port()
    second.ok("dev")
    batches = second.query("select batch_id, count(*) from core.fct_ratings group by all")
    assert [batch for batch, _ in batches] == [0]
    first_batches = delivered.query("select distinct batch_id from core.fct_ratings order by 1")
    assert first_batches == [(0,), (1,)]  # the first checkout's delivery is still its own


@pytest.fixture(scope="module")
def local(checkouts) -> Checkout:
    """A checkout built from a local-folder landing zone: `make dev RAW=local`, `make build`,
    `make deliver`, `make build`. The lost-files test below runs last on it: it removes files."""
    local = checkouts("local")
    local.ok("dev", "RAW=local")
    local.ok("build")  # remembered: reads data/landing, not S3
    local.ok("deliver", DELIVERY)  # remembered: lands in data/landing, not S3
    local.ok("build")
    return local


def test_build_stays_on_the_landing_zone_it_was_built_from(local):
    assert sorted(p.name for p in (local.path / "data" / "landing" / "ratings").iterdir()) == [
        "batch=0000",
        "batch=0001",
    ]
    assert local.query("select distinct batch_id from core.fct_ratings order by 1") == [(0,), (1,)]
    files = {name for (name,) in local.query("select distinct source_file from core.fct_ratings")}
    assert all(name.startswith(str(local.path / "data" / "landing")) for name in files)

    proc = local.make("build", "RAW=s3")
    assert proc.returncode != 0
    one_line(proc, "was built from the landing zone", "not s3://movielens-landing/movielens/raw", "--full-refresh")
    assert local.query("select raw_root from raw.landing_zone") == [(str(local.path / "data" / "landing"),)]


def test_lost_files_stop_the_build_and_full_refresh_records_no_deletion(local):
    lost = local
    before = lost.history()
    landing = lost.path / "data" / "landing"
    aside = lost.path / "aside"
    aside.mkdir()
    for folder in landing.glob("*/batch=0001"):  # the delivery disappears from the landing zone
        shutil.move(folder, aside / folder.parent.name)
    proc = lost.make("build")
    assert proc.returncode != 0
    one_line(proc, f"the landing zone {landing} no longer holds", "missing", "restore them", "--full-refresh")
    assert lost.history() == before  # nothing was written

    lost.ok("build", "DBT_ARGS=--full-refresh")
    assert lost.query("select distinct batch_id from core.fct_ratings") == [(0,)]
    deletions = lost.query(
        "select count(*) from snapshots.snap_tags where dbt_is_deleted = 'True'"
        " union all select count(*) from snapshots.snap_movies where dbt_is_deleted = 'True'"
    )
    assert deletions == [(0,), (0,)]
    kept = lost.query("select table_name from duckdb_tables() where table_name like 'snap_tags__before_%'")
    assert len(kept) == 1, "the old history is kept aside"


def test_unreachable_s3_at_build_time_is_one_line(checkouts):
    fresh = checkouts("unreachable")
    proc = fresh.make("build")  # no `make dev` yet: no local server on the port
    assert proc.returncode != 0
    one_line(proc, f"no local S3 server answers at http://127.0.0.1:{fresh.port}", "make s3")

    closed = f"http://127.0.0.1:{free_port()}"
    proc = fresh.make("dev", S3_ENDPOINT_URL=closed, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    assert proc.returncode != 0
    one_line(proc, f"cannot reach S3_ENDPOINT_URL={closed}", "make s3")
    proc = fresh.make("build", S3_ENDPOINT_URL=closed, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    assert proc.returncode != 0
    one_line(proc, f"cannot reach S3_ENDPOINT_URL={closed}")


def test_make_help_lists_every_target_and_target_is_honest(checkouts):
    checkout = checkouts("help")
    listed = checkout.ok("help").stdout
    makefile = (checkout.path / "Makefile").read_text()
    phony = " ".join(line for line in makefile.split(".PHONY:")[1].split("\n\n")[0].splitlines())
    for target in phony.replace("\\", " ").split():
        assert f" {target} " in listed.replace("\x1b[0m", " ").replace("\x1b[36m", " "), target
    dry = checkout.ok("-n", "build", "DBT_TARGET=ci").stdout
    assert "dbt build --target ci" in dry
    dry = checkout.ok("-n", "stats", "TARGET=ci").stdout
    assert "--db warehouse/ci.duckdb" in dry
    dry = checkout.ok("-n", "deliver").stdout  # with no arguments: the default 1% delivery
    assert dry.rstrip().endswith("--size-pct 1"), dry
