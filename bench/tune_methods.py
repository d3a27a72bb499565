"""Choose the distillation methods' budgets and learning rates of the embedded default on the
validation split, never the test split.

    python bench/tune_methods.py [--workdir .] [--experts STEM] [--methods dm mtt ...]
                                 [--seeds 0 1 2] [--confirm-seeds 3 4 5 6 7] [--out DIR]

Each method of GRID is condensed at IPC 1 (seed 0) once per grid cell (the config entry with
the cell's values on top) and evaluated under the Dancing protocol (hard labels, CE; the
config's overrides) on the `val` split with `--seeds`, paired with the `random` set on the
same seeds. The chosen cell of a method has the smallest budget (iterations) among the cells
whose mean is within one standard error of the best cell's, and the best mean of that budget; it is then evaluated again with `--confirm-seeds` (fresh networks,
so that the figure reported is not the maximum the choice was made on) and its paired
difference to `random` printed with the 95 % t-interval (`vidcond.stats`).

Needs in WORKDIR/results: the frame store, the teacher of `teacher.arch` (EDC), and the
`random` set at IPC 1; `--experts` (default WORKDIR/results/experts/<ds>/<arch>) the experts
of the config (MTT, DATM). Every cell's budget stays within the demo's condense time: no
cell runs longer than the config's value it replaces.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from vidcond.condense import run_condense
from vidcond.evaluation import evaluation_rows
from vidcond.stats import mean_ci95, paired_difference

REPO = Path(__file__).resolve().parents[1]
DATASET = "synthaction"

# method -> cells (values put on top of the config entry). Learning rates span the pixel
# scale [0, 1] (pixels are clamped after each step); budgets stay at or below the demo's.
GRID = {
    "dm": [{"lr": 1.0}, {"lr": 10.0}, {"lr": 100.0}],
    "dc_static": [{"lr": 0.01}, {"lr": 0.1}],
    "mtt": [{"lr_img": 0.1}, {"lr_img": 1.0}, {"lr_img": 10.0}],
    "datm": [{"lr_img": 0.1}, {"lr_img": 1.0}, {"lr_img": 10.0}],
    "frepo": [{"lr": 3e-3, "iterations": 100}, {"lr": 1e-2, "iterations": 100}],
    "edc": [{"lr": 0.01, "iterations": 200}, {"lr": 0.05, "iterations": 200}],
}


def method_params(config: dict, method: str, ipc: int, cell: dict) -> dict:
    entry = dict(config["methods"][method])
    by_ipc = entry.pop("by_ipc", {}).get(str(ipc), {})
    for key in ("kind", "requires", "ipcs", "evaluation", "by_dataset"):
        entry.pop(key, None)
    return {**entry, **by_ipc, **cell}


def evaluate(config: dict, results: Path, stem: Path, method: str, seeds: list[int]) -> dict[int, float]:
    """Val top-1 (fraction) per seed under the Dancing protocol with the config's overrides."""
    evaluation = config["evaluation"]
    settings = {**evaluation["protocols"]["dancing"], **evaluation.get("overrides", {})}
    arch = evaluation["arch"]
    rows = evaluation_rows(
        store_dir=results / "frames" / DATASET,
        condensed_stem=stem,
        teacher_stem=results / "teachers" / DATASET / config["teacher"]["arch"],
        dataset=DATASET, method=method, arch=arch, protocol="dancing", variant="default",
        seeds=seeds, settings=settings, model_options=config["models"].get(arch, {}),
        clip=config["datasets"][DATASET]["clip"], split="val", progress=False,
    )
    return {seed: row["top1"] for seed, row in zip(seeds, rows)}


def condense(config: dict, results: Path, experts: Path, out: Path, method: str, cell: dict) -> tuple[Path, float]:
    entry = config["methods"][method]
    params = method_params(config, method, 1, cell)
    tag = "_".join(f"{k}{v:g}" for k, v in cell.items()).replace(".", "p")  # no dot: stems take suffixes
    stem = out / method / f"ipc1_{tag}"
    inputs = {"experts": str(experts), "teacher": str(results / "teachers" / DATASET / config["teacher"]["arch"])}
    for arch in params.get("condensation_models", []):
        inputs[f"teacher_{arch}"] = str(results / "teachers" / DATASET / arch)
    started = time.perf_counter()
    run_condense(
        results / "frames" / DATASET, stem, dataset=DATASET, method=method, kind=entry.get("kind", method),
        ipc=1, params=params, clip=config["datasets"][DATASET]["clip"], seed=config["seed"], inputs=inputs,
        model_options=config["models"], work_dir=None, progress=False,
    )
    return stem, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", type=Path, default=REPO)
    parser.add_argument("--experts", type=Path, default=None)
    parser.add_argument("--methods", nargs="+", default=list(GRID))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--confirm-seeds", type=int, nargs="+", default=[3, 4, 5, 6, 7])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    results = args.workdir / "results"
    experts = args.experts or results / "experts" / DATASET / config["experts"]["arch"]
    out = args.out or Path(tempfile.mkdtemp(prefix="tune_methods_"))
    random_stem = results / "condensed" / DATASET / "random" / "ipc1"
    all_seeds = sorted(set(args.seeds) | set(args.confirm_seeds))
    reference = evaluate(config, results, random_stem, "random", all_seeds)
    print(f"random IPC 1, val top-1 per seed: {({s: round(100 * a, 1) for s, a in reference.items()})}", flush=True)
    print(f"{'method':>10} {'cell':>28} {'condense s':>10} {'val top-1 %':>11} {'vs random':>9}", flush=True)
    chosen = {}
    for method in args.methods:
        cells = []
        for cell in GRID[method]:
            stem, seconds = condense(config, results, experts, out, method, cell)
            accuracy = evaluate(config, results, stem, method, args.seeds)
            values = np.array(list(accuracy.values())) * 100
            diff = paired_difference(accuracy, {s: reference[s] for s in args.seeds})[0] * 100
            cells.append({"cell": cell, "stem": stem, "seconds": seconds, "mean": values.mean(), "se": values.std(ddof=1) / np.sqrt(len(values))})
            print(f"{method:>10} {str(cell):>28} {seconds:10.1f} {values.mean():11.1f} {diff:+9.1f}", flush=True)
        best = max(cells, key=lambda c: c["mean"])
        near = [c for c in cells if c["mean"] >= best["mean"] - best["se"]]
        budget = min(near, key=lambda c: c["seconds"])["cell"].get("iterations")
        # the smallest budget within one SE of the best; among cells of that budget (whose
        # measured seconds differ by load only) the best mean
        pick = max((c for c in near if c["cell"].get("iterations") == budget), key=lambda c: c["mean"])
        chosen[method] = pick
    print("\nchosen (smallest budget within one SE of the best, then the best mean), confirmed on fresh seeds", args.confirm_seeds)
    for method, pick in chosen.items():
        accuracy = evaluate(config, results, pick["stem"], method, args.confirm_seeds)
        diff, low, high, n = paired_difference(accuracy, {s: reference[s] for s in args.confirm_seeds})
        mean = mean_ci95(list(accuracy.values()))[0]
        print(
            f"{method:>10} {str(pick['cell']):>28} condense {pick['seconds']:.1f} s: val top-1 {100 * mean:.1f} %, "
            f"vs random {100 * diff:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}] ({n} paired seeds)",
            flush=True,
        )


if __name__ == "__main__":
    main()
