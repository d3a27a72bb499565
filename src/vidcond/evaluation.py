"""Evaluation jobs: a condensed set, or the full training set (teachers: :mod:`vidcond.pretrain.teacher`)."""

from __future__ import annotations

import torch

from .condensed import load_condensed
from .data.framestore import FrameStore, clip_shape
from .models import build_model, load_model
from .training import CondensedClips, RealClips, TrainSettings, measure_accuracy, pick_device, train
from .workflow import provenance


def evaluation_rows(
    *,
    store_dir,
    condensed_stem,
    teacher_stem,
    teacher_arch: str | None = None,
    dataset: str,
    method: str,
    arch: str,
    protocol: str,
    variant: str,
    seeds: list[int],
    settings: dict,
    model_options: dict,
    clip: dict,
    split: str = "test",
    progress: bool = True,
) -> list[dict]:
    """Train a fresh ``arch`` per seed on a condensed set (or on every real training video
    when ``condensed_stem`` is None), measure it on the real ``split`` (``test`` for the
    reported numbers, ``val`` for tuning), and return one table row per seed
    (``teacher_arch``: the soft-label teacher, None with hard labels)."""
    store = FrameStore(store_dir)
    train_settings = TrainSettings.from_dict(settings)
    teacher = load_model(teacher_stem) if train_settings.needs_teacher else None
    measured = RealClips(store, clip["num_frames"], clip["stride"], split=split)
    common = {"dataset": dataset, "method": method, "arch": arch, "protocol": protocol, "variant": variant, "teacher": teacher_arch}
    if condensed_stem is None:
        source = RealClips(store, clip["num_frames"], clip["stride"])
        ipc, lr = None, train_settings.lr
        common.update(ipc=None, num_train=len(source), storage_bytes=None, condensation_ratio=1.0)
    else:
        condensed = load_condensed(condensed_stem)
        meta = condensed.meta
        ipc = int(meta["ipc"])
        lr = condensed.syn_lr if train_settings.use_learned_lr and condensed.syn_lr else train_settings.lr
        source = CondensedClips(condensed, clip["num_frames"])
        common.update(
            ipc=ipc,
            num_train=len(condensed),
            storage_bytes=meta["storage_bytes"],
            condensation_ratio=meta["condensation_ratio"],
            condensed_hash=meta["config_hash"],
        )
    common.update(
        lr=lr, labels=train_settings.labels, loss=train_settings.loss, cutmix=train_settings.cutmix,
        split=split, device=pick_device().type,
    )
    rows = []
    for seed in seeds:
        torch.manual_seed(seed)  # the seed's network starts alike for every set (paired comparisons)
        model = build_model(arch, store.num_classes, clip_shape(store, clip["num_frames"]), **model_options)
        stats = train(model, source, train_settings, ipc=ipc or 1, teacher=teacher, seed=seed, progress=progress, lr=lr)
        metrics = measure_accuracy(model, measured, store.classes)
        print(f"seed {seed}: top-1 {100 * metrics['top1']:.1f}% on {metrics['n_test']} {split} clips, "
              f"{stats['steps']} steps, final loss {stats['final_loss']:.4f}")
        rows.append({
            **common,
            **stats,
            **metrics,
            **provenance({"settings": settings, "models": model_options, "clip": clip, "arch": arch}, seed),
        })
    return rows
