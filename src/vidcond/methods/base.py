"""The interface every condensation method implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import torch

from ..data.framestore import FrameStore
from ..data.sampling import center_clip, random_clip, to_clip_tensor
from ..models import VideoModel, build_model

METHODS: dict[str, type["Method"]] = {}


def register_method(cls: type["Method"]) -> type["Method"]:
    METHODS[cls.name] = cls
    return cls


@dataclass
class CondenseContext:
    """Everything a method may use: the real data, its settings and its inputs."""

    store: FrameStore
    dataset: str
    ipc: int
    params: dict  # the method's hyperparameters (config entry, resolved for dataset and IPC)
    clip: dict  # num_frames, stride
    seed: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    inputs: dict[str, str] = field(default_factory=dict)  # required inputs (teacher, experts, ...)
    model_options: dict = field(default_factory=dict)  # config `models`: options per architecture
    work_dir: Path | None = None  # checkpoints for resuming
    progress: bool = True

    @property
    def num_classes(self) -> int:
        return self.store.num_classes

    @property
    def clip_shape(self) -> tuple[int, int, int, int]:
        return (self.clip["num_frames"], 3, *self.store.frame_size)

    @property
    def train_videos(self) -> pd.DataFrame:
        return self.store.videos("train")

    def rng(self, *salt: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, *salt])

    def build_model(self, arch: str, **overrides) -> VideoModel:
        options = {**self.model_options.get(arch, {}), **overrides}
        return build_model(arch, self.num_classes, self.clip_shape, **options).to(self.device)

    def require(self, name: str) -> str:
        if name not in self.inputs:
            raise ValueError(f"method needs input {name!r}; add it to the method's `requires` in the config")
        return self.inputs[name]

    def clips(self, videos: pd.DataFrame, rng: np.random.Generator | None = None) -> torch.Tensor:
        """One clip per row of ``videos`` (random with ``rng``, centred otherwise), float [N, T, C, H, W]."""
        n_frames, stride = self.clip["num_frames"], self.clip["stride"]
        frames = []
        for offset, n in zip(videos["offset"], videos["n_stored"]):
            pick = random_clip(n, n_frames, stride, rng) if rng is not None else center_clip(n, n_frames, stride)
            frames.append(self.store.frames[offset + pick])
        return to_clip_tensor(np.stack(frames))


@dataclass
class Condensed:
    """What a method returns: the tensors of the format and sidecar entries of its own
    (``frames`` when not the clip length, ``interpolation``, ``integrator`` spec, ...)."""

    tensors: dict[str, torch.Tensor]
    meta: dict = field(default_factory=dict)


class Method(ABC):
    name: ClassVar[str]

    @abstractmethod
    def condense(self, ctx: CondenseContext) -> Condensed:
        """Build the condensed set of ``ctx.ipc`` videos per class."""
