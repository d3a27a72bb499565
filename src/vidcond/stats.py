"""Uncertainty of the benchmark's numbers: intervals over evaluation seeds, paired
differences between two condensed sets evaluated with the same seeds.

Accuracies are fractions (0-1) throughout. An interval is the two-sided 95 % Student-t
interval of a mean over seeds (n − 1 degrees of freedom); with one seed it is undefined
(NaN) rather than zero wide.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats as _stats

CONFIDENCE = 0.95


def mean_ci95(values: Sequence[float]) -> tuple[float, float, float, float]:
    """(mean, sample std, low, high) of the 95 % t-interval of the mean of ``values``."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return (math.nan,) * 4
    mean = float(x.mean())
    if len(x) < 2:
        return mean, math.nan, math.nan, math.nan
    std = float(x.std(ddof=1))
    half = float(_stats.t.ppf(0.5 + CONFIDENCE / 2, len(x) - 1)) * std / math.sqrt(len(x))
    return mean, std, mean - half, mean + half


def mean_normal_ci95(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, low, high) of the normal 95 % interval of a mean over many paired
    differences (e.g. per real point, where a t quantile is no different)."""
    x = np.asarray(values, dtype=float)
    mean = float(x.mean())
    if len(x) < 2:
        return mean, math.nan, math.nan
    half = float(_stats.norm.ppf(0.5 + CONFIDENCE / 2)) * float(x.std(ddof=1)) / math.sqrt(len(x))
    return mean, mean - half, mean + half


def paired_difference(a: dict, b: dict) -> tuple[float, float, float, int]:
    """Mean of ``a[s] − b[s]`` over the seeds ``s`` both have, with its 95 % interval and
    the number of pairs: (mean, low, high, n_pairs)."""
    common = sorted(set(a) & set(b))
    mean, _, low, high = mean_ci95([a[s] - b[s] for s in common])
    return mean, low, high, len(common)


def verdict(low: float, high: float, margin: float = 0.0) -> str:
    """``true`` when the interval lies above ``margin``, ``false`` below it, else
    ``unresolved`` (also when there is no interval)."""
    if math.isnan(low) or math.isnan(high):
        return "unresolved"
    if low > margin:
        return "true"
    if high < margin:
        return "false"
    return "unresolved"


def binomial_se(accuracy: float, n: int) -> float:
    """Standard error of an accuracy measured on ``n`` independent test clips."""
    return math.sqrt(accuracy * (1 - accuracy) / n) if n else math.nan
