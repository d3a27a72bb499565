"""Memory and time of one MTT iteration against the number of unrolled student steps, with
and without `low_memory` (gradient checkpointing of each student step).

    python bench/mtt_memory.py [--steps 5 10 20] [--ipc 1] [--experts results/experts/synthaction/miniC3D_mtt]

Each setting runs in a fresh process: two iterations (loss + backward) of the embedded
config's `mtt` entry on its experts' network. Peak memory is what the iterations add on
top of the process before them: allocated memory on a GPU, the resident-set peak on CPU.
Without --experts, one throw-away expert of the config's `experts` settings is trained for
one epoch (the memory does not depend on its quality). Builds the embedded dataset in a
temporary directory unless results/frames/synthaction exists.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))


def measure(store_dir: Path, experts: Path, steps: int, low_memory: bool, ipc: int) -> dict:
    import numpy as np
    import torch

    from vidcond.data.framestore import FrameStore
    from vidcond.memory import peak_memory_mb
    from vidcond.methods import CondenseContext
    from vidcond.methods.distill import init_synthetic
    from vidcond.methods.mtt import MTTObjective
    from vidcond.training import pick_device

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    params = {k: v for k, v in config["methods"]["mtt"].items() if k != "requires"}
    params.update(syn_steps=steps, low_memory=low_memory)
    device = pick_device()
    torch.set_num_threads(2)
    ctx = CondenseContext(
        store=FrameStore(store_dir),
        dataset="synthaction",
        ipc=ipc,
        params=params,
        clip=config["datasets"]["synthaction"]["clip"],
        device=device,
        inputs={"experts": str(experts)},
        progress=False,
    )
    objective = MTTObjective(ctx, np.random.default_rng(0))
    videos, labels = init_synthetic(ctx, "real", np.random.default_rng(0))
    if device.type == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    else:  # this process's own peak: ru_maxrss would start from the parent's
        before = peak_memory_mb(device) * 2**20
    started = time.perf_counter()
    for iteration in range(2):
        objective.loss(videos, labels, iteration).backward()
        videos.grad = None
    seconds = (time.perf_counter() - started) / 2
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) - before
    else:
        peak = peak_memory_mb(device) * 2**20 - before
    return {
        "steps": steps,
        "low_memory": low_memory,
        "s_per_iter": seconds,
        "peak_mb": peak / 2**20,
        "device": device.type,
        "params": objective.layout.num_params,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--ipc", type=int, default=1)
    parser.add_argument(
        "--experts", type=Path, help="an experts stem (path of the index without .json)"
    )
    parser.add_argument(
        "--one", help=argparse.SUPPRESS
    )  # child process: store,experts,steps,low_memory
    args = parser.parse_args()
    if args.one:
        store_dir, experts, steps, low = args.one.split(",")
        print(json.dumps(measure(Path(store_dir), Path(experts), int(steps), low == "1", args.ipc)))
        return

    from evaluator_speed import frame_store_dir

    from vidcond.pretrain.experts import train_experts

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        store_dir = frame_store_dir(config, scratch)
        experts = args.experts
        if experts is None:
            settings, experts = config["experts"], scratch / "experts"
            train_experts(
                store_dir,
                experts,
                arch=settings["arch"],
                model_options=config["models"].get(settings["arch"], {}),
                num_experts=1,
                epochs=settings["epochs"],
                training=settings["training"],
                clip=config["datasets"]["synthaction"]["clip"],
                seed=0,
                progress=False,
            )
        print(
            f"mtt at IPC {args.ipc}, batch_syn {config['methods']['mtt'].get('batch_syn', 0)}; peak = memory added by 2 iterations"
        )
        print(f"{'syn_steps':>9} {'low_memory':>10} {'s/iter':>8} {'peak MB':>8}  device")
        for steps in args.steps:
            for low in (False, True):
                child = [
                    sys.executable,
                    __file__,
                    f"--one={store_dir},{experts},{steps},{int(low)}",
                    f"--ipc={args.ipc}",
                ]
                done = subprocess.run(child, capture_output=True, text=True)
                if done.returncode != 0:
                    print(
                        f"{steps:>9} {str(low):>10} failed: {done.stderr.strip().splitlines()[-1]}"
                    )
                    continue
                r = json.loads(done.stdout.strip().splitlines()[-1])
                print(
                    f"{r['steps']:>9} {str(r['low_memory']):>10} {r['s_per_iter']:8.2f} {r['peak_mb']:8.1f}  {r['device']}"
                )


if __name__ == "__main__":
    sys.exit(main())
