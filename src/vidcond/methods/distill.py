"""Shared pieces of the optimisation-based (distillation) methods.

* :class:`RealSampler` draws per-class batches of real clips (or single frames);
* :func:`init_synthetic` builds the learnable synthetic videos, from real clips or noise;
* :class:`DistillLoop` runs the iterations with a progress bar showing the matching loss,
  checkpoints every K iterations (and on SIGTERM) and resumes from the last checkpoint,
  restoring every tensor, module, optimizer and random generator so that a resumed run
  ends exactly where an uninterrupted one would.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from tqdm import tqdm

from ..checkpoint import Checkpointer
from ..data.sampling import random_clip, to_clip_tensor
from .base import CondenseContext


class RealSampler:
    """Random real clips of one class, from the training split of the frame store."""

    def __init__(self, ctx: CondenseContext):
        self.ctx = ctx
        videos = ctx.train_videos
        self.by_class = [videos[videos["label"] == c].reset_index(drop=True) for c in range(ctx.num_classes)]

    def clips(self, label: int, n: int, rng: np.random.Generator, num_frames: int | None = None) -> torch.Tensor:
        """``n`` clips of class ``label`` (videos drawn with replacement only when the class
        has fewer than ``n``), float [n, T, C, H, W] on the context's device."""
        videos = self.by_class[label]
        rows = rng.choice(len(videos), n, replace=n > len(videos))
        num_frames = num_frames or self.ctx.clip["num_frames"]
        stride, store = self.ctx.clip["stride"], self.ctx.store
        frames = [
            store.frames[videos["offset"].iat[r] + random_clip(int(videos["n_stored"].iat[r]), num_frames, stride, rng)]
            for r in rows
        ]
        return to_clip_tensor(np.stack(frames)).to(self.ctx.device)

    def frames(self, label: int, n: int, rng: np.random.Generator) -> torch.Tensor:
        """``n`` single frames of class ``label`` (a random frame of a random video), [n, C, H, W]."""
        return self.clips(label, n, rng, num_frames=1)[:, 0]


def init_synthetic(ctx: CondenseContext, init: str, rng: np.random.Generator, num_frames: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Learnable synthetic videos [K * IPC, T, C, H, W] (class-major) and their labels.

    ``init="real"`` starts from distinct random real clips of each class; ``"noise"`` from
    Gaussian noise around mid-grey.
    """
    num_frames = num_frames or ctx.clip["num_frames"]
    labels = torch.arange(ctx.num_classes).repeat_interleave(ctx.ipc)
    if init == "real":
        sampler = RealSampler(ctx)
        data = torch.cat([sampler.clips(c, ctx.ipc, rng, num_frames) for c in range(ctx.num_classes)])
    elif init == "noise":
        shape = (len(labels), num_frames, 3, *ctx.store.frame_size)
        data = 0.5 + 0.2 * torch.from_numpy(rng.standard_normal(shape).astype(np.float32)).to(ctx.device)
    else:
        raise ValueError(f"unknown init {init!r}; use real or noise")
    return data.detach().clone().requires_grad_(True), labels.to(ctx.device)


def _state_of(obj: Any):
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if isinstance(obj, np.random.Generator):
        return obj.bit_generator.state
    return obj.state_dict()


def _restore(obj: Any, state) -> None:
    if isinstance(obj, torch.Tensor):
        with torch.no_grad():
            obj.copy_(state.to(obj.device))
    elif isinstance(obj, np.random.Generator):
        obj.bit_generator.state = state
    else:
        obj.load_state_dict(state)


class DistillLoop:
    """Iterate ``step(iteration) -> loss`` with checkpoint/resume.

    ``state`` names everything that changes across iterations: tensors (updated in place),
    ``nn.Module``s, optimizers and numpy generators. The torch random state is saved too.
    """

    def __init__(self, ctx: CondenseContext, iterations: int, state: dict[str, Any], checkpoint_every: int = 50, desc: str = "distill"):
        self.ctx, self.iterations, self.state, self.desc = ctx, int(iterations), state, desc
        self.checkpointer = Checkpointer(ctx.work_dir, checkpoint_every)
        self.losses: list[float] = []

    def _snapshot(self, iteration: int) -> dict:
        snapshot = {"iteration": iteration, "losses": list(self.losses), "torch_rng": torch.get_rng_state()}
        if torch.cuda.is_available():
            snapshot["cuda_rng"] = torch.cuda.get_rng_state_all()
        snapshot["state"] = {name: _state_of(obj) for name, obj in self.state.items()}
        return snapshot

    def _resume(self) -> int:
        saved = self.checkpointer.load()
        if saved is None:
            return 0
        for name, obj in self.state.items():
            _restore(obj, saved["state"][name])
        torch.set_rng_state(saved["torch_rng"])
        if "cuda_rng" in saved and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(saved["cuda_rng"])
        self.losses = list(saved["losses"])
        print(f"resumed from iteration {saved['iteration']}")
        return int(saved["iteration"])

    def run(self, step: Callable[[int], float]) -> list[float]:
        start = self._resume()
        with self.checkpointer.handle_sigterm():
            bar = tqdm(range(start, self.iterations), initial=start, total=self.iterations, desc=self.desc, disable=not self.ctx.progress, mininterval=5)
            for iteration in bar:
                loss = float(step(iteration))
                self.losses.append(loss)
                bar.set_postfix(loss=f"{loss:.4g}")
                self.checkpointer.step(iteration + 1, lambda: self._snapshot(iteration + 1))
        return self.losses
