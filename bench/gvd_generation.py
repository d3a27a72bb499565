"""Generation time and peak memory of a diffusion method at IPC 1, 5, 10 and 20 (the GVD
paper's claim: memory stays flat in IPC, because videos are denoised in fixed-size batches).

    python bench/gvd_generation.py [--method gvd] [--ipcs 1 5 10 20] [--model results/diffusion/synthaction]

Uses the embedded config's method entry and clip; the frame store of results/ when it exists
(else builds the embedded dataset in a temporary directory) and the diffusion model given,
else the embedded generator of the config's `diffusion` section built on that store
(seconds: nothing is trained). Each IPC runs in a fresh process so that its peak memory (CUDA:
max allocated; CPU: max RSS of that process) is its own.
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

from evaluator_speed import frame_store_dir  # noqa: E402


def one_run(method: str, ipc: int, store: str, model: str, threads: int) -> dict:
    import torch

    from vidcond.condense import run_condense

    torch.set_num_threads(threads)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    entry = config["methods"][method]
    params = {k: v for k, v in entry.items() if k not in ("kind", "requires", "ipcs", "by_ipc", "by_dataset", "evaluation")}
    with tempfile.TemporaryDirectory() as out:
        meta = run_condense(
            store, Path(out) / "set", dataset="synthaction", method=method, kind=entry.get("kind", method), ipc=ipc,
            params=params, clip=config["datasets"]["synthaction"]["clip"], seed=0, inputs={"diffusion": model}, progress=False,
        )
    return {k: meta[k] for k in ("generation_s", "generation_peak_mem_mb", "generated_videos", "peak_mem_mb", "device")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="gvd", choices=["gvd", "gvd_naive", "gvd_knoise"])
    parser.add_argument("--ipcs", type=int, nargs="+", default=[1, 5, 10, 20])
    parser.add_argument("--model", type=Path, default=REPO / "results" / "diffusion" / "synthaction")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--one", nargs=3, metavar=("IPC", "STORE", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_run(args.method, int(args.one[0]), args.one[1], args.one[2], args.threads)))
        return

    from vidcond.pretrain.diffusion import train_diffusion

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    with tempfile.TemporaryDirectory() as scratch:
        store = frame_store_dir(config, Path(scratch))
        model = args.model
        if not (model / "vidcond_diffusion.json").exists():
            model = Path(scratch) / "model"
            settings = {**config["diffusion"], "quality_samples": 0}
            clip = config["datasets"]["synthaction"]["clip"]
            train_diffusion(store, model, Path(scratch) / "model.json", settings=settings, clip=clip, seed=0, progress=False)
            print(f"the config's diffusion model, built on {store} (no model at --model)")
        print(f"{args.method}: generation seconds and peak memory per IPC ({args.threads} thread(s))")
        print(f"{'IPC':>4} {'videos':>7} {'gen s':>8} {'s/video':>8} {'peak MB':>9} {'device':>7}")
        peaks = []
        for ipc in args.ipcs:
            cmd = [sys.executable, __file__, "--method", args.method, "--threads", str(args.threads), "--one", str(ipc), str(store), str(model)]
            result = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
            videos = result["generated_videos"]
            print(
                f"{ipc:>4} {videos:>7} {result['generation_s']:>8.1f} {result['generation_s'] / videos:>8.3f} "
                f"{result['generation_peak_mem_mb']:>9.0f} {result['device']:>7}"
            )
            peaks.append(result["generation_peak_mem_mb"])
        print(f"peak memory IPC {args.ipcs[-1]} / IPC {args.ipcs[0]}: {peaks[-1] / peaks[0]:.2f}x (GVD's claim: flat, target <= 1.1x)")


if __name__ == "__main__":
    main()
