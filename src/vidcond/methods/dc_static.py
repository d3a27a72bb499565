"""`dc_static`: DC gradient matching (Zhao, Mopuri & Bilen, "Dataset Condensation with
Gradient Matching") on single frames, duplicated to the clip length at evaluation
("Static-DC" of "Dancing with Still Images"; also the static memory of the "+SD" methods).

Each iteration draws a fresh 2D network (``convnet_d4``). For ``outer_loop`` steps the
synthetic frames are moved so that, class by class, the network's gradient on them aligns
with its gradient on a batch of random real frames (:func:`gradient_match_distance`, DC's
per-output-channel 1 − cosine); between steps the network trains ``inner_loop`` steps on
the synthetic frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..data.sampling import PIXEL_RANGE
from .base import CondenseContext, param, register_method
from .distill import DistillationMethod, DistillLoop, InitParams, MatchingObjective, RealSampler, init_synthetic


@dataclass(frozen=True, kw_only=True)
class StaticDCParams(InitParams):
    """Defaults from DC (lr on the [0, 1] pixel scale)."""

    arch: str = param("convnet_d4", "2D network (or models variant) whose gradients are matched")
    iterations: int = param(1000, "fresh networks drawn", minimum=1)
    outer_loop: int = param(1, "frame updates per network (DC 1 at IPC 1, 10 at IPC 10)", minimum=1)
    inner_loop: int = param(1, "network steps on the synthetic frames between updates (DC 1 at IPC 1, 50 at IPC 10)", minimum=1)
    lr: float = param(0.1, "SGD learning rate of the frames", above=0)
    momentum: float = param(0.5, "SGD momentum of the frames", minimum=0)
    lr_net: float = param(0.01, "SGD learning rate of the network in the inner loop", above=0)
    batch_real: int = param(256, "real frames per class and update", minimum=1)


def layer_cosine_distance(real_grad: torch.Tensor, syn_grad: torch.Tensor) -> torch.Tensor:
    """Σ over output channels of 1 − cos(real, syn), each channel's gradient flattened
    (DC's ``distance_wb``); 1-D tensors (biases, norm scales) count zero, as in DC."""
    if real_grad.dim() == 1:
        return syn_grad.new_zeros(())
    real, syn = real_grad.flatten(1), syn_grad.flatten(1)
    cosine = (real * syn).sum(1) / (real.norm(dim=1) * syn.norm(dim=1) + 1e-6)
    return (1 - cosine).sum()


def gradient_match_distance(real_grads, syn_grads) -> torch.Tensor:
    """DC's matching loss of one class: the layer-wise distances summed over parameters."""
    return sum(layer_cosine_distance(r, s) for r, s in zip(real_grads, syn_grads))


class GradientMatchObjective(MatchingObjective):
    """Σ_c gradient_match_distance(∇θ CE(real_c), ∇θ CE(syn_c)) for the current network.

    ``frames`` are images [N, C, H, W] or clips [N, T, C, H, W] (class-major; a 2D network
    averages a clip's frames); :meth:`new_network` draws the network that :meth:`loss` and
    :meth:`train_network` use until the next draw.
    """

    def __init__(self, ctx: CondenseContext, rng: np.random.Generator):
        super().__init__(ctx, rng)
        params = StaticDCParams.of(ctx.params)
        self.arch = params.arch
        self.batch_real = params.batch_real
        self.lr_net = params.lr_net
        self.sampler = RealSampler(ctx)
        self.net: torch.nn.Module | None = None

    def new_network(self) -> None:
        self.net = self.ctx.build_model(self.arch).train()
        self.net_opt = torch.optim.SGD(self.net.parameters(), lr=self.lr_net)

    def loss(self, frames: torch.Tensor, labels: torch.Tensor, iteration: int) -> torch.Tensor:
        params = [p for p in self.net.parameters() if p.requires_grad]
        loss = frames.new_zeros(())
        for c in labels.unique().tolist():
            real = self.sampler.frames(c, self.batch_real, self.rng)
            target = torch.full((len(real),), c, device=real.device)
            real_grads = [
                g.detach()
                for g in torch.autograd.grad(F.cross_entropy(self.net(real), target), params)
            ]
            syn = frames[labels == c]
            syn_loss = F.cross_entropy(self.net(syn), labels[labels == c])
            syn_grads = torch.autograd.grad(syn_loss, params, create_graph=True)
            loss = loss + gradient_match_distance(real_grads, syn_grads)
        return loss

    def train_network(self, frames: torch.Tensor, labels: torch.Tensor, steps: int) -> None:
        """``steps`` full-batch SGD steps of the network on the (detached) synthetic frames."""
        frames = frames.detach()
        for _ in range(steps):
            loss = F.cross_entropy(self.net(frames), labels)
            self.net_opt.zero_grad(set_to_none=True)
            loss.backward()
            self.net_opt.step()


@register_method
class StaticDC(DistillationMethod):
    name = "dc_static"
    params_class = StaticDCParams
    objective_class = GradientMatchObjective
    tiny_params = {"iterations": 2, "batch_real": 4}

    def initial_videos(self, ctx, objective):
        clips, labels = init_synthetic(ctx, ctx.params.init, ctx.rng(), num_frames=1)
        return clips.detach()[:, 0].clone().requires_grad_(True), labels  # frames [N, C, H, W]

    def optimise(self, ctx, objective, frames, labels, stats):
        """DC's loop: per network, ``outer_loop`` frame updates with ``inner_loop`` network
        steps between them."""
        p = ctx.params
        outer, inner = p.outer_loop, p.inner_loop
        optimizer = torch.optim.SGD([frames], lr=p.lr, momentum=p.momentum)

        def one_network(iteration: int) -> float:
            objective.new_network()
            total = 0.0
            for step in range(outer):
                loss = objective.loss(frames, labels, iteration)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    frames.clamp_(*PIXEL_RANGE)
                total += loss.item()
                if step < outer - 1:
                    objective.train_network(frames, labels, inner)
            return total / outer

        state = {"frames": frames, "optimizer": optimizer, **objective.state()}
        loop = DistillLoop(ctx, p.iterations, state, p.checkpoint_every, desc=self.name)
        losses = loop.run(one_network)
        stats["seconds_per_iteration"] = loop.seconds_per_iteration
        return losses

    def stored_videos(self, frames):
        return frames.detach().unsqueeze(1).cpu().half()

    def meta(self, ctx):
        return {"frames": 1, "interpolation": "duplicate"}
