"""`edc`: statistics matching with trained teachers and soft relabelling (EDC, Shao et al. 2024).

The channel means and variances of chosen layers' features (the inputs of BatchNorm layers
or the outputs of convolutions, taken with forward hooks) are precomputed once on the real
training clips, per class and overall, for each condensation model (a trained teacher per
architecture of ``condensation_models``). Synthetic clips, initialised from real ones, are
optimised so that their statistics match, in both forms of the video study's appendix::

    L_k = alpha * (|mu_S - mu_T| + |var_S - var_T|)                          # whole set
        + (1 - alpha) * sum_c p(c) (|mu_S,c - mu_T,c| + |var_S,c - var_T,c|)  # per class

summed over layers (the first weighted ``first_layer_weight``) and weighted
``stat_weight`` beside the teacher's cross-entropy on the synthetic clips, one teacher per
iteration in turn as the official code, each clip randomly resized-cropped; the pixels stay
in [0, 1] after every step. The set is relabelled per augmented view as EDC's FKD-style
relabelling: the sidecar says ``relabel: per_view``, and the evaluator's teacher labels every
augmented batch (in label mode ``soft`` as in ``multi_soft``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..models import load_model
from ..training import random_resized_crop
from .base import CondenseContext, param, register_method
from .distill import DistillationMethod, DistillParams, MatchingObjective, WindowParams, init_synthetic


@dataclass(frozen=True, kw_only=True)
class EDCParams(DistillParams, WindowParams):
    condensation_models: tuple[str, ...] = param(("miniC3D",), "architectures (or models variants) whose trained teachers are matched")
    layers: Literal["batchnorm", "conv"] = param("batchnorm", "BatchNorm inputs or convolution outputs")
    alpha: float = param(0.5, "weight of the whole-set form", minimum=0, maximum=1)
    stat_weight: float = param(0.01, "weight of the statistics loss", minimum=0)
    first_layer_weight: float = param(10.0, "weight of the first layer's statistics", minimum=0)
    ce_weight: float = param(1.0, "weight of the teacher's cross-entropy", minimum=0)
    crop_scale: tuple[float, float] = param((0.5, 1.0), "area share of the random resized crop of every iteration ([1, 1]: none)")
    iterations: int = param(100, "optimisation iterations", minimum=1)
    lr: float = param(0.01, "Adam learning rate of the videos", above=0)
    stat_batch: int = param(64, "real clips per forward pass for the statistics", minimum=1)

    def check(self) -> None:
        super().check()
        if not self.condensation_models:
            raise ValueError("condensation_models: name at least one architecture")
        if not 0 <= self.crop_scale[0] <= self.crop_scale[1] <= 1:
            raise ValueError(f"crop_scale: {list(self.crop_scale)} is not a range within [0, 1]")

LAYER_KINDS = {"batchnorm": nn.modules.batchnorm._BatchNorm, "conv": (nn.Conv2d, nn.Conv3d)}


class FeatureTap:
    """Forward hooks keeping the features of the chosen layers of ``model`` during a forward:
    the inputs of its BatchNorm layers (``batchnorm``) or the outputs of its convolutions
    (``conv``), in forward order."""

    def __init__(self, model: nn.Module, layers: str):
        if layers not in LAYER_KINDS:
            raise ValueError(f"edc layers must be one of {sorted(LAYER_KINDS)}, not {layers!r}")
        self.model = model
        modules = [m for m in model.modules() if isinstance(m, LAYER_KINDS[layers])]
        if not modules:
            raise ValueError(
                f"{type(model).__name__} has no {layers} layers to match statistics on"
            )
        self.features: list[torch.Tensor] = []
        take_input = layers == "batchnorm"
        for module in modules:
            module.register_forward_hook(
                lambda _m, inputs, output: self.features.append(inputs[0] if take_input else output)
            )

    def __call__(self, clips: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits and the hooked features [B', C, ...] of ``clips``."""
        self.features = []
        logits = self.model(clips)
        features, self.features = self.features, []
        return logits, features


def _per_position(feature: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Feature [B', C, ...] as [B', C, P] and the label of each of its B' rows (frame-wise
    2D networks put the frames of a clip in the batch dimension, clip-major)."""
    rows = feature.shape[0]
    if rows % len(labels):
        raise ValueError(f"feature batch {rows} is not a multiple of the {len(labels)} clips")
    return feature.flatten(2), labels.repeat_interleave(rows // len(labels))


@dataclass
class LayerStatistics:
    """Channel means and (population) variances of one layer's features: per class [K, C]
    and over the whole set [C]."""

    class_mean: torch.Tensor
    class_var: torch.Tensor
    mean: torch.Tensor
    var: torch.Tensor


class MomentAccumulator:
    """Per-class channel sums, sums of squares and counts over batches (float64)."""

    def __init__(self, num_classes: int):
        self.num_classes = num_classes
        self.sums = self.squares = self.counts = None

    def add(self, feature: torch.Tensor, labels: torch.Tensor) -> None:
        x, rows = _per_position(feature.detach().double(), labels)
        onehot = F.one_hot(rows, self.num_classes).double()  # [B', K]
        sums, squares = onehot.T @ x.sum(2), onehot.T @ x.pow(2).sum(2)  # [K, C]
        counts = onehot.sum(0) * x.shape[2]
        if self.sums is None:
            self.sums, self.squares, self.counts = sums, squares, counts
        else:
            self.sums, self.squares, self.counts = (
                self.sums + sums,
                self.squares + squares,
                self.counts + counts,
            )

    def statistics(self) -> LayerStatistics:
        if (self.counts == 0).any():
            raise ValueError("every class needs real clips for its statistics")
        n = self.counts[:, None]
        class_mean = self.sums / n
        mean = self.sums.sum(0) / self.counts.sum()
        class_var = self.squares / n - class_mean.pow(2)
        var = self.squares.sum(0) / self.counts.sum() - mean.pow(2)
        return LayerStatistics(*(t.float() for t in (class_mean, class_var, mean, var)))


@torch.no_grad()
def real_statistics(tap: FeatureTap, batches, num_classes: int) -> list[LayerStatistics]:
    """Statistics of every hooked layer over ``batches`` of (clips, labels)."""
    accumulators = None
    for clips, labels in batches:
        _, features = tap(clips)
        accumulators = accumulators or [MomentAccumulator(num_classes) for _ in features]
        for acc, feature in zip(accumulators, features):
            acc.add(feature, labels)
    return [acc.statistics() for acc in accumulators]


def statistics_loss(
    features: list[torch.Tensor],
    labels: torch.Tensor,
    real: list[LayerStatistics],
    prior: torch.Tensor,
    alpha: float,
    layer_weights: list[float],
) -> torch.Tensor:
    """The two-form matching loss of the synthetic ``features`` (one per layer) of clips
    ``labels`` against the real statistics; ``prior`` [K] = p(c), the real class shares.
    Classes absent from the batch add nothing to the per-class form."""
    total = 0.0
    for feature, stats, weight in zip(features, real, layer_weights):
        x, rows = _per_position(feature, labels)
        channels = x.transpose(0, 1).flatten(1)  # [C, B' * P]
        whole = (channels.mean(1) - stats.mean).norm() + (
            channels.var(1, unbiased=False) - stats.var
        ).norm()
        onehot = F.one_hot(rows, len(prior)).to(x.dtype)  # [B', K]
        counts = onehot.sum(0) * x.shape[2]
        class_mean = (onehot.T @ x.sum(2)) / counts.clamp(min=1)[:, None]  # [K, C]
        centred = x - class_mean[rows][:, :, None]
        class_var = (onehot.T @ centred.pow(2).sum(2)) / counts.clamp(min=1)[:, None]
        per_class = (class_mean - stats.class_mean).norm(dim=1) + (
            class_var - stats.class_var
        ).norm(dim=1)
        per_class = (prior * per_class)[counts > 0].sum()
        total = total + weight * (alpha * whole + (1 - alpha) * per_class)
    return total


class EDCObjective(MatchingObjective):
    """Teacher cross-entropy plus statistics matching, one condensation model per iteration."""

    def __init__(self, ctx: CondenseContext, rng: np.random.Generator):
        super().__init__(ctx, rng)
        p = EDCParams.of(ctx.params)
        self.alpha = p.alpha
        self.stat_weight = p.stat_weight
        self.first_layer_weight = p.first_layer_weight
        self.ce_weight = p.ce_weight
        self.crop_scale = p.crop_scale
        layers = p.layers
        self.teachers = [
            load_model(ctx.require(f"teacher_{arch}")).to(ctx.device).requires_grad_(False)
            for arch in p.condensation_models
        ]
        self.taps = [FeatureTap(teacher, layers) for teacher in self.teachers]
        train = ctx.train_videos
        counts = np.bincount(train["label"].to_numpy(), minlength=ctx.num_classes)
        self.prior = torch.tensor(counts / counts.sum(), dtype=torch.float32, device=ctx.device)
        self.real = [
            self._real_statistics(tap, train, p.stat_batch) for tap in self.taps
        ]

    def _real_statistics(self, tap: FeatureTap, videos, batch: int) -> list[LayerStatistics]:
        """Statistics of the centre clip of every training video."""

        def batches():
            for start in range(0, len(videos), batch):
                rows = videos.iloc[start : start + batch]
                labels = torch.tensor(rows["label"].to_numpy(), device=self.ctx.device)
                yield self.ctx.clips(rows).to(self.ctx.device), labels

        return real_statistics(tap, batches(), self.ctx.num_classes)

    def loss(self, videos: torch.Tensor, labels: torch.Tensor, iteration: int) -> torch.Tensor:
        m = iteration % len(self.teachers)
        generator = torch.Generator().manual_seed(int(self.rng.integers(2**31)))
        clips = (
            random_resized_crop(videos, self.crop_scale, generator)
            if self.crop_scale[0] < 1
            else videos
        )
        logits, features = self.taps[m](clips)
        weights = [self.first_layer_weight] + [1.0] * (len(features) - 1)
        stats = statistics_loss(features, labels, self.real[m], self.prior, self.alpha, weights)
        return self.ce_weight * F.cross_entropy(logits, labels) + self.stat_weight * stats


@register_method
class EDC(DistillationMethod):
    name = "edc"
    paper_protocol = "videodc"
    params_class = EDCParams
    objective_class = EDCObjective
    needs = ("teachers",)
    tiny_params = {"iterations": 2, "condensation_models": ["miniC3D", "slowonly_r18"]}  # two teachers

    def initial_videos(self, ctx, objective):
        return init_synthetic(self.init_context(ctx), "real", ctx.rng())

    def video_optimizer(self, ctx) -> dict:
        return {"lr": ctx.params.lr, "optimizer": "adam"}

    def meta(self, ctx) -> dict:
        # EDC relabels every augmented view (FKD-style): no static soft label per clip; the
        # evaluator's teacher labels each augmented batch
        return {"relabel": "per_view"}
