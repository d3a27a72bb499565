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
import torch.nn.functional as F
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


class StemConv3d(nn.Conv3d):
    """The first block's convolution (space stride 2), the same parameters as ``nn.Conv3d``.

    When the input's gradient is wanted on CPU (distillation: the synthetic videos), it
    runs as the equal stride-1 convolution over 2x2 space-to-depth blocks of the input (4x
    the channels, the kernel padded to even and split alike). oneDNN computes the data
    gradient of a strided 3-channel convolution slowly and with large rounding; the
    rearranged one's at 16x112x112 takes 60 instead of 131 ms, and MTT's pixel gradient
    (N=5) is 1e-6 instead of 1e-2 from float64 (``bench/distill_speed.py --vs-official``).
    Elsewhere (training, evaluation, and CUDA, where it is not measured) it is ``nn.Conv3d``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.stride[1:] != (2, 2) or self.dilation != (1, 1, 1) or self.groups != 1 or self.padding_mode != "zeros":
            raise ValueError("StemConv3d convolves with space stride 2, no dilation, one group, zero padding")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (x.requires_grad and x.device.type == "cpu" and torch.is_grad_enabled()):
            return super().forward(x)
        return F.conv3d(self.space_to_depth(x), self.split_kernel(), self.bias, (self.stride[0], 1, 1), (self.padding[0], 0, 0))

    def _padded_size(self, size: int, axis: int) -> int:
        """Length of a space axis after padding: even, and just what the output needs."""
        k, p = self.kernel_size[axis], self.padding[axis]
        out = (size + 2 * p - k) // 2 + 1
        return 2 * (out + (k + 1) // 2 - 1)

    def space_to_depth(self, x: torch.Tensor) -> torch.Tensor:
        """[B, C, T, H, W] -> [B, 4C, T, H'/2, W'/2] of the padded input, channels
        (c, row parity, column parity); channels-last in, channels-last out."""
        b, c, t, h, w = x.shape
        channels_last = x.is_contiguous(memory_format=torch.channels_last_3d) and not x.is_contiguous()
        ph, pw = self._padded_size(h, 1), self._padded_size(w, 2)
        # Padding may also crop the far edge: pixels that no output reads.
        x = F.pad(x, (self.padding[2], pw - w - self.padding[2], self.padding[1], ph - h - self.padding[1]))
        x = x.view(b, c, t, ph // 2, 2, pw // 2, 2)
        if channels_last:
            blocks = x.permute(0, 2, 3, 5, 1, 4, 6).reshape(b, t, ph // 2, pw // 2, 4 * c)
            return blocks.permute(0, 4, 1, 2, 3)
        return x.permute(0, 1, 4, 6, 2, 3, 5).reshape(b, 4 * c, t, ph // 2, pw // 2)

    def split_kernel(self) -> torch.Tensor:
        """[O, C, kt, kh, kw] -> [O, 4C, kt, ceil(kh/2), ceil(kw/2)] matching :meth:`space_to_depth`."""
        o, c, kt, kh, kw = self.weight.shape
        qh, qw = (kh + 1) // 2, (kw + 1) // 2
        kernel = F.pad(self.weight, (0, 2 * qw - kw, 0, 2 * qh - kh))
        kernel = kernel.view(o, c, kt, qh, 2, qw, 2).permute(0, 1, 4, 6, 2, 3, 5)
        return kernel.reshape(o, 4 * c, kt, qh, qw)


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
        for i, (c_out, pool) in enumerate(zip(channels, POOLS)):
            conv = StemConv3d if i == 0 else nn.Conv3d
            layers += [
                conv(c_in, c_out, (3, 7, 7), (1, 2, 2), (1, 3, 3)),
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
