"""Seconds per iteration and peak memory of every distillation method of the embedded config
at its default sizes: each `methods` entry is condensed in a fresh process (so that peak
memory is its own) with `iterations` shortened, and the iterations of its DistillLoop are
timed. Entries that run no DistillLoop (selection methods) are listed as such.

    python bench/distill_speed.py [--ipc 1 5] [--iterations 5] [--methods dm dc_static]
                                  [--input experts=results/experts/synthaction/miniC3D]

Inputs a method `requires` are made quickly when they can be (`teacher`/`teachers`: one
epoch; `interpolator`: a few steps) or passed with --input name=path-stem; otherwise the
entry is skipped. Builds the embedded dataset in a temporary directory unless
results/frames/synthaction exists. Peak memory: allocated CUDA memory on a GPU, the
process's resident peak (including the Python runtime) on CPU.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))


def method_params(entry: dict, ipc: int) -> dict:
    reserved = ("kind", "requires", "ipcs", "evaluation", "by_dataset", "by_ipc")
    params = {k: v for k, v in entry.items() if k not in reserved}
    params.update(entry.get("by_ipc", {}).get(str(ipc), {}))
    return params


def make_inputs(
    requires, params, config, store_dir: Path, scratch: Path, given: dict
) -> dict | str:
    """Paths of the inputs a method reads, or the reason it cannot run."""
    from vidcond.evaluation import train_teacher
    from vidcond.interpolator import train_interpolator

    clip = config["datasets"]["synthaction"]["clip"]
    inputs = {}
    for name in requires:
        if name in given:
            inputs[name] = given[name]
        elif name in ("teacher", "teachers"):
            archs = (
                [config["teacher"]["arch"]]
                if name == "teacher"
                else params.get("condensation_models", ["miniC3D"])
            )
            for arch in archs:
                stem = scratch / f"teacher_{arch}"
                if not stem.with_suffix(".json").exists():
                    options = config["models"].get(arch, {})
                    train_teacher(
                        store_dir,
                        stem,
                        arch=arch,
                        model_options=options,
                        training={**config["teacher"]["training"], "epochs": 1},
                        clip=clip,
                        seed=0,
                        progress=False,
                    )
                inputs[name if name == "teacher" else f"teacher_{arch}"] = str(stem)
        elif name == "interpolator":
            stem = scratch / "interpolator"
            if not stem.with_suffix(".json").exists():
                training = {**config.get("interpolator", {}).get("training", {}), "steps": 5}
                train_interpolator(
                    store_dir,
                    stem,
                    options=config.get("interpolator", {}).get("model", {}),
                    training=training,
                    clip=clip,
                    seed=0,
                    progress=False,
                )
            inputs[name] = str(stem)
        elif name == "experts":
            from vidcond.experts import train_experts

            experts = config["experts"]
            stem = scratch / "experts"
            if not stem.with_suffix(".json").exists():
                options = config["models"].get(experts["arch"], {})
                train_experts(
                    store_dir,
                    stem,
                    arch=experts["arch"],
                    model_options=options,
                    num_experts=1,
                    epochs=experts["epochs"],
                    training=experts["training"],
                    clip=clip,
                    seed=0,
                    progress=False,
                )
            inputs[name] = str(stem)
        else:
            return f"needs input {name!r} (pass --input {name}=<path stem>)"
    return inputs


def run_one(
    method: str, ipc: int, iterations: int, store_dir: Path, scratch: Path, given: dict
) -> dict:
    """Condense one entry in this process; the DistillLoops it runs are timed."""
    import torch

    from vidcond.condense import run_condense
    from vidcond.methods import distill

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    entry = config["methods"][method]
    params = method_params(entry, ipc)
    if "iterations" in params:
        params["iterations"] = iterations
    inputs = make_inputs(entry.get("requires", []), params, config, store_dir, scratch, given)
    if isinstance(inputs, str):
        return {"method": method, "ipc": ipc, "skipped": inputs}
    loops = []
    original = distill.DistillLoop.run

    def timed_run(self, step):
        losses = original(self, step)
        loops.append(
            {
                "desc": self.desc,
                "iterations": self.iterations,
                "s_per_iter": self.seconds_per_iteration,
            }
        )
        return losses

    distill.DistillLoop.run = timed_run
    torch.set_num_threads(2)
    meta = run_condense(
        store_dir,
        scratch / f"{method}_ipc{ipc}",
        dataset="synthaction",
        method=method,
        kind=entry.get("kind", method),
        ipc=ipc,
        params=params,
        clip=config["datasets"]["synthaction"]["clip"],
        seed=0,
        inputs=inputs,
        model_options=config["models"],
        progress=False,
    )
    return {
        "method": method,
        "ipc": ipc,
        "loops": loops,
        "peak_mem_mb": meta["peak_mem_mb"],
        "device": meta["device"],
        "wall_s": meta["wall_time_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ipc", type=int, nargs="+", default=[1])
    parser.add_argument(
        "--iterations",
        type=int,
        default=5,
        help="iterations run per method (its configured count is shortened)",
    )
    parser.add_argument(
        "--methods", nargs="+", help="entries of config/config.yaml `methods` (default: all)"
    )
    parser.add_argument(
        "--input", action="append", default=[], help="name=path stem of a required input"
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)  # child process: method,ipc,store,scratch
    args = parser.parse_args()
    given = dict(item.split("=", 1) for item in args.input)

    if args.one:
        method, ipc, store_dir, scratch = args.one.split(",")
        print(
            json.dumps(
                run_one(method, int(ipc), args.iterations, Path(store_dir), Path(scratch), given)
            )
        )
        return

    from evaluator_speed import frame_store_dir

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    methods = args.methods or list(config["methods"])
    synth = config["datasets"]["synthaction"]
    clip = synth["clip"]
    print(
        f"clips [B, {clip['num_frames']}, 3, {synth['extract']['height']}, {synth['extract']['width']}], {len(synth['generator']['classes'])} classes, {args.iterations} iterations per method"
    )
    print(f"{'method':<14} {'ipc':>3} {'loop':<14} {'s/iter':>8} {'peak MB':>9}  device")
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        store_dir = frame_store_dir(config, scratch)
        for method in methods:
            for ipc in args.ipc:
                extra = [f"--input={item}" for item in args.input]
                child = [
                    sys.executable,
                    __file__,
                    f"--one={method},{ipc},{store_dir},{scratch}",
                    f"--iterations={args.iterations}",
                    *extra,
                ]
                done = subprocess.run(child, capture_output=True, text=True)
                if done.returncode != 0:
                    print(
                        f"{method:<14} {ipc:>3} failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"
                    )
                    continue
                result = json.loads(done.stdout.strip().splitlines()[-1])
                if "skipped" in result:
                    print(f"{method:<14} {ipc:>3} skipped: {result['skipped']}")
                elif not result["loops"]:
                    print(
                        f"{method:<14} {ipc:>3} {'(no loop)':<14} {'-':>8} {result['peak_mem_mb']:9.0f}  {result['device']}"
                    )
                for loop in result.get("loops", []):
                    print(
                        f"{method:<14} {ipc:>3} {loop['desc']:<14} {loop['s_per_iter']:8.3f} {result['peak_mem_mb']:9.0f}  {result['device']}"
                    )


if __name__ == "__main__":
    sys.exit(main())
