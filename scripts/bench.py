"""`make bench`: how fast the warehouse builds at full MovieLens 20M scale, on this machine.

Measures, in one run, each step 3 times (median reported):
  reference    hand-written DuckDB SQL (scripts/bench_reference.sql), no dbt, same CSVs, same marts
  run-local    `dbt run` from a fresh DuckDB file, raw files in a local folder (seeds loaded first, untimed)
  build-local  `dbt build` (seeds, models, snapshots, every test) from a fresh file, local folder
  build-s3     the same, reading the raw files from the local S3 server through httpfs
  incremental  `dbt build` after a delivery of 1% new ratings, on a copy of the built warehouse
  rerun        `dbt build` again with no new delivery
For each: wall time, peak RSS of the process tree (wait4), and per-model times from
run_results.json. Prints a markdown table and writes target/bench/bench.md and bench.json.

    python -m scripts.bench [--scale 1.0] [--runs 3] [--steps reference,build-local,...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from scripts.dbt_env import DBT, duckdb_env

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
OUT = ROOT / "target" / "bench"
WORK = ROOT / "data" / "bench"
STEPS = ["reference", "run-local", "build-local", "build-s3", "incremental", "rerun"]
TARGETS = {  # step -> (compared with, at most this ratio): the targets
    "run-local": ("reference", 1.5),
    "build-local": ("reference", 2.5),
    "build-s3": ("build-local", 2.0),
    "incremental": ("build-local", 0.3),
    "rerun": ("build-local", 0.2),
}


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
    results = json.loads((target_path / "run_results.json").read_text())
    return {
        r["unique_id"].split(".")[-1]: round(r["execution_time"], 3)
        for r in results["results"]
        if r["unique_id"].startswith(("model.", "snapshot.", "seed."))
    }


def prepare(scale: float, seed: int) -> tuple[Path, Path]:
    """Generate the data if absent and land it in a local folder; returns (data dir, landing)."""
    data = ROOT / "data" / "generated" / f"sf{scale:g}"
    if not (data / "ratings.csv").is_file() or not (data / "genome-scores.csv").is_file():
        subprocess.run(
            [PY, "-m", "scripts.generate_movielens", "--scale", str(scale), "--seed", str(seed), "--out", str(data)],
            cwd=ROOT,
            check=True,
        )
    landing = WORK / "landing"
    if landing.exists():
        shutil.rmtree(landing)
    subprocess.run(
        [PY, "-m", "scripts.upload", "--src", str(data), "--dest", str(landing), "--batch", "0", "--hardlink"],
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
        sql = (ROOT / "scripts" / "bench_reference.sql").read_text().replace("{root}", str(landing))
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

    if {"build-local", "incremental", "rerun"} & set(steps):
        samples = []
        for _ in range(runs if "build-local" in steps else 1):
            fresh()
            samples.append(timed([DBT, "build"], local_env))
        if "build-local" in steps:
            record("build-local", samples, model_times(tp))
        built = WORK / "built.duckdb"
        shutil.copy(db, built)

    if "build-s3" in steps:
        from scripts import s3_local, upload

        port = 5599
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
                [PY, "-m", "scripts.s3_local", "stop", "--port", str(port), "--state-dir", str(state)],
                cwd=ROOT,
                capture_output=True,
            )

    if "incremental" in steps or "rerun" in steps:
        subprocess.run(
            [
                PY,
                "-m",
                "scripts.deliver",
                "--src",
                str(data),
                "--dest",
                str(landing),
                "--size-pct",
                "1",
                "--state-dir",
                str(WORK / "deliveries"),
                "--seed",
                "1",
            ],
            cwd=ROOT,
            check=True,
        )
        inc, rerun = [], []
        for _ in range(runs):
            shutil.copy(built, db)
            inc.append(timed([DBT, "build"], local_env))
            inc_models = model_times(tp)
            rerun.append(timed([DBT, "build"], local_env))
        if "incremental" in steps:
            record("incremental", inc, inc_models)
        if "rerun" in steps:
            record("rerun", rerun, model_times(tp))
    return results


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
        target = ""
        if step in TARGETS and TARGETS[step][0] in results:
            base, limit = TARGETS[step]
            ratio = r["wall_s"] / results[base]["wall_s"]
            target = f"{ratio:.2f}x {base} (<= {limit}x: {'met' if ratio <= limit else 'NOT met'})"
        lines.append(f"| {step} | {r['wall_s']:.2f} | {vs} | {target} | {r['peak_rss_mib']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", default=",".join(STEPS))
    args = parser.parse_args(argv)
    steps = [s for s in args.steps.split(",") if s]
    unknown = set(steps) - set(STEPS)
    if unknown:
        print(f"bench: unknown step {sorted(unknown)[0]!r}: use some of {','.join(STEPS)}", file=sys.stderr)
        return 2
    results = bench(args.scale, args.runs, steps, args.seed)
    OUT.mkdir(parents=True, exist_ok=True)
    md = table(results, args.scale)
    (OUT / "bench.md").write_text(md + "\n")
    (OUT / "bench.json").write_text(json.dumps({"scale": args.scale, "runs": args.runs, "steps": results}, indent=2))
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
