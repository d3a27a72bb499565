"""`dm`: distribution matching (Zhao & Bilen, "Dataset Condensation with Distribution
Matching"), adapted to video as in "Dancing with Still Images".

Each iteration draws a freshly initialised network and matches, per class, the mean
embedding (``model.features``) of a batch of real clips with that of the class's synthetic
clips: loss = Σ_c ||mean φ(real_c) − mean φ(syn_c)||². The temporal taxonomy
(:class:`~vidcond.methods.distill.Temporal`) sets how many learnable frames a synthetic
video has (``n_syn``, interpolated to the clip length), how many frames a real clip keeps
(``n_real``) and in how many segments the two are matched pairwise (``segments``; the
loss is the mean over segment pairs). The learning rate is per clip frame: a learnable
frame receives the gradients of its clip-length / n_syn copies, so its rate is scaled by
n_syn / clip length.
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np
import torch

from ..data.sampling import evenly_spaced_frames
from .base import CondenseContext, param, register_method
from .distill import (
    DistillationMethod,
    InitParams,
    MatchingObjective,
    RealSampler,
    Temporal,
    TemporalParams,
    WindowParams,
    init_synthetic,
    load_interpolator,
)


@dataclass(frozen=True, kw_only=True)
class DMParams(InitParams, TemporalParams, WindowParams):
    """Defaults from the Dancing paper's DM (lr on the [0, 1] pixel scale)."""

    arch: str = param("miniC3D", "embedding network (or models variant)")
    iterations: int = param(5000, "fresh networks drawn (one per iteration)", minimum=1)
    lr: float = param(100.0, "SGD learning rate per clip frame (x n_syn / clip length for the learnable frames)", above=0)
    momentum: float = param(0.5, "SGD momentum of the videos", minimum=0)
    batch_real: int = param(64, "real clips per class and iteration", minimum=1)

    def check(self) -> None:
        super().check()
        if self.syn_frames and self.n_syn:
            raise ValueError("syn_frames: slide windows take whole learnable videos; leave n_syn 0 (the clip length)")


def class_mean_distance(real_means: dict[int, torch.Tensor], synthetic: torch.Tensor, syn_labels: torch.Tensor) -> torch.Tensor:
    """Σ over the classes c of ``real_means`` of ||real_means[c] − mean syn_c||² (embeddings [n, D])."""
    loss = synthetic.new_zeros(())
    for c, real_mean in real_means.items():
        diff = real_mean - synthetic[syn_labels == c].mean(dim=0)
        loss = loss + diff.pow(2).sum()
    return loss


class DMObjective(MatchingObjective):
    """The DM loss of a batch of synthetic videos under a fresh network each call.

    Hyperparameters (``ctx.params``): ``arch``, ``batch_real`` (real clips per class),
    ``n_real`` and ``segments`` (the real side of :class:`Temporal`; the synthetic clips
    arrive already expanded to the clip length).
    """

    def __init__(self, ctx: CondenseContext, rng: np.random.Generator):
        super().__init__(ctx, rng)
        params = DMParams.of(ctx.params)
        self.arch = params.arch
        self.batch_real = params.batch_real
        self.temporal = Temporal.from_params(params, ctx.clip["num_frames"])
        self.sampler = RealSampler(ctx)

    def embedder(self) -> torch.nn.Module:
        # Evaluation mode: no dropout, and no batch statistics (an IPC-1 class is one clip).
        return self.ctx.build_model(self.arch).eval().requires_grad_(False)

    def loss(self, videos: torch.Tensor, labels: torch.Tensor, iteration: int) -> torch.Tensor:
        net = self.embedder()
        # Real clips class by class (as the official loop): only one class's activations
        # are alive at a time, and each batch keeps its channels-last layout.
        real_means: list[dict[int, torch.Tensor]] = [{} for _ in range(self.temporal.segments)]
        keep = self.temporal.real_positions()
        for c in labels.unique().tolist():
            real = self.sampler.clips(c, self.batch_real, self.rng, keep=keep)
            with torch.no_grad():
                for means, part in zip(real_means, real.chunk(self.temporal.segments, dim=1)):
                    means[c] = net.features(part).mean(dim=0)
        loss = videos.new_zeros(())
        for means, syn_part in zip(real_means, videos.chunk(self.temporal.segments, dim=1)):
            loss = loss + class_mean_distance(means, net.features(syn_part), labels)
        return loss / self.temporal.segments  # the mean over segments: one scale for every K


@register_method
class DistributionMatching(DistillationMethod):
    name = "dm"
    params_class = DMParams
    objective_class = DMObjective
    tiny_params = {"iterations": 2, "batch_real": 2}

    @classmethod
    def requirements(cls, params: DMParams) -> tuple[str, ...]:
        """`interpolator` when `interpolation` is parametric."""
        return ("interpolator",) if params.interpolation == "parametric" else ()

    def temporal(self, ctx: CondenseContext) -> Temporal:
        return Temporal.from_params(ctx.params, ctx.clip["num_frames"])

    def initial_videos(self, ctx, objective):
        clips, labels = init_synthetic(self.init_context(ctx), ctx.params.init, ctx.rng())
        # n_syn frames spread over the initial clips' time span (every frame of a slide-window set)
        n_syn = self.temporal(ctx).n_syn if self.window(ctx) is None else clips.shape[1]
        frames = evenly_spaced_frames(clips.detach(), n_syn).clone().requires_grad_(True)
        return frames, labels

    def video_optimizer(self, ctx) -> dict:
        # each learnable frame gets the gradient of its num_frames / n_syn copies
        temporal = self.temporal(ctx)
        return {"lr": ctx.params.lr * temporal.n_syn / temporal.num_frames, "momentum": ctx.params.momentum}

    def expand(self, ctx):
        temporal = self.temporal(ctx)
        self.interpolator, self.interpolator_meta = None, {}
        self.interpolator_tensors: dict[str, torch.Tensor] = {}
        if temporal.interpolation == "parametric" and temporal.n_syn < temporal.num_frames:
            self.interpolator, spec, self.interpolator_tensors = load_interpolator(ctx.require("interpolator"), ctx.device)
            self.interpolator_meta = {"interpolator": spec}
        return lambda frames: temporal.expand(frames, self.interpolator)

    def outputs(self, ctx, objective, videos):
        return self.interpolator_tensors

    def meta(self, ctx):
        return {**self.temporal(ctx).meta(), **self.interpolator_meta}
