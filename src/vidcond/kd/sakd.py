"""SAKD (Li, Ping, Wang, Song: "Sample-level Adaptive Knowledge Distillation for Action
Recognition"): the sample distillation difficulty, the adaptive distillation strength and
the state they carry across epochs.

Equations (paper numbering), with epoch ``n`` counted from 1 to ``N``:

* (4) interruption rate ``beta(n) = 1 - (1 - n / N)^theta``; below the threshold ``eta`` a
  ``beta`` share of each clip's frames is dropped, otherwise an ``eta`` share of the frames
  is shuffled across the clips of the batch (:func:`interrupt`);
* (5) selection probability ``p_i = 1 / (w_i + epsilon)``, ``w`` the times each sample was
  selected, normalised by its maximum;
* (3) difficulty ``zeta_i = 1 / (p_i * L~kd_i)``, ``L~kd`` the KD loss on the interrupted
  clip; we carry ``1 / zeta`` (the "ease"), normalised by its maximum to [0, 1] so that the
  strength stays in (0, 1) and eq. (8) weighs a scale-free quantity;
* (6) strength ``alpha_{i,n} = lambda alpha_{i,n-1} + (1 - lambda) beta(n) / zeta_i``,
  ``alpha_{i,0} = 0`` (the paper gives no start; KD then grows in as training goes on);
* (7) teacher features fused across epochs ``F~_n = lambda F~_{n-1} + (1 - lambda) F``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch

STRENGTH_MARGIN = 1e-4  # alpha is kept in [margin, 1 - margin], inside (0, 1)


@dataclass(frozen=True)
class SakdSettings:
    ratio: float = 0.1  # r: share of the training clips selected
    every: int = 1  # select every k epochs (the paper's "Ours" 1, "Ours*" 5)
    theta: float = 0.9  # power of the interruption rate
    eta: float = 0.5  # dropout / shuffle threshold
    lam: float = 0.5  # lambda of the strength (6) and the feature fusion (7)
    epsilon: float = 1.0  # smoothing of the selection probability (5)
    gamma: float = 0.5  # ease vs diversity in the selection (8)
    jitter: float = 1e-4  # added to the DPP kernel's diagonal
    score_batch: int = 64  # clips per forward pass of the scoring pass

    @classmethod
    def from_dict(cls, options: dict) -> "SakdSettings":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"unknown SAKD settings {unknown}; known: {sorted(known)}")
        settings = cls(**options)
        if not 0 < settings.ratio <= 1:
            raise ValueError(f"SAKD ratio must be in (0, 1], not {settings.ratio}")
        if settings.every < 1 or settings.score_batch < 1:
            raise ValueError("SAKD every and score_batch must be at least 1")
        if not (0 <= settings.eta <= 1 and 0 <= settings.lam < 1 and 0 <= settings.gamma <= 1):
            raise ValueError("SAKD needs eta in [0, 1], lam in [0, 1), gamma in [0, 1]")
        return settings

    def to_dict(self) -> dict:
        return asdict(self)


def interruption_rate(epoch: int, epochs: int, theta: float = 0.9) -> float:
    """beta(n) of eq. (4) for epoch ``n`` in 1..N."""
    if not 1 <= epoch <= epochs:
        raise ValueError(f"epoch {epoch} outside 1..{epochs}")
    return 1.0 - (1.0 - epoch / epochs) ** theta


def interrupt(clips: torch.Tensor, beta: float, eta: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The temporal interruption of a batch ``[B, T, C, H, W]``.

    ``beta < eta``: ``round(beta T)`` random frames of each clip (at most T - 1) are dropped,
    i.e. blanked to zero so that the clip keeps its shape. Otherwise ``round(eta T)`` random
    frames of each clip are shuffled among those slots of the whole batch, so that they mostly
    land in clips of other actions. Returns the interrupted clips and the ``[B, T]`` mask of
    the frames that were dropped or took part in the shuffle.
    """
    b, t = clips.shape[:2]
    dropping = beta < eta
    count = min(round(beta * t), t - 1) if dropping else min(round(eta * t), t)
    order = torch.argsort(torch.rand(b, t, generator=generator), dim=1)
    touched = torch.zeros(b, t, dtype=torch.bool)
    touched.scatter_(1, order[:, :count], True)
    touched = touched.to(clips.device)
    out = clips.clone()
    if dropping:
        out[touched] = 0.0
    else:
        slots = out[touched]
        out[touched] = slots[torch.randperm(len(slots), generator=generator).to(clips.device)]
    return out, touched


def selection_probability(times_selected: torch.Tensor, epsilon: float) -> torch.Tensor:
    """p of eq. (5), with the selection counts normalised by their maximum."""
    top = times_selected.max()
    normalised = times_selected / top if top > 0 else times_selected
    return 1.0 / (normalised + epsilon)


def ease(kd_loss: torch.Tensor, probability: torch.Tensor) -> torch.Tensor:
    """1 / zeta of eq. (3) = p * L~kd, normalised by its maximum to [0, 1]."""
    value = probability * kd_loss.clamp_min(0)
    top = value.max()
    return value / top if top > 0 else value


def update_strength(strength: torch.Tensor, beta: float, ease_value: torch.Tensor, lam: float) -> torch.Tensor:
    """alpha of eq. (6), kept inside (0, 1)."""
    return (lam * strength + (1 - lam) * beta * ease_value).clamp(STRENGTH_MARGIN, 1 - STRENGTH_MARGIN)


def fuse_features(fused: torch.Tensor | None, features: torch.Tensor, lam: float) -> torch.Tensor:
    """F~ of eq. (7); the first pass has no history and keeps the features as they are."""
    return features.clone() if fused is None else lam * fused + (1 - lam) * features


class SakdState:
    """What SAKD carries across epochs, per training sample."""

    def __init__(self, num_samples: int):
        self.times_selected = torch.zeros(num_samples, dtype=torch.float64)
        self.strength = torch.zeros(num_samples, dtype=torch.float64)
        self.fused: torch.Tensor | None = None
        self.selected = torch.arange(num_samples)

    def update(self, kd_loss: torch.Tensor, features: torch.Tensor, beta: float, settings: SakdSettings) -> torch.Tensor:
        """Fold one scoring pass in; returns the ease (1 / zeta, in [0, 1]) of every sample."""
        value = ease(kd_loss.double(), selection_probability(self.times_selected, settings.epsilon))
        self.strength = update_strength(self.strength, beta, value, settings.lam)
        self.fused = fuse_features(self.fused, features.double(), settings.lam)
        return value

    def mark_selected(self, indices: torch.Tensor) -> None:
        self.selected = indices.clone()
        self.times_selected[indices] += 1

    def state_dict(self) -> dict:
        return {"times_selected": self.times_selected, "strength": self.strength, "fused": self.fused, "selected": self.selected}

    def load_state_dict(self, state: dict) -> None:
        self.times_selected, self.strength = state["times_selected"], state["strength"]
        self.fused, self.selected = state["fused"], state["selected"]
