"""`frepo`: neural feature regression with a pool of online models (FRePo, Zhou et al. 2022).

Each iteration takes one model of a pool of ``num_models`` networks, trains it one step on
the synthetic set (MSE of its logits to the learned labels; a model is re-initialised after
``max_online_updates`` steps, the pool starting at staggered steps as the official code),
then predicts the targets of a batch of real clips by kernel ridge regression on its
last-layer features of the synthetic support::

    pred = K_ts (K_ss + lambda I)^-1 Y_s,  K = phi phi^T,  lambda = reg * trace(K_ss) / n

and the loss is the squared error of ``pred`` to the real clips' centred one-hot targets
(summed over classes, averaged over the batch) or their cross-entropy, plus FRePo's label
margin term when the labels are learned. Videos and labels are both optimised with Adam.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from .base import CondenseContext, param, register_method
from .distill import DistillationMethod, InitParams, MatchingObjective, RealSampler, WindowParams


@dataclass(frozen=True, kw_only=True)
class FRePoParams(InitParams, WindowParams):
    iterations: int = param(100, "optimisation iterations", minimum=1)
    lr: float = param(1e-3, "Adam learning rate of the videos", above=0)
    arch: str = param("miniC3D", "architecture (or models variant) of the pool")
    norm: Literal["batch", "instance", "none"] | None = param("instance", "norm override of the pool's networks (null keeps the models entry's)")
    num_models: int = param(4, "models in the pool", minimum=1)
    max_online_updates: int = param(50, "steps before a model is reset", minimum=1)
    online_lr: float = param(3e-4, "Adam learning rate of the pool", above=0)
    reg: float = param(1e-6, "ridge = reg * trace(K_ss) / n", minimum=0)
    loss: Literal["mse", "ce"] = param("mse", "squared error or cross-entropy of the KRR prediction")
    batch_real: int = param(40, "real clips per iteration (split over the classes)", minimum=1)
    flip: bool = param(False, "add horizontally flipped copies to the support")
    learn_label: bool = param(True, "learn the labels (stored as soft_labels)")
    label_lr: float = param(1e-3, "Adam learning rate of the labels", above=0)
    margin_weight: float = param(1.0, "weight of FRePo's label margin term", minimum=0)


def krr_predict(
    feat_target: torch.Tensor, feat_support: torch.Tensor, y_support: torch.Tensor, reg: float
) -> torch.Tensor:
    """Kernel ridge regression with the linear kernel on features: targets [m, K] of
    ``feat_target`` [m, D] from the support ``feat_support`` [n, D] labelled ``y_support``
    [n, K], ridge ``reg * trace(K_ss) / n`` (scale-free, as FRePo). Solved in float64: with
    more support clips than feature channels K_ss is singular up to the tiny ridge."""
    dtype = feat_target.dtype
    feat_target, feat_support = feat_target.double(), feat_support.double()
    k_ss = feat_support @ feat_support.T
    k_ts = feat_target @ feat_support.T
    n = k_ss.shape[0]
    ridge = reg * torch.trace(k_ss) / n
    eye = torch.eye(n, dtype=k_ss.dtype, device=k_ss.device)
    return (k_ts @ torch.linalg.solve(k_ss + ridge * eye, y_support.double())).to(dtype)


def centred_one_hot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """FRePo's regression targets: one-hot minus 1/K."""
    return F.one_hot(labels, num_classes).float() - 1.0 / num_classes


def label_margin_loss(y: torch.Tensor) -> torch.Tensor:
    """FRePo's label term: -min(top1 - top2, 1/K), averaged over the learned labels."""
    top = y.topk(2, dim=1).values
    return -torch.clamp(top[:, 0] - top[:, 1], max=1.0 / y.shape[1]).mean()


class FRePoObjective(MatchingObjective):
    """KRR loss of the synthetic support under a pool of online-trained models."""

    def __init__(self, ctx: CondenseContext, rng: np.random.Generator):
        super().__init__(ctx, rng)
        self.p = p = FRePoParams.of(ctx.params)
        self.overrides = {} if p.norm is None else {"norm": p.norm}
        if self.p.loss not in ("mse", "ce"):
            raise ValueError(f"frepo loss must be mse or ce, not {self.p.loss!r}")
        k = ctx.num_classes
        self.sampler = RealSampler(ctx)
        labels = torch.arange(k, device=ctx.device).repeat_interleave(ctx.ipc)
        # FRePo scales the initial labels by 1/sqrt(K/10).
        self.soft_labels = (centred_one_hot(labels, k) / math.sqrt(k / 10)).requires_grad_(
            self.p.learn_label
        )
        self.models = [self._fresh_model() for _ in range(self.p.num_models)]
        self.optimizers = [torch.optim.Adam(m.parameters(), lr=self.p.online_lr) for m in self.models]
        stagger = self.p.max_online_updates // self.p.num_models
        self.steps = torch.tensor([stagger * i for i in range(self.p.num_models)], dtype=torch.long)

    def _fresh_model(self) -> torch.nn.Module:
        seed = int(self.rng.integers(2**31))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.ctx.build_model(self.p.arch, **self.overrides)

    def _reset(self, i: int) -> None:
        """Re-initialise pool member ``i`` in place (its optimizer forgets its moments)."""
        self.models[i].load_state_dict(self._fresh_model().state_dict())
        self.optimizers[i].state.clear()
        self.steps[i] = 0

    def _online_step(self, i: int, videos: torch.Tensor) -> None:
        if self.steps[i] >= self.p.max_online_updates:
            self._reset(i)
        model, opt = self.models[i], self.optimizers[i]
        model.train().requires_grad_(True)
        loss = F.mse_loss(model(videos.detach()), self.soft_labels.detach())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        self.steps[i] += 1

    def _real_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        k = self.ctx.num_classes
        per_class = max(1, self.p.batch_real // k)
        clips = torch.cat([self.sampler.clips(c, per_class, self.rng) for c in range(k)])
        labels = torch.arange(k, device=self.ctx.device).repeat_interleave(per_class)
        return clips, labels

    def loss(self, videos: torch.Tensor, labels: torch.Tensor, iteration: int) -> torch.Tensor:
        i = int(self.rng.integers(self.p.num_models))
        self._online_step(i, videos)
        model = self.models[i].eval().requires_grad_(False)
        real, real_labels = self._real_batch()
        support, y_support = videos, self.soft_labels
        if self.p.flip:
            support, y_support = torch.cat([videos, videos.flip(-1)]), torch.cat(
                [y_support, y_support]
            )
        with torch.no_grad():
            feat_target = model.features(real)
        pred = krr_predict(feat_target, model.features(support), y_support, self.p.reg)
        if self.p.loss == "mse":
            loss = (pred - centred_one_hot(real_labels, self.ctx.num_classes)).pow(2).sum(1).mean()
        else:
            loss = F.cross_entropy(pred, real_labels)
        if self.p.learn_label and self.p.margin_weight > 0:
            loss = loss + self.p.margin_weight * label_margin_loss(self.soft_labels)
        return loss

    def param_groups(self) -> list[dict]:
        return [{"params": [self.soft_labels], "lr": self.p.label_lr}] if self.p.learn_label else []

    def state(self) -> dict[str, Any]:
        state = {**super().state(), "soft_labels": self.soft_labels, "pool_steps": self.steps}
        for i, (model, opt) in enumerate(zip(self.models, self.optimizers)):
            state[f"pool_model{i}"], state[f"pool_optimizer{i}"] = model, opt
        return state

    def outputs(self) -> dict[str, torch.Tensor]:
        return {"soft_labels": self.soft_labels.detach().float().cpu()} if self.p.learn_label else {}

    def output_meta(self) -> dict:
        # the learned labels are KRR / MSE regression targets (centred one-hot scale), not logits
        return {"soft_label_kind": "regression_targets"} if self.p.learn_label else {}


@register_method
class FRePo(DistillationMethod):
    name = "frepo"
    params_class = FRePoParams
    objective_class = FRePoObjective
    tiny_params = {"iterations": 2, "num_models": 2, "batch_real": 4}

    def video_optimizer(self, ctx) -> dict:
        return {"lr": ctx.params.lr, "optimizer": "adam"}
