"""`random`: random real clips, ``IPC`` videos per class (the coreset baseline)."""

from __future__ import annotations

import torch

from ..condensed import to_uint8
from .base import Condensed, CondenseContext, Method, NoParams, register_method


@register_method
class RandomSelection(Method):
    name, params_class, tiny_params = "random", NoParams, {}
    family, paper_protocol = "selection", "dancing"

    def condense(self, ctx: CondenseContext) -> Condensed:
        rng = ctx.rng()
        videos = ctx.train_videos
        chosen = [rng.choice(videos.index[videos["label"] == c], ctx.ipc, replace=False) for c in range(ctx.num_classes)]
        rows = videos.loc[[i for picks in chosen for i in picks]]
        return Condensed(
            {
                "videos": to_uint8(ctx.clips(rows, rng)),
                "labels": torch.tensor(rows["label"].to_numpy(), dtype=torch.long),
            }
        )
