"""Guided video diffusion (GVD): mode guidance with frame-wise linear decay, and MVIC.

One denoising loop of ours over a diffusers scheduler (:func:`sample`) serves the three
diffusion methods: plain class prompts (``gvd_naive``), a noised prototype as the starting
latent (``gvd_knoise``, D4M-style) and guidance towards k-means centroids (``gvd``).

Guidance (MGD3's DDIM form, recovered from its official code; GVD adds the frame-wise
decay). At a step with timestep t and ᾱ_t, with the classifier-free-guided noise estimate
ε̂ and x̂₀ = (x_t − √(1−ᾱ_t)·ε̂)/√ᾱ_t, the plain DDIM step's x_{t−1} is moved by::

    g_t = λ·λ_f·√ᾱ_t·(m − x̂₀)

towards the centroid m (applied to x_{t−1}, not to ε̂: an ε-space correction is largely
undone by the DDIM step's direction term). Guidance acts on the first ``stop`` share of
the steps only (the high-noise ones); λ_f decays linearly over the frames from 1 at the
first frame to ``decay_end`` at the last (1 everywhere without decay).

MVIC (multi-video instance composition): G·IPC videos are generated per class and split
into groups of G; member i of a group gives ``pattern[i]`` consecutive frames, and the
concatenation (in member order) is one final video of ``sum(pattern)`` frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:  # diffusers takes seconds to import: only the jobs that sample load it
    from .pretrain.diffusion import VideoDiffusion


def frame_coefficients(num_frames: int, decay: bool = True, decay_end: float = 0.0) -> torch.Tensor:
    """λ_f per frame: linear from 1 at the first frame to ``decay_end`` at the last."""
    if not decay or num_frames == 1:
        return torch.ones(num_frames)
    return torch.linspace(1.0, decay_end, num_frames)


def guidance_pull(eps: torch.Tensor, x_t: torch.Tensor, alpha_bar: float | torch.Tensor, centroid: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
    """g = λ·λ_f·√ᾱ_t·(m − x̂₀) for latents [B, C, F, h, w]; ``strength`` is λ·λ_f per frame [F]."""
    alpha_bar = torch.as_tensor(alpha_bar, dtype=eps.dtype, device=eps.device)
    x0 = predicted_x0(eps, x_t, alpha_bar)
    k = alpha_bar.sqrt() * strength.to(eps.device, eps.dtype).view(1, 1, -1, 1, 1)
    return k * (centroid - x0)


def predicted_x0(eps: torch.Tensor, x_t: torch.Tensor, alpha_bar) -> torch.Tensor:
    """x̂₀ = (x_t − √(1−ᾱ_t)·ε)/√ᾱ_t."""
    alpha_bar = torch.as_tensor(alpha_bar, dtype=eps.dtype, device=eps.device)
    return (x_t - (1 - alpha_bar).sqrt() * eps) / alpha_bar.sqrt()


@dataclass
class Guidance:
    """Mode guidance of one batch: a centroid per sample and the schedule of its strength."""

    centroids: torch.Tensor  # [B, C, F, h, w]
    strength: float = 0.1  # λ
    stop: int = 0  # guidance on steps 0 .. stop-1
    decay: bool = True
    decay_end: float = 0.0

    def pull(self, step: int, eps: torch.Tensor, x_t: torch.Tensor, alpha_bar) -> torch.Tensor:
        """What sampling step ``step`` adds to x_{t−1} (zero from ``stop`` on)."""
        if step >= self.stop or self.strength == 0:
            return torch.zeros_like(x_t)
        coefficients = self.strength * frame_coefficients(eps.shape[2], self.decay, self.decay_end)
        return guidance_pull(eps, x_t, alpha_bar, self.centroids.to(eps.device, eps.dtype), coefficients)


@torch.no_grad()
def sample(
    model: VideoDiffusion,
    labels: torch.Tensor,
    noise: torch.Tensor,
    *,
    steps: int,
    cfg_scale: float = 1.0,
    guidance: Guidance | None = None,
    init: torch.Tensor | None = None,
    init_strength: float = 1.0,
) -> torch.Tensor:
    """Denoise ``noise`` [B, C, F, h, w] into latents of the classes ``labels``.

    ``init`` (K-noise) starts from ``init`` noised to the timestep reached after the first
    (1 − ``init_strength``) share of the steps instead of from pure noise.
    """
    scheduler = model.scheduler
    scheduler.set_timesteps(steps)
    device = model.device
    timesteps = scheduler.timesteps
    start = 0
    x = noise.to(device) * scheduler.init_noise_sigma
    if init is not None:
        start = min(int(round(steps * (1 - init_strength))), steps - 1)
        x = scheduler.add_noise(init.to(device), noise.to(device), timesteps[start : start + 1])
    cond = model.condition(labels)
    uncond = model.uncondition(len(labels)) if cfg_scale != 1.0 else None
    for step in range(start, len(timesteps)):
        t = timesteps[step]
        x_in = scheduler.scale_model_input(x, t)
        if uncond is None:
            eps = model.unet(x_in, t, encoder_hidden_states=cond).sample
        else:
            both = model.unet(torch.cat([x_in, x_in]), t, encoder_hidden_states=torch.cat([uncond, cond])).sample
            eps_uncond, eps_cond = both.chunk(2)
            eps = eps_uncond + cfg_scale * (eps_cond - eps_uncond)
        x_prev = scheduler.step(eps, t, x).prev_sample
        if guidance is not None:
            x_prev = x_prev + guidance.pull(step, eps, x, scheduler.alphas_cumprod[t].to(x.device))
        x = x_prev
    return x


def class_centroids(latents: torch.Tensor, k: int, seed: int = 0) -> torch.Tensor:
    """k-means (k clusters) of latents [N, ...] flattened whole (direct spatio-temporal clustering)."""
    from sklearn.cluster import KMeans

    flat = latents.reshape(len(latents), -1).double().cpu().numpy()
    kmeans = KMeans(n_clusters=k, random_state=seed, n_init="auto").fit(flat)
    return torch.from_numpy(kmeans.cluster_centers_).float().reshape(k, *latents.shape[1:])


def compose_mvic(videos: torch.Tensor, pattern, mode: str = "random", rng: np.random.Generator | None = None) -> torch.Tensor:
    """MVIC: videos [G·N, F, ...] of one class -> [N, sum(pattern), ...].

    ``continuous``: groups are consecutive videos and member i gives the frames at the
    positions it fills (from sum(pattern[:i])); ``random``: random groups and a random
    start per member (its frames stay consecutive and in order).
    """
    group = len(pattern)
    total, num_frames = len(videos), videos.shape[1]
    if total % group:
        raise ValueError(f"{total} videos do not split into groups of {group}")
    if max(pattern) > num_frames:
        raise ValueError(f"MVIC pattern {list(pattern)} takes more frames than the {num_frames} generated")
    if mode == "continuous":
        order = np.arange(total)
    elif mode == "random":
        order = rng.permutation(total)
    else:
        raise ValueError(f"unknown MVIC selection {mode!r}; use random or continuous")
    composed = []
    for g in range(total // group):
        parts, position = [], 0
        for i, length in enumerate(pattern):
            video = videos[order[g * group + i]]
            if mode == "continuous":
                start = min(position, num_frames - length)
            else:
                start = int(rng.integers(num_frames - length + 1))
            parts.append(video[start : start + length])
            position += length
        composed.append(torch.cat(parts))
    return torch.stack(composed)
