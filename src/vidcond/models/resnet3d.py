"""ResNet-18 backbones in their video forms, for cross-architecture evaluation.

* ``i3d_r18``: every 3x3 convolution inflated to 3x3x3, stem (5,7,7);
* ``slowonly_r18``: 2D (1x3x3) convolutions in stages 1-2, inflated 3x3x3 in stages 3-4,
  stem (1,7,7), no temporal downsampling;
* ``r2plus1d_r18``: every 3x3x3 convolution factorised into a (1,3,3) spatial and a (3,1,1)
  temporal convolution with the R(2+1)D middle width, temporal stride 2 in stages 2-4.

"Sized for the clip size": the stem keeps more resolution for small frames (stride 2 and a
max pool from 96 px up, stride 2 alone from 32 px, stride 1 below). ``width`` scales every
stage (64 is the standard ResNet-18).
"""

from __future__ import annotations

from torch import nn

from . import VideoModel, register


def _bn_relu(channels):
    return [nn.BatchNorm3d(channels), nn.ReLU(inplace=True)]


def conv3d(kind: str, c_in: int, c_out: int, stride=(1, 1, 1)) -> nn.Module:
    """A 3x3 convolution in the form of ``kind``: ``2d`` (1,3,3), ``3d`` (3,3,3) or ``2plus1d``."""
    if kind == "2d":
        return nn.Conv3d(c_in, c_out, (1, 3, 3), stride, (0, 1, 1), bias=False)
    if kind == "3d":
        return nn.Conv3d(c_in, c_out, 3, stride, 1, bias=False)
    mid = (3 * 9 * c_in * c_out) // (9 * c_in + 3 * c_out)  # same parameter count as 3x3x3
    return nn.Sequential(
        nn.Conv3d(c_in, mid, (1, 3, 3), (1, stride[1], stride[2]), (0, 1, 1), bias=False),
        *_bn_relu(mid),
        nn.Conv3d(mid, c_out, (3, 1, 1), (stride[0], 1, 1), (1, 0, 0), bias=False),
    )


class BasicBlock(nn.Module):
    def __init__(self, kind, c_in, c_out, stride):
        super().__init__()
        self.body = nn.Sequential(
            conv3d(kind, c_in, c_out, stride), *_bn_relu(c_out), conv3d(kind, c_out, c_out), nn.BatchNorm3d(c_out)
        )
        self.shortcut = nn.Identity()
        if stride != (1, 1, 1) or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv3d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm3d(c_out))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.body(x) + self.shortcut(x))


class ResNet18Video(VideoModel):
    def __init__(self, num_classes, clip_shape, stage_kinds, stem_kind, temporal_stride, width=64, dropout=0.5):
        super().__init__()
        _, channels, height, _ = clip_shape
        s = 2 if height >= 32 else 1
        if stem_kind == "2plus1d":
            mid = 45 * width // 64
            stem = [nn.Conv3d(channels, mid, (1, 7, 7), (1, s, s), (0, 3, 3), bias=False), *_bn_relu(mid)]
            stem += [nn.Conv3d(mid, width, (3, 1, 1), 1, (1, 0, 0), bias=False)]
        else:
            t_kernel = 5 if stem_kind == "3d" else 1
            stem = [nn.Conv3d(channels, width, (t_kernel, 7, 7), (1, s, s), (t_kernel // 2, 3, 3), bias=False)]
        stem += _bn_relu(width)
        if height >= 96:
            stem.append(nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)))
        layers, c_in = [], width
        for stage, kind in enumerate(stage_kinds):
            c_out = width * 2**stage
            stride = (1, 1, 1) if stage == 0 else (temporal_stride, 2, 2)
            layers += [BasicBlock(kind, c_in, c_out, stride), BasicBlock(kind, c_out, c_out, (1, 1, 1))]
            c_in = c_out
        self.body = nn.Sequential(*stem, *layers)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(c_in, num_classes)

    def embed(self, x):
        return self.body(x.transpose(1, 2)).mean(dim=(2, 3, 4))

    def head(self, h):
        return self.fc(self.dropout(h))


@register("i3d_r18")
def i3d_r18(num_classes, clip_shape, **options):
    return ResNet18Video(num_classes, clip_shape, ("3d",) * 4, "3d", 1, **options)


@register("slowonly_r18")
def slowonly_r18(num_classes, clip_shape, **options):
    return ResNet18Video(num_classes, clip_shape, ("2d", "2d", "3d", "3d"), "2d", 1, **options)


@register("r2plus1d_r18")
def r2plus1d_r18(num_classes, clip_shape, **options):
    return ResNet18Video(num_classes, clip_shape, ("2plus1d",) * 4, "2plus1d", 2, **options)
