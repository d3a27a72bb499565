"""Teacher training: a network trained on the real training split with hard labels, the
source of soft labels and the KD teacher."""

from __future__ import annotations

import torch

from ..checkpoint import Checkpointer
from ..data.framestore import FrameStore, clip_shape
from ..models import build_model, save_model
from ..training import RealClips, TrainSettings, measure_accuracy, train


def train_teacher(
    store_dir, out_stem, *, arch, model_options, training, clip, seed,
    work_dir=None, checkpoint_every=5, progress=True,
) -> dict:
    """Train ``arch`` on the real training split with hard labels; save it with its test
    accuracy. With ``work_dir``, checkpoints every ``checkpoint_every`` epochs (and on
    SIGTERM) go there, a rerun resumes from them, and they are removed at the end."""
    store = FrameStore(store_dir)
    settings = TrainSettings.from_dict(training)
    shape = clip_shape(store, clip["num_frames"])
    torch.manual_seed(seed)  # the initial weights: the same teacher on every run
    model = build_model(arch, store.num_classes, shape, **model_options)
    checkpointer = Checkpointer(work_dir, checkpoint_every, unit="epoch") if work_dir else None
    source = RealClips(store, clip["num_frames"], clip["stride"])
    stats = train(model, source, settings, seed=seed, progress=progress, checkpointer=checkpointer)
    metrics = measure_accuracy(model, RealClips(store, clip["num_frames"], clip["stride"], split="test"), store.classes)
    spec = {"arch": arch, "num_classes": store.num_classes, "clip_shape": list(shape), "options": model_options}
    save_model(out_stem, model.cpu(), spec, {"train": stats, "test": metrics})
    if checkpointer:
        checkpointer.clear()
    print(f"teacher {arch}: top-1 {100 * metrics['top1']:.1f}%")
    return metrics
