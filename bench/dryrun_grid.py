"""Dry-run time of a large grid: datasets x methods x IPCs x seeds (+ cross-architecture).

    python bench/dryrun_grid.py [--methods 12] [--ipcs 1 5 10 20 50] [--seeds 3] [--noop]
    python bench/dryrun_grid.py --paper dancing   # a config of config/paper/ instead

Writes small faithful copies of the UCF101, HMDB51 and Kinetics-400 layouts (a few real
videos and the split files, as the tests use) into a temporary directory, points a config
at them (UCF101, MiniUCF, HMDB51, Kinetics-400 and the generated synthaction), with
`--methods` method entries (the methods of config/config.yaml in turn, under new names), every
method in the cross-architecture evaluation, and times
`snakemake -n --quiet` on `all_tables` from scratch. With `--noop` it then creates every
planned output as an empty file, marks them up to date (`--touch`) and times the dry run
that finds nothing to do. Times are wall and CPU time of the snakemake process (the CPU time
is what the wall time would be on an idle machine). With `--paper NAME` the grid is
config/paper/NAME.yaml with its dataset roots pointed at the layout copies. Goal: <= 10 s for
the largest paper grid.
"""

from __future__ import annotations

import argparse
import resource
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from layouts import make_hmdb51, make_kinetics400, make_ucf101  # noqa: E402


def grid_config(data: Path, n_methods: int, ipcs: list[int], seeds: int) -> dict:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    real = {"extract": {"height": 112, "width": 112}, "clip": {"num_frames": 16, "stride": 4}}
    config["datasets"].update(
        ucf101={"format": "ucf101", "root": str(data / "UCF101"), "split": 1, **real},
        miniucf={"format": "ucf101", "root": str(data / "UCF101"), "classes": "miniucf50", **real},
        hmdb51={"format": "hmdb51", "root": str(data / "HMDB51"), **real},
        k400={"format": "kinetics400", "root": str(data / "K400"), **real},
    )
    synth = config["datasets"]["synthaction"]["generator"]
    synth["train_per_class"] = max(synth["train_per_class"], max(ipcs))
    configured = list(config["methods"].items())
    methods = {}
    for i in range(n_methods):
        name, entry = configured[i % len(configured)]
        methods[f"{name}_{i}"] = {**entry, "kind": entry.get("kind", name)}
    config["methods"] = methods
    config["ipcs"] = ipcs
    config["evaluation"]["seeds"] = list(range(seeds))
    config["evaluation"]["cross_arch"].update(methods=list(methods), ipcs=ipcs[:2])
    return config


def paper_config(data: Path, name: str) -> dict:
    config = yaml.safe_load((REPO / "config" / "paper" / f"{name}.yaml").read_text())
    roots = {"ucf101": "UCF101", "hmdb51": "HMDB51", "kinetics400": "K400"}
    for dataset in config["datasets"].values():
        dataset["root"] = str(data / roots[dataset["format"]])
    return config


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def snakemake(workdir: Path, *args: str) -> tuple[str, str]:
    """Run snakemake; return its wall and CPU time as text, and its output."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
           "--configfile", str(workdir / "config.yaml"), "--directory", str(workdir), "--cores", "1", *args]
    started, cpu = time.perf_counter(), cpu_seconds()
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)
    timing = f"{time.perf_counter() - started:.2f} s wall, {cpu_seconds() - cpu:.2f} s CPU"
    if result.returncode != 0:
        sys.exit(f"snakemake failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return timing, result.stdout + result.stderr


def job_count(output: str) -> int:
    match = re.search(r"^total\s+(\d+)", output, re.MULTILINE)
    return int(match.group(1)) if match else 0


def touch_planned_outputs(workdir: Path) -> int:
    """Create every output of the planned jobs (directories where the rule declares one)."""
    _, listing = snakemake(workdir, "-n", "all_tables")
    outputs = set()
    for line in listing.splitlines():
        if line.startswith("    output: "):
            outputs.update(part.strip() for part in line[len("    output: "):].split(", "))
    for rel in outputs:
        path = workdir / rel
        if rel.startswith("results/datasets/") and path.suffix == "":  # directory() output
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    return len(outputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", type=int, default=12, help="method entries in the grid")
    parser.add_argument("--ipcs", type=int, nargs="+", default=[1, 5, 10, 20, 50])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--noop", action="store_true", help="also time the no-op dry run")
    parser.add_argument("--paper", help="time config/paper/PAPER.yaml instead of a generated grid")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        make_ucf101(scratch / "data" / "UCF101")
        make_hmdb51(scratch / "data" / "HMDB51")
        make_kinetics400(scratch / "data" / "K400")
        work = scratch / "work"
        work.mkdir()
        if args.paper:
            config = paper_config(scratch / "data", args.paper)
            print(f"config/paper/{args.paper}.yaml: {len(config['datasets'])} datasets x "
                  f"{len(config['methods'])} methods x IPCs {config['ipcs']}")
        else:
            config = grid_config(scratch / "data", args.methods, args.ipcs, args.seeds)
            print(f"grid: {len(config['datasets'])} datasets x {len(config['methods'])} methods x "
                  f"{len(args.ipcs)} IPCs x {args.seeds} seeds, cross-architecture "
                  f"{len(config['evaluation']['cross_arch']['archs'])} networks at IPC {args.ipcs[:2]}")
        (work / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        for repeat in range(args.repeats):
            timing, output = snakemake(work, "all_tables", "-n", "--quiet", "rules")
            print(f"dry run from scratch: {job_count(output)} jobs planned in {timing}")
        if args.noop:
            created = touch_planned_outputs(work)
            timing, _ = snakemake(work, "--touch", "all_tables")
            print(f"created {created} outputs and marked them up to date ({timing})")
            for repeat in range(args.repeats):
                timing, output = snakemake(work, "all_tables", "-n", "--quiet", "rules")
                print(f"no-op dry run: {job_count(output)} jobs planned in {timing}")


if __name__ == "__main__":
    main()
