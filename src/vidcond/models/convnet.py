"""Frame-wise 2D ConvNets: ConvNet+GRU/LSTM/RNN (Dancing's cross-architecture models) and
ConvNetD4, the 2D network that distils single frames (Static-DC)."""

from __future__ import annotations

from torch import nn

from . import VideoModel, norm_layer, register


def conv_trunk(in_channels: int, width: int, depth: int, norm: str) -> nn.Sequential:
    """``depth`` x [Conv2d 3x3 pad 1, norm, ReLU, AvgPool2d 2] (the DC/DM ConvNet)."""
    layers, c_in = [], in_channels
    for _ in range(depth):
        layers += [nn.Conv2d(c_in, width, 3, padding=1), norm_layer(norm, width, 2), nn.ReLU(inplace=True), nn.AvgPool2d(2)]
        c_in = width
    return nn.Sequential(*layers)


def _trunk_out(size: int, depth: int, name: str) -> int:
    out = size >> depth
    if out < 1:
        raise ValueError(f"{name}: frames of {size} px are too small for {depth} pooling layers")
    return out


class ConvNetRecurrent(VideoModel):
    """Per-frame 3-layer ConvNet -> 1-layer recurrent net -> mean over time -> linear."""

    RNN = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}

    def __init__(self, num_classes, clip_shape, cell: str, width=128, depth=3, norm="instance", hidden=None):
        super().__init__()
        _, channels, height, width_px = clip_shape
        self.trunk = conv_trunk(channels, width, depth, norm)
        num_feat = width * _trunk_out(height, depth, "convnet") * _trunk_out(width_px, depth, "convnet")
        # The official GRU/RNN use num_feat // 8 hidden units; LSTM's num_feat is enormous
        # at 112 px, so every cell defaults to num_feat // 8 here (set `hidden` to change).
        self.hidden = hidden or max(num_feat // 8, 1)
        self.rnn = self.RNN[cell](num_feat, self.hidden, num_layers=1, batch_first=True)
        self.fc = nn.Linear(self.hidden, num_classes)

    def embed(self, x):
        b, t = x.shape[:2]
        frames = self.trunk(x.flatten(0, 1)).flatten(1).view(b, t, -1)
        out, _ = self.rnn(frames)
        return out.mean(dim=1)

    def head(self, h):
        return self.fc(h)


for _cell in ("gru", "lstm", "rnn"):
    register(f"convnet_{_cell}")(lambda num_classes, clip_shape, _c=_cell, **o: ConvNetRecurrent(num_classes, clip_shape, _c, **o))


@register("convnet_d4")
class ConvNetD4(VideoModel):
    """4-layer 2D ConvNet on single frames. A clip [B, T, C, H, W] is classified frame by
    frame and the logits averaged; a batch of images [B, C, H, W] is taken as is."""

    def __init__(self, num_classes, clip_shape, width=128, depth=4, norm="instance"):
        super().__init__()
        _, channels, height, width_px = clip_shape
        self.trunk = conv_trunk(channels, width, depth, norm)
        num_feat = width * _trunk_out(height, depth, "convnet_d4") * _trunk_out(width_px, depth, "convnet_d4")
        self.fc = nn.Linear(num_feat, num_classes)

    def normalise(self, x):
        return super().normalise(x) if x.dim() == 5 else super().normalise(x.unsqueeze(1)).squeeze(1)

    def embed(self, x):
        if x.dim() == 5:
            b, t = x.shape[:2]
            return self.trunk(x.flatten(0, 1)).flatten(1).view(b, t, -1).mean(dim=1)
        return self.trunk(x).flatten(1)

    def head(self, h):
        return self.fc(h)
