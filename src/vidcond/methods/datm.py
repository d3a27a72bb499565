"""`datm`: difficulty-aligned trajectory matching (Guo et al., ICLR 2024) on videos.

MTT's objective (:class:`~vidcond.methods.mtt.MTTObjective`) with three changes, as in the
official DATM code:

* the start epoch is drawn from [min_start_epoch, U) where the upper bound grows with the
  iteration, U = min(current_max_start_epoch + ⌊(max_start_epoch − current_max_start_epoch)
  · iteration / expansion_end_iteration⌋, max_start_epoch) (sequential generation: early,
  easy parts of the trajectories first);
* learnable soft labels: logits initialised from the experts (at ``label_epoch``) on the
  initial synthetic clips, averaged over the experts that classify a clip correctly; the
  student trains on them with CE against their softmax, and they are optimised by the
  matching loss (SGD ``lr_labels``, ``labels_momentum``);
* real-clip initialisation from training clips an expert classifies correctly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch.func import functional_call

from .base import CondenseContext, param, register_method
from .distill import RealSampler, centred_window
from .mtt import MTT, MTTObjective, MTTParams


@dataclass(frozen=True, kw_only=True)
class DATMParams(MTTParams):
    """Defaults from the official DATM code (CIFAR) and MTT."""

    init: Literal["correct", "real", "noise"] = param("correct", "correct: real clips that expert 0 classifies correctly")
    init_candidates: int = param(0, "real clips tried per class for `correct` (0: one per training video)", minimum=0)
    min_start_epoch: int = param(0, "lower bound of the start epoch", minimum=0)
    current_max_start_epoch: int = param(2, "initial upper bound of the start epoch", minimum=1)
    expansion_end_iteration: int = param(20, "iteration at which the upper bound reaches max_start_epoch", minimum=1)
    label_epoch: int = param(-1, "expert epoch whose logits initialise the labels (-1: the last)")
    learn_labels: bool = param(True, "learn the soft labels (stored as soft_labels)")
    lr_labels: float = param(2.0, "SGD learning rate of the label logits (DATM lr_y)", minimum=0)
    labels_momentum: float = param(0.9, "SGD momentum of the label logits", minimum=0)

    def check(self) -> None:
        super().check()
        if self.syn_frames and self.init == "correct":
            raise ValueError("syn_frames: slide windows start from init real or noise (correct classifies clip-length clips)")
        if not self.min_start_epoch < self.current_max_start_epoch <= self.max_start_epoch:
            raise ValueError("DATM needs min_start_epoch < current_max_start_epoch <= max_start_epoch")


def start_upper_bound(iteration: int, current_max: int, final_max: int, expansion_end: int) -> int:
    """DATM's growing upper bound of the start epoch (exclusive) at ``iteration``."""
    grown = current_max + int((final_max - current_max) * iteration / max(1, expansion_end))
    return min(grown, final_max)


class DATMObjective(MTTObjective):
    """Extra hyperparameters: ``min_start_epoch``, ``current_max_start_epoch``,
    ``expansion_end_iteration``, ``label_epoch`` (-1: the last recorded epoch),
    ``learn_labels``, ``lr_labels``, ``labels_momentum``; ``max_start_epoch`` is the final
    upper bound."""

    params_class = DATMParams

    def __init__(self, ctx: CondenseContext, rng: np.random.Generator):
        super().__init__(ctx, rng)
        p = self.p  # DATMParams (the objective's params_class)
        self.label_epoch = p.label_epoch % (self.bank.epochs + 1)
        self.soft_labels: torch.Tensor | None = None

    def start_window(self, iteration: int) -> tuple[int, int]:
        high = start_upper_bound(
            iteration,
            self.p.current_max_start_epoch,
            self.p.max_start_epoch,
            self.p.expansion_end_iteration,
        )
        return self.p.min_start_epoch, high

    @torch.no_grad()
    def expert_logits(self, videos: torch.Tensor, expert: int, batch: int = 64) -> torch.Tensor:
        """Logits of ``expert`` at ``label_epoch`` on ``videos``."""
        params = self.layout.unflatten(
            self.bank.snapshot(expert, self.label_epoch, self.ctx.device)
        )
        return torch.cat(
            [
                functional_call(self.net, params, (videos[i : i + batch],))
                for i in range(0, len(videos), batch)
            ]
        )

    def prepare(self, videos: torch.Tensor, labels: torch.Tensor) -> None:
        """Initialise the learnable label logits from the experts on the initial clips."""
        logits = torch.stack(
            [self.expert_logits(videos.detach(), e) for e in range(self.bank.num_experts)]
        )
        correct = (logits.argmax(-1) == labels).float()  # [E, N]
        weight = torch.where(correct.sum(0, keepdim=True) > 0, correct, torch.ones_like(correct))
        soft = (logits * weight[..., None]).sum(0) / weight.sum(0)[:, None]
        self.soft_labels = soft.detach().clone().requires_grad_(self.p.learn_labels)

    def targets(self, labels: torch.Tensor) -> torch.Tensor:
        if self.soft_labels is None:
            raise RuntimeError("call prepare() with the initial videos before distilling")
        return self.soft_labels

    def param_groups(self) -> list[dict]:
        groups = super().param_groups()
        if self.p.learn_labels:
            groups.append(
                {
                    "params": [self.soft_labels],
                    "lr": self.p.lr_labels,
                    "momentum": self.p.labels_momentum,
                }
            )
        return groups

    def state(self) -> dict:
        return {**super().state(), "soft_labels": self.soft_labels}

    def outputs(self) -> dict[str, torch.Tensor]:
        return {**super().outputs(), "soft_labels": self.soft_labels.detach().float().cpu()}

    def output_meta(self) -> dict:
        # learned with the set: DATM's protocol (Video-DC's val.py) trains on them
        return {"soft_label_kind": "learned_logits"}


def correctly_classified_clips(
    ctx: CondenseContext, objective: DATMObjective, rng: np.random.Generator, candidates: int = 0
):
    """IPC real clips per class that expert 0 (at ``label_epoch``) classifies correctly,
    in random order; a class with too few is filled with its clips of highest expert
    probability for the class. ``candidates`` (0: every training video once) per class.
    The expert sees the candidates of every class shuffled together: a network with batch
    norm runs on batch statistics, which a batch of one class would distort."""
    sampler = RealSampler(ctx)
    pools = [sampler.clips(c, candidates or len(sampler.by_class[c]), rng) for c in range(ctx.num_classes)]
    pool = torch.cat(pools)
    order = torch.as_tensor(rng.permutation(len(pool)), device=pool.device)
    probs = torch.empty(len(pool), ctx.num_classes, device=pool.device)
    probs[order] = objective.expert_logits(pool[order], 0).softmax(-1)
    chosen, start = [], 0
    for c, class_pool in enumerate(pools):
        class_probs = probs[start : start + len(class_pool)]
        start += len(class_pool)
        correct = class_probs.argmax(-1) == c
        # correct clips first (in their random order), then the others by probability of c
        ranked = sorted(
            range(len(class_pool)),
            key=lambda i: (not bool(correct[i]), 0.0 if correct[i] else -float(class_probs[i, c])),
        )
        chosen.append(class_pool[ranked[: ctx.ipc]])
    labels = torch.arange(ctx.num_classes, device=ctx.device).repeat_interleave(ctx.ipc)
    return torch.cat(chosen).detach().clone().requires_grad_(True), labels


@register_method
class DATM(MTT):
    name = "datm"
    paper_protocol = "videodc"  # Video-DC's DATM
    params_class = DATMParams
    objective_class = DATMObjective
    tiny_params = {"iterations": 2, "syn_steps": 2, "current_max_start_epoch": 1, "max_start_epoch": 1, "batch_syn": 0}

    def initial_videos(self, ctx: CondenseContext, objective: DATMObjective):
        if ctx.params.init == "correct":
            videos, labels = correctly_classified_clips(ctx, objective, ctx.rng(), ctx.params.init_candidates)
        else:
            videos, labels = super().initial_videos(ctx, objective)
        # the experts label clip-length clips: the centred window of a longer video
        objective.prepare(centred_window(videos, ctx.clip["num_frames"]), labels)
        return videos, labels
