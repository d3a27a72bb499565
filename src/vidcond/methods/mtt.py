"""`mtt`: matching training trajectories (Cazenavette et al., CVPR 2022) on videos.

Each iteration draws an expert and a start epoch t (uniform in [0, max_start_epoch), as the
official code's ``randint``), starts a student at the expert's parameters θ*_t and trains
it for ``syn_steps`` SGD steps on minibatches of the synthetic videos with a learnable
learning rate. The loss is the normalised parameter distance to the expert M =
``expert_epochs`` epochs later:

    L = ||θ_N − θ*_{t+M}||² / ||θ*_t − θ*_{t+M}||²

The student is the experts' network run functionally over one flat parameter vector
(``torch.func.functional_call``). Only the current θ is kept between steps; the unrolled
graph holds what backpropagation through the N steps needs. ``low_memory: true`` instead
recomputes each step during the backward pass (gradient checkpointing per step, written
as an autograd function): memory holds the N parameter vectors plus one step's graph,
for about one extra forward/backward per step. ``auto`` (the default) switches it on when
the estimated unrolled graph (:mod:`vidcond.memory`) exceeds half the memory available.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call

from ..pretrain.experts import ExpertBank
from ..memory import activation_profile, available_mb, mtt_unroll_mb
from .base import CondenseContext, param, register_method
from .distill import DistillationMethod, InitParams, MatchingObjective, WindowParams

LR_PARAMS = ("raw", "log")


@dataclass(frozen=True, kw_only=True)
class MTTParams(InitParams, WindowParams):
    """Defaults from MTT / the Dancing paper's Table 9 (lr_img on the [0, 1] pixel scale)."""

    iterations: int = param(5000, "optimisation iterations", minimum=0)
    syn_steps: int = param(10, "student steps N per iteration", minimum=1)
    expert_epochs: int = param(1, "expert epochs M matched", minimum=1)
    max_start_epoch: int = param(10, "start epochs are drawn below it", minimum=1)
    batch_syn: int = param(0, "synthetic videos per student step (0: all)", minimum=0)
    lr_img: float = param(100.0, "learning rate of the synthetic videos", above=0)
    optimizer: Literal["sgd", "adam"] = param("sgd", "optimizer of the videos")
    momentum: float = param(0.5, "SGD momentum of the videos", minimum=0)
    syn_lr_init: float | None = param(None, "initial student lr (null: the experts' lr)", above=0)
    lr_param: Literal["raw", "log"] = param("raw", "learn the lr itself (MTT) or its logarithm")
    learn_lr: bool = param(True, "learn the student lr (stored as syn_lr)")
    lr_lr: float = param(1e-5, "learning rate of the learnable lr", minimum=0)
    lr_momentum: float = param(0.5, "SGD momentum of the learnable lr", minimum=0)
    min_syn_lr: float = param(0.0, "> 0: clip the lr from below before each use (Dancing code: 1e-3)", minimum=0)
    low_memory: bool | Literal["auto"] = param(
        "auto", "recompute each student step in the backward pass; auto: when the unrolled graph would exceed half the memory"
    )

    @property
    def experts_epochs_read(self) -> int:
        """The last expert epoch an iteration reads: a start below ``max_start_epoch`` plus
        ``expert_epochs`` (the experts must have trained at least this far)."""
        return self.max_start_epoch - 1 + self.expert_epochs


def normalised_distance(
    theta: torch.Tensor, start: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """||θ − θ*_{t+M}||² / ||θ*_t − θ*_{t+M}||² of flat parameter vectors."""
    return (theta - target).pow(2).sum() / (start - target).pow(2).sum()


def student_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """CE against class indices, or against softmax(targets) for learnable label logits."""
    if targets.is_floating_point():
        return -(F.softmax(targets, dim=1) * F.log_softmax(logits, dim=1)).sum(1).mean()
    return F.cross_entropy(logits, targets)


class _RecomputedStep(torch.autograd.Function):
    """One student SGD step whose graph is rebuilt in the backward pass (checkpointing)."""

    @staticmethod
    def forward(ctx, step, index, theta, videos, targets, lr):
        ctx.step, ctx.index = step, index
        ctx.save_for_backward(theta, videos, targets, lr)
        with torch.enable_grad():
            new = step(
                theta.detach().requires_grad_(True),
                videos.detach(),
                targets.detach(),
                lr.detach(),
                index,
                False,
            )
        return new.detach()

    @staticmethod
    def backward(ctx, grad_new):
        saved = ctx.saved_tensors
        needs = ctx.needs_input_grad[2:]
        # θ always needs a graph: the step differentiates the student loss with respect to it.
        inputs = [
            t.detach().requires_grad_(need or i == 0)
            for i, (t, need) in enumerate(zip(saved, needs))
        ]
        with torch.enable_grad():
            new = ctx.step(*inputs, ctx.index, True)
            wanted = [t for t, need in zip(inputs, needs) if need]
            grads = iter(torch.autograd.grad(new, wanted, grad_new, allow_unused=True))
        return (None, None, *(next(grads) if need else None for need in needs))


class MTTObjective(MatchingObjective):
    """The trajectory-matching loss with a learnable synthetic learning rate.

    Needs the ``experts`` input. Hyperparameters (``ctx.params``): ``syn_steps``,
    ``expert_epochs``, ``max_start_epoch``, ``batch_syn`` (0: the whole set per step),
    ``syn_lr_init`` (default: the experts' training lr), ``lr_param`` (raw | log),
    ``learn_lr``, ``lr_lr``, ``lr_momentum``, ``min_syn_lr`` (> 0: clip the lr from below
    before each use, as the Dancing code), ``low_memory`` (true, false or auto).
    """

    params_class: type[MTTParams] = MTTParams

    def __init__(self, ctx: CondenseContext, rng: np.random.Generator):
        super().__init__(ctx, rng)
        self.p = p = self.params_class.of(ctx.params)
        self.bank = ExpertBank(ctx.require("experts"))
        self.low_memory = self.low_memory_needed(ctx) if p.low_memory == "auto" else p.low_memory
        if self.p.lr_param not in LR_PARAMS:
            raise ValueError(f"lr_param must be one of {LR_PARAMS}, not {self.p.lr_param!r}")
        self.check_window()
        self.net = self.bank.build_model(ctx.device).train()
        self.net.channels_last = False  # its weights are views of the flat θ
        self.layout = self.bank.layout
        if tuple(n for n, _ in self.net.named_parameters()) != self.layout.names:
            raise ValueError("the experts' network does not match their recorded parameter layout")
        if any(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in self.net.modules()):
            raise ValueError(
                "trajectory matching needs a deterministic student: give the experts' arch dropout: 0"
            )
        init = float(p.syn_lr_init or self.bank.lr)
        value = math.log(init) if self.p.lr_param == "log" else init
        self.lr_value = torch.tensor(value, device=ctx.device, requires_grad=self.p.learn_lr)

    def low_memory_needed(self, ctx: CondenseContext) -> bool:
        """``low_memory: auto``: on when the unrolled student would take over half the
        memory available (the GPU's, or the host's)."""
        spec = self.bank.index["spec"]
        profile = activation_profile(spec["arch"], spec["num_classes"], spec["clip_shape"], spec["options"])
        batch = self.p.batch_syn or ctx.num_classes * ctx.ipc
        needed, available = mtt_unroll_mb(profile, batch, self.p.syn_steps, False), available_mb(ctx.device)
        print(
            f"low_memory auto: the unrolled student needs ~{needed:.0f} MB of {available:.0f} MB available"
            f" -> {'on' if needed > available / 2 else 'off'}"
        )
        return needed > available / 2

    def check_window(self) -> None:
        """The experts as trained reach the last epoch an iteration reads (Plan checks the config's)."""
        if self.p.max_start_epoch < 1 or self.p.experts_epochs_read > self.bank.epochs:
            raise ValueError(
                f"start epochs below {self.p.max_start_epoch} plus expert_epochs {self.p.expert_epochs} must stay "
                f"within the experts' {self.bank.epochs} epochs"
            )

    # ------------------------------------------------------------ learnable lr

    @property
    def syn_lr(self) -> torch.Tensor:
        return self.lr_value.exp() if self.p.lr_param == "log" else self.lr_value

    def _clip_lr(self) -> None:
        if self.p.min_syn_lr > 0:
            floor = math.log(self.p.min_syn_lr) if self.p.lr_param == "log" else self.p.min_syn_lr
            with torch.no_grad():
                self.lr_value.clamp_(min=floor)

    # ------------------------------------------------------------ the unrolled student

    def start_window(self, iteration: int) -> tuple[int, int]:
        """Start epochs are drawn from [low, high) at ``iteration``."""
        return 0, self.p.max_start_epoch

    def targets(self, labels: torch.Tensor) -> torch.Tensor:
        """What the student's loss compares its logits with (class indices here)."""
        return labels

    def sgd_step(self, theta, videos, targets, lr, index, create_graph: bool) -> torch.Tensor:
        """θ − lr · ∇θ CE(f_θ(videos[index]), targets[index])."""
        logits = functional_call(self.net, self.layout.unflatten(theta), (videos[index],))
        (grad,) = torch.autograd.grad(
            student_loss(logits, targets[index]), theta, create_graph=create_graph
        )
        return theta - lr * grad

    def _minibatches(self, n: int) -> list[torch.Tensor]:
        """``syn_steps`` index batches: successive chunks of fresh permutations (as MTT)."""
        size = self.p.batch_syn or n
        batches: list[torch.Tensor] = []
        while len(batches) < self.p.syn_steps:
            order = torch.as_tensor(self.rng.permutation(n), device=self.ctx.device)
            batches += list(order.split(size))
        return batches[: self.p.syn_steps]

    def unroll(
        self, theta: torch.Tensor, videos: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        """θ after ``syn_steps`` SGD steps from ``theta`` on the synthetic videos."""
        self._clip_lr()
        lr = self.syn_lr
        if self.low_memory:
            for index in self._minibatches(len(videos)):
                theta = _RecomputedStep.apply(self.sgd_step, index, theta, videos, targets, lr)
            return theta
        theta = theta.detach().requires_grad_(True)
        for index in self._minibatches(len(videos)):
            theta = self.sgd_step(theta, videos, targets, lr, index, True)
        return theta

    def loss(self, videos: torch.Tensor, labels: torch.Tensor, iteration: int) -> torch.Tensor:
        expert = int(self.rng.integers(self.bank.num_experts))
        low, high = self.start_window(iteration)
        start = int(self.rng.integers(low, high))
        device = self.ctx.device
        theta_start = self.bank.snapshot(expert, start, device)
        theta_target = self.bank.snapshot(expert, start + self.p.expert_epochs, device)
        theta = self.unroll(theta_start, videos, self.targets(labels))
        return normalised_distance(theta, theta_start, theta_target)

    # ------------------------------------------------------------ MatchingObjective

    def param_groups(self) -> list[dict]:
        if not self.p.learn_lr:
            return []
        return [{"params": [self.lr_value], "lr": self.p.lr_lr, "momentum": self.p.lr_momentum}]

    def state(self) -> dict:
        return {**super().state(), "syn_lr": self.lr_value}

    def outputs(self) -> dict[str, torch.Tensor]:
        self._clip_lr()
        return {"syn_lr": self.syn_lr.detach().float().cpu().reshape(())}


@register_method
class MTT(DistillationMethod):
    name = "mtt"
    params_class = MTTParams
    objective_class = MTTObjective
    needs = ("experts",)
    tiny_params = {"iterations": 2, "syn_steps": 2, "max_start_epoch": 1, "batch_syn": 0}

    def video_optimizer(self, ctx) -> dict:
        p = ctx.params
        return {"lr": p.lr_img, "optimizer": p.optimizer, "momentum": p.momentum}
