"""The condensed-set format: one safetensors file + one JSON sidecar per (dataset, method, IPC).

Tensors (all optional but one video source):

* ``videos`` [N, T_c, C, H, W] — float16 (distilled) or uint8 (selected real frames, /255);
* ``static`` [S, C, H, W] + ``dynamic`` [D, T_c, 1, H, W] + ``integrator.*`` — a factorised
  set: each video ``i`` combines one static and one dynamic memory through the integrator
  network (rebuilt from the registry entry named in the sidecar); candidates per video are
  ``static_choices`` [N, a] and ``dynamic_choices`` [N, b], one drawn at random each time;
* ``interpolator.*`` — weights of a learned (parametric) temporal interpolator;
* ``labels`` [N] int64 class indices (always); ``soft_labels`` [N, K] float32 logits;
* ``syn_lr`` [] float32 — a learned learning rate (MTT family).

Sidecar entries that say what the labels are: ``soft_label_kind`` (``logits``, the default;
``learned_logits``: learned with the set, DATM, used in place of the teacher's in
``multi_soft`` mode; ``regression_targets``: FRePo's MSE targets, never read as logits) and
``relabel: per_view`` (EDC: no static soft labels, the teacher labels every augmented view).
Distilled pixels lie in [0, 1] (clamped after every step; a factorised set's decoded video
too).

The sidecar records method, IPC, frames, resolution, the storage the papers count (every
stored data element as a float32), the condensation ratio, wall time, peak memory and the
config hash. :meth:`CondensedSet.draw` returns ready-to-train clips of the evaluator's
length whatever the parts: factorised sets are decoded, shorter sets interpolated,
longer ones sampled with a slide window.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from .io import atomic_path, write_json

FLOAT32_BYTES = 4
DATA_KEYS = ("videos", "static", "dynamic")  # exact names: `static_choices` is an index, not data
DATA_PREFIXES = ("integrator.", "interpolator.")
INTERPOLATIONS = ("duplicate", "linear", "parametric")


def paths(stem: str | Path) -> tuple[Path, Path]:
    stem = Path(stem)
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def storage_bytes(tensors: dict[str, torch.Tensor]) -> int:
    """Storage as the papers count it: every stored data element as a float32."""
    return FLOAT32_BYTES * sum(t.numel() for k, t in tensors.items() if k in DATA_KEYS or k.startswith(DATA_PREFIXES))


def label_bytes(tensors: dict[str, torch.Tensor]) -> int:
    return FLOAT32_BYTES * tensors["soft_labels"].numel() if "soft_labels" in tensors else 8 * tensors["labels"].numel()


def condensation_ratio(num_videos: int, frames: int, train_source_frames: int) -> float:
    """N_c * T_c / (N * T_mean): condensed frames over the real training set's frames."""
    return num_videos * frames / train_source_frames


def save_condensed(stem: str | Path, tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    """Write ``<stem>.safetensors`` then ``<stem>.json`` (both atomically); returns the sidecar."""
    if "labels" not in tensors or not any(k in tensors for k in ("videos", "static")):
        raise ValueError("a condensed set needs `labels` and `videos` (or `static` + `dynamic`)")
    tensor_path, meta_path = paths(stem)
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    with atomic_path(tensor_path) as tmp:
        save_file(tensors, str(tmp))
    meta = dict(meta)
    meta.update(
        num_videos=int(tensors["labels"].numel()),
        storage_bytes=storage_bytes(tensors),
        label_bytes=label_bytes(tensors),
        file_bytes=tensor_path.stat().st_size,
        label_kind="soft" if "soft_labels" in tensors else "hard",
    )
    write_json(meta_path, meta)
    return meta


@dataclass
class CondensedSet:
    tensors: dict[str, torch.Tensor]
    meta: dict
    _integrator: torch.nn.Module | None = field(default=None, repr=False)
    _interpolator: torch.nn.Module | None = field(default=None, repr=False)

    @property
    def labels(self) -> torch.Tensor:
        return self.tensors["labels"]

    @property
    def soft_labels(self) -> torch.Tensor | None:
        return self.tensors.get("soft_labels")

    @property
    def syn_lr(self) -> float | None:
        lr = self.tensors.get("syn_lr")
        return None if lr is None else float(lr)

    def __len__(self) -> int:
        return int(self.labels.numel())

    def _submodule(self, prefix: str) -> torch.nn.Module:
        from .models.parts import build_part

        spec = self.meta[prefix]
        module = build_part(spec["name"], **spec.get("options", {}))
        state = {k[len(prefix) + 1 :]: v.float() for k, v in self.tensors.items() if k.startswith(prefix + ".")}
        module.load_state_dict(state)
        return module.eval()

    def base_videos(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """Stored videos as float [N, T_c, C, H, W] (factorised sets decoded with a fresh pairing)."""
        if "videos" in self.tensors:
            videos = self.tensors["videos"]
            return videos.float() / 255.0 if videos.dtype == torch.uint8 else videos.float()
        if self._integrator is None:
            self._integrator = self._submodule("integrator")
        static = self.tensors["static"].float()[pick_choices(self.tensors["static_choices"], generator)]
        dynamic = self.tensors["dynamic"].float()[pick_choices(self.tensors["dynamic_choices"], generator)]
        with torch.no_grad():
            return self._integrator(static, dynamic)

    def draws_alike(self, num_frames: int) -> bool:
        """Whether every draw of ``num_frames``-frame clips is the same (and takes nothing from
        the generator): stored videos, no slide window."""
        return "videos" in self.tensors and self.tensors["videos"].shape[1] <= num_frames

    def draw(self, num_frames: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Ready-to-train clips [N, num_frames, C, H, W] for one epoch.

        ``generator`` drives the random parts (the static/dynamic pairing, slide windows);
        without one the draw is deterministic (first candidates, centred windows).
        """
        videos = self.base_videos(generator)
        t_c = videos.shape[1]
        if t_c > num_frames:  # slide-window sampling of a longer synthetic clip
            if generator is None:
                starts = torch.full((len(videos),), (t_c - num_frames) // 2)
            else:
                starts = torch.randint(0, t_c - num_frames + 1, (len(videos),), generator=generator)
            index = starts[:, None] + torch.arange(num_frames)
            return videos[torch.arange(len(videos))[:, None], index]
        if t_c < num_frames:
            return self.interpolate(videos, num_frames)
        return videos

    def interpolate(self, videos: torch.Tensor, num_frames: int) -> torch.Tensor:
        mode = self.meta.get("interpolation", "duplicate")
        if mode == "parametric":
            if self._interpolator is None:
                self._interpolator = self._submodule("interpolator")
            with torch.no_grad():
                return self._interpolator(duplicate_frames(videos, num_frames))
        return interpolate_frames(videos, num_frames, mode)


def pick_choices(choices: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One entry per row of ``choices`` [N, k]: at random, or the first without a generator."""
    if generator is None:
        return choices[:, 0]
    column = torch.randint(0, choices.shape[1], (choices.shape[0], 1), generator=generator)
    return choices.gather(1, column).squeeze(1)


def duplicate_frames(videos: torch.Tensor, num_frames: int) -> torch.Tensor:
    """[N, t, C, H, W] -> [N, num_frames, ...], each frame repeated over its share of time."""
    index = torch.arange(num_frames) * videos.shape[1] // num_frames
    return videos[:, index]


def interpolate_frames(videos: torch.Tensor, num_frames: int, mode: str) -> torch.Tensor:
    """``duplicate`` or ``linear`` (frames at evenly spaced times, e.g. 2 -> 4 gives
    [f1, (2 f1 + f2) / 3, (f1 + 2 f2) / 3, f2])."""
    if mode == "duplicate":
        return duplicate_frames(videos, num_frames)
    if mode != "linear":
        raise ValueError(f"unknown interpolation {mode!r}; known: {INTERPOLATIONS}")
    n, t, c, h, w = videos.shape
    flat = videos.permute(0, 2, 3, 4, 1).reshape(n, c * h * w, t)
    out = F.interpolate(flat, size=num_frames, mode="linear", align_corners=True)
    return out.reshape(n, c, h, w, num_frames).permute(0, 4, 1, 2, 3)


def load_condensed(stem: str | Path) -> CondensedSet:
    tensor_path, meta_path = paths(stem)
    return CondensedSet(load_file(str(tensor_path)), json.loads(meta_path.read_text()))


def to_uint8(clips: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Real frames in [0, 1] stored exactly as uint8 (selection methods)."""
    clips = torch.as_tensor(clips)
    return clips if clips.dtype == torch.uint8 else clips.mul(255).round_().clamp_(0, 255).to(torch.uint8)
