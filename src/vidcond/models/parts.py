"""Small networks stored inside a condensed set (its decoder), built by name from the sidecar.

Integrators combine a static frame [N, C, H, W] and a dynamic memory [N, T, 1, H, W] into a
video [N, T, C, H, W] ("Dancing with Still Images", network H); interpolators restore a
clip [N, T, C, H, W] from its duplicated frames (the parametric interpolation).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..data.sampling import PIXEL_RANGE

PARTS: dict[str, Callable[..., nn.Module]] = {}


def register_part(name: str):
    def decorate(factory):
        PARTS[name] = factory
        return factory

    return decorate


def build_part(name: str, **options) -> nn.Module:
    if name not in PARTS:
        raise KeyError(f"unknown condensed-set part {name!r}; known: {sorted(PARTS)}")
    return PARTS[name](**options)


class Integrator(nn.Module):
    """H(static, dynamic): the static frame repeated over time, concatenated with the
    one-channel dynamic memory, through a small 3D network; the decoded video is clamped to
    the pixel range [0, 1] of real clips (in condensation and in evaluation alike)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, static: torch.Tensor, dynamic: torch.Tensor) -> torch.Tensor:
        t = dynamic.shape[1]
        stacked = torch.cat([static.unsqueeze(1).expand(-1, t, -1, -1, -1), dynamic], dim=2)
        return self.net(stacked.transpose(1, 2)).transpose(1, 2).clamp(*PIXEL_RANGE)


@register_part("integrator_conv")
def integrator_conv(channels: int = 3) -> nn.Module:
    """The default H: one Conv3d 3x3x3 (C + 1 -> C)."""
    return Integrator(nn.Conv3d(channels + 1, channels, 3, padding=1))


@register_part("integrator_conv_deconv")
def integrator_conv_deconv(channels: int = 3, middle: int = 8) -> nn.Module:
    """The larger H: Conv3d then ConvTranspose3d through ``middle`` channels."""
    return Integrator(
        nn.Sequential(
            nn.Conv3d(channels + 1, middle, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.ConvTranspose3d(middle, channels, 3, padding=1),
        )
    )


class TimesformerInterpolator(nn.Module):
    """The parametric interpolator of "Dancing with Still Images" (Sec. 3.3): a TimeSformer
    (divided space-time attention) that restores a clip [N, T, C, H, W] in [0, 1] from its
    duplicated frames. Each output patch token is mapped back to its pixels and added to
    the input; the map starts at zero, so an untrained interpolator is plain duplication."""

    def __init__(self, num_frames: int, image_size: int, channels: int = 3, patch_size: int = 8, hidden_size: int = 64, layers: int = 2, heads: int = 4, intermediate_size: int = 128):
        super().__init__()
        from transformers import TimesformerConfig, TimesformerModel

        config = TimesformerConfig(
            image_size=image_size,
            patch_size=patch_size,
            num_channels=channels,
            num_frames=num_frames,
            hidden_size=hidden_size,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            intermediate_size=intermediate_size,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
            attention_type="divided_space_time",
        )
        self.patch_size = patch_size
        self.backbone = TimesformerModel(config)
        self.to_pixels = nn.Linear(hidden_size, channels * patch_size**2)
        nn.init.zeros_(self.to_pixels.weight)
        nn.init.zeros_(self.to_pixels.bias)

    def forward(self, videos: torch.Tensor) -> torch.Tensor:
        n, t, c, h, w = videos.shape
        p = self.patch_size
        # Tokens after the class token are patch-major, frame-minor: index = patch * T + t.
        tokens = self.backbone(pixel_values=(videos - 0.5) / 0.25).last_hidden_state[:, 1:]
        patches = self.to_pixels(tokens).view(n, h // p, w // p, t, c, p, p)
        return videos + patches.permute(0, 3, 4, 1, 5, 2, 6).reshape(n, t, c, h, w)


@register_part("interpolator_timesformer")
def interpolator_timesformer(**options) -> nn.Module:
    return TimesformerInterpolator(**options)
