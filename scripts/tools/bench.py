"""`make bench`: how fast the warehouse builds at full MovieLens 20M scale, on this machine.

Measures, in one run, each step --runs times (median reported), against issue 12's targets:
  reference        hand-written DuckDB SQL (scripts/tools/bench_reference.sql), no dbt, same CSVs, same marts
  run-local        `dbt run` from a fresh DuckDB file, raw files in a local folder (seeds loaded first,
                   untimed): at most 1.5x reference
  build-local      `dbt build` (seeds, models, snapshots, every test) from a fresh file, local folder:
                   at most 2.5x reference, peak memory at most 2 GiB
  build-s3         the same, reading the raw files from a local S3 server through httpfs: at most
                   1.5x build-local, peak memory at most 2 GiB
  incremental-0.1  `dbt build` after a 0.1% delivery, on a copy of the built warehouse: at most
                   0.15x build-local
  incremental-1    then after a 1% delivery: at most 0.25x build-local
  incremental-10   then after a 10% delivery (no target: the cost should follow the delivery)
  rerun            `dbt build` again with nothing new: at most 0.15x build-local
  update           `make update` with nothing new (python -m scripts update: freshness, then a build
                   of what is downstream of a fresher source, here nothing): at most 0.15x build-local
For each: wall time, peak RSS of the process tree (wait4), and per-model times from
run_results.json. Prints a markdown table and writes target/bench/bench.md, bench.json and
bench.svg (each step against its target, and where a full build's time goes by model).

    python -m scripts bench [--scale 1.0] [--runs 3] [--steps reference,build-local,incremental,...]
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from html import escape
from pathlib import Path

import click

from scripts import contract
from scripts.common import DBT, duckdb_env, free_port
from scripts.tools import update

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
OUT = ROOT / "target" / "bench"
WORK = ROOT / "data" / "bench"
DELIVERIES = [0.1, 1, 10]  # % of the base data set, landed one after another
INCREMENTAL = [f"incremental-{pct:g}" for pct in DELIVERIES]
AFTER_DELIVERIES = [*INCREMENTAL, "rerun", "update"]
STEPS = ["reference", "run-local", "build-local", "build-s3", *AFTER_DELIVERIES]
TARGETS = {  # step -> (compared with, at most this ratio or None): issue 12's targets
    "run-local": ("reference", 1.5),
    "build-local": ("reference", 2.5),
    "build-s3": ("build-local", 1.5),
    "incremental-0.1": ("build-local", 0.15),
    "incremental-1": ("build-local", 0.25),
    "incremental-10": ("build-local", None),
    "rerun": ("build-local", 0.15),
    "update": ("build-local", 0.15),
}
MEMORY_TARGET_MIB = 2048  # peak of a full build
FULL_BUILDS = ("run-local", "build-local", "build-s3")


def timed(cmd: list[str], env: dict[str, str]) -> dict:
    """Run cmd; wall seconds and peak RSS (MiB) of the process and the children it waited for."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = "\n".join(output.splitlines()[-30:])
        raise SystemExit(f"bench: step failed: {' '.join(cmd)}\n{tail}")
    return {"wall_s": wall, "peak_rss_mib": usage.ru_maxrss / 1024}


def dbt_env(db: Path, raw_root: str, target_path: Path, s3_endpoint: str | None = None) -> dict[str, str]:
    return duckdb_env(
        target="dev", db=db, raw_root=raw_root, target_path=target_path, log_path=WORK / "logs", s3_endpoint=s3_endpoint
    )


def model_times(target_path: Path) -> dict[str, float]:
    """Seconds per model, seed and snapshot from run_results.json; the tests and the on-run-start
    hooks each summed into one entry."""
    results = json.loads((target_path / "run_results.json").read_text())["results"]
    times: dict[str, float] = {}
    tests = [r["execution_time"] for r in results if r["unique_id"].startswith(("test.", "unit_test."))]
    hooks = [r["execution_time"] for r in results if r["unique_id"].startswith("operation.")]
    for r in results:
        if r["unique_id"].startswith(("model.", "snapshot.", "seed.")):
            times[r["unique_id"].split(".")[-1]] = round(r["execution_time"], 3)
    if tests:
        times[f"{len(tests)} tests"] = round(sum(tests), 3)
    if hooks:
        times["on-run-start hooks"] = round(sum(hooks), 3)
    return times


def prepare(scale: float, seed: int) -> tuple[Path, Path]:
    """Generate the data if absent and land it in a local folder; returns (data dir, landing)."""
    data = ROOT / "data" / "generated" / f"sf{scale:g}"
    if not all((data / contract.FILES[table]).is_file() for table in ("ratings", "genome_scores")):
        subprocess.run(
            [PY, "-m", "scripts", "generate", "--scale", str(scale), "--seed", str(seed), "--out", str(data)],
            cwd=ROOT,
            check=True,
        )
    landing = WORK / "landing"
    if landing.exists():
        shutil.rmtree(landing)
    subprocess.run(
        [PY, "-m", "scripts", "upload", "--src", str(data), "--dest", str(landing), "--batch", "0", "--hardlink"],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return data, landing


def bench(scale: float, runs: int, steps: list[str], seed: int) -> dict:
    data, landing = prepare(scale, seed)
    WORK.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}

    def record(step: str, samples: list[dict], models: dict[str, float] | None = None) -> None:
        results[step] = {
            "wall_s": statistics.median(s["wall_s"] for s in samples),
            "wall_s_runs": [round(s["wall_s"], 3) for s in samples],
            "peak_rss_mib": max(s["peak_rss_mib"] for s in samples),
            "models_s": models or {},
        }
        print(
            f"bench: {step}: median {results[step]['wall_s']:.2f} s "
            f"(runs {results[step]['wall_s_runs']}), peak {results[step]['peak_rss_mib']:.0f} MiB",
            file=sys.stderr,
        )

    db = WORK / "bench.duckdb"
    tp = WORK / "target"

    def fresh() -> None:
        for path in (db, Path(str(db) + ".wal")):
            path.unlink(missing_ok=True)

    if "reference" in steps:
        sql = (Path(__file__).with_name("bench_reference.sql")).read_text().replace("{root}", str(landing))
        script = WORK / "reference.sql"
        script.write_text(sql)
        code = (
            "import duckdb, sys; con = duckdb.connect(sys.argv[1]); "
            'con.execute("set threads = 2; set preserve_insertion_order = false"); '
            "con.execute(open(sys.argv[2]).read())"
        )
        samples = []
        for _ in range(runs):
            fresh()
            samples.append(timed([PY, "-c", code, str(db), str(script)], dict(os.environ)))
        record("reference", samples)

    local_env = dbt_env(db, str(landing), tp)
    if "run-local" in steps:
        samples = []
        for _ in range(runs):
            fresh()
            timed([DBT, "seed"], local_env)
            samples.append(timed([DBT, "run"], local_env))
        record("run-local", samples, model_times(tp))

    if {"build-local", *AFTER_DELIVERIES} & set(steps):
        samples = []
        for _ in range(runs if "build-local" in steps else 1):
            fresh()
            samples.append(timed([DBT, "build"], local_env))
        if "build-local" in steps:
            record("build-local", samples, model_times(tp))
        built = WORK / "built.duckdb"
        shutil.copy(db, built)

    if "build-s3" in steps:
        from scripts.landing import s3_local, upload

        port = free_port()
        state = WORK / "s3"
        s3_local.start_server(port, state)
        endpoint = f"http://127.0.0.1:{port}"
        s3_env = dbt_env(db, "s3://bench/movielens/raw", tp, endpoint)
        try:
            import boto3

            client = boto3.client(
                "s3",
                endpoint_url=endpoint,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                region_name="us-east-1",
            )
            client.create_bucket(Bucket="bench")
            upload.upload_dir(
                data, "s3://bench/movielens/raw", batch=0, client=client, validate=True, stream=open(os.devnull, "w")
            )
            samples = []
            for _ in range(runs):
                fresh()
                samples.append(timed([DBT, "build"], s3_env))
            record("build-s3", samples, model_times(tp))
        finally:
            subprocess.run(
                [PY, "-m", "scripts", "s3", "stop", "--port", str(port), "--state-dir", str(state)],
                cwd=ROOT,
                capture_output=True,
            )

    if set(AFTER_DELIVERIES) & set(steps):
        aside = deliver_aside(data, landing)
        inc_samples: dict[str, list[dict]] = {step: [] for step in AFTER_DELIVERIES}
        models: dict[str, dict[str, float]] = {}
        for _ in range(runs):
            fresh()
            shutil.copy(built, db)
            for step, folders in zip(INCREMENTAL, aside, strict=True):
                for folder, home in folders:  # the delivery lands: its batch folders come back
                    folder.rename(home)
                inc_samples[step].append(timed([DBT, "build"], local_env))
                models[step] = model_times(tp)
            inc_samples["rerun"].append(timed([DBT, "build"], local_env))
            models["rerun"] = model_times(tp)
            # The state a previous `make update` leaves (untimed), then `make update` with nothing new.
            timed([DBT, "source", "freshness"], local_env)
            update.save_state(tp)
            inc_samples["update"].append(timed([PY, "-m", "scripts", "update"], local_env))
            models["update"] = {}
            for folders in aside:
                for folder, home in folders:
                    home.rename(folder)
        for step in AFTER_DELIVERIES:
            if step in steps:
                record(step, inc_samples[step], models[step])
    return results


def deliver_aside(data: Path, landing: Path) -> list[list[tuple[Path, Path]]]:
    """Land the deliveries of DELIVERIES one after another (scripts/dataset/deliver.py, untimed), then move
    their batch folders aside; returns, per delivery, (folder aside, its place in the landing zone)."""
    state = WORK / "deliveries"
    if state.exists():
        shutil.rmtree(state)
    for pct in DELIVERIES:
        cmd = [PY, "-m", "scripts", "deliver", "--src", str(data), "--dest", str(landing), "--size-pct", f"{pct:g}"]
        cmd += ["--state-dir", str(state), "--seed", "1", "--quiet"]
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    aside = WORK / "aside"
    if aside.exists():
        shutil.rmtree(aside)
    moved = []
    for batch in range(1, len(DELIVERIES) + 1):
        folders = []
        for home in sorted(landing.glob(f"*/batch={batch:04d}")):
            folder = aside / f"batch={batch:04d}" / home.parent.name
            folder.parent.mkdir(parents=True, exist_ok=True)
            home.rename(folder)
            folders.append((folder, home))
        moved.append(folders)
    return moved


def verdict(results: dict, step: str) -> tuple[float | None, float | None, bool | None]:
    """(ratio to the step's base, the target ratio, met) for a step with a target."""
    if step not in TARGETS or TARGETS[step][0] not in results:
        return None, None, None
    base, limit = TARGETS[step]
    ratio = results[step]["wall_s"] / results[base]["wall_s"]
    return ratio, limit, None if limit is None else ratio <= limit


def table(results: dict, scale: float) -> str:
    ref = results.get("reference", {}).get("wall_s")
    lines = [
        f"Scale {scale:g} ({'ml-20m size' if scale == 1 else 'partial'}), {os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"median of {len(next(iter(results.values()))['wall_s_runs'])} runs.",
        "",
        "| step | wall (s) | vs reference | target | peak RSS (MiB) |",
        "|---|---:|---:|---|---:|",
    ]
    for step in STEPS:
        if step not in results:
            continue
        r = results[step]
        vs = f"{r['wall_s'] / ref:.2f}x" if ref else "-"
        ratio, limit, met = verdict(results, step)
        target = ""
        if ratio is not None:
            base = TARGETS[step][0]
            target = f"{ratio:.2f}x {base}" + (
                f" (<= {limit}x: {'met' if met else 'NOT met'})" if limit is not None else " (no target)"
            )
        memory = f"{r['peak_rss_mib']:.0f}"
        if step in FULL_BUILDS and step != "run-local":
            memory += f" (<= {MEMORY_TARGET_MIB}: {'met' if r['peak_rss_mib'] <= MEMORY_TARGET_MIB else 'NOT met'})"
        lines.append(f"| {step} | {r['wall_s']:.2f} | {vs} | {target} | {memory} |")
    lines += ["", "![each step against its target, and where a full build's time goes](bench.svg)"]
    return "\n".join(lines)


def chart(results: dict, scale: float) -> str:
    """An SVG drawn by hand (no plotting library in the lock): each step's time as a bar with its
    target as a red tick, then where the full build's time goes (build-local's run_results.json)."""
    width, label_w, bar_w, row_h = 1170, 200, 560, 22  # room for the note right of the longest bar
    rows = [step for step in STEPS if step in results]
    full = results.get("build-local") or results.get("run-local") or {}
    parts = sorted(full.get("models_s", {}).items(), key=lambda kv: -kv[1])
    shown = parts[:12]
    rest = sum(seconds for _, seconds in parts[12:])
    if rest:
        shown.append((f"{len(parts) - 12} others", rest))
    if full:
        shown.append(("dbt start-up, parsing, other", max(full["wall_s"] - sum(sec for _, sec in parts), 0)))
    top = 40
    height = top + len(rows) * row_h + 70 + len(shown) * row_h + 30
    limits = []
    for step in rows:
        ratio, limit, _ = verdict(results, step)
        if limit is not None:
            limits.append(results[TARGETS[step][0]]["wall_s"] * limit)
    scale_max = max([results[step]["wall_s"] for step in rows] + limits + [1e-9])
    x = lambda seconds: label_w + bar_w * seconds / scale_max  # noqa: E731
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="10" y="20" font-size="14" font-weight="bold">make bench, scale {scale:g}: wall time per step '
        "(bar) against its target (red tick)</text>",
    ]
    y = top
    for step in rows:
        r = results[step]
        ratio, limit, met = verdict(results, step)
        color = "#999999" if met is None else ("#2e7d32" if met else "#c62828")
        out.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{escape(step)}</text>')
        out.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{x(r["wall_s"]) - label_w:.1f}" height="{row_h - 6}" fill="{color}"/>'
        )
        note = f"{r['wall_s']:.1f} s"
        if ratio is not None:
            note += f", {ratio:.2f}x {TARGETS[step][0]}" + (f" (target <= {limit}x)" if limit is not None else "")
        note += f", {r['peak_rss_mib']:.0f} MiB"
        if limit is not None:
            tick = x(results[TARGETS[step][0]]["wall_s"] * limit)
            out.append(
                f'<line x1="{tick:.1f}" x2="{tick:.1f}" y1="{y}" y2="{y + row_h}" stroke="red" stroke-width="3"/>'
            )
        out.append(f'<text x="{x(r["wall_s"]) + 6:.1f}" y="{y + 15}">{escape(note)}</text>')
        y += row_h
    if full:
        y += 40
        out.append(
            f'<text x="10" y="{y - 10}" font-size="14" font-weight="bold">Where a full build\'s '
            f"{full['wall_s']:.1f} s go (run_results.json)</text>"
        )
        biggest = max([sec for _, sec in shown] + [1e-9])
        for name, seconds in shown:
            length = bar_w * seconds / biggest
            out.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{escape(name[:32])}</text>')
            out.append(f'<rect x="{label_w}" y="{y + 3}" width="{length:.1f}" height="{row_h - 6}" fill="#1565c0"/>')
            out.append(f'<text x="{label_w + length + 6:.1f}" y="{y + 15}">{seconds:.1f} s</text>')
            y += row_h
    out.append("</svg>")
    return "\n".join(out) + "\n"


@click.command("bench")
@click.option("--scale", type=float, default=1.0)
@click.option("--seed", type=int, default=42)
@click.option("--runs", type=int, default=3)
@click.option("--steps", default=",".join(STEPS), help="comma-separated; incremental means every delivery size")
def command(scale: float, seed: int, runs: int, steps: str) -> None:
    """Benchmark the warehouse build (see the module's doc)."""
    chosen = [s for s in steps.split(",") if s]
    if "incremental" in chosen:  # every delivery size
        chosen = [s for s in chosen if s != "incremental"] + INCREMENTAL
    unknown = set(chosen) - set(STEPS)
    if unknown:
        raise click.UsageError(f"unknown step {sorted(unknown)[0]!r}: use some of {','.join(STEPS)}")
    results = bench(scale, runs, chosen, seed)
    OUT.mkdir(parents=True, exist_ok=True)
    md = table(results, scale)
    (OUT / "bench.md").write_text(md + "\n")
    (OUT / "bench.json").write_text(json.dumps({"scale": scale, "runs": runs, "steps": results}, indent=2))
    (OUT / "bench.svg").write_text(chart(results, scale))
    print(md)
