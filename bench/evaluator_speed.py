"""Evaluator step time on the embedded default against two loops of the same network in the
same process, on ready tensors (alternating rounds, medians):

* official-style: the video study's official evaluation loop (val.py), its augmentation
  per video as its dataset transforms do it (RandomResizedCrop: one window on every frame,
  bilinear; horizontal flip), then forward, backward and an optimizer step, with the
  protocol's optimizer, parameter groups and per-epoch schedule;
* bare: forward, backward and step on one fixed batch (no sampling, no augmentation).

Both build the network from our registry; the official-style loop's convolves in PyTorch's
default layout, as the official code's does (ours: channels-last, `VideoModel.channels_last`).

The evaluator (``vidcond.training.train``) runs the protocol's settings with hard labels
(`--protocol`, default `videodc`: RandomResizedCrop + flip; `dancing` flips only). Also
test clips/s.

    python bench/evaluator_speed.py [--protocol videodc] [--epochs 5] [--repeats 5]

Reads --frames (default results/frames/synthaction) or builds the embedded dataset in a
temporary directory.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

REPO = Path(__file__).resolve().parents[1]


def frame_store_dir(config: dict, scratch: Path, existing: Path) -> Path:
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


def official_style_augment(clips: torch.Tensor, scale, generator: torch.Generator) -> torch.Tensor:
    """The official loop's augmentation, one video at a time as its dataset transforms apply
    it: a RandomResizedCrop window (area share in ``scale``, aspect 3/4..4/3 log-uniform) on
    every frame, resized back bilinearly, then a horizontal flip with probability 1/2."""
    b, _, _, h, w = clips.shape
    out = torch.empty_like(clips)
    for i in range(b):
        u = torch.rand(5, generator=generator).tolist()
        area = h * w * (scale[0] + (scale[1] - scale[0]) * u[0])
        aspect = math.exp(math.log(3 / 4) + (math.log(4 / 3) - math.log(3 / 4)) * u[1])
        ch = min(h, max(1, round(math.sqrt(area / aspect))))
        cw = min(w, max(1, round(math.sqrt(area * aspect))))
        top, left = int(u[2] * (h - ch + 1)), int(u[3] * (w - cw + 1))
        video = F.interpolate(clips[i, :, :, top : top + ch, left : left + cw], size=(h, w), mode="bilinear",
                              align_corners=False)
        out[i] = video.flip(-1) if u[4] < 0.5 else video
    return out


def official_style_flip(clips: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    flips = torch.rand(len(clips), generator=generator).tolist()
    return torch.stack([clip.flip(-1) if u < 0.5 else clip for clip, u in zip(clips, flips)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocol", default="videodc", help="evaluation protocol preset of config/config.yaml")
    parser.add_argument("--epochs", type=int, default=5, help="epochs asked (the overrides' min_clips may raise them)")
    parser.add_argument("--ipc", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5, help="alternating rounds")
    parser.add_argument("--frames", type=Path, default=REPO / "results" / "frames" / "synthaction")
    args = parser.parse_args()

    from vidcond.condense import run_condense
    from vidcond.condensed import load_condensed
    from vidcond.data.framestore import FrameStore, clip_shape
    from vidcond.models import build_model
    from vidcond.training import CondensedClips, RealClips, TrainSettings, lr_factor, measure_accuracy, train

    torch.set_num_threads(2)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    synth = config["datasets"]["synthaction"]
    clip, arch = synth["clip"], config["evaluation"]["arch"]
    options = config["models"][arch]
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        store_dir = frame_store_dir(config, scratch, args.frames)
        run_condense(store_dir, scratch / "set", dataset="synthaction", method="random", kind="random", ipc=args.ipc,
                     params={}, clip=clip, seed=0, progress=False)
        condensed = load_condensed(scratch / "set")
        store = FrameStore(store_dir)
        shape = clip_shape(store, clip["num_frames"])
        options_of = {**config["evaluation"]["protocols"][args.protocol], **config["evaluation"]["overrides"]}
        options_of.update(epochs=args.epochs, labels="hard", loss="ce")
        settings = TrainSettings.from_dict(options_of)

        def evaluator() -> tuple[float, dict]:
            model = build_model(arch, store.num_classes, shape, **options)
            stats = train(model, CondensedClips(condensed, clip["num_frames"]), settings, ipc=args.ipc, seed=0,
                          progress=False)
            return stats["train_seconds"], stats

        def official_style(stats: dict) -> float:
            # val.py's loop on the set's ready clips: per epoch a shuffled pass in batches,
            # each video augmented on its own, then forward, backward, step; schedule per epoch.
            model = build_model(arch, store.num_classes, shape, **options).train()
            model.channels_last = False  # the official network convolves in PyTorch's default layout
            params = [p for p in model.parameters() if p.requires_grad]
            decayed = [p for p in params if p.dim() > 1] if settings.decay_matrices_only else params
            groups = [{"params": decayed, "weight_decay": settings.weight_decay}]
            if settings.decay_matrices_only:
                groups.append({"params": [p for p in params if p.dim() <= 1], "weight_decay": 0.0})
            optimizer = (torch.optim.AdamW(groups, lr=settings.lr) if settings.optimizer == "adamw"
                         else torch.optim.SGD(groups, lr=settings.lr, momentum=settings.momentum))
            epochs = stats["epochs_run"]
            schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: lr_factor(settings, e, epochs))
            generator = torch.Generator().manual_seed(0)
            videos, labels = condensed.draw(clip["num_frames"], generator), condensed.labels.long()
            started = time.perf_counter()
            for _ in range(epochs):
                order = torch.randperm(len(videos), generator=generator)
                for batch in order.split(stats["batch_size"]):
                    if settings.resized_crop:
                        clips = official_style_augment(videos[batch], settings.crop_scale, generator)
                    else:
                        clips = official_style_flip(videos[batch], generator) if settings.flip else videos[batch]
                    loss = F.cross_entropy(model(clips), labels[batch])
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                schedule.step()
            return time.perf_counter() - started

        def bare(stats: dict) -> float:
            # The same network, batch and optimizer steps on one ready tensor.
            model = build_model(arch, store.num_classes, shape, **options).train()
            optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
            batch = condensed.draw(clip["num_frames"])[: stats["batch_size"]]
            labels = condensed.labels[: stats["batch_size"]]
            started = time.perf_counter()
            for _ in range(stats["steps"]):
                loss = F.cross_entropy(model(batch), labels)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            return time.perf_counter() - started

        # alternating rounds in this process, each starting with another loop (no order
        # advantage); medians. The first evaluator run gives the step count the others make.
        seconds, stats = evaluator()
        evaluator_s, official_s, bare_s = [], [], []
        loops = [lambda: evaluator_s.append(evaluator()[0]), lambda: official_s.append(official_style(stats)),
                 lambda: bare_s.append(bare(stats))]
        for round_ in range(args.repeats):
            for k in range(len(loops)):
                loops[(round_ + k) % len(loops)]()
        model = build_model(arch, store.num_classes, shape, **options)  # test speed: any weights

        test_set = RealClips(store, clip["num_frames"], clip["stride"], split="test")
        started = time.perf_counter()
        measure_accuracy(model, test_set, store.classes)
        test_rate = len(test_set) / (time.perf_counter() - started)

    steps = stats["steps"]
    augmentation = ("RandomResizedCrop " + str(list(settings.crop_scale)) if settings.resized_crop else "no crop") + (
        " + flip" if settings.flip else "")
    print(f"network {arch} {options}, clips {tuple(shape)}, IPC {args.ipc}, protocol {args.protocol} "
          f"({settings.optimizer}, {augmentation}), {stats['epochs_run']} epochs, "
          f"{steps} steps of batch {stats['batch_size']}")
    loops = (("evaluator", evaluator_s), ("official-style loop", official_s), ("bare fwd+bwd loop", bare_s))
    for name, seconds in loops:
        print(f"{name:20}: {1000 * statistics.median(seconds) / steps:8.1f} ms/step "
              f"({steps * stats['batch_size'] / statistics.median(seconds):7.1f} clips/s)")
    for name, reference in (("official-style", official_s), ("bare", bare_s)):
        ratios = [e / r for e, r in zip(evaluator_s, reference)]
        print(f"evaluator / {name:15}: {statistics.median(ratios):5.2f} (step time, median of {args.repeats} "
              f"alternating rounds: {', '.join(f'{r:.2f}' for r in ratios)})")
    print(f"test (centre clips)  : {test_rate:8.1f} clips/s")


if __name__ == "__main__":
    sys.exit(main())
