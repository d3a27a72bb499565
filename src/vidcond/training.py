"""Training and testing of a video classifier: the one loop behind teachers and evaluation.

The loop knows nothing about condensation methods: it trains on a *source* of clips (a
condensed set or the real training split) under a fully resolved :class:`TrainSettings`
(optimizer, schedule, batch size, augmentation, label mode, loss, CutMix), then tests on
the real test split with the deterministic centre clip.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .checkpoint import Checkpointer, TrainingState
from .data.framestore import FrameStore
from .data.sampling import center_clip, random_clip, to_clip_tensor

LABEL_MODES = ("hard", "soft", "multi_soft")
LOSSES = ("ce", "kl", "mse_gt", "kd_ce")
SCHEDULES = ("constant", "step", "cosine", "quarter_cosine")


@dataclass(frozen=True)
class TrainSettings:
    optimizer: str = "adamw"  # adamw | sgd
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.01
    decay_matrices_only: bool = True  # weight decay on >1-D weights only (official Video-DC)
    epochs: int = 300
    min_clips: int = 0  # at least this many training clips presented: epochs raised to ceil(min_clips / set size)
    schedule: str = "quarter_cosine"
    milestones: tuple[float, ...] = (0.5,)  # step schedule: fractions of the epochs run
    gamma: float = 0.1
    batch_size: int = 0  # > 0: fixed batch size
    batch_base: int = 10  # batch_size == 0: batch = batch_base * IPC (video study, eq. 3)
    resized_crop: bool = True
    crop_scale: tuple[float, float] = (0.08, 1.0)
    flip: bool = True
    labels: str = "multi_soft"
    loss: str = "mse_gt"
    temperature: float = 1.0
    ce_weight: float = 0.1  # mse_gt = MSE(student, teacher) + ce_weight * CE
    kd_alpha: float = 0.9  # kd_ce = alpha * T^2 * KL + (1 - alpha) * CE
    cutmix: bool = False
    cutmix_beta: float = 1.0
    use_learned_lr: bool = False  # train with the set's learned learning rate if it has one
    use_set_labels: bool = True  # `soft` mode uses the set's own soft labels when present
    # Mixed precision on a GPU: forward passes and losses under autocast, bfloat16 (float16
    # with a GradScaler without bfloat16); weights and optimizer state stay float32. No effect
    # on CPU (see autocast_dtype).
    amp: bool = False

    @classmethod
    def from_dict(cls, options: dict) -> "TrainSettings":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"unknown training settings {unknown}; known: {sorted(known)}")
        opts = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
        settings = cls(**opts)
        settings.check()
        return settings

    def check(self) -> None:
        if self.labels not in LABEL_MODES:
            raise ValueError(f"labels must be one of {LABEL_MODES}, not {self.labels!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, not {self.loss!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, not {self.schedule!r}")
        if self.labels == "hard" and self.loss != "ce":
            raise ValueError(f"loss {self.loss!r} needs teacher logits: use labels soft or multi_soft")

    @property
    def needs_teacher(self) -> bool:
        return self.labels != "hard"

    def to_dict(self) -> dict:
        return asdict(self)

    def epochs_for(self, num_clips: int) -> int:
        """Epochs a run over a set of ``num_clips`` clips takes: ``epochs``, raised until the
        run has presented ``min_clips`` clips. A set of 10 clips at batch 10 makes one step an
        epoch: the papers' epoch counts, scaled down, leave it far from converged."""
        return max(self.epochs, math.ceil(self.min_clips / num_clips))


def lr_factor(settings: TrainSettings, epoch: int, total: int | None = None) -> float:
    """Multiplier of the base learning rate during ``epoch`` (0-based) of ``total`` epochs
    (default ``settings.epochs``): the schedule stretches over the epochs actually run."""
    e, total = epoch, total or settings.epochs
    if settings.schedule == "quarter_cosine":  # official Video-DC/RDED: decays only to 0.5
        return 0.5 * (1 + math.cos(math.pi * e / total / 2))
    if settings.schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * e / total))
    if settings.schedule == "step":
        return settings.gamma ** sum(e >= round(m * total) for m in settings.milestones)
    return 1.0


def make_optimizer(model: torch.nn.Module, settings: TrainSettings, lr: float) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if settings.decay_matrices_only:
        groups = [
            {"params": [p for p in params if p.dim() > 1], "weight_decay": settings.weight_decay},
            {"params": [p for p in params if p.dim() <= 1], "weight_decay": 0.0},
        ]
    else:
        groups = [{"params": params, "weight_decay": settings.weight_decay}]
    if settings.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999))
    if settings.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=settings.momentum)
    raise ValueError(f"unknown optimizer {settings.optimizer!r}; use adamw or sgd")


# ---------------------------------------------------------------- augmentation, losses


def crop_windows(rand: torch.Tensor, h: int, w: int, scale) -> tuple[torch.Tensor, ...]:
    """Per clip (one row of ``rand``: 4 uniform draws) the window of a RandomResizedCrop:
    area share in ``scale``, aspect ratio log-uniform in [3/4, 4/3], uniform position. Int64
    tensors (top, left, height, width); float64 so that the rounding is Python's."""
    r = rand.double()
    area = h * w * (scale[0] + (scale[1] - scale[0]) * r[:, 0])
    aspect = torch.exp(math.log(3 / 4) + (math.log(4 / 3) - math.log(3 / 4)) * r[:, 1])
    ch = torch.sqrt(area / aspect).round().clamp(1, h).long()
    cw = torch.sqrt(area * aspect).round().clamp(1, w).long()
    return (r[:, 2] * (h - ch + 1)).long(), (r[:, 3] * (w - cw + 1)).long(), ch, cw


def _grid_coordinates(start: torch.Tensor, size: torch.Tensor, out: int) -> torch.Tensor:
    """grid_sample coordinates ([b, out], in [-1, 1] of the full side ``out``) of resizing the
    window [start, start + size) to ``out`` pixels as F.interpolate(bilinear,
    align_corners=False) does on the cropped window: source pixel (i + 0.5) * size / out - 0.5,
    clamped to the window (its clamps at 0 and at the last pixel)."""
    size = size.double()[:, None]
    pixel = ((torch.arange(out, dtype=torch.float64) + 0.5) * (size / out) - 0.5).clamp(min=0)
    pixel = start.double()[:, None] + torch.minimum(pixel, size - 1)
    return (2 * pixel + 1) / out - 1


def resize_windows(clips: torch.Tensor, windows, flips: torch.Tensor | None = None) -> torch.Tensor:
    """Each clip's window (top, left, height, width tensors; the same on every frame) resized
    back to H x W bilinearly, mirrored where ``flips``: the whole batch in one grid_sample
    (frames and channels share their clip's grid; a mirror is its grid's columns reversed)."""
    b, t, c, h, w = clips.shape
    top, left, ch, cw = windows
    y, x = _grid_coordinates(top, ch, h), _grid_coordinates(left, cw, w)
    if flips is not None:
        x = torch.where(flips[:, None], x.flip(1), x)
    grid = torch.empty(b, h, w, 2, dtype=clips.dtype, device=clips.device)
    grid[..., 0] = x.to(grid)[:, None, :]
    grid[..., 1] = y.to(grid)[:, :, None]
    planes = clips.reshape(b, t * c, h, w)
    out = F.grid_sample(planes, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.view(b, t, c, h, w)


def random_resized_crop(clips: torch.Tensor, scale, generator: torch.Generator) -> torch.Tensor:
    """One RandomResizedCrop per clip (same window on every frame), resized back to H x W."""
    b, _, _, h, w = clips.shape
    return resize_windows(clips, crop_windows(torch.rand(b, 4, generator=generator), h, w, scale))


def augment(clips: torch.Tensor, settings: TrainSettings, generator: torch.Generator) -> torch.Tensor:
    """RandomResizedCrop, then a horizontal flip with probability 1/2, per clip (the crop's
    draws first); with both, the flip is folded into the crop's resampling."""
    b, _, _, h, w = clips.shape
    windows = None
    if settings.resized_crop:
        windows = crop_windows(torch.rand(b, 4, generator=generator), h, w, settings.crop_scale)
    flips = torch.rand(b, generator=generator) < 0.5 if settings.flip else None
    if windows is not None:
        return resize_windows(clips, windows, flips)
    if flips is not None:
        return torch.where(flips.view(-1, 1, 1, 1, 1).to(clips.device), clips.flip(-1), clips)
    return clips


def cutmix(clips: torch.Tensor, beta: float, rng: np.random.Generator):
    """CutMix on whole clips (one box on every frame): (mixed clips, permutation, share of
    the original clip left in the mix)."""
    b, _, _, h, w = clips.shape
    lam = rng.beta(beta, beta)
    perm = torch.as_tensor(rng.permutation(b), device=clips.device)
    cut_h, cut_w = int(h * math.sqrt(1 - lam)), int(w * math.sqrt(1 - lam))
    cy, cx = rng.integers(h), rng.integers(w)
    y0, y1 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, h)
    x0, x1 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, w)
    mixed = clips.clone()
    mixed[..., y0:y1, x0:x1] = clips[perm][..., y0:y1, x0:x1]
    return mixed, perm, 1 - (y1 - y0) * (x1 - x0) / (h * w)


def compute_loss(settings: TrainSettings, logits, hard_target, teacher_logits=None) -> torch.Tensor:
    """``hard_target`` is class indices or (under CutMix) class probabilities."""
    tau = settings.temperature
    if settings.loss == "ce":
        return F.cross_entropy(logits, hard_target)
    if settings.loss == "kl":
        return F.kl_div(F.log_softmax(logits / tau, 1), F.softmax(teacher_logits / tau, 1), reduction="batchmean")
    if settings.loss == "mse_gt":
        return F.mse_loss(logits, teacher_logits) + settings.ce_weight * F.cross_entropy(logits, hard_target)
    kl = F.kl_div(F.log_softmax(logits / tau, 1), F.softmax(teacher_logits / tau, 1), reduction="batchmean")
    return settings.kd_alpha * tau**2 * kl + (1 - settings.kd_alpha) * F.cross_entropy(logits, hard_target)


# ---------------------------------------------------------------- training sources


class RealClips:
    """The real training split with uniform dynamic sampling (a new random clip per epoch)."""

    def __init__(self, store: FrameStore, num_frames: int, stride: int, split: str = "train"):
        self.store, self.num_frames, self.stride = store, num_frames, stride
        self.videos = store.videos(split)
        self.labels = torch.tensor(self.videos["label"].to_numpy(), dtype=torch.long)
        # numpy columns: per-row pandas lookups cost ~10 us each
        self.offsets, self.lengths = self.videos["offset"].to_numpy(np.int64), self.videos["n_stored"].to_numpy(np.int64)

    def __len__(self) -> int:
        return len(self.videos)

    def clips(self, indices: np.ndarray, rng: np.random.Generator | None) -> torch.Tensor:
        """Clips of the given videos: random (with ``rng``) or centred."""
        picks = [
            random_clip(int(n), self.num_frames, self.stride, rng) if rng else center_clip(int(n), self.num_frames, self.stride)
            for n in self.lengths[indices]
        ]
        return to_clip_tensor(self.store.frames[self.offsets[indices, None] + np.stack(picks)])

    def epoch(self, batch_size: int, rng: np.random.Generator, generator: torch.Generator):
        order = rng.permutation(len(self))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            yield self.clips(idx, rng), self.labels[idx], None


class CondensedClips:
    """A condensed set: drawn once per epoch (factorised sets re-pair, long clips re-window)."""

    def __init__(self, condensed, num_frames: int):
        self.condensed, self.num_frames = condensed, num_frames
        self.labels = condensed.labels.long()
        self.soft = condensed.soft_labels
        # What the set's soft labels are: teacher logits (default); `learned_logits` learned
        # with the set (DATM: its protocol trains on them in place of a teacher's, as Video-DC
        # does, also in multi_soft mode); `regression_targets` (FRePo: its network trains on
        # them by MSE, they are not logits). An EDC set is relabelled on every augmented view.
        self.soft_kind = condensed.meta.get("soft_label_kind", "logits")
        self.relabel_per_view = condensed.meta.get("relabel") == "per_view"
        # a set drawn alike every epoch is drawn (converted to float) once
        self.fixed_clips = condensed.draw(num_frames) if condensed.draws_alike(num_frames) else None

    def __len__(self) -> int:
        return len(self.condensed)

    def epoch(self, batch_size: int, rng: np.random.Generator, generator: torch.Generator):
        clips = self.fixed_clips if self.fixed_clips is not None else self.condensed.draw(self.num_frames, generator)
        order = torch.as_tensor(rng.permutation(len(self)))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            yield clips[idx], self.labels[idx], idx


# ---------------------------------------------------------------- train / test


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """Mixed precision's dtype on ``device``: bfloat16 on GPUs that have it, else float16; None
    (full precision) on CPU, where torch 2.13's bfloat16 3D convolutions give NaN gradients (an
    evaluation of the embedded default under CPU autocast ended at a NaN loss and chance)."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@contextmanager
def cudnn_autotuned(device: torch.device):
    """cuDNN times its convolution algorithms on the first batch of each shape and keeps the
    fastest: a training run's clip shape is fixed. The previous setting is restored after."""
    if device.type != "cuda":
        yield
        return
    previous, torch.backends.cudnn.benchmark = torch.backends.cudnn.benchmark, True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous


def train(
    model: torch.nn.Module,
    source,
    settings: TrainSettings,
    *,
    ipc: int = 1,
    teacher: torch.nn.Module | None = None,
    seed: int = 0,
    device: torch.device | None = None,
    progress: bool = True,
    lr: float | None = None,
    checkpointer: Checkpointer | None = None,
) -> dict:
    """Train ``model`` in place on ``source``; returns training statistics.

    With a ``checkpointer`` the state (weights, optimizer, schedule, random generators) is
    saved every ``checkpointer.every`` epochs and on SIGTERM, and a rerun resumes from it
    (``train_seconds`` then counts the resumed run only)."""
    device = device or pick_device()
    torch.manual_seed(seed)
    rng, generator = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    if settings.needs_teacher and teacher is None:
        raise ValueError(f"label mode {settings.labels!r} needs a teacher")
    model.to(device).train()
    if teacher is not None:
        teacher.to(device).eval()
    batch_size = min(settings.batch_size or settings.batch_base * ipc, len(source))
    epochs_total = settings.epochs_for(len(source))
    optimizer = make_optimizer(model, settings, lr or settings.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: lr_factor(settings, e, epochs_total))
    static_soft = _static_soft_labels(source, settings, teacher, device)
    # the teacher labels every augmented batch afresh: multi_soft, or soft on a set relabelled per view
    per_batch_soft = static_soft is None and (
        settings.labels == "multi_soft" or (settings.labels == "soft" and getattr(source, "relabel_per_view", False))
    )
    amp_dtype = autocast_dtype(device) if settings.amp else None
    # float16 gradients underflow without loss scaling; bfloat16 has float32's range
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    steps, started, last_loss = 0, time.perf_counter(), float("nan")
    # float16's loss scale resumes where it was, not at 2**16 again (bfloat16 and CPU have none)
    scaled = {"scaler": scaler} if scaler.is_enabled() else {}
    state = TrainingState(model=model, optimizer=optimizer, schedule=schedule, rng=rng, generator=generator, **scaled)
    start = 0
    if checkpointer:
        start, saved = checkpointer.resume(state, {"steps": steps, "final_loss": last_loss})
        steps, last_loss = saved["steps"], saved["final_loss"]
    epochs = range(start, epochs_total)
    bar = tqdm(epochs, initial=start, total=epochs_total, desc="train", disable=not progress, mininterval=5)
    with checkpointer.handle_sigterm() if checkpointer else nullcontext(), cudnn_autotuned(device):
        for epoch in bar:
            for clips, hard, index in source.epoch(batch_size, rng, generator):
                clips, hard = clips.to(device), hard.to(device)
                clips = augment(clips, settings, generator)
                soft = None if static_soft is None else static_soft[index].to(device)
                if settings.cutmix:
                    clips, perm, lam = cutmix(clips, settings.cutmix_beta, rng)
                with torch.autocast(device.type, dtype=amp_dtype) if amp_dtype else nullcontext():
                    if per_batch_soft:
                        with torch.no_grad():
                            soft = teacher(clips)
                    logits = model(clips)
                    target = hard
                    if settings.cutmix:
                        k = logits.shape[1]
                        target = lam * F.one_hot(hard, k).float() + (1 - lam) * F.one_hot(hard[perm], k).float()
                        if static_soft is not None:
                            soft = lam * soft + (1 - lam) * soft[perm]
                    loss = compute_loss(settings, logits, target, soft)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                steps, step_loss = steps + 1, loss.detach()
            last_loss = step_loss.item()  # once an epoch: on a GPU .item() waits for the step
            schedule.step()
            bar.set_postfix(loss=f"{last_loss:.4f}", refresh=False)
            if checkpointer:
                checkpointer.step(epoch + 1, state, {"steps": steps, "final_loss": last_loss})
    return {
        "train_seconds": time.perf_counter() - started,
        "steps": steps,
        "epochs_run": epochs_total,
        "final_loss": last_loss,
        "batch_size": batch_size,
    }


def _static_soft_labels(source, settings: TrainSettings, teacher, device) -> torch.Tensor | None:
    """`soft` labels: the set's own soft labels, or the teacher's logits on each
    un-augmented clip computed once (a static soft label per clip); None for a set
    relabelled per augmented view. In `multi_soft` mode, a set's learned logits (DATM)
    replace the teacher's per-batch labels. A set's regression targets (FRePo) serve as labels only
    for the loss that regresses on them (``mse_gt``); the losses that read logits (``kl``,
    ``kd_ce``) take the teacher's instead."""
    learned = getattr(source, "soft_kind", None) == "learned_logits" and settings.use_set_labels
    if settings.labels == "multi_soft" and learned and source.soft is not None:
        return source.soft.float()
    if settings.labels != "soft":
        return None
    if not isinstance(source, CondensedClips):
        raise ValueError("label mode `soft` applies to condensed sets; train on real clips with hard or multi_soft")
    if source.relabel_per_view:
        return None
    usable = source.soft_kind == "logits" or settings.loss == "mse_gt"
    if source.soft is not None and settings.use_set_labels and usable:
        return source.soft.float()
    clips = source.condensed.draw(source.num_frames, None)
    with torch.no_grad():
        return torch.cat([teacher(clips[i : i + 64].to(device)).cpu() for i in range(0, len(clips), 64)])


@torch.no_grad()
def measure_accuracy(model: torch.nn.Module, real: RealClips, classes, batch_size: int = 64, device=None) -> dict:
    """Top-1/top-5 (fractions) on centre clips of ``real``'s split, top-1 per class group,
    and the number of clips ``n_test``."""
    device = device or pick_device()
    model.to(device).eval()
    logits = []
    for start in range(0, len(real), batch_size):
        idx = np.arange(start, min(start + batch_size, len(real)))
        logits.append(model(real.clips(idx, None).to(device)).float().cpu())
    logits = torch.cat(logits)
    labels = real.labels
    top5 = logits.topk(min(5, logits.shape[1]), dim=1).indices
    correct1 = top5[:, 0] == labels
    metrics = {
        "top1": correct1.float().mean().item(),
        "top5": (top5 == labels[:, None]).any(1).float().mean().item(),
        "n_test": len(labels),
    }
    groups = classes.set_index("label")["group"]
    for group in ("static", "dynamic"):
        in_group = torch.as_tensor(groups.reindex(labels.numpy()).to_numpy() == group)
        metrics[f"top1_{group}"] = correct1[in_group].float().mean().item() if in_group.any() else float("nan")
    return metrics
