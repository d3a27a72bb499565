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

import numpy as np
import torch
import torch.nn.functional as F

from .base import Condensed, CondenseContext, Method, register_method
from .distill import PIXEL_RANGE, DistillLoop, MatchingObjective, RealSampler, init_synthetic


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
        params = ctx.params
        self.arch = params.get("arch", "convnet_d4")
        self.batch_real = int(params.get("batch_real", 256))
        self.lr_net = float(params.get("lr_net", 0.01))
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
class StaticDC(Method):
    name = "dc_static"

    def condense(self, ctx: CondenseContext) -> Condensed:
        params = ctx.params
        torch.manual_seed(ctx.seed)  # the networks drawn each iteration
        outer, inner = int(params.get("outer_loop", 1)), int(params.get("inner_loop", 1))
        clips, labels = init_synthetic(ctx, params.get("init", "real"), ctx.rng(), num_frames=1)
        frames = clips.detach()[:, 0].clone().requires_grad_(True)  # [N, C, H, W]
        objective = GradientMatchObjective(ctx, ctx.rng(1))
        optimizer = torch.optim.SGD(
            [frames], lr=float(params.get("lr", 0.1)), momentum=float(params.get("momentum", 0.5))
        )

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
        loop = DistillLoop(
            ctx,
            int(params.get("iterations", 1000)),
            state,
            int(params.get("checkpoint_every", 50)),
            desc="dc_static",
        )
        losses = loop.run(one_network)
        meta = {
            "frames": 1,
            "interpolation": "duplicate",
            "final_loss": losses[-1] if losses else None,
            "seconds_per_iteration": loop.seconds_per_iteration,
        }
        return Condensed({"videos": frames.detach().unsqueeze(1).half(), "labels": labels}, meta)
