"""Shared pieces of the optimisation-based (distillation) methods.

* :class:`RealSampler` draws per-class batches of real clips (or single frames);
* :func:`init_synthetic` builds the learnable synthetic videos, from real clips or noise;
* :class:`DistillLoop` runs the iterations with a progress bar showing the matching loss,
  checkpoints every K iterations (and on SIGTERM) and resumes from the last checkpoint,
  restoring every tensor, module, optimizer and random generator so that a resumed run
  ends exactly where an uninterrupted one would;
* :class:`MatchingObjective` is a method's loss on a batch of synthetic videos, and
  :func:`distill_videos` optimises a learnable video tensor under one;
* :class:`DistillationMethod` is the one ``condense()`` of the methods optimising videos
  under an objective (seed, objective, initial videos, :func:`distill_videos`, float16
  output); :class:`DistillParams` and :class:`TemporalParams` their shared hyperparameters;
* :class:`SlideWindow` is Video-DC's slide-window condensation (Sec. 3.1): learnable videos
  of ``syn_frames`` frames, longer than the clip, of which the objective sees a random
  clip-length window each iteration (:class:`WindowParams`);
* :class:`Temporal` is the temporal taxonomy of "Dancing with Still Images" (Sec. 3.2):
  ``n_syn`` learnable frames interpolated to the clip length, ``n_real`` real frames,
  ``segments`` matched pairwise.
"""

from __future__ import annotations

import dataclasses
import json
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Literal

import numpy as np
import torch
from tqdm import tqdm

from ..checkpoint import Checkpointer, TrainingState
from ..condensed import INTERPOLATIONS, duplicate_frames, interpolate_frames
from ..data.sampling import PIXEL_RANGE, evenly_spaced_frames, evenly_spaced_positions, random_clip, to_clip_tensor
from .base import Condensed, CondenseContext, Method, Params, param
from .random import random_real_clips


@dataclass(frozen=True, kw_only=True)
class DistillParams(Params):
    """The distillation loop's options, shared by every optimisation-based method."""

    iterations: int = param(100, "optimisation iterations", minimum=0)
    checkpoint_every: int = param(50, "iterations between checkpoints (resume point)", minimum=1)


@dataclass(frozen=True, kw_only=True)
class InitParams(DistillParams):
    init: Literal["real", "noise"] = param("real", "initial synthetic videos: random real clips or noise")


@dataclass(frozen=True, kw_only=True)
class TemporalParams(Params):
    """The temporal taxonomy options (:class:`Temporal`)."""

    n_syn: int = param(0, "learnable frames per synthetic video (0 = the clip length)", minimum=0)
    n_real: int = param(0, "evenly spaced frames kept of each real clip (0 = the clip length)", minimum=0)
    segments: int = param(1, "time segments matched pairwise (must divide n_real and the clip length)", minimum=1)
    interpolation: Literal["duplicate", "linear", "parametric"] = param(
        "duplicate", "n_syn frames to the clip length (parametric: the trained interpolator)"
    )


@dataclass(frozen=True, kw_only=True)
class WindowParams(Params):
    """Slide-window condensation (Video-DC, Sec. 3.1), for the methods optimising videos
    through :class:`DistillationMethod`'s loop."""

    syn_frames: int = param(
        0,
        "frames per learnable video (0 = the clip length); longer: each iteration the objective sees a random clip-length window of each, as the evaluator does",
        minimum=0,
    )


def window_frames(params: Params, clip_frames: int) -> int:
    """Frames per learnable video: ``syn_frames`` (0, or a method without the option: the
    clip length); ValueError when shorter than the clip."""
    frames = getattr(params, "syn_frames", 0) or clip_frames
    if frames < clip_frames:
        raise ValueError(f"syn_frames {frames} is shorter than the clip ({clip_frames} frames); use 0 or at least {clip_frames}")
    return frames


class SlideWindow:
    """A random window of ``num_frames`` consecutive frames of each video per call, its
    start drawn uniformly from ``rng`` (numpy; checkpointed with the loop's state). The
    evaluator samples the stored long videos alike (:meth:`CondensedSet.draw`)."""

    def __init__(self, num_frames: int, rng: np.random.Generator):
        self.num_frames, self.rng = num_frames, rng

    def __call__(self, videos: torch.Tensor) -> torch.Tensor:
        """[N, T, C, H, W] with T >= num_frames -> [N, num_frames, C, H, W] (differentiable)."""
        starts = self.rng.integers(0, videos.shape[1] - self.num_frames + 1, size=len(videos))
        index = torch.from_numpy(starts)[:, None] + torch.arange(self.num_frames)
        rows = torch.arange(len(videos))[:, None]
        return videos[rows.to(videos.device), index.to(videos.device)]


def centred_window(videos: torch.Tensor, num_frames: int) -> torch.Tensor:
    """The centred ``num_frames`` window of each video [N, T, ...] (the evaluator's
    deterministic window, :meth:`CondensedSet.draw` without a generator)."""
    start = (videos.shape[1] - num_frames) // 2
    return videos[:, start : start + num_frames]


class RealSampler:
    """Random real clips of one class, from the training split of the frame store.

    Clips come out in the frame store's pixel-interleaved layout (``to_clip_tensor``: a
    channels-last 3D tensor once a model moves time after the channels), which the
    convolutions run fastest on; keep it by not concatenating batches.
    """

    def __init__(self, ctx: CondenseContext):
        self.ctx = ctx
        videos = ctx.train_videos
        self.by_class = [videos[videos["label"] == c].reset_index(drop=True) for c in range(ctx.num_classes)]
        # numpy columns: per-row pandas lookups cost ~50 ms an iteration at 10 x 64 clips
        self._offsets = [v["offset"].to_numpy(np.int64) for v in self.by_class]
        self._lengths = [v["n_stored"].to_numpy(np.int64) for v in self.by_class]

    def clips(
        self,
        label: int,
        n: int,
        rng: np.random.Generator,
        num_frames: int | None = None,
        keep: np.ndarray | None = None,
    ) -> torch.Tensor:
        """``n`` clips of class ``label`` (videos drawn with replacement only when the class
        has fewer than ``n``), float [n, T, C, H, W] on the context's device. ``keep``: the
        positions in the clip to return (e.g. :meth:`Temporal.real_positions`), all by default."""
        offsets, lengths = self._offsets[label], self._lengths[label]
        rows = rng.choice(len(offsets), n, replace=n > len(offsets))
        num_frames = num_frames or self.ctx.clip["num_frames"]
        stride = self.ctx.clip["stride"]
        picks = np.stack([random_clip(int(lengths[r]), num_frames, stride, rng) for r in rows])
        if keep is not None:
            picks = picks[:, keep]
        return to_clip_tensor(self.ctx.store.frames[offsets[rows, None] + picks]).to(self.ctx.device)

    def frames(self, label: int, n: int, rng: np.random.Generator) -> torch.Tensor:
        """``n`` single frames of class ``label`` (a random frame of a random video), [n, C, H, W]."""
        return self.clips(label, n, rng, num_frames=1)[:, 0]

def init_synthetic(ctx: CondenseContext, init: str, rng: np.random.Generator, num_frames: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Learnable synthetic videos [K * IPC, T, C, H, W] (class-major) and their labels.

    ``init="real"`` starts from distinct random real clips of each class, drawn as the
    `random` method draws its set: with the job's ``ctx.rng()`` they are that set's clips
    (``num_frames`` < the clip length keeps evenly spaced frames of them), so that a
    method's paired difference to `random` measures what the distillation changed rather
    than which clips were drawn; ``"noise"`` from Gaussian noise around mid-grey.
    """
    num_frames = num_frames or ctx.clip["num_frames"]
    labels = torch.arange(ctx.num_classes).repeat_interleave(ctx.ipc)
    if init == "real":
        clips, _ = random_real_clips(ctx, rng)
        data = evenly_spaced_frames(clips, num_frames).to(ctx.device)
    elif init == "noise":
        shape = (len(labels), num_frames, 3, *ctx.store.frame_size)
        data = 0.5 + 0.2 * torch.from_numpy(rng.standard_normal(shape).astype(np.float32)).to(ctx.device)
    else:
        raise ValueError(f"unknown init {init!r}; use real or noise")
    return data.detach().clone().requires_grad_(True), labels.to(ctx.device)


class DistillLoop:
    """Iterate ``step(iteration) -> loss`` with checkpoint/resume.

    ``state`` names everything that changes across iterations: tensors (updated in place),
    ``nn.Module``s, optimizers and random generators (a :class:`TrainingState`, which adds
    the global torch random state).
    """

    def __init__(self, ctx: CondenseContext, iterations: int, state: dict[str, Any], checkpoint_every: int = 50, desc: str = "distill"):
        self.ctx, self.iterations, self.desc = ctx, int(iterations), desc
        self.state = TrainingState(**state)
        self.checkpointer = Checkpointer(ctx.work_dir, checkpoint_every, unit="iteration")
        self.losses: list[float] = []
        self.seconds_per_iteration: float | None = None  # of the iterations run by this process

    def run(self, step: Callable[[int], float]) -> list[float]:
        start, extra = self.checkpointer.resume(self.state, {"losses": []})
        self.losses = list(extra["losses"])
        with self.checkpointer.handle_sigterm():
            bar = tqdm(range(start, self.iterations), initial=start, total=self.iterations, desc=self.desc, disable=not self.ctx.progress, mininterval=5)
            started = time.perf_counter()
            for iteration in bar:
                loss = float(step(iteration))
                self.losses.append(loss)
                bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
                self.checkpointer.step(iteration + 1, self.state, {"losses": self.losses})
            if self.iterations > start:
                self.seconds_per_iteration = (time.perf_counter() - started) / (self.iterations - start)
        return self.losses


class MatchingObjective(ABC):
    """The loss of a distillation method on a batch of synthetic videos.

    Separating the loss from how the videos are parametrised lets one objective serve a
    base method (the videos are a learnable tensor, :func:`distill_videos`) and its
    static/dynamic "+SD" form (the videos are decoded from static frames, dynamic memories
    and an integrator network each iteration).
    """

    def __init__(self, ctx: CondenseContext, rng: np.random.Generator):
        self.ctx, self.rng = ctx, rng

    @abstractmethod
    def loss(self, videos: torch.Tensor, labels: torch.Tensor, iteration: int) -> torch.Tensor:
        """Scalar matching loss of ``videos`` [N, T, C, H, W] (class-major, with grad) of ``labels`` [N]."""

    def param_groups(self) -> list[dict]:
        """Optimizer groups of the objective's own learnable tensors (learned lr, labels)."""
        return []

    def state(self) -> dict[str, Any]:
        """What changes across iterations besides the videos, for checkpoints (modules,
        optimizers, tensors, numpy generators)."""
        return {"objective_rng": self.rng}

    def outputs(self) -> dict[str, torch.Tensor]:
        """Tensors the condensed set stores besides the videos (``syn_lr``, ``soft_labels``)."""
        return {}

    def output_meta(self) -> dict:
        """Sidecar entries that say what the outputs are (e.g. ``soft_label_kind``)."""
        return {}


def distill_videos(ctx: CondenseContext, objective: MatchingObjective, videos: torch.Tensor, labels: torch.Tensor, *, iterations: int, lr: float, optimizer: str = "sgd", momentum: float = 0.5, checkpoint_every: int = 50, desc: str = "distill", expand: Callable[[torch.Tensor], torch.Tensor] | None = None, window: SlideWindow | None = None, stats: dict | None = None) -> list[float]:
    """Optimise the learnable ``videos`` (updated in place) under ``objective``; the
    objective's own learnable tensors join the same optimizer with their group settings.
    After every step the pixels are clamped to :data:`PIXEL_RANGE` (the set stays a
    video of valid pixels, as EDC's and DC's official loops keep theirs).
    ``expand`` maps the learnable tensor to the clips the objective sees (e.g.
    :meth:`Temporal.expand` for ``n_syn`` frames); ``window`` first cuts a random
    clip-length window of each longer video (slide-window condensation; its generator is
    part of the checkpointed state). Returns the losses; ``stats``, when
    given, receives ``seconds_per_iteration`` of the iterations this process ran."""
    groups = [{"params": [videos], "lr": lr}, *objective.param_groups()]
    learnable = [p for group in groups for p in group["params"]]
    if optimizer == "sgd":
        opt = torch.optim.SGD(groups, lr=lr, momentum=momentum)
    elif optimizer == "adam":
        opt = torch.optim.Adam(groups, lr=lr)
    else:
        raise ValueError(f"unknown optimizer {optimizer!r}; use sgd or adam")

    def step(iteration: int) -> float:
        clips = videos if window is None else window(videos)
        loss = objective.loss(clips if expand is None else expand(clips), labels, iteration)
        opt.zero_grad(set_to_none=True)
        # Only towards what is optimised: e.g. MTT's start parameters need no gradient.
        loss.backward(inputs=learnable)
        opt.step()
        with torch.no_grad():
            videos.clamp_(*PIXEL_RANGE)
        return loss.item()

    state = {"videos": videos, "optimizer": opt, **objective.state()}
    if window is not None:
        state["window_rng"] = window.rng
    loop = DistillLoop(ctx, iterations, state, checkpoint_every, desc)
    losses = loop.run(step)
    if stats is not None:
        stats["seconds_per_iteration"] = loop.seconds_per_iteration
    return losses


@dataclass(frozen=True)
class Temporal:
    """How synthetic and real clips meet in time ("Dancing with Still Images", Sec. 3.2).

    ``n_syn`` independent synthetic frames are interpolated to the clip length
    ``num_frames`` by ``interpolation`` (``parametric``: a trained interpolator restores the
    duplicated frames); real clips are reduced to ``n_real`` evenly spaced frames; both are
    cut into ``segments`` equal parts matched pairwise. Parts must be equal in length
    (the paper's uniformity), so ``segments`` divides ``n_real`` and ``num_frames``.
    """

    num_frames: int
    n_syn: int
    n_real: int
    segments: int = 1
    interpolation: str = "duplicate"

    def __post_init__(self):
        if not 1 <= self.n_syn <= self.num_frames or not 1 <= self.n_real <= self.num_frames:
            raise ValueError(f"n_syn and n_real must be within 1..{self.num_frames} (the clip length)")
        if self.n_real % self.segments or self.num_frames % self.segments:
            raise ValueError(f"{self.segments} segments do not split {self.n_real} real and {self.num_frames} synthetic frames evenly")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"unknown interpolation {self.interpolation!r}; known: {INTERPOLATIONS}")

    @classmethod
    def from_params(cls, params: TemporalParams | dict, num_frames: int) -> "Temporal":
        """From a method's ``n_syn``, ``n_real`` (0: the clip length), ``segments``, ``interpolation``."""
        params = TemporalParams.of(params)
        return cls(
            num_frames=num_frames,
            n_syn=params.n_syn or num_frames,
            n_real=params.n_real or num_frames,
            segments=params.segments,
            interpolation=params.interpolation,
        )

    def expand(self, frames: torch.Tensor, interpolator: torch.nn.Module | None = None) -> torch.Tensor:
        """Learnable frames [N, n_syn, C, H, W] -> clips [N, num_frames, C, H, W] (differentiable)."""
        if frames.shape[1] == self.num_frames:
            return frames
        if self.interpolation == "parametric":
            if interpolator is None:
                raise ValueError("parametric interpolation needs the trained interpolator")
            return interpolator(duplicate_frames(frames, self.num_frames))
        return interpolate_frames(frames, self.num_frames, self.interpolation)

    def real_positions(self) -> np.ndarray | None:
        """The ``n_real`` evenly spaced positions a real clip keeps (None: every frame)."""
        return None if self.n_real == self.num_frames else evenly_spaced_positions(self.num_frames, self.n_real)

    def meta(self) -> dict:
        """Sidecar entries of a set storing ``n_syn`` frames per video."""
        return {"frames": self.n_syn, "interpolation": self.interpolation}


def load_interpolator(stem: str | Path, device: torch.device) -> tuple[torch.nn.Module, dict, dict[str, torch.Tensor]]:
    """A trained interpolator (``interpolator`` rule), frozen: module, spec and the tensors to
    store in a condensed set (``interpolator.*``, rebuilt there from the spec)."""
    from safetensors.torch import load_file

    from ..models.parts import build_part

    stem = Path(stem)
    spec = json.loads(stem.with_suffix(".json").read_text())
    state = load_file(str(stem.with_suffix(".safetensors")))
    module = build_part(spec["name"], **spec.get("options", {}))
    module.load_state_dict(state)
    module.eval().requires_grad_(False).to(device)
    tensors = {f"interpolator.{k}": v for k, v in state.items()}
    return module, {"name": spec["name"], "options": spec.get("options", {})}, tensors


class DistillationMethod(Method):
    """A method optimising synthetic videos under its :class:`MatchingObjective`: seed the
    torch generator (networks drawn by the objective), build the objective (numpy
    generator ``ctx.rng(1)``), the initial videos (:meth:`initial_videos`), optimise them
    (:meth:`optimise`, :func:`distill_videos` by default) and store them in float16 with
    the labels and the objective's outputs. A method supplies ``objective_class``, its
    ``params_class`` and the videos' optimizer settings (:meth:`video_optimizer`).

    With :class:`WindowParams` in its hyperparameters and ``syn_frames`` above the clip
    length, the learnable videos start from real clips of ``syn_frames`` frames (the
    `random` set's videos, longer spans), the objective sees a random clip-length window of
    each per iteration (:class:`SlideWindow`, generator ``ctx.rng(2)``) and the long videos
    are stored (sidecar ``frames``), which the evaluator windows alike."""

    family, paper_protocol = "distillation", "dancing"

    objective_class: ClassVar[type[MatchingObjective]]

    def video_optimizer(self, ctx: CondenseContext) -> dict:
        """``lr`` (and ``optimizer``, ``momentum`` when not SGD's defaults) of
        :func:`distill_videos` for the videos."""
        return {"lr": ctx.params.lr, "optimizer": ctx.params.optimizer, "momentum": ctx.params.momentum}

    def initial_videos(self, ctx: CondenseContext, objective: MatchingObjective) -> tuple[torch.Tensor, torch.Tensor]:
        """The learnable videos and their labels (from real clips: the `random` set's, drawn
        with the job's generator ``ctx.rng()`` as `random` draws them; of ``syn_frames``
        frames when slide-window condensing)."""
        return init_synthetic(self.init_context(ctx), ctx.params.init, ctx.rng())

    def stored_frames(self, ctx: CondenseContext) -> int:
        """Frames per learnable video before :meth:`expand`: ``syn_frames`` or the clip length."""
        return window_frames(ctx.params, ctx.clip["num_frames"])

    def init_context(self, ctx: CondenseContext) -> CondenseContext:
        """``ctx`` whose clips span the learnable videos' frames (the same draws, longer clips)."""
        return dataclasses.replace(ctx, clip={**ctx.clip, "num_frames": self.stored_frames(ctx)})

    def window(self, ctx: CondenseContext) -> SlideWindow | None:
        """The slide window of a set longer than the clip (None: the clip length)."""
        if self.stored_frames(ctx) == ctx.clip["num_frames"]:
            return None
        return SlideWindow(ctx.clip["num_frames"], ctx.rng(2))

    def expand(self, ctx: CondenseContext) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """The map from the learnable tensor to the clips the objective sees (None: itself)."""
        return None

    def optimise(self, ctx: CondenseContext, objective: MatchingObjective, videos: torch.Tensor, labels: torch.Tensor, stats: dict) -> list[float]:
        """Optimise ``videos`` in place; returns the losses, fills ``stats``."""
        p = ctx.params
        return distill_videos(
            ctx, objective, videos, labels, iterations=p.iterations, checkpoint_every=p.checkpoint_every,
            desc=self.name, expand=self.expand(ctx), window=self.window(ctx), stats=stats, **self.video_optimizer(ctx),
        )

    def outputs(self, ctx: CondenseContext, objective: MatchingObjective, videos: torch.Tensor) -> dict[str, torch.Tensor]:
        """The tensors stored besides videos and labels."""
        return objective.outputs()

    def stored_videos(self, videos: torch.Tensor) -> torch.Tensor:
        return videos.detach().cpu().half()

    def meta(self, ctx: CondenseContext) -> dict:
        """Sidecar entries of the method's own (``frames`` when not the clip length, ...)."""
        return {}

    def condense(self, ctx: CondenseContext) -> Condensed:
        ctx = self.typed(ctx)
        torch.manual_seed(ctx.seed)  # the networks the objective draws
        objective = self.objective_class(ctx, ctx.rng(1))
        videos, labels = self.initial_videos(ctx, objective)
        stats: dict = {}
        losses = self.optimise(ctx, objective, videos, labels, stats)
        extra = self.outputs(ctx, objective, videos)
        tensors = {"videos": self.stored_videos(videos), "labels": labels.cpu(), **extra}
        meta = {
            **self.meta(ctx),
            **({"frames": self.stored_frames(ctx)} if self.stored_frames(ctx) > ctx.clip["num_frames"] else {}),
            **objective.output_meta(),
            "final_loss": losses[-1] if losses else None,
            "mean_loss_last10": float(np.mean(losses[-10:])) if losses else None,
            "seconds_per_iteration": stats.get("seconds_per_iteration"),
        }
        return Condensed(tensors, meta)
