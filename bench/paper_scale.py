"""Paper-scale smoke: every condensation method of each paper config at the paper's clip size
and network widths, for a few iterations, on a small frame store of random videos at the
paper's resolution (the config's first dataset; `--classes` classes of `--videos` training
videos). Prints, and with --out writes as Markdown, method x seconds per iteration x peak
memory x device.

    python bench/paper_scale.py [--configs dancing videodc gvd sakd] [--iterations 2]
                                [--classes 3] [--videos 4] [--batch-real 8] [--out docs/paper_scale.md]

Each method runs in a fresh process (so that its peak memory is its own) through
`vidcond.condense.run_condense`, not through the workflow's rules. Shortened so that a CPU
finishes: `iterations` of every method, real batches capped at `--batch-real`, start epochs
of trajectory matching below 1 (experts: one expert of 2 epochs), teachers one epoch, the
interpolator 5 steps; +SD methods start from a `dc_static` set condensed here. Methods whose
input cannot be made quickly (a diffusion model) are listed as skipped. Peak memory: the
process's resident peak on CPU (allocated memory on a GPU).
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

def config_path(name: str) -> Path:
    """A paper config by name (config/paper/<name>.yaml), or any config file by its path."""
    return Path(name) if name.endswith(".yaml") else REPO / "config" / "paper" / f"{name}.yaml"


SHORTENED = {"max_start_epoch": 1, "current_max_start_epoch": 1, "min_start_epoch": 0, "expansion_end_iteration": 1}


def method_params(entry: dict, ipc: int, iterations: int, batch_real: int) -> dict:
    reserved = ("kind", "requires", "ipcs", "evaluation", "by_dataset", "by_ipc")
    params = {k: v for k, v in entry.items() if k not in reserved}
    params.update(entry.get("by_ipc", {}).get(str(ipc), {}))
    for key in ("iterations", "num_train_steps"):
        if key in params:
            params[key] = iterations
    if "batch_real" in params:
        params["batch_real"] = min(int(params["batch_real"]), batch_real)
    params.update({k: v for k, v in SHORTENED.items() if k in params or params.get("syn_steps")})
    return params


def make_inputs(config: dict, dataset: dict, params: dict, requires: list, store: Path, scratch: Path, run) -> dict | str:
    """Paths of the inputs a method reads (made here, shortened), or why it is skipped."""
    from vidcond.pretrain.teacher import train_teacher
    from vidcond.pretrain.experts import train_experts
    from vidcond.pretrain.interpolator import train_interpolator

    clip, models, inputs = dataset["clip"], config.get("models", {}), {}
    for name in requires:
        if name in ("teacher", "teachers"):
            archs = [config["teacher"]["arch"]] if name == "teacher" else params.get("condensation_models", ["miniC3D"])
            for arch in archs:
                stem = scratch / f"teacher_{arch}"
                if not stem.with_suffix(".json").exists():
                    training = {**config["teacher"]["training"], **config["teacher"].get("by_arch", {}).get(arch, {})}
                    training.update(epochs=1, batch_size=4)
                    train_teacher(store, stem, arch=arch, model_options=models.get(arch, {}), training=training,
                                  clip=clip, seed=0, progress=False)
                inputs[name if name == "teacher" else f"teacher_{arch}"] = str(stem)
        elif name == "experts":
            experts, stem = config["experts"], scratch / "experts"
            if not stem.with_suffix(".json").exists():
                training = {**experts["training"], "batch_size": 4}
                train_experts(store, stem, arch=experts["arch"], model_options=models.get(experts["arch"], {}),
                              num_experts=1, epochs=2, training=training, clip=clip, seed=0, progress=False)
            inputs[name] = str(stem)
        elif name == "interpolator":
            stem = scratch / "interpolator"
            if not stem.with_suffix(".json").exists():
                section = config.get("interpolator", {})
                train_interpolator(store, stem, options=section.get("model", {}),
                                   training={**section.get("training", {}), "steps": 5}, clip=clip, seed=0, progress=False)
            inputs[name] = str(stem)
        elif name == "static":
            static = params["static"]
            stem = scratch / f"static_{static['method']}_spc{static['spc']}"
            if not stem.with_suffix(".json").exists():
                result = run(static["method"], int(static["spc"]), stem)
                if "error" in result:
                    return f"its static set failed: {result['error']}"
            inputs[name] = str(stem)
        else:
            return f"needs a {name} (not made by this benchmark)"
    return inputs


def run_one(config_name: str, method: str, ipc: int, store: Path, scratch: Path, out_stem: Path, args) -> dict:
    """Condense one method in this process; its DistillLoops are timed."""
    import torch

    from vidcond.condense import run_condense
    from vidcond.methods import distill

    config = yaml.safe_load(config_path(config_name).read_text())
    dataset = next(iter(config["datasets"].values()))
    entry = config["methods"][method]
    params = method_params(entry, ipc, args.iterations, args.batch_real)

    def run_static(name, spc, stem):
        child = [sys.executable, __file__, f"--one={config_name},{name},{spc},{store},{scratch},{stem}",
                 f"--iterations={args.iterations}", f"--batch-real={args.batch_real}"]
        done = subprocess.run(child, capture_output=True, text=True)
        return json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else {"error": done.stderr.strip()[-300:]}

    inputs = make_inputs(config, dataset, params, entry.get("requires", []), store, scratch, run_static)
    if isinstance(inputs, str):
        return {"skipped": inputs}
    loops = []
    original = distill.DistillLoop.run

    def timed_run(self, step):
        losses = original(self, step)
        loops.append({"desc": self.desc, "s_per_iter": self.seconds_per_iteration})
        return losses

    distill.DistillLoop.run = timed_run
    torch.set_num_threads(args.threads)
    meta = run_condense(store, out_stem, dataset=config_name, method=method, kind=entry.get("kind", method), ipc=ipc,
                        params=params, clip=dataset["clip"], seed=0, inputs=inputs, model_options=config.get("models", {}),
                        progress=False)
    return {"loops": loops, "peak_mem_mb": meta["peak_mem_mb"], "device": meta["device"], "wall_s": meta["wall_time_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=["dancing", "videodc", "gvd", "sakd"],
                        help="paper config names, or paths of config files")
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--videos", type=int, default=4, help="training videos per class")
    parser.add_argument("--batch-real", type=int, default=8, help="cap on real clips per class and batch")
    parser.add_argument("--methods", nargs="+", help="only these methods (default: every one)")
    parser.add_argument("--ipc", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, help="write the table here (Markdown)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # child: config,method,ipc,store,scratch,out_stem
    args = parser.parse_args()

    if args.one:
        config_name, method, ipc, store, scratch, out_stem = args.one.split(",")
        try:
            result = run_one(config_name, method, int(ipc), Path(store), Path(scratch), Path(out_stem), args)
        except Exception as err:  # reported in the table, the other methods go on
            result = {"error": f"{type(err).__name__}: {err}"[:300]}
        print(json.dumps(result))
        return

    from distill_speed import write_random_store

    rows = []
    header = "| config | dataset | clip | method | kind | s/iter | wall s | peak MB | device | note |"
    print(header)
    with tempfile.TemporaryDirectory() as scratch_root:
        for config_name in args.configs:
            config = yaml.safe_load(config_path(config_name).read_text())
            name, dataset = next(iter(config["datasets"].items()))
            clip, extract = dataset["clip"], dataset["extract"]
            span = (clip["num_frames"] - 1) * clip["stride"] + 1
            scratch = Path(scratch_root) / config_path(config_name).stem
            store = scratch / "frames"
            write_random_store(store, args.classes, args.videos, span, extract["height"], test_per_class=1)
            shape = f"{clip['num_frames']}x{extract['height']}x{extract['width']}"
            methods = {k: v for k, v in config.get("methods", {}).items() if not args.methods or k in args.methods}
            if not methods:
                rows.append(f"| {config_name} | {name} | {shape} | (none) | | | | | | no condensation methods (KD config) |")
                print(rows[-1])
            for method, entry in methods.items():
                started = time.perf_counter()
                child = [sys.executable, __file__, f"--one={config_name},{method},{args.ipc},{store},{scratch},{scratch / method}",
                         f"--iterations={args.iterations}", f"--batch-real={args.batch_real}", f"--threads={args.threads}"]
                done = subprocess.run(child, capture_output=True, text=True)
                if done.returncode != 0 or not done.stdout.strip():
                    result = {"error": (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1][:300]}
                else:
                    result = json.loads(done.stdout.strip().splitlines()[-1])
                kind = entry.get("kind", method)
                if "skipped" in result or "error" in result:
                    note = f"skipped: {result['skipped']}" if "skipped" in result else f"FAILED: {result['error']}"
                    rows.append(f"| {config_name} | {name} | {shape} | {method} | {kind} | | | | | {note} |")
                else:
                    loops = result["loops"]
                    per_iter = " + ".join(f"{loop['s_per_iter']:.2f}" for loop in loops if loop["s_per_iter"]) or "-"
                    note = f"{len(loops)} loop(s)" if loops else "no iterative loop"
                    rows.append(f"| {config_name} | {name} | {shape} | {method} | {kind} | {per_iter} | {result['wall_s']:.1f} "
                                f"| {result['peak_mem_mb']:.0f} | {result['device']} | {note}; {time.perf_counter() - started:.0f} s with inputs |")
                print(rows[-1], flush=True)
    if args.out:
        settings = (f"{args.classes} classes x {args.videos} random training videos, IPC {args.ipc}, {args.iterations} "
                    f"iterations, real batches <= {args.batch_real}, {args.threads} threads")
        text = "\n".join([
            f"# Paper-scale smoke ({datetime.date.today().isoformat()})", "",
            "Output of `bench/paper_scale.py`: every condensation method of each paper config at the paper's "
            f"clip size and network widths ({settings}).", "", header, "|" + "---|" * 10, *rows, "",
        ])
        args.out.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
