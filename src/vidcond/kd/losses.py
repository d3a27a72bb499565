"""Knowledge-distillation losses, per sample (SAKD weights every clip's loss on its own).

Each distiller is an ``nn.Module`` (its own learnable parts, if any, train with the student)
whose :meth:`Distiller.per_sample` returns ``L_kd`` of every clip of a batch, ``[B]``:

* ``kd``   Hinton et al.: ``tau^2 KL(softmax(t / tau) || softmax(s / tau))``, tau = 4;
* ``dkd``  Zhao et al., decoupled KD: ``tau^2 (alpha TCKD + beta NCKD)``, TCKD the KL of the
  binary target / non-target probabilities, NCKD the KL among the non-target classes
  (``KL = TCKD + (1 - p_target^teacher) NCKD``), ramped in linearly over ``warmup_epochs``;
* ``ctkd`` Li et al., curriculum temperature: KD with a learnable global temperature
  ``t_start + t_range * sigmoid(w)`` trained to *maximise* the loss through a gradient
  reversal whose strength grows from 0 to 1 along a cosine over ``ramp_epochs``;
* ``fea``  feature distillation, eq. (1): the squared l2 distance between the teacher's
  embedding and the student's mapped by a learnable 1x1x1 convolution (a linear map of the
  pooled features).

A vanilla run weights them as its KD paper does (:func:`vanilla_loss`); SAKD weights each
clip by its distillation strength alone, eq. (9) (:func:`sakd_loss`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

KD_METHODS = ("kd", "dkd", "ctkd", "fea")


def kl_per_sample(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature) -> torch.Tensor:
    """``KL(softmax(t / tau) || softmax(s / tau))`` of every row."""
    log_p_teacher = F.log_softmax(teacher_logits / temperature, dim=1)
    log_p_student = F.log_softmax(student_logits / temperature, dim=1)
    return (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(1)


def kd_per_sample(student_logits, teacher_logits, temperature) -> torch.Tensor:
    return temperature**2 * kl_per_sample(student_logits, teacher_logits, temperature)


def _binary_log_probs(scaled: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """log [p_target, 1 - p_target] of softmax(scaled), computed without cancellation."""
    total = torch.logsumexp(scaled, dim=1)
    others = torch.logsumexp(scaled.masked_fill(target, -math.inf), dim=1)
    return torch.stack([scaled[target] - total, others - total], dim=1)


def dkd_parts(student_logits, teacher_logits, labels, temperature) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample (TCKD, NCKD) at ``temperature`` (without the tau^2 factor)."""
    s, t = student_logits / temperature, teacher_logits / temperature
    target = F.one_hot(labels, s.shape[1]).bool()
    b_s, b_t = _binary_log_probs(s, target), _binary_log_probs(t, target)
    tckd = (b_t.exp() * (b_t - b_s)).sum(1)
    rest = s.shape[1] - 1
    nckd = kl_per_sample(s[~target].view(-1, rest), t[~target].view(-1, rest), 1.0)
    return tckd, nckd


class Distiller(nn.Module):
    uses_features = False

    def set_epoch(self, epoch: int) -> None:
        """Called before every epoch (1-based) and every scoring pass."""

    def per_sample(self, student_logits, student_features, teacher_logits, teacher_features, labels) -> torch.Tensor:
        raise NotImplementedError


class HintonKD(Distiller):
    def __init__(self, temperature: float = 4.0):
        super().__init__()
        self.temperature = temperature

    def per_sample(self, student_logits, student_features, teacher_logits, teacher_features, labels):
        return kd_per_sample(student_logits, teacher_logits, self.temperature)


class DecoupledKD(Distiller):
    def __init__(self, temperature: float = 4.0, alpha: float = 1.0, beta: float = 8.0, warmup_epochs: int = 20):
        super().__init__()
        self.temperature, self.alpha, self.beta, self.warmup_epochs = temperature, alpha, beta, warmup_epochs
        self.ramp = 1.0

    def set_epoch(self, epoch: int) -> None:
        self.ramp = min(epoch / self.warmup_epochs, 1.0) if self.warmup_epochs > 0 else 1.0

    def per_sample(self, student_logits, student_features, teacher_logits, teacher_features, labels):
        tckd, nckd = dkd_parts(student_logits, teacher_logits, labels, self.temperature)
        return self.ramp * self.temperature**2 * (self.alpha * tckd + self.beta * nckd)


class _ReverseGradient(torch.autograd.Function):
    """Identity forward; the gradient times ``-scale`` backward."""

    @staticmethod
    def forward(ctx, x, scale: float):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.scale * grad, None


class CurriculumTemperatureKD(Distiller):
    def __init__(self, t_start: float = 1.0, t_range: float = 20.0, ramp_epochs: int = 10):
        super().__init__()
        self.t_start, self.t_range, self.ramp_epochs = t_start, t_range, ramp_epochs
        self.raw = nn.Parameter(torch.ones(()))  # the global temperature module of the official code
        self.reversal = 0.0

    def set_epoch(self, epoch: int) -> None:
        progress = min(epoch, self.ramp_epochs) / self.ramp_epochs if self.ramp_epochs > 0 else 1.0
        self.reversal = 0.5 * (1.0 - math.cos(math.pi * progress))

    def temperature(self) -> torch.Tensor:
        return self.t_start + self.t_range * torch.sigmoid(_ReverseGradient.apply(self.raw, self.reversal))

    def per_sample(self, student_logits, student_features, teacher_logits, teacher_features, labels):
        return kd_per_sample(student_logits, teacher_logits, self.temperature())


class FeatureKD(Distiller):
    uses_features = True

    def __init__(self, student_dim: int, teacher_dim: int):
        super().__init__()
        self.mapping = nn.Linear(student_dim, teacher_dim)

    def per_sample(self, student_logits, student_features, teacher_logits, teacher_features, labels):
        return (self.mapping(student_features) - teacher_features).pow(2).sum(1)


def vanilla_loss(ce: torch.Tensor, kd: torch.Tensor, ce_weight: float, kd_weight: float) -> torch.Tensor:
    """A vanilla KD method's batch loss from per-clip CE and L_kd: mean of ``ce_weight CE + kd_weight L_kd``."""
    return (ce_weight * ce + kd_weight * kd).mean()


def sakd_loss(ce: torch.Tensor, kd: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """SAKD's eq. (9) over the selected clips of a batch:
    ``1 / N_sel sum_j (1 - alpha_j) CE_j + alpha_j L_kd_j`` (no other weight)."""
    return ((1 - alpha) * ce + alpha * kd).mean()


def build_distiller(method: str, options: dict, student_dim: int, teacher_dim: int) -> Distiller:
    """The distiller of ``method`` with its own ``options`` (loss weights are the loop's)."""
    if method == "kd":
        return HintonKD(**options)
    if method == "dkd":
        return DecoupledKD(**options)
    if method == "ctkd":
        return CurriculumTemperatureKD(**options)
    if method == "fea":
        return FeatureKD(student_dim, teacher_dim, **options)
    raise ValueError(f"unknown KD method {method!r}; known: {KD_METHODS}")
