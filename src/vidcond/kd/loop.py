"""Training a student from a teacher: vanilla KD, SAKD, or the student alone.

One epoch of vanilla KD trains on every training video (a new random clip each epoch,
augmented as the evaluator does) with ``ce_weight * CE + kd_weight * L_kd`` per clip (the
KD method's own weights).
SAKD first runs a *scoring pass* every ``every`` epochs: every training clip, interrupted
(:func:`~vidcond.kd.sakd.interrupt`), goes through the student and the teacher (no
gradients) to give ``L~kd`` and the teacher's features; the state folds them in, and the
greedy DPP picks ``ratio * N`` easy and diverse clips. The epochs until the next scoring
pass train on those clips only, with ``(1 - alpha_i) CE + alpha_i L_kd`` per clip, the
paper's eq. (9) (``ce_weight`` and ``kd_weight`` are vanilla's only).
Training time counts the scoring passes.

The training clips themselves are not interrupted: the interruption only serves to judge
the difficulty (the paper feeds the interrupted clips to the difficulty module).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..checkpoint import Checkpointer, TrainingState
from ..data.framestore import FrameStore
from ..models import build_model, load_model
from ..pretrain.student import load_pretrained_backbone
from ..training import RealClips, TrainSettings, augment, lr_factor, make_optimizer, measure_accuracy, pick_device
from ..workflow import provenance
from .dpp import select_easy_diverse
from .losses import CurriculumTemperatureKD, Distiller, build_distiller, sakd_loss, vanilla_loss
from .sakd import SakdSettings, SakdState, interrupt, interruption_rate

log = logging.getLogger(__name__)

LOSS_WEIGHTS = ("ce_weight", "kd_weight")


def logits_and_features(model: nn.Module, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One forward pass giving the logits and the pooled embedding ``[B, C]``."""
    h = model.embed(model.normalise(clips))
    logits = model.head(h)
    return logits, (h.flatten(2).mean(2) if h.dim() > 2 else h)


@torch.no_grad()
def _embedding_dim(model: nn.Module, clip_shape, device) -> int:
    was_training = model.training
    model.eval()
    dim = logits_and_features(model, torch.zeros(1, *clip_shape, device=device))[1].shape[1]
    model.train(was_training)
    return int(dim)


@torch.no_grad()
def _score(student, teacher, distiller: Distiller, source: RealClips, beta: float, sakd: SakdSettings, rng, generator, device):
    """The scoring pass: ``L~kd`` and teacher features of every training clip, interrupted."""
    student.eval()
    n = len(source)
    losses, features = torch.empty(n), None
    order = rng.permutation(n)
    for start in range(0, n, sakd.score_batch):
        idx = order[start : start + sakd.score_batch]
        clips, _ = interrupt(source.clips(idx, rng).to(device), beta, sakd.eta, generator)
        s_logits, s_features = logits_and_features(student, clips)
        t_logits, t_features = logits_and_features(teacher, clips)
        loss = distiller.per_sample(s_logits, s_features, t_logits, t_features, source.labels[idx].to(device))
        if features is None:
            features = torch.empty(n, t_features.shape[1])
        losses[idx], features[idx] = loss.float().cpu(), t_features.float().cpu()
    student.train()
    return losses, features


def train_student(
    student: nn.Module,
    source: RealClips,
    settings: TrainSettings,
    *,
    teacher: nn.Module | None = None,
    method: str | None = None,
    method_options: dict | None = None,
    sakd: SakdSettings | None = None,
    seed: int = 0,
    device: torch.device | None = None,
    work_dir=None,
    progress: bool = True,
) -> dict:
    """Train ``student`` in place; returns training statistics.

    ``method`` None trains the student alone (CE). ``method_options`` holds the loss weights
    (``ce_weight``, ``kd_weight``) and the distiller's own options. With ``sakd`` the SAKD
    plug-in selects and weights the clips. ``work_dir`` keeps a checkpoint per epoch.
    """
    if (method is None) != (teacher is None):
        raise ValueError("a KD method needs a teacher, and the student alone takes none")
    if sakd is not None and method is None:
        raise ValueError("SAKD needs a KD method")
    device = device or pick_device()
    torch.manual_seed(seed)
    rng, generator = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    student.to(device).train()
    options = dict(method_options or {})
    ce_weight, kd_weight = (float(options.pop(k, 1.0)) for k in LOSS_WEIGHTS)
    distiller = None
    if method is not None:
        teacher.to(device).eval()
        clip_shape = (source.num_frames, 3, *source.store.frame_size)
        distiller = build_distiller(
            method, options, _embedding_dim(student, clip_shape, device), _embedding_dim(teacher, clip_shape, device)
        ).to(device)
    trainable = nn.ModuleDict({"student": student, **({"distiller": distiller} if distiller is not None else {})})
    optimizer = make_optimizer(trainable, settings, settings.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: lr_factor(settings, e))
    n = len(source)
    state = SakdState(n) if sakd else None
    stats = {"train_seconds": 0.0, "score_seconds": 0.0, "steps": 0, "clips_trained": 0, "selections": 0, "dpp_shortfall": 0, "final_loss": float("nan")}

    checkpointer = Checkpointer(work_dir, every=1, unit="epoch")
    objects = {"modules": trainable, "optimizer": optimizer, "schedule": schedule, "rng": rng, "generator": generator}
    training_state = TrainingState(**objects, **({"sakd": state} if state is not None else {}))
    start, stats = checkpointer.resume(training_state, stats)

    batch_size = settings.batch_size or settings.batch_base
    with checkpointer.handle_sigterm():
        bar = tqdm(range(start, settings.epochs), initial=start, total=settings.epochs, desc=method or "student", disable=not progress, mininterval=5)
        for epoch in bar:
            began = time.perf_counter()
            if distiller is not None:
                distiller.set_epoch(epoch + 1)
            if state is not None and epoch % sakd.every == 0:
                beta = interruption_rate(epoch + 1, settings.epochs, sakd.theta)
                losses, features = _score(student, teacher, distiller, source, beta, sakd, rng, generator, device)
                ease = state.update(losses, features, beta, sakd)
                chosen, from_dpp = select_easy_diverse(state.fused.numpy(), ease.numpy(), max(1, round(sakd.ratio * n)), sakd.gamma, sakd.jitter)
                state.mark_selected(torch.as_tensor(chosen))
                stats["selections"] += 1
                stats["dpp_shortfall"] += len(chosen) - from_dpp
                stats["score_seconds"] += time.perf_counter() - began
            pool = state.selected.numpy() if state is not None else np.arange(n)
            order = rng.permutation(pool)
            for first in range(0, len(order), batch_size):
                idx = order[first : first + batch_size]
                clips = augment(source.clips(idx, rng).to(device), settings, generator)
                labels = source.labels[idx].to(device)
                logits, features = logits_and_features(student, clips)
                ce = F.cross_entropy(logits, labels, reduction="none")
                if distiller is None:
                    loss = ce.mean()
                else:
                    with torch.no_grad():
                        t_logits, t_features = logits_and_features(teacher, clips)
                    kd = distiller.per_sample(logits, features, t_logits, t_features, labels)
                    if state is None:
                        loss = vanilla_loss(ce, kd, ce_weight, kd_weight)
                    else:
                        loss = sakd_loss(ce, kd, state.strength[idx].to(device=device, dtype=ce.dtype))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                stats["steps"] += 1
                stats["clips_trained"] += len(idx)
                stats["final_loss"] = loss.item()
            schedule.step()
            stats["train_seconds"] += time.perf_counter() - began
            bar.set_postfix(loss=f"{stats['final_loss']:.4f}", refresh=False)
            checkpointer.step(epoch + 1, training_state, stats)
    if state is not None:
        stats["mean_strength"] = float(state.strength.mean())
        stats["mean_selected_strength"] = float(state.strength[state.selected].mean())
        if stats["dpp_shortfall"]:
            log.warning("the greedy DPP fell short by %d samples in total", stats["dpp_shortfall"])
    if isinstance(distiller, CurriculumTemperatureKD):
        stats["final_temperature"] = float(distiller.temperature().detach())
    return stats


def kd_row(
    *,
    store_dir,
    teacher_stem,
    dataset: str,
    teacher_name: str,
    student_name: str,
    student_options: dict,
    method: str,
    mode: str,
    setting: str,
    seed: int,
    training: dict,
    method_options: dict,
    sakd: dict | None,
    clip: dict,
    student_stem=None,
    split: str = "test",
    work_dir=None,
    progress: bool = True,
) -> dict:
    """Train one student (``method`` ``none``: alone) and return its row of the KD table.
    With ``student_stem`` the student starts from that pretrained student's backbone
    (:func:`vidcond.pretrain.student.load_pretrained_backbone`), else from scratch. Accuracy is
    measured on ``split`` (``test`` for the table, ``val`` for choosing settings)."""
    store = FrameStore(store_dir)
    settings = TrainSettings.from_dict(training)
    sakd_settings = SakdSettings.from_dict(sakd) if sakd else None
    shape = (clip["num_frames"], 3, *store.frame_size)
    torch.manual_seed(seed)
    student = build_model(student_name, store.num_classes, shape, **student_options)
    pretrained = json.loads(Path(student_stem).with_suffix(".json").read_text()) if student_stem else None
    if student_stem:
        load_pretrained_backbone(student, student_stem)
    distilling = method != "none"
    teacher = None
    if distilling:
        spec = json.loads(Path(teacher_stem).with_suffix(".json").read_text())
        if list(spec["clip_shape"]) != list(shape) or spec["num_classes"] != store.num_classes:
            raise ValueError(
                f"teacher {teacher_stem} was trained on clips {spec['clip_shape']} with {spec['num_classes']} "
                f"classes; this dataset has clips {list(shape)} and {store.num_classes} classes"
            )
        teacher = load_model(teacher_stem)
    source = RealClips(store, clip["num_frames"], clip["stride"])
    stats = train_student(
        student,
        source,
        settings,
        teacher=teacher,
        method=method if distilling else None,
        method_options=method_options,
        sakd=sakd_settings,
        seed=seed,
        work_dir=work_dir,
        progress=progress,
    )
    metrics = measure_accuracy(student, RealClips(store, clip["num_frames"], clip["stride"], split=split), store.classes)
    row = {
        "dataset": dataset,
        "teacher": teacher_name if distilling else None,
        "student": student_name,
        "method": method,
        "mode": mode,
        "setting": setting,
        "start": "pretrained" if pretrained else "scratch",
        "pretrain_seconds": pretrained["pretrain_seconds"] if pretrained else 0.0,
        "ratio": sakd_settings.ratio if sakd_settings else 1.0,
        "every": sakd_settings.every if sakd_settings else None,
        "eta": sakd_settings.eta if sakd_settings else None,
        "lam": sakd_settings.lam if sakd_settings else None,
        "gamma": sakd_settings.gamma if sakd_settings else None,
        "epochs": settings.epochs,
        "num_train": len(source),
        "split": split,
        "device": pick_device().type,
        **stats,
        **metrics,
        **provenance(
            {"training": training, "method": method_options, "sakd": sakd, "student": student_options, "teacher": teacher_name, "clip": clip,
             "start": "pretrained" if pretrained else "scratch"},
            seed,
        ),
    }
    return row
