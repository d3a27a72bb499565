"""Diversity and representativeness of a condensed set in a fixed feature space (GVD, App. A).

The feature space is a trained classifier's embedding (``VideoModel.features``): the real
training set's centre clips give the reference points, the condensed set's deterministic
draw the points measured. Pure functions on arrays [N, D] below; :func:`diversity_row` runs
the network and assembles one table row.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial.distance import pdist
from sklearn.cluster import KMeans
from sklearn.neighbors import NearestNeighbors

from .condensed import load_condensed
from .data.framestore import FrameStore
from .models import load_model
from .training import RealClips, pick_device


def assignment_entropy(assignment: np.ndarray, num_clusters: int) -> float:
    """Shannon entropy (nats) of the share of points in each cluster; ln(k) when uniform."""
    share = np.bincount(assignment, minlength=num_clusters) / len(assignment)
    share = share[share > 0]
    return float((share * np.log(1 / share)).sum())


def cluster_entropy(
    real: np.ndarray, condensed: np.ndarray, num_clusters: int, seed: int = 0
) -> float:
    """Entropy of the condensed points' assignment over k-means clusters of the real points."""
    kmeans = KMeans(n_clusters=num_clusters, n_init=10, random_state=seed).fit(real)
    return assignment_entropy(kmeans.predict(condensed), num_clusters)


def coverage_radius(real: np.ndarray, percentile: float = 90.0) -> float:
    """The ``percentile``-th percentile of the real points' nearest-neighbour distances (to
    another real point)."""
    real_nn = NearestNeighbors(n_neighbors=2).fit(real).kneighbors(real)[0][:, 1]
    return float(np.percentile(real_nn, percentile))


def covered(real: np.ndarray, condensed: np.ndarray, percentile: float = 90.0, radius: float | None = None) -> np.ndarray:
    """Per real point: whether its nearest condensed point lies within ``radius`` (default:
    :func:`coverage_radius` at ``percentile``; pass it to measure many sets against the
    same real points)."""
    radius = coverage_radius(real, percentile) if radius is None else radius
    to_condensed = NearestNeighbors(n_neighbors=1).fit(condensed).kneighbors(real)[0][:, 0]
    return to_condensed <= radius


def coverage(real: np.ndarray, condensed: np.ndarray, percentile: float = 90.0) -> float:
    """Share of real points covered by the condensed points (see :func:`covered`)."""
    return float(covered(real, condensed, percentile).mean())


def mean_pairwise_distance(points: np.ndarray) -> float:
    """Mean Euclidean distance over all pairs (NaN for fewer than two points)."""
    return float(pdist(points).mean()) if len(points) > 1 else float("nan")


def l2_normalise(points: np.ndarray) -> np.ndarray:
    return points / np.maximum(np.linalg.norm(points, axis=1, keepdims=True), 1e-12)


@torch.no_grad()
def embed(model: torch.nn.Module, batches, device) -> tuple[np.ndarray, np.ndarray]:
    """(features, logits) of an iterable of clip batches [B, T, C, H, W], as float arrays."""
    model.to(device).eval()
    features, logits = [], []
    for clips in batches:
        h = model.embed(model.normalise(clips.to(device)))
        features.append(h.flatten(1).float().cpu())  # = model.features(clips)
        logits.append(model.head(h).float().cpu())
    return torch.cat(features).numpy(), torch.cat(logits).numpy()


REAL_TRAIN = "real_train"  # the reference row: the real training set measured like a condensed set


def diversity_rows(
    *,
    store_dir,
    sets: list[tuple[str, int, str]],
    teacher_stem,
    clusters: int,
    percentile: float,
    normalize: bool,
    clip: dict,
    seed: int,
    batch_size: int = 64,
    device=None,
) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Entropy, coverage and MPD of every condensed set ``(method, ipc, stem)`` of one
    dataset in the teacher's feature space, and the teacher's accuracy on it
    (``representativeness``, a fraction); the real training set's features and k-means
    clusters are computed once. The first row measures the real training set itself (its
    coverage is 1 by construction). Also returns, per set ``"<method>/ipc<k>"``, which real
    points it covers (for paired comparisons of coverage)."""
    device = device or pick_device()
    teacher = load_model(teacher_stem)
    real = RealClips(FrameStore(store_dir), clip["num_frames"], clip["stride"])
    starts = range(0, len(real), batch_size)
    real_features, real_logits = embed(
        teacher,
        (real.clips(np.arange(s, min(s + batch_size, len(real))), None) for s in starts),
        device,
    )
    if normalize:
        real_features = l2_normalise(real_features)
    k = min(clusters, len(real_features))
    kmeans = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(real_features)
    real_mpd = mean_pairwise_distance(real_features)
    radius = coverage_radius(real_features, percentile)

    def row(method, ipc, features, logits, labels, covers):
        return {
            "method": method,
            "ipc": ipc,
            "num_videos": len(features),
            "clusters": k,
            "entropy": assignment_entropy(kmeans.predict(features), k),
            "entropy_max": float(np.log(min(k, len(features)))),
            "coverage": float(covers.mean()),
            "mpd": mean_pairwise_distance(features),
            "real_mpd": real_mpd,
            "representativeness": float((logits.argmax(1) == labels).mean()),
        }

    real_covers = covered(real_features, real_features, radius=radius)
    rows = [row(REAL_TRAIN, None, real_features, real_logits, real.labels.numpy(), real_covers)]
    covers = {}
    for method, ipc, stem in sets:
        condensed = load_condensed(stem)
        features, logits = embed(teacher, condensed.draw(clip["num_frames"], None).split(batch_size), device)
        if normalize:
            features = l2_normalise(features)
        covers[f"{method}/ipc{ipc}"] = covered(real_features, features, radius=radius)
        rows.append(row(method, ipc, features, logits, condensed.labels.numpy(), covers[f"{method}/ipc{ipc}"]))
    return rows, covers
