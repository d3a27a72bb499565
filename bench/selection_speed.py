"""Condensation time of the selection methods (herding, kcenter, rded) at the embedded sizes.

    python bench/selection_speed.py [--ipcs 1 5]

Generates the embedded `synthaction` dataset and its frame store in a temporary directory,
saves an untrained teacher of the configured architecture (selection costs the same
whatever its weights), then runs each method of config/config.yaml through `run_condense`
and prints wall time and peak memory per (method, IPC).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import yaml

from vidcond.condense import run_condense
from vidcond.data.framestore import ExtractOptions, extract
from vidcond.data.layouts import list_dataset
from vidcond.data.synthetic import GeneratorConfig, generate
from vidcond.models import build_model, save_model

REPO = Path(__file__).resolve().parents[1]
METHODS = ("herding", "kcenter", "rded")
RESERVED = ("kind", "requires", "ipcs", "evaluation", "by_dataset", "by_ipc")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ipcs", type=int, nargs="+", default=[1, 5])
    args = parser.parse_args()
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    synth = cfg["datasets"]["synthaction"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        generate(root / "videos", GeneratorConfig.from_dict(synth["generator"]), progress=False)
        listing = list_dataset({"format": "synthetic", "root": str(root / "videos")})
        extract(listing, root / "frames", ExtractOptions(**synth["extract"]), progress=False)
        print(f"frame store: {time.perf_counter() - started:.1f} s")
        arch = cfg["teacher"]["arch"]
        options = cfg["models"].get(arch, {})
        classes = len(synth["generator"]["classes"])
        shape = [synth["clip"]["num_frames"], 3, synth["extract"]["height"], synth["extract"]["width"]]
        teacher = build_model(arch, classes, shape, **options).eval()
        spec = {"arch": arch, "num_classes": classes, "clip_shape": shape, "options": options}
        save_model(root / "teacher", teacher, spec)
        print(f"{'method':10s} {'ipc':>4s} {'seconds':>8s} {'peak MB':>8s}")
        for method in METHODS:
            entry = cfg["methods"][method]
            for ipc in args.ipcs:
                params = {k: v for k, v in entry.items() if k not in RESERVED}
                params.update(entry.get("by_ipc", {}).get(str(ipc), {}))
                meta = run_condense(
                    root / "frames",
                    root / "out" / f"{method}_ipc{ipc}",
                    dataset="synthaction",
                    method=method,
                    kind=entry.get("kind", method),
                    ipc=ipc,
                    params=params,
                    clip=synth["clip"],
                    seed=cfg["seed"],
                    inputs={"teacher": str(root / "teacher")},
                    progress=False,
                )
                print(f"{method:10s} {ipc:4d} {meta['wall_time_s']:8.1f} {meta['peak_mem_mb']:8.0f}")
        print(f"device: {'cuda' if torch.cuda.is_available() else 'cpu'}")


if __name__ == "__main__":
    main()
