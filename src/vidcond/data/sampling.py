"""Clip sampling: which frame indices of a video form a clip.

All functions work on frame indices of the stored video (``n`` frames) and return int64
arrays. A clip of ``num_frames`` frames with ``stride`` spans ``(num_frames - 1) * stride + 1``
frames; a video shorter than that uses the largest stride that fits (at least 1, as the
official code does with ``n // num_frames``) and repeats its last frame if still too short.
"""

from __future__ import annotations

import numpy as np
import torch


def clip_span(num_frames: int, stride: int) -> int:
    return (num_frames - 1) * stride + 1


def fitting_stride(n: int, num_frames: int, stride: int) -> int:
    return stride if n >= clip_span(num_frames, stride) else max(1, n // num_frames)


def _clip_at(start: int, n: int, num_frames: int, stride: int) -> np.ndarray:
    return np.minimum(start + stride * np.arange(num_frames), n - 1)


def random_clip(n: int, num_frames: int, stride: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform dynamic sampling: a random start each call (a new clip every epoch)."""
    stride = fitting_stride(n, num_frames, stride)
    start = rng.integers(0, max(n - clip_span(num_frames, stride), 0) + 1)
    return _clip_at(int(start), n, num_frames, stride)


def center_clip(n: int, num_frames: int, stride: int) -> np.ndarray:
    """The deterministic test clip: centred in the video."""
    stride = fitting_stride(n, num_frames, stride)
    return _clip_at(max(n - clip_span(num_frames, stride), 0) // 2, n, num_frames, stride)


def window_clips(n: int, num_frames: int, stride: int, count: int) -> np.ndarray:
    """Slide-window candidates: ``count`` clips with evenly spaced starts, [count, num_frames]."""
    stride = fitting_stride(n, num_frames, stride)
    last_start = max(n - clip_span(num_frames, stride), 0)
    starts = np.linspace(0, last_start, count).round().astype(int)
    return np.stack([_clip_at(s, n, num_frames, stride) for s in starts])


def segment_indices(n: int, num_segments: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """One frame from each of ``num_segments`` equal segments (TSN-style): a random frame of
    each segment when ``rng`` is given, its middle frame otherwise."""
    edges = np.linspace(0, n, num_segments + 1)
    lo, hi = np.floor(edges[:-1]).astype(int), np.maximum(np.ceil(edges[1:]).astype(int), np.floor(edges[:-1]).astype(int) + 1)
    if rng is None:
        picks = (lo + hi - 1) // 2
    else:
        picks = lo + (rng.random(num_segments) * (hi - lo)).astype(int)
    return np.minimum(picks, n - 1)


# The range of the float clips `to_clip_tensor` makes (uint8 / 255): every method that makes
# pixels (distillation steps, decoders, generators) keeps them in it.
PIXEL_RANGE = (0.0, 1.0)


def to_clip_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 frames [..., T, H, W, 3] -> float clips [..., T, 3, H, W] in :data:`PIXEL_RANGE`."""
    x = torch.from_numpy(np.ascontiguousarray(frames))
    return x.movedim(-1, -3).float().div_(255.0)


def evenly_spaced_positions(num_frames: int, n: int) -> np.ndarray:
    """Positions 0, T/n, 2T/n, ... of a clip of T frames (the first of each of n equal parts)."""
    return np.arange(n) * num_frames // n


def evenly_spaced_frames(clips: torch.Tensor, n: int) -> torch.Tensor:
    """Frames 0, T/n, 2T/n, ... of clips [B, T, C, H, W]; the clips themselves (no copy) when n = T."""
    if n == clips.shape[1]:
        return clips
    return clips[:, torch.from_numpy(evenly_spaced_positions(clips.shape[1], n))]
