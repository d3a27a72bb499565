"""Evaluator throughput on the embedded default: training clips/s of the full evaluation loop
(sampling, augmentation, teacher labels, optimizer) against a bare forward/backward loop of
the same network on ready tensors, in the same process (alternating rounds, medians); and
test clips/s.

    python bench/evaluator_speed.py [--epochs 5]

Builds the embedded dataset in a temporary directory unless results/frames/synthaction exists.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]


def frame_store_dir(config: dict, scratch: Path) -> Path:
    existing = REPO / "results" / "frames" / "synthaction"
    if (existing / "store.json").exists():
        return existing
    from vidcond.data.framestore import ExtractOptions, extract
    from vidcond.data.layouts import list_dataset
    from vidcond.data.synthetic import GeneratorConfig, generate

    synth = config["datasets"]["synthaction"]
    generate(scratch / "videos", GeneratorConfig.from_dict(synth["generator"]), progress=False)
    listing = list_dataset({"format": "synthetic", "root": str(scratch / "videos")})
    extract(listing, scratch / "frames", ExtractOptions(**synth["extract"]), progress=False)
    return scratch / "frames"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--ipc", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5, help="alternating rounds")
    args = parser.parse_args()

    from vidcond.condensed import load_condensed
    from vidcond.condense import run_condense
    from vidcond.data.framestore import clip_shape
    from vidcond.models import build_model
    from vidcond.training import CondensedClips, RealClips, TrainSettings, measure_accuracy, train

    torch.set_num_threads(2)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    synth = config["datasets"]["synthaction"]
    clip, arch = synth["clip"], config["evaluation"]["arch"]
    options = config["models"][arch]
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        store_dir = frame_store_dir(config, scratch)
        run_condense(store_dir, scratch / "set", dataset="synthaction", method="random", kind="random", ipc=args.ipc,
                     params={}, clip=clip, seed=0, progress=False)
        condensed = load_condensed(scratch / "set")
        from vidcond.data.framestore import FrameStore

        store = FrameStore(store_dir)
        shape = clip_shape(store, clip["num_frames"])
        settings = {**config["evaluation"]["protocols"][config["evaluation"]["protocol"]], **config["evaluation"]["overrides"]}
        settings.update(epochs=args.epochs, labels="hard", loss="ce")

        def evaluator() -> tuple[float, dict]:
            model = build_model(arch, store.num_classes, shape, **options)
            stats = train(model, CondensedClips(condensed, clip["num_frames"]), TrainSettings.from_dict(settings),
                          ipc=args.ipc, seed=0, progress=False)
            return stats["train_seconds"], stats

        def bare(stats: dict) -> tuple[float, torch.nn.Module]:
            # The same network, batch and optimizer steps on one ready tensor.
            model = build_model(arch, store.num_classes, shape, **options).train()
            optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
            batch = condensed.draw(clip["num_frames"])[: stats["batch_size"]]
            labels = condensed.labels[: stats["batch_size"]]
            started = time.perf_counter()
            for _ in range(stats["steps"]):
                loss = torch.nn.functional.cross_entropy(model(batch), labels)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            return time.perf_counter() - started, model

        # alternating rounds in this process; medians
        evaluator_s, bare_s = [], []
        for _ in range(args.repeats):
            seconds, stats = evaluator()
            evaluator_s.append(seconds)
            seconds, model = bare(stats)
            bare_s.append(seconds)
        clips_trained = stats["steps"] * stats["batch_size"]
        evaluator_rate = clips_trained / statistics.median(evaluator_s)
        bare_rate = clips_trained / statistics.median(bare_s)
        step_ratios = [e / b for e, b in zip(evaluator_s, bare_s)]

        test_set = RealClips(store, clip["num_frames"], clip["stride"], split="test")
        started = time.perf_counter()
        measure_accuracy(model, test_set, store.classes)
        test_rate = len(test_set) / (time.perf_counter() - started)

    print(f"network {arch} {options}, clips {tuple(shape)}, IPC {args.ipc}, {args.epochs} epochs, batch {stats['batch_size']}")
    print(f"evaluator training : {evaluator_rate:8.1f} clips/s")
    print(f"bare fwd+bwd loop  : {bare_rate:8.1f} clips/s")
    print(f"evaluator / bare   : {evaluator_rate / bare_rate:8.2f} (clips/s)")
    print(f"step time ratio    : {statistics.median(step_ratios):8.2f} (evaluator / bare, median of {args.repeats} alternating rounds: "
          f"{', '.join(f'{r:.2f}' for r in step_ratios)})")
    print(f"test (centre clips): {test_rate:8.1f} clips/s")


if __name__ == "__main__":
    sys.exit(main())
