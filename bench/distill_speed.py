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

With --vs-official, instead: DM's iteration (`DMObjective.loss`, backward, SGD step) against
a loop written in the style of the official "Dancing with Still Images" DM (a fresh frozen
network each iteration; per class: a batch of real clips drawn from a preloaded, normalised
float tensor, `embed(real).detach()`, `embed(syn)`, squared distance of the means; one
backward). Same network (MiniC3D 64-128-128, no norm, conv_max head, the paper's), same
seeds, IPC 1, at 8x32x32 with 10 classes and 16x112x112 with 2 classes. Seconds per
iteration: the two alternate in one process, `--repeats` rounds after one warm-up each,
median; peak memory: each run alone in a fresh process (setup plus 2 iterations), the
resident peak and its growth over the setup (allocated CUDA memory on a GPU).

    python bench/distill_speed.py --vs-official [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
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
    from vidcond.pretrain.teacher import train_teacher
    from vidcond.pretrain.interpolator import train_interpolator

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
            from vidcond.pretrain.experts import train_experts

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


# (frames, size, classes, real clips per class); batch_real 64 is the paper's, 4 at 112x112
# keeps a CPU iteration near a second.
OFFICIAL_SIZES = {"8x32x32": (8, 32, 10, 64), "16x112x112": (16, 112, 2, 4)}
PAPER_MINIC3D = {"channels": [64, 128, 128], "norm": "none", "head": "conv_max"}


def write_random_store(directory: Path, classes: int, per_class: int, frames: int, size: int, test_per_class: int = 0) -> None:
    """A frame store of random uint8 videos: ``per_class`` training and ``test_per_class``
    test videos of ``frames`` frames a class."""
    import numpy as np
    import pandas as pd

    from vidcond.data.framestore import FRAMES_FILE, MANIFEST_FILE, META_FILE

    directory.mkdir(parents=True, exist_ok=True)
    n_stored, videos = frames, classes * (per_class + test_per_class)
    rng = np.random.default_rng(0)
    rng.integers(0, 256, (videos * n_stored, size, size, 3), dtype=np.uint8).tofile(directory / FRAMES_FILE)
    labels = np.repeat(np.arange(classes), per_class + test_per_class)
    split = np.tile(["train"] * per_class + ["test"] * test_per_class, classes)
    pd.DataFrame({
        "video_id": [f"v{i}" for i in range(videos)], "path": "", "class_name": [f"c{c}" for c in labels],
        "label": labels, "split": split, "n_frames": n_stored, "fps": 25.0, "status": "ok", "error": "",
        "offset": np.arange(videos) * n_stored, "n_stored": n_stored,
    }).to_parquet(directory / MANIFEST_FILE)
    meta = {"height": size, "width": size, "total_frames": videos * n_stored,
            "classes": [{"label": c, "name": f"c{c}", "group": None} for c in range(classes)]}
    (directory / META_FILE).write_text(json.dumps(meta))


class OfficialStyleDM:
    """The official DM iteration, on clips preloaded once (one fixed clip per video, as its
    --preload), normalised in the data pipeline as there."""

    def __init__(self, ctx, syn, labels, lr):
        import torch

        from vidcond.data.sampling import center_clip, to_clip_tensor

        self.ctx, self.syn, self.labels = ctx, syn, labels
        videos = ctx.train_videos
        clips = [ctx.store.frames[o + center_clip(n, ctx.clip["num_frames"], ctx.clip["stride"])]
                 for o, n in zip(videos["offset"], videos["n_stored"])]
        mean, std = torch.tensor([0.485, 0.456, 0.406]).view(1, 1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 1, 3, 1, 1)
        self.images_all = ((to_clip_tensor(__import__("numpy").stack(clips)) - mean) / std).contiguous()
        self.indices_class = [list(videos.index[videos["label"] == c]) for c in range(ctx.num_classes)]
        self.optimizer = torch.optim.SGD([syn], lr=lr, momentum=0.5)
        self.batch_real = int(ctx.params["batch_real"])

    def get_images(self, c, n):
        import numpy as np

        idx_shuffle = np.random.permutation(self.indices_class[c])[:n]
        return self.images_all[idx_shuffle]

    def step(self) -> float:
        import torch

        net = self.ctx.build_model("miniC3D").train()  # the official leaves it in train mode
        for p in net.parameters():
            p.requires_grad = False

        def embed(x):  # the official ConvNet3D.embed: flattened conv features
            return net.blocks(x.permute(0, 2, 1, 3, 4)).flatten(1)

        ipc = len(self.labels) // self.ctx.num_classes
        loss = torch.tensor(0.0)
        for c in range(self.ctx.num_classes):
            img_real = self.get_images(c, self.batch_real)
            img_syn = self.syn[c * ipc : (c + 1) * ipc]
            output_real = embed(img_real).detach()
            output_syn = embed(img_syn)
            loss += torch.sum((torch.mean(output_real, dim=0) - torch.mean(output_syn, dim=0)) ** 2)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.item()


class OursDM:
    """vidcond's DM iteration: what `distill_videos` runs each step."""

    def __init__(self, ctx, syn, labels, lr):
        import numpy as np
        import torch

        from vidcond.methods.dm import DMObjective

        self.objective = DMObjective(ctx, np.random.default_rng(1))
        self.syn, self.labels = syn, labels
        self.optimizer = torch.optim.SGD([syn], lr=lr, momentum=0.5)

    def step(self) -> float:
        loss = self.objective.loss(self.syn, self.labels, 0)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item()


def dm_runner(kind: str, size: str, scratch: Path):
    import torch

    from vidcond.data.framestore import FrameStore
    from vidcond.methods import CondenseContext

    frames, pixels, classes, batch_real = OFFICIAL_SIZES[size]
    store_dir = scratch / size
    if not (store_dir / "store.json").exists():
        write_random_store(store_dir, classes, max(batch_real, 4), 2 * frames, pixels)
    ctx = CondenseContext(store=FrameStore(store_dir), dataset="random", ipc=1, params={"arch": "miniC3D", "batch_real": batch_real},
                          clip={"num_frames": frames, "stride": 1}, model_options={"miniC3D": PAPER_MINIC3D}, progress=False)
    torch.manual_seed(0)
    syn = torch.rand(classes, frames, 3, pixels, pixels).requires_grad_(True)
    labels = torch.arange(classes)
    return (OursDM if kind == "ours" else OfficialStyleDM)(ctx, syn, labels, lr=1.0)


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def dm_memory(kind: str, size: str, scratch: Path) -> dict:
    """Peak memory of setup plus 2 iterations of one runner (run in a fresh process)."""
    import torch

    runner = dm_runner(kind, size, scratch)
    before = rss_mb()
    for _ in range(2):
        runner.step()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"peak_mb": peak, "growth_mb": peak - before}


def vs_official(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    print(f"DM: ours against an official-style loop; MiniC3D {PAPER_MINIC3D}, IPC 1, {args.threads} threads, "
          f"median of {args.repeats} alternating rounds")
    print(f"{'size':<11} {'classes':>7} {'real/class':>10} {'official s':>10} {'ours s':>7} {'ratio':>6} "
          f"{'peak MB off/ours':>17} {'ratio':>6} {'growth MB off/ours':>19}")
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for size, (_, _, classes, batch_real) in OFFICIAL_SIZES.items():
            memory = {}
            for kind in ("official", "ours"):
                child = [sys.executable, __file__, f"--dm-memory={kind},{size},{scratch}", f"--threads={args.threads}"]
                done = subprocess.run(child, capture_output=True, text=True, check=True)
                memory[kind] = json.loads(done.stdout.strip().splitlines()[-1])
            runners = {kind: dm_runner(kind, size, scratch) for kind in ("official", "ours")}
            seconds = {kind: [] for kind in runners}
            for kind, runner in runners.items():
                runner.step()  # warm-up
            for _ in range(args.repeats):
                for kind, runner in runners.items():
                    started = time.perf_counter()
                    runner.step()
                    seconds[kind].append(time.perf_counter() - started)
            off, ours = (statistics.median(seconds[k]) for k in ("official", "ours"))
            mo, mu = memory["official"], memory["ours"]
            print(f"{size:<11} {classes:>7} {batch_real:>10} {off:10.3f} {ours:7.3f} {ours / off:6.2f} "
                  f"{mo['peak_mb']:8.0f}/{mu['peak_mb']:<8.0f} {mu['peak_mb'] / mo['peak_mb']:6.2f} "
                  f"{mo['growth_mb']:9.0f}/{mu['growth_mb']:<9.0f}")


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
    parser.add_argument("--vs-official", action="store_true", help="DM against an official-style loop")
    parser.add_argument("--repeats", type=int, default=5, help="--vs-official: alternating rounds")
    parser.add_argument("--threads", type=int, default=2, help="--vs-official: torch threads")
    parser.add_argument("--dm-memory", help=argparse.SUPPRESS)  # child process: kind,size,scratch
    args = parser.parse_args()
    if args.dm_memory:
        import torch

        torch.set_num_threads(args.threads)
        kind, size, scratch = args.dm_memory.split(",")
        print(json.dumps(dm_memory(kind, size, Path(scratch))))
        return
    if args.vs_official:
        vs_official(args)
        return
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
