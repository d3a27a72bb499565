"""Paper-scale smoke through the workflow's rules: each paper config (config/paper/*.yaml)
shortened so that every rule runs once at the paper's clip size and network widths
(tests/paper_smoke.py: the first dataset on a small copy of its real layout, IPC 1, method
iterations and sampling steps set to --iterations, trainings --epochs epochs of seed 0, one
point per ablation grid; ModelScope a tiny random pipeline in the hub layout, VideoMAE a
random videomae-base), run by Snakemake on one core with --keep-going. Prints, and with --out
writes as Markdown, config x rule x method x seconds per iteration (condensed sidecar) x wall
seconds x peak resident memory (results/runs.parquet) x device; failed jobs are listed.

    python bench/paper_scale.py [--configs dancing videodc gvd sakd] [--iterations 2] [--epochs 1]
                                [--workdir DIR] [--out docs/paper_scale.md]

With --workdir the runs are kept there and a rerun only makes what is missing; --no-run only
tabulates what is there (wall minutes then count the tabulation only).
"""

from __future__ import annotations

import argparse
import datetime
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "src")]

HEADER = "| config | rule | job | method | s/iter | wall s | peak RSS MiB | device |"


def failed_jobs(log: str) -> list[str]:
    """Rule and wildcards of every job Snakemake reports as failed."""
    return sorted(set(re.findall(r"Error in rule (\w+):", log)))


def run_config(name: str, root: Path, args) -> tuple[list[str], list[str], float]:
    from paper_smoke import paper_config, run_smoke, smoke_config, smoke_rows, write_inputs

    paper = paper_config(name)
    cfg = smoke_config(paper, write_inputs(root / "inputs", paper), iterations=args.iterations, epochs=args.epochs,
                       methods=args.methods)
    started, log = time.perf_counter(), root / f"{name}.log"
    if args.no_run:
        failures = failed_jobs(log.read_text()) if log.exists() else []
    else:
        done = run_smoke(root / name, cfg, "all_tables", "--keep-going")
        log.write_text(done.stdout + done.stderr)
        failures = failed_jobs(done.stdout + done.stderr)
        if done.returncode != 0 and not failures:
            failures = [f"snakemake exit {done.returncode}: {(done.stderr.strip().splitlines() or [''])[-1][:200]}"]
    wall = time.perf_counter() - started
    rows = []
    if (root / name / "benchmarks").exists():
        for row in smoke_rows(root / name):
            per_iter = f"{row['s_per_iter']:.2f}" if row["s_per_iter"] else "-"
            rows.append(f"| {name} | {row['rule']} | {row['job']} | {row['method'] or '-'} | {per_iter} "
                        f"| {row['wall_s']:.1f} | {row['peak_mib']:.0f} | {row['device'] or '-'} |")
    return rows, failures, wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=["dancing", "videodc", "gvd", "sakd"])
    parser.add_argument("--iterations", type=int, default=2, help="iterations / sampling steps of every method")
    parser.add_argument("--epochs", type=int, default=1, help="epochs of every training (teacher, evaluation, KD)")
    parser.add_argument("--methods", nargs="+", help="only these methods (default: every one of the config)")
    parser.add_argument("--workdir", type=Path, help="keep the runs here (default: a temporary directory)")
    parser.add_argument("--out", type=Path, help="write the table here (Markdown)")
    parser.add_argument("--no-run", action="store_true", help="only tabulate the jobs already run in --workdir")
    args = parser.parse_args()

    rows, notes = [], []
    print(HEADER, flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        root = args.workdir or Path(scratch)
        for name in args.configs:
            config_rows, failures, wall = run_config(name, root, args)
            rows += config_rows
            print("\n".join(config_rows), flush=True)
            spent = "" if args.no_run else f", {wall / 60:.1f} min in all"
            notes.append(f"* {name}: {len(config_rows)} jobs{spent}"
                         + (f"; FAILED: {', '.join(failures)}" if failures else "; none failed"))
            print(notes[-1], flush=True)
    if args.out:
        settings = f"IPC 1, {args.iterations} iterations per method, {args.epochs} epoch(s) per training, seed 0, one core"
        args.out.write_text("\n".join([
            f"# Paper-scale smoke ({datetime.date.today().isoformat()})", "",
            f"Output of `bench/paper_scale.py` ({settings}).", "", HEADER, "|" + "---|" * 8, *rows, "", *notes, "",
        ]))
    return 1 if any("FAILED" in note for note in notes) else 0


if __name__ == "__main__":
    sys.exit(main())
