"""`rded`: realistic clips chosen by the teacher (RDED adapted to video, as the video study).

Per class, ``mipc`` random training videos (at most the class) each offer ``num_crop``
slide-window candidate clips; the teacher's cross-entropy scores every candidate, each
video keeps its best clip, and the ``IPC * factor**2`` lowest-loss videos are kept. With
``factor`` > 1, every ``factor**2`` consecutive picks are shrunk and tiled into one clip
(image RDED's patch stitching); with ``factor`` 1 (the video study) the clips are stored
as they are (uint8).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..condensed import to_uint8
from ..data.sampling import to_clip_tensor, window_clips
from .base import Condensed, CondenseContext, Method, Params, param, register_method
from .selection import (
    class_videos,
    cross_entropy_scorer,
    load_teacher,
    rded_choice,
    score_candidates,
)


def stitch(clips: torch.Tensor, factor: int) -> torch.Tensor:
    """``factor**2`` clips [factor**2, T, C, H, W] shrunk and tiled row by row into one [T, C, H, W]."""
    _, _, _, h, w = clips.shape
    rows = np.linspace(0, h, factor + 1).round().astype(int)
    cols = np.linspace(0, w, factor + 1).round().astype(int)
    out = torch.empty_like(clips[0])
    for k, clip in enumerate(clips):
        r, c = divmod(k, factor)
        size = (int(rows[r + 1] - rows[r]), int(cols[c + 1] - cols[c]))
        tile = F.interpolate(clip, size=size, mode="bilinear", align_corners=False, antialias=True)
        out[..., rows[r] : rows[r + 1], cols[c] : cols[c + 1]] = tile
    return out


def candidate_chunks(ctx: CondenseContext, windows: np.ndarray, videos_per_chunk: int):
    """Candidate clips [b, m, T, C, H, W] of ``videos_per_chunk`` videos at a time, on the device."""
    for start in range(0, len(windows), videos_per_chunk):
        yield to_clip_tensor(ctx.store.frames[windows[start : start + videos_per_chunk]]).to(
            ctx.device
        )


@dataclass(frozen=True, kw_only=True)
class RDEDParams(Params):
    mipc: int = param(24, "videos drawn per class (at most the class)", minimum=1)
    num_crop: int = param(5, "slide-window candidate clips per video", minimum=1)
    factor: int = param(1, "clips tiled per side of a stored clip", minimum=1)
    batch_size: int = param(64, "clips per teacher forward pass", minimum=1)


@register_method
class RDED(Method):
    name, params_class, needs = "rded", RDEDParams, ("teacher",)
    family, paper_protocol = "selection", "videodc"
    tiny_params = {"mipc": 3, "num_crop": 2}

    def condense(self, ctx: CondenseContext) -> Condensed:
        p = RDEDParams.of(ctx.params)
        mipc, num_crop, factor, batch_size = p.mipc, p.num_crop, p.factor, p.batch_size
        scorer = cross_entropy_scorer(load_teacher(ctx))
        rng = ctx.rng()
        n_frames, stride = ctx.clip["num_frames"], ctx.clip["stride"]
        videos, labels, chosen_ids, chosen_losses = [], [], [], []
        for label in range(ctx.num_classes):
            rows = class_videos(ctx, label)
            need = ctx.ipc * factor**2
            pool = rows.iloc[np.sort(rng.choice(len(rows), min(mipc, len(rows)), replace=False))]
            if len(pool) < need:
                name = ctx.store.classes.set_index("label")["name"][label]
                raise ValueError(
                    f"rded needs IPC x factor^2 = {need} videos of class {name!r}, "
                    f"but mipc and the class give {len(pool)}"
                )
            # frame indices of every candidate clip, [V, m, T]
            windows = np.stack(
                [
                    o + window_clips(int(n), n_frames, stride, num_crop)
                    for o, n in zip(pool["offset"], pool["n_stored"])
                ]
            )
            losses = score_candidates(
                candidate_chunks(ctx, windows, max(1, batch_size // num_crop)), label, scorer
            )
            picked, crops = rded_choice(losses, need)
            clips = to_clip_tensor(ctx.store.frames[windows[picked, crops]])
            if factor > 1:
                clips = torch.stack([stitch(group, factor) for group in clips.split(factor**2)])
            videos.append(clips)
            labels += [label] * len(clips)
            chosen_ids += pool["video_id"].iloc[picked].tolist()
            chosen_losses += losses[picked, crops].tolist()
        tensors = {
            "videos": to_uint8(torch.cat(videos)),
            "labels": torch.tensor(labels, dtype=torch.long),
        }
        return Condensed(tensors, {"selected_videos": chosen_ids, "selected_losses": chosen_losses})
