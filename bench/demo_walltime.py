"""Wall time of the embedded demo (`snakemake all_tables` on config/config.yaml), its slowest
jobs, the no-op rerun and the report.

    python bench/demo_walltime.py [--cores 2] [--keep DIR | --reuse DIR]

Runs the workflow in a temporary directory (or DIR with --keep), then prints the wall time,
the slowest jobs and the time per rule from `results/runs.parquet`, the time of a rerun that
has nothing to do (a dry run and a real one) and of `snakemake --report`. `--reuse DIR` skips
the run and times the rest on a finished demo. CPU times include every job Snakemake ran
(on a shared machine they tell the idle-machine cost). Goal: the demo <= 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def snakemake(workdir: Path, cores: str, *args: str) -> tuple[float, float]:
    """Run snakemake; return its wall time and the CPU time of it and every job it ran."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
           "--configfile", str(REPO / "config" / "config.yaml"), "--directory", str(workdir),
           "--cores", cores, *args]
    started, cpu = time.perf_counter(), cpu_seconds()
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    if result.returncode != 0:
        sys.exit(f"snakemake {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    if "Nothing to be done" not in result.stdout + result.stderr and "-n" in args:
        print("  (the dry run planned jobs: the demo is not complete)")
    return seconds, cpu


def report(workdir: Path, cores: str, ran: bool) -> None:
    if ran:
        seconds, cpu = snakemake(workdir, cores, "all_tables")
        print(f"demo wall time: {seconds:.1f} s ({seconds / 60:.1f} min) on {cores} cores, {cpu:.0f} s CPU")
    runs = pd.read_parquet(workdir / "results" / "runs.parquet")
    print(f"\n{len(runs)} jobs behind the tables, {runs['wall_seconds'].sum() / 60:.1f} min of job time in total")
    print("\nslowest jobs:")
    slowest = runs.nlargest(10, "wall_seconds")[["rule", "job", "wall_seconds", "peak_rss_mib"]]
    print(slowest.to_string(index=False, float_format=lambda x: f"{x:.1f}"))
    print("\nper rule:")
    per_rule = runs.groupby("rule").agg(jobs=("job", "size"), total_s=("wall_seconds", "sum"),
                                        max_s=("wall_seconds", "max"), peak_rss_mib=("peak_rss_mib", "max"))
    print(per_rule.sort_values("total_s", ascending=False).to_string(float_format=lambda x: f"{x:.1f}"))
    print()
    for name, args in [("no-op dry run", ("all_tables", "-n")), ("no-op rerun", ("all_tables",)),
                       ("report", ("--report", "results/report.html"))]:
        seconds, cpu = snakemake(workdir, cores, *args)
        print(f"{name + ':':14s} {seconds:.2f} s wall, {cpu:.2f} s CPU")
    print(f"report.html: {(workdir / 'results' / 'report.html').stat().st_size / 2**20:.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cores", default="2")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--keep", type=Path, help="run in DIR and keep it")
    where.add_argument("--reuse", type=Path, help="time the no-op rerun and the report of a finished demo in DIR")
    args = parser.parse_args()
    if args.reuse:
        report(args.reuse.resolve(), args.cores, ran=False)
    elif args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        report(args.keep.resolve(), args.cores, ran=True)
    else:
        with tempfile.TemporaryDirectory() as scratch:
            report(Path(scratch), args.cores, ran=True)


if __name__ == "__main__":
    main()
