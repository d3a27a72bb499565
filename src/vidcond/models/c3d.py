"""MiniC3D, the condensation and evaluation network of both video condensation papers.

Three blocks Conv3d k(3,7,7) s(1,2,2) p(1,3,3) with channels 3->64->128->128 and max pools
(1,2,2), (2,2,2), (2,2,2). The two official variants differ in norm and head:

* Video-DC (``norm: batch``, ``head: linear``): global average pool -> dropout -> linear;
* Dancing (``norm: none``, ``head: conv_max``): AvgPool3d (2,2,2) stride 1 when the map is
  larger than 1 pixel (the official (2,1,1) for small inputs) -> dropout -> 1x1x1 conv ->
  average over space -> max over time.
"""

from __future__ import annotations

import torch
from torch import nn

from . import VideoModel, norm_layer, register

POOLS = ((1, 2, 2), (2, 2, 2), (2, 2, 2))


def block_output_size(size: int, time: bool = False) -> int:
    """Length of a time (or space) axis of ``size`` after the three blocks, by arithmetic
    (a probe forward costs ~90 ms at 16x112x112, paid by every fresh network).

    Conv: time kernel 3 pad 1 stride 1 keeps it; space kernel 7 pad 3 stride 2 gives
    (size - 1) // 2 + 1. Max pool with kernel = stride k and ceil_mode: ceil(size / k).
    """
    for pool in POOLS:
        if not time:
            size = (size - 1) // 2 + 1
        k = pool[0] if time else pool[1]
        size = -(-size // k)
    return size


@register("miniC3D")
class MiniC3D(VideoModel):
    def __init__(
        self,
        num_classes: int,
        clip_shape,
        channels=(64, 128, 128),
        norm: str = "batch",
        head: str = "linear",
        dropout: float = 0.5,
    ):
        super().__init__()
        layers, c_in = [], clip_shape[1]
        for c_out, pool in zip(channels, POOLS):
            layers += [
                nn.Conv3d(c_in, c_out, (3, 7, 7), (1, 2, 2), (1, 3, 3)),
                norm_layer(norm, c_out, 3),
                nn.ReLU(inplace=True),
                # ceil_mode keeps a 1-pixel map alive for small clips (e.g. 32x32).
                nn.MaxPool3d(pool, pool, ceil_mode=True),
            ]
            c_in = c_out
        self.blocks = nn.Sequential(*layers)
        self.head_kind = head
        self.dropout = nn.Dropout(dropout)
        if head == "linear":
            self.fc = nn.Linear(c_in, num_classes)
        elif head == "conv_max":
            t, h = block_output_size(clip_shape[0], time=True), block_output_size(clip_shape[2])
            kernel = (min(2, t), 2, 2) if h > 1 else (min(2, t), 1, 1)
            self.pool = nn.AvgPool3d(kernel, stride=1)
            self.classifier = nn.Conv3d(c_in, num_classes, 1)
        else:
            raise ValueError(f"unknown MiniC3D head {head!r}; use linear or conv_max")

    def embed(self, x):
        # [B, C, T, H, W] with channels innermost: oneDNN's fast 3D convolutions (no copy
        # for clips from to_clip_tensor; 10-15 % of an evaluation step otherwise)
        x = x.transpose(1, 2)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        maps = self.blocks(x)
        return maps.mean(dim=(2, 3, 4)) if self.head_kind == "linear" else maps

    def head(self, h):
        if self.head_kind == "linear":
            return self.fc(self.dropout(h))
        logits = self.classifier(self.dropout(self.pool(h)))  # [B, K, T', H', W']
        return logits.mean(dim=(3, 4)).amax(dim=2)
