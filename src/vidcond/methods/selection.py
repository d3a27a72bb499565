"""Shared pieces of the sample-selection methods (herding, k-center, RDED).

The selection rules are plain functions on features or losses, so that they can be checked
on hand-made inputs; the methods only compute those inputs with the soft-label teacher:

* :func:`herding_order` — greedy mean matching;
* :func:`kcenter_order` — greedy farthest-point traversal;
* :func:`rded_choice` — each video's lowest-loss candidate, then the lowest-loss videos;
  :func:`score_candidates` computes the losses with an injectable :data:`ClipScorer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy.spatial.distance import cdist

from ..models import VideoModel, load_model
from ..condensed import to_uint8
from .base import Condensed, CondenseContext, Params, param


@dataclass(frozen=True, kw_only=True)
class FeatureSelectionParams(Params):
    """Herding and k-center: the teacher's features of every training video's centre clip."""

    batch_size: int = param(64, "clips per teacher forward pass", minimum=1)

# (clips [n, T, C, H, W], labels [n]) -> one loss per clip [n]
ClipScorer = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _check_count(count: int, available: int) -> None:
    if not 0 < count <= available:
        raise ValueError(f"cannot select {count} of {available} samples")


def herding_order(features: np.ndarray, count: int) -> np.ndarray:
    """Indices of ``count`` rows of ``features`` [N, D], chosen greedily so that the mean of
    the chosen rows stays closest to the mean of all rows (Welling's herding)."""
    features = np.asarray(features, dtype=np.float64)
    _check_count(count, len(features))
    target = features.mean(0)
    chosen, total = [], np.zeros_like(target)
    available = np.ones(len(features), dtype=bool)
    for step in range(1, count + 1):
        gap = np.linalg.norm(target - (total + features) / step, axis=1)
        gap[~available] = np.inf
        pick = int(np.argmin(gap))
        chosen.append(pick)
        total += features[pick]
        available[pick] = False
    return np.array(chosen)


def kcenter_order(features: np.ndarray, count: int, start: int) -> np.ndarray:
    """Indices of ``count`` rows of ``features`` [N, D]: ``start``, then repeatedly the row
    farthest from every row chosen so far (greedy k-center). Works for any ``count`` up
    to N, duplicates included."""
    features = np.asarray(features, dtype=np.float64)
    _check_count(count, len(features))
    chosen = [int(start)]
    nearest = cdist(features, features[[start]])[:, 0]
    nearest[start] = -np.inf  # chosen rows are never picked again, even at distance 0
    for _ in range(count - 1):
        pick = int(np.argmax(nearest))
        chosen.append(pick)
        nearest = np.minimum(nearest, cdist(features, features[[pick]])[:, 0])
        nearest[chosen] = -np.inf
    return np.array(chosen)


def nearest_to_mean(features: np.ndarray) -> int:
    """The row of ``features`` [N, D] nearest the mean of all rows (k-center's first centre
    in DC's and the Dancing code's coreset)."""
    features = np.asarray(features, dtype=np.float64)
    return int(np.argmin(np.linalg.norm(features - features.mean(0), axis=1)))


def rded_choice(losses: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """From ``losses`` [V, m] (m candidate clips of V videos): keep each video's lowest-loss
    candidate, then the ``count`` videos whose kept loss is lowest. Returns (videos,
    candidates), lowest loss first."""
    losses = np.asarray(losses)
    _check_count(count, len(losses))
    best = losses.argmin(1)
    videos = np.argsort(losses[np.arange(len(losses)), best], kind="stable")[:count]
    return videos, best[videos]


def score_candidates(
    candidates: Iterable[torch.Tensor], label: int, scorer: ClipScorer
) -> np.ndarray:
    """Losses [V, m] of candidate clips given in chunks of videos [b, m, T, C, H, W]."""
    losses = []
    for chunk in candidates:
        b, m = chunk.shape[:2]
        labels = torch.full((b * m,), label, dtype=torch.long, device=chunk.device)
        losses.append(scorer(chunk.flatten(0, 1), labels).reshape(b, m).float().cpu().numpy())
    return np.concatenate(losses)


def cross_entropy_scorer(model: VideoModel) -> ClipScorer:
    """The realism score of RDED: the model's cross-entropy -log p(y | clip) (lower = more real)."""

    def score(clips: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return F.cross_entropy(model(clips), labels, reduction="none")

    return score


def load_teacher(ctx: CondenseContext) -> VideoModel:
    return load_model(ctx.require("teacher")).to(ctx.device).eval()


def class_videos(ctx: CondenseContext, label: int) -> pd.DataFrame:
    """The training videos of class ``label``, failing with the class name when fewer than IPC."""
    videos = ctx.train_videos
    rows = videos[videos["label"] == label]
    if len(rows) < ctx.ipc:
        name = ctx.store.classes.set_index("label")["name"][label]
        raise ValueError(f"IPC {ctx.ipc} exceeds the {len(rows)} training videos of class {name!r}")
    return rows


def centre_features(
    ctx: CondenseContext, model: VideoModel, rows: pd.DataFrame, batch_size: int
) -> tuple[torch.Tensor, np.ndarray]:
    """Centre clips of ``rows`` (float, on CPU) and the model's features of them [N, D]."""
    clips = ctx.clips(rows)
    features = []
    with torch.no_grad():
        for start in range(0, len(clips), batch_size):
            features.append(
                model.features(clips[start : start + batch_size].to(ctx.device)).float().cpu()
            )
    return clips, torch.cat(features).numpy()


def select_by_features(
    ctx: CondenseContext, order: Callable[[np.ndarray, int], np.ndarray]
) -> Condensed:
    """Per class, the centre clips of the videos ``order(features, IPC)`` picks, where the
    features are the teacher's embeddings of every training video's centre clip."""
    teacher = load_teacher(ctx)
    batch_size = FeatureSelectionParams.of(ctx.params).batch_size
    videos, labels, chosen_ids = [], [], []
    for label in range(ctx.num_classes):
        rows = class_videos(ctx, label)
        clips, features = centre_features(ctx, teacher, rows, batch_size)
        picks = order(features, ctx.ipc)
        videos.append(clips[picks])
        labels += [label] * len(picks)
        chosen_ids += rows["video_id"].iloc[picks].tolist()
    tensors = {
        "videos": to_uint8(torch.cat(videos)),
        "labels": torch.tensor(labels, dtype=torch.long),
    }
    return Condensed(tensors, {"selected_videos": chosen_ids})
