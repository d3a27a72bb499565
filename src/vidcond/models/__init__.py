"""Model registry: every video model takes clips ``[B, T, C, H, W]`` in [0, 1].

Each model exposes ``features(x)`` (the flat embedding used by DM, herding, k-center and
RDED) and ``forward(x)`` (logits). Register a new architecture with ``@register("name")``
on a class or factory taking ``(num_classes, clip_shape, **options)``.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

REGISTRY: dict[str, Callable[..., "VideoModel"]] = {}

# ImageNet statistics, as in the official code of both video papers.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def register(name: str):
    def decorate(factory):
        if name in REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        REGISTRY[name] = factory
        return factory

    return decorate


def build_model(name: str, num_classes: int, clip_shape: tuple[int, int, int, int], **options) -> "VideoModel":
    """Instantiate architecture ``name`` for clips of ``clip_shape = (T, C, H, W)``.

    ``options["arch"]``, when given, names the registered architecture instead: a config
    entry ``models.<variant>: {arch: miniC3D, channels: [...]}`` is a named variant of it.
    """
    name = options.pop("arch", name)
    if name not in REGISTRY:
        raise KeyError(f"unknown model {name!r}; known: {sorted(REGISTRY)}")
    return REGISTRY[name](num_classes=num_classes, clip_shape=tuple(clip_shape), **options)


class VideoModel(nn.Module):
    """Base class: normalises the input, then ``embed`` -> ``head``."""

    # Convolve channels-last where the model can (MiniC3D). Off for weights that are views
    # of one flat vector (MTT's student): each convolution would convert them and their
    # gradients, ~8 % of its iteration and a weight copy per unrolled step.
    channels_last = True

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 1, 3, 1, 1), persistent=False)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised clips [B, T, C, H, W] -> what the head consumes."""
        raise NotImplementedError

    def head(self, h: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.normalise(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(self.normalise(x)))


def norm_layer(kind: str, channels: int, dims: int) -> nn.Module:
    """``batch``, ``instance`` (GroupNorm with one group per channel, as the official code) or ``none``."""
    if kind == "batch":
        return nn.BatchNorm3d(channels) if dims == 3 else nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.GroupNorm(channels, channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; use batch, instance or none")


# Importing the modules registers their architectures.
from . import c3d, convnet, resnet3d, videomae  # noqa: E402,F401


def save_model(stem, model: nn.Module, spec: dict, extra: dict | None = None) -> None:
    """Weights to ``<stem>.safetensors`` and the spec needed to rebuild it to ``<stem>.json``.

    ``spec`` = {"arch", "num_classes", "clip_shape", "options"}; ``extra`` is stored beside
    it (e.g. test accuracy).
    """
    from pathlib import Path

    from safetensors.torch import save_file

    from ..io import atomic_path, write_json

    stem = Path(stem)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(stem.with_suffix(".safetensors")) as tmp:
        save_file(state, str(tmp))
    write_json(stem.with_suffix(".json"), {**spec, **(extra or {})})


def load_model(stem) -> VideoModel:
    """Rebuild a model saved by :func:`save_model` (weights only: no code is unpickled)."""
    import json
    from pathlib import Path

    from safetensors.torch import load_file

    stem = Path(stem)
    spec = json.loads(stem.with_suffix(".json").read_text())
    model = build_model(spec["arch"], spec["num_classes"], spec["clip_shape"], **spec.get("options", {}))
    model.load_state_dict(load_file(str(stem.with_suffix(".safetensors"))))
    return model.eval()
