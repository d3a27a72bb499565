"""Fast greedy MAP inference for a determinantal point process, and SAKD's selection.

:func:`greedy_map_dpp` is the greedy algorithm of Chen, Zhang and Zhou ("Fast greedy MAP
inference for determinantal point process to improve recommendation diversity", NeurIPS
2018): each step adds the item that most increases ``log det L_Y``; the increase of item
``i`` is ``log d_i^2``, where ``d_i`` is the last diagonal entry of the Cholesky factor of
``L_{Y + i}``, updated incrementally (one new row of the factor per step), so selecting ``k``
of ``n`` items costs O(n k^2) and needs only the rows of the chosen items.

:func:`select_easy_diverse` solves SAKD's eq. (8), ``max_A  gamma * sum_{i in A} e_i +
(1 - gamma) * log det S_A`` (``e_i = 1 / zeta_i``), with the quality-diversity kernel of the
same paper: ``L = diag(q) S diag(q)`` with ``q_i = exp(gamma / (2 (1 - gamma)) * e_i)``
gives ``log det L_A = gamma / (1 - gamma) * sum_A e_i + log det S_A``, the objective up to
the factor ``1 - gamma``.
"""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np

log = logging.getLogger(__name__)


def greedy_map_dpp(
    diagonal: np.ndarray, row: Callable[[int], np.ndarray], k: int, eps: float = 1e-10
) -> list[int]:
    """Greedy MAP of a DPP with kernel ``L`` given by its ``diagonal`` and ``row(j) = L[j]``.

    Returns the chosen indices in selection order: ``k`` of them, or fewer when every
    remaining item would make ``L_Y`` singular (``d^2 < eps``, e.g. more items than the rank of
    ``L``, or a kernel that is not positive semi-definite).
    """
    n = len(diagonal)
    k = min(int(k), n)
    gains = np.asarray(diagonal, dtype=np.float64).copy()  # d_i^2 given the items chosen so far
    factor = np.zeros((k, n))  # row m: the m-th entries of every item's Cholesky row c_i
    chosen: list[int] = []
    while len(chosen) < k:
        j = int(np.argmax(gains))
        if not gains[j] >= eps:  # also stops on NaN
            break
        chosen.append(j)
        m = len(chosen) - 1
        e = (np.asarray(row(j), dtype=np.float64) - factor[:m, j] @ factor[:m]) / np.sqrt(gains[j])
        factor[m] = e
        gains -= e**2
        gains[chosen] = -np.inf
    return chosen


def greedy_map_dpp_matrix(kernel: np.ndarray, k: int, eps: float = 1e-10) -> list[int]:
    """:func:`greedy_map_dpp` for an explicit kernel matrix."""
    kernel = np.asarray(kernel, dtype=np.float64)
    return greedy_map_dpp(np.diag(kernel), lambda j: kernel[j], k, eps)


def cosine_gram(features: np.ndarray) -> np.ndarray:
    """Rows L2-normalised: their Gram matrix is the cosine similarity (PSD by construction)."""
    features = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, 1e-12)


def select_easy_diverse(
    features: np.ndarray, ease: np.ndarray, k: int, gamma: float, jitter: float = 1e-4
) -> tuple[np.ndarray, int]:
    """SAKD's selection of ``k`` samples (eq. 8): easy to transfer (large ``ease`` = 1/zeta,
    in [0, 1]) and diverse (large ``log det`` of the cosine kernel of ``features``).

    Returns the indices and how many came from the DPP. The kernel is a Gram matrix plus
    ``jitter`` on the diagonal, hence positive definite; should the greedy MAP still stop
    early (round-off), the remaining places go to the easiest samples not yet chosen and a
    warning is logged.
    """
    n = len(ease)
    k = min(int(k), n)
    ease = np.asarray(ease, dtype=np.float64)
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], not {gamma}")
    if gamma == 1.0:  # the diversity term has no weight: the k easiest samples
        return np.argsort(-ease, kind="stable")[:k], 0
    unit = cosine_gram(features)
    quality = np.exp(gamma / (2.0 * (1.0 - gamma)) * ease)

    def row(j: int) -> np.ndarray:
        similarity = unit @ unit[j]
        similarity[j] += jitter
        return quality * similarity * quality[j]

    diagonal = quality**2 * (np.einsum("ij,ij->i", unit, unit) + jitter)
    chosen = greedy_map_dpp(diagonal, row, k)
    from_dpp = len(chosen)
    if from_dpp < k:
        log.warning("greedy DPP returned %d of %d samples; filling with the easiest others", from_dpp, k)
        taken = set(chosen)
        rest = [int(i) for i in np.argsort(-ease, kind="stable") if i not in taken]
        chosen += rest[: k - from_dpp]
    return np.asarray(chosen, dtype=np.int64), from_dpp
