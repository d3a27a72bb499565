"""Choose the evaluator's step budget (`evaluation.overrides.min_clips`) on the validation
split, never the test split.

    python bench/eval_budget.py [--workdir .] [--steps 60 150 300 600] [--seeds 0 1 2]

A budget of N steps is `min_clips` = N x the set's size (one step per epoch on these sets).

Needs a finished `extract_frames`, the `teacher` of the embedded default and the `random`
condensed sets at IPC 1 and 5 in WORKDIR/results (e.g. `snakemake
results/condensed/synthaction/random/ipc{1,5}.json results/teachers/synthaction/miniC3D.safetensors`).
Trains them under each protocol of the config with each budget, measures top-1 on the
`val` split, and prints the grid with the seconds per run; the chosen budget is the
smallest whose mean accuracy is within one standard error of the best (over every setting).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import yaml

from vidcond.evaluation import evaluation_rows

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", type=Path, default=REPO)
    parser.add_argument("--steps", type=int, nargs="+", default=[60, 150, 300, 600])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--protocols", nargs="+", default=["dancing", "videodc"])
    parser.add_argument("--ipcs", type=int, nargs="+", default=[1, 5])
    args = parser.parse_args()
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    evaluation, dataset = config["evaluation"], "synthaction"
    results = args.workdir / "results"
    arch = evaluation["arch"]
    teacher = results / "teachers" / dataset / config["teacher"]["arch"]
    print(f"{'protocol':>8} {'ipc':>3} {'steps':>5} {'val top-1 %':>12} {'std':>5} {'s/run':>6}")
    grid = []
    for protocol in args.protocols:
        for ipc in args.ipcs:
            for steps in args.steps:
                # the budget alone sets the steps (no epoch floor from the overrides)
                settings = {**evaluation["protocols"][protocol], **evaluation.get("overrides", {}), "epochs": 1, "min_clips": steps * 10 * ipc}
                settings.pop("teacher_arch", None)
                started = time.perf_counter()
                rows = evaluation_rows(
                    store_dir=results / "frames" / dataset,
                    condensed_stem=results / "condensed" / dataset / "random" / f"ipc{ipc}",
                    teacher_stem=teacher, dataset=dataset, method="random", arch=arch, protocol=protocol,
                    variant="default", seeds=args.seeds, settings=settings,
                    model_options=config["models"].get(arch, {}), clip=config["datasets"][dataset]["clip"],
                    split="val", progress=False,
                )
                seconds = (time.perf_counter() - started) / len(args.seeds)
                accuracy = np.array([r["top1"] for r in rows]) * 100
                grid.append((protocol, ipc, steps, accuracy.mean(), accuracy.std(ddof=1), seconds))
                print(f"{protocol:>8} {ipc:>3} {steps:>5} {accuracy.mean():12.1f} {accuracy.std(ddof=1):5.1f} {seconds:6.1f}", flush=True)
    chosen = []
    for protocol in args.protocols:
        for ipc in args.ipcs:
            cells = [g for g in grid if g[:2] == (protocol, ipc)]
            best = max(cells, key=lambda g: g[3])
            ok = [g for g in cells if g[3] >= best[3] - best[4] / np.sqrt(len(args.seeds))]
            chosen.append(min(g[2] for g in ok))
            print(f"{protocol} IPC {ipc}: best {best[3]:.1f} % at {best[2]} steps; smallest within one SE: {chosen[-1]}")
    print(f"chosen steps (largest over settings): {max(chosen)}")


if __name__ == "__main__":
    main()
