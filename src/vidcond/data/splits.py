"""The validation split: training videos set aside for everything that is tuned or selected.

Method hyperparameters, evaluation budgets and early stopping are chosen on ``val``; the
``test`` split only produces reported numbers. The split is carved per class from the
listed training videos, by a seeded draw over the videos in ``video_id`` order, so it
depends only on the listing and the seed (not on which videos later fail to decode).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def validation_count(n_train: int, fraction: float) -> int:
    """Videos of a class that go to ``val``: ``fraction`` of its training videos, rounded,
    at least one where the class has two or more, and never all of them."""
    if n_train < 2 or fraction <= 0:
        return 0
    return min(n_train - 1, max(1, round(fraction * n_train)))


def carve_validation(videos: pd.DataFrame, fraction: float, seed: int) -> pd.DataFrame:
    """A copy of a listing's ``videos`` with ``split`` set to ``"val"`` for a seeded
    ``fraction`` of each class's training videos."""
    out = videos.copy()
    train = out[out["split"] == "train"].sort_values("video_id")
    for label, rows in train.groupby("label", sort=True):
        count = validation_count(len(rows), fraction)
        # seeded per class, so adding a class leaves the others' draws unchanged
        rng = np.random.default_rng([seed, int(label)])
        chosen = rng.choice(len(rows), size=count, replace=False)
        out.loc[rows.index[chosen], "split"] = "val"
    return out
