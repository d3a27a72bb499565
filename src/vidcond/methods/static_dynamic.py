"""`dm_sd`, `mtt_sd`, `frepo_sd`: static/dynamic disentanglement ("Dancing with Still Images").

Stage 1 is a condensed set of single frames of the same dataset (the ``static`` input, e.g.
`dc_static` at IPC = SPC), kept frozen as the static memory. Stage 2 learns DPC one-channel
dynamic memories per class (from noise) and the integrator network H under the base
method's matching objective. Each time the videos are drawn, every synthetic video pairs
one static and one dynamic memory of its class at random among its candidates, as the
official code does; the condensed set stores the parts and the candidates so that the
evaluator redraws the pairing every epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from ..condensed import load_condensed
from ..models.parts import build_part
from .base import Condensed, CondenseContext, Method, Params, param
from .distill import DistillationMethod, DistillLoop, DistillParams, MatchingObjective

ObjectiveFactory = Callable[[CondenseContext, np.random.Generator], MatchingObjective]


@dataclass(frozen=True, kw_only=True)
class StaticMemory(Params):
    method: str = param(doc="its methods entry (e.g. dc_static), condensed at IPC = spc")
    spc: int = param(doc="static memories per class", minimum=1)


@dataclass(frozen=True, kw_only=True)
class StaticDynamicParams(DistillParams):
    """Stage 2 of the static/dynamic paradigm; a +SD method's params add its base's."""

    static: StaticMemory = param(doc="the condensed set of single frames used as static memory (method, spc)")
    dpc: int = param(1, "dynamic memories per class", minimum=1)
    lr_dynamic: float = param(doc="learning rate of the dynamic memory", above=0)
    lr_hal: float = param(doc="learning rate of H", minimum=0)
    optimizer: Literal["sgd", "adam"] = param("sgd", "optimizer of the memories and H")
    momentum: float = param(0.95, "SGD momentum", minimum=0, maximum=1)
    integrator: Literal["integrator_conv", "integrator_conv_deconv"] = param("integrator_conv", "the integrator network H")
    integrator_middle: int = param(8, "middle channels of integrator_conv_deconv", minimum=1)
    integrator_init: Literal["random", "static"] | None = param(
        None, "static: H starts as the static frame plus a random map of the dynamic channel (H(static, 0) = static); random: the paper's start; null: static for integrator_conv, random otherwise"
    )
    dynamic_init_std: float = param(1.0, "std of the dynamic memory's initial noise", minimum=0)
    iterations: int = param(doc="optimisation iterations", minimum=0)

    def check(self) -> None:
        super().check()
        if getattr(self, "syn_frames", 0):
            raise ValueError("syn_frames: a +SD method decodes clip-length videos; slide windows are for its base method")


def load_static_memory(stem, num_classes: int, spc: int) -> tuple[torch.Tensor, dict]:
    """The static memory [K * SPC, C, H, W] (class-major) from a condensed set of single
    frames (a set of longer videos gives its first frame), and that set's sidecar."""
    condensed = load_condensed(stem)
    counts = torch.bincount(condensed.labels, minlength=num_classes)
    if len(counts) != num_classes or (counts != spc).any():
        raise ValueError(
            f"static memory {stem}: needs {spc} frames per class of {num_classes}, has {counts.tolist()}"
        )
    order = torch.argsort(condensed.labels, stable=True)
    return condensed.base_videos()[order, 0].contiguous(), condensed.meta


def pairing_choices(num_classes: int, ipc: int, per_class: int) -> torch.Tensor:
    """Candidate memories [K * IPC, a] of each synthetic video (class-major).

    Video j of class c may use the memories (j * a + k) mod ``per_class`` of class c,
    k < a = ceil(per_class / IPC): the class's memories are shared out among its videos
    (the official code's SPC = DPC = 2 * IPC gives each video two of its own).
    """
    a = math.ceil(per_class / ipc)
    local = (torch.arange(ipc)[:, None] * a + torch.arange(a)) % per_class
    return (torch.arange(num_classes)[:, None, None] * per_class + local).reshape(
        num_classes * ipc, a
    )


def draw_pairing(choices: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """One candidate per row of ``choices`` [N, a], uniformly at random."""
    columns = torch.from_numpy(rng.integers(0, choices.shape[1], choices.shape[0]))
    return choices[torch.arange(len(choices)), columns]


class StaticDynamicVideos(nn.Module):
    """Videos H(static, dynamic): a frozen static memory (a buffer, never a parameter), a
    learnable dynamic memory [D, T, 1, H, W] and the integrator H."""

    def __init__(self, static: torch.Tensor, dynamic: torch.Tensor, integrator: nn.Module):
        super().__init__()
        self.register_buffer("static", static)
        self.dynamic = nn.Parameter(dynamic)
        self.integrator = integrator

    def forward(self, static_index: torch.Tensor, dynamic_index: torch.Tensor) -> torch.Tensor:
        return self.integrator(self.static[static_index], self.dynamic[dynamic_index])


def integrator_spec(params: StaticDynamicParams) -> dict:
    """Registry entry of H as the sidecar records it (`vidcond.models.parts`)."""
    options = {"channels": 3}
    if params.integrator == "integrator_conv_deconv":
        options["middle"] = params.integrator_middle
    return {"name": params.integrator, "options": options}


def pass_static_through(integrator: nn.Module) -> None:
    """Start H at "static frame + a random map of the dynamic channel", so that
    H(static, 0) = static: the static channels' kernels become identities (centre tap 1,
    bias 0), the dynamic channel's keep their random initialisation. From a fully random H
    the decoded video correlates ~0.2 with its static frame after a few hundred iterations;
    from this start the static memory is the video until the dynamic memory moves it."""
    conv = integrator.net
    if not isinstance(conv, nn.Conv3d):
        raise ValueError("integrator_init: static needs the one-convolution H (integrator_conv)")
    channels = conv.out_channels
    with torch.no_grad():
        conv.weight[:, :channels] = 0
        conv.weight[torch.arange(channels), torch.arange(channels), 1, 1, 1] = 1
        conv.bias.zero_()


def integrator_init(params: StaticDynamicParams) -> str:
    """How H starts: ``integrator_init``, or by default ``static`` for the one-convolution H
    (H(static, 0) = static) and ``random`` for H networks that cannot pass a frame through."""
    if params.integrator_init is not None:
        return params.integrator_init
    return "static" if params.integrator == "integrator_conv" else "random"


def make_optimizer(groups: list[dict], params: StaticDynamicParams) -> torch.optim.Optimizer:
    kind, lr = params.optimizer, groups[0]["lr"]
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=params.momentum)
    if kind == "adam":
        return torch.optim.Adam(groups, lr=lr)
    raise ValueError(f"unknown optimizer {kind!r}; use sgd or adam")


def condense_static_dynamic(ctx: CondenseContext, make_objective: ObjectiveFactory) -> Condensed:
    """Stage 2 of the paradigm under the objective ``make_objective(ctx, rng)``."""
    params = StaticDynamicParams.of(ctx.params)
    spc, dpc = params.static.spc, params.dpc
    num_classes, num_frames = ctx.num_classes, ctx.clip["num_frames"]
    torch.manual_seed(ctx.seed)  # H's initial weights and the objective's random networks
    static, static_meta = load_static_memory(ctx.require("static"), num_classes, spc)
    shape = (num_classes * dpc, num_frames, 1, *ctx.store.frame_size)
    noise = ctx.rng(0).standard_normal(shape).astype(np.float32)
    dynamic = params.dynamic_init_std * torch.from_numpy(noise)
    spec = integrator_spec(params)
    integrator = build_part(spec["name"], **spec["options"])
    if integrator_init(params) == "static":
        pass_static_through(integrator)
    memory = StaticDynamicVideos(static, dynamic, integrator).to(ctx.device)
    static_choices = pairing_choices(num_classes, ctx.ipc, spc)
    dynamic_choices = pairing_choices(num_classes, ctx.ipc, dpc)
    labels = torch.arange(num_classes).repeat_interleave(ctx.ipc).to(ctx.device)

    objective = make_objective(ctx, ctx.rng(1))
    groups = [
        {"params": [memory.dynamic], "lr": params.lr_dynamic},
        {"params": list(memory.integrator.parameters()), "lr": params.lr_hal},
        *objective.param_groups(),
    ]
    optimizer = make_optimizer(groups, params)
    pairing_rng = ctx.rng(2)

    def step(iteration: int) -> float:
        static_index = draw_pairing(static_choices, pairing_rng).to(ctx.device)
        dynamic_index = draw_pairing(dynamic_choices, pairing_rng).to(ctx.device)
        loss = objective.loss(memory(static_index, dynamic_index), labels, iteration)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    state = {"sd_memory": memory, "sd_optimizer": optimizer, "sd_pairing_rng": pairing_rng}
    state.update(objective.state())
    loop = DistillLoop(
        ctx,
        params.iterations,
        state,
        params.checkpoint_every,
        desc=f"{ctx.dataset} SD",
    )
    losses = loop.run(step)

    tensors = {
        "static": memory.static,
        "dynamic": memory.dynamic.detach(),
        **{f"integrator.{k}": v.detach() for k, v in memory.integrator.state_dict().items()},
        "static_choices": static_choices,
        "dynamic_choices": dynamic_choices,
        "labels": labels,
        **objective.outputs(),
    }
    meta = {
        "integrator": spec,
        "spc": spc,
        "dpc": dpc,
        "static_method": params.static.method,
        "stage1_wall_time_s": static_meta.get("wall_time_s"),
        "stage1_peak_mem_mb": static_meta.get("peak_mem_mb"),
        "stage1_device": static_meta.get("device"),
        "final_loss": losses[-1] if losses else None,
        "seconds_per_iteration": loop.seconds_per_iteration,
        **objective.output_meta(),
    }
    return Condensed({k: v.detach().cpu() for k, v in tensors.items()}, meta)


class StaticDynamicMethod(Method):
    """A base method's objective on the static/dynamic parametrisation: its params are the
    base's plus :class:`StaticDynamicParams`, its requirements ``static`` plus the base's."""

    base: ClassVar[type[DistillationMethod]]
    family, paper_protocol = "distillation", "dancing"

    @classmethod
    def requirements(cls, params) -> tuple[str, ...]:
        """`static` and the base method's requirements."""
        return ("static", *cls.base.requirements(params))

    def condense(self, ctx: CondenseContext) -> Condensed:
        return condense_static_dynamic(self.typed(ctx), self.base.objective_class)


# The static memory of the tiny test runs: one dc_static frame per class.
STATIC_TINY = {"static": {"method": "dc_static", "spc": 1}, "dpc": 1}
