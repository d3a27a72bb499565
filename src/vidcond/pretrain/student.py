"""Student pretraining for SAKD: a disjoint synthetic *source* dataset plays Kinetics-400.

In the SAKD paper the UCF101 students start from Kinetics-400 weights, which is why a
10 % share of the clips per epoch suffices. Here the student is first trained, with hard
labels, on a second generated dataset whose classes share neither a name nor a (shape,
colour, motion) with the target's and whose videos come from another seed; its backbone
then starts every KD run of the target (:func:`load_pretrained_backbone`), with a fresh
classifier for the target's classes.

The job generates the source videos and extracts them (same frame size and clip as the
target) into its work folder, trains, writes ``<stem>.safetensors`` / ``<stem>.json``
(:func:`vidcond.models.save_model`, the json with the source accuracies and seconds),
and removes the work folder.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from ..checkpoint import Checkpointer
from ..data.framestore import ExtractOptions, FrameStore, clip_shape, extract
from ..data.layouts import list_dataset
from ..data.splits import carve_validation
from ..data.synthetic import GeneratorConfig, generate
from ..models import build_model, save_model
from ..training import RealClips, TrainSettings, measure_accuracy, train


def shared_classes(target: GeneratorConfig, source: GeneratorConfig) -> list[str]:
    """Source classes that a target class matches by name or by (shape, colour, motion)."""
    names = {c.name for c in target.classes}
    looks = {(c.shape, tuple(c.color), c.motion) for c in target.classes}
    return [c.name for c in source.classes if c.name in names or (c.shape, tuple(c.color), c.motion) in looks]


def check_disjoint(target: GeneratorConfig | None, source: GeneratorConfig) -> None:
    """Raise unless the source dataset is disjoint from the target: no shared class and
    another generator seed (``target`` None: a real dataset, disjoint by construction)."""
    if target is None:
        return
    shared = shared_classes(target, source)
    if shared:
        raise ValueError(f"the student's source dataset shares classes with the target: {shared}")
    if source.seed == target.seed:
        raise ValueError(f"the student's source dataset needs another generator seed than the target's ({target.seed})")


def pretrain_student(
    out_stem, *, source: dict, target: dict | None, extract_options: dict, validation: dict, clip: dict,
    arch: str, model_options: dict, training: dict, seed: int, work_dir, progress: bool = True,
) -> dict:
    """Generate the source dataset ``source`` (generator options) into ``work_dir``, train
    ``arch`` on its training split, save it to ``out_stem``; returns the saved summary.
    ``target``: the target's generator options (None for a real dataset)."""
    source_config = GeneratorConfig.from_dict(source)
    check_disjoint(GeneratorConfig.from_dict(target) if target else None, source_config)
    work_dir = Path(work_dir)
    began = time.perf_counter()
    videos, store_dir = work_dir / "videos", work_dir / "frames"
    if not (store_dir / "store.json").exists():  # a rerun after a kill keeps the extracted store
        shutil.rmtree(videos, ignore_errors=True)
        generate(videos, source_config, progress=progress)
        listing = list_dataset({"format": "synthetic", "root": str(videos)})
        listing.videos = carve_validation(listing.videos, **validation)
        extract(listing, store_dir, ExtractOptions(**extract_options), workers=1)
        shutil.rmtree(videos)
    store = FrameStore(store_dir)
    prepared = time.perf_counter() - began
    settings = TrainSettings.from_dict(training)
    shape = clip_shape(store, clip["num_frames"])
    torch.manual_seed(seed)  # the initial weights: the same student on every run
    model = build_model(arch, store.num_classes, shape, **model_options)
    checkpointer = Checkpointer(work_dir / "train", every=1, unit="epoch")
    stats = train(model, RealClips(store, clip["num_frames"], clip["stride"]), settings, seed=seed, progress=progress, checkpointer=checkpointer)
    accuracy = {
        split: measure_accuracy(model, RealClips(store, clip["num_frames"], clip["stride"], split=split), store.classes)
        for split in ("val", "test")
    }
    spec = {"arch": arch, "num_classes": store.num_classes, "clip_shape": list(shape), "options": model_options}
    summary = {
        "source_classes": [c.name for c in source_config.classes],
        "train": stats,
        "val": accuracy["val"],
        "test": accuracy["test"],
        "data_seconds": prepared,
        "pretrain_seconds": time.perf_counter() - began,
    }
    save_model(out_stem, model.cpu(), spec, summary)
    shutil.rmtree(work_dir)
    print(f"student {arch} on the source dataset: top-1 {100 * accuracy['val']['top1']:.1f}% (val), "
          f"{100 * accuracy['test']['top1']:.1f}% (test), {summary['pretrain_seconds']:.1f} s")
    return summary


def head_parameter_names(model: nn.Module, shape) -> list[str]:
    """The parameters of ``model.head`` (those the logits reach when the embedding is held
    fixed), found by one backward pass from clips of ``shape``."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        embedding = model.embed(model.normalise(torch.zeros(1, *shape)))
    model.zero_grad(set_to_none=True)
    model.head(embedding).sum().backward()
    names = [name for name, p in model.named_parameters() if p.grad is not None]
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return names


def load_pretrained_backbone(model: nn.Module, stem) -> list[str]:
    """Load the weights saved at ``stem`` into ``model`` except its classifier (the
    parameters of ``head``), which keeps its fresh initialisation for the target's classes
    even when the class counts agree. Returns the names left fresh; a backbone tensor
    missing or of another shape is an error."""
    stem = Path(stem)
    spec = json.loads(stem.with_suffix(".json").read_text())
    saved = load_file(str(stem.with_suffix(".safetensors")))
    fresh = head_parameter_names(model, spec["clip_shape"])
    own = {k: v for k, v in model.state_dict().items() if k not in fresh}
    backbone = {k: v for k, v in saved.items() if k not in fresh}
    wrong = sorted(k for k in set(own) | set(backbone) if k not in own or k not in backbone or own[k].shape != backbone[k].shape)
    if wrong:
        raise ValueError(f"pretrained student {stem} does not match this network's backbone: {wrong}")
    model.load_state_dict(backbone, strict=False)
    return fresh
