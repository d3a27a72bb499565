"""`random`: random real clips, ``IPC`` videos per class (the coreset baseline)."""

from __future__ import annotations

import numpy as np
import torch

from ..condensed import to_uint8
from .base import Condensed, CondenseContext, Method, NoParams, register_method


def random_real_clips(ctx: CondenseContext, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """IPC distinct random training videos per class (class-major) and a random clip of
    each: float clips [K * IPC, T, C, H, W] and their labels. With the job's ``ctx.rng()``
    these are the `random` set's clips, which the distillation methods start from."""
    videos = ctx.train_videos
    chosen = [rng.choice(videos.index[videos["label"] == c], ctx.ipc, replace=False) for c in range(ctx.num_classes)]
    rows = videos.loc[[i for picks in chosen for i in picks]]
    return ctx.clips(rows, rng), torch.tensor(rows["label"].to_numpy(), dtype=torch.long)


@register_method
class RandomSelection(Method):
    name, params_class, tiny_params = "random", NoParams, {}
    family, paper_protocol = "selection", "dancing"

    def condense(self, ctx: CondenseContext) -> Condensed:
        clips, labels = random_real_clips(ctx, ctx.rng())
        return Condensed({"videos": to_uint8(clips), "labels": labels})
