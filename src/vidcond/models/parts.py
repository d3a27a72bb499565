"""Small networks stored inside a condensed set (its decoder), built by name from the sidecar.

Integrators combine a static frame [N, C, H, W] and a dynamic memory [N, T, 1, H, W] into a
video [N, T, C, H, W] ("Dancing with Still Images", network H).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

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
    one-channel dynamic memory, through a small 3D network."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, static: torch.Tensor, dynamic: torch.Tensor) -> torch.Tensor:
        t = dynamic.shape[1]
        stacked = torch.cat([static.unsqueeze(1).expand(-1, t, -1, -1, -1), dynamic], dim=2)
        return self.net(stacked.transpose(1, 2)).transpose(1, 2)


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
