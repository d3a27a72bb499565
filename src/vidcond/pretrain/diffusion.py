"""Video diffusion models for the diffusion-based methods (GVD), behind one interface.

Two sources, one call signature (``unet(sample [B, C, F, h, w], timestep,
encoder_hidden_states=...).sample``, the signature of diffusers' ``UNet3DConditionModel``):

* ``modelscope``: a ModelScope text-to-video model from a local directory in the hub layout
  (``unet/``, ``vae/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``), loaded with
  diffusers and transformers; the UNet is optionally fine-tuned on the dataset's training
  clips with class-name prompts (``prompt`` template, e.g. ``"a video of a person {class}"``).
* ``scratch`` (the embedded generator, a stand-in for ModelScope that fits a CPU budget: no
  video diffusion weights exist offline): its latent space (:class:`FramePCA`) is a
  per-frame PCA of the training frames (linear, so decoding is exact on the kept
  components); its denoiser (:class:`ClosedFormDenoiser`) is the optimal denoiser of the
  empirical distribution of the class's training clip latents, computed in closed form
  (nothing is trained), with a kernel-width floor so that samples blend neighbouring clips
  rather than copy one. Prompts are one-hot class vectors, the last entry the empty prompt
  of classifier-free guidance (all training clips).

:func:`train_diffusion` is the ``diffusion`` stage: it writes a model directory (our
``vidcond_diffusion.json`` plus the parts in the hub layout) that :func:`load_diffusion`
reads back. Fine-tuning checkpoints every ``checkpoint_every`` steps and on SIGTERM.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DDIMScheduler, UNet3DConditionModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.unets.unet_3d_condition import UNet3DConditionOutput
from torch import nn
from tqdm import tqdm

from ..checkpoint import Checkpointer, TrainingState
from ..data.framestore import FrameStore
from ..data.sampling import PIXEL_RANGE, clip_span, fitting_stride, random_clip, to_clip_tensor
from ..io import write_json

MODEL_FILE = "vidcond_diffusion.json"
SOURCES = ("scratch", "modelscope")
LOAD = {"low_cpu_mem_usage": False}  # the default without `accelerate`, minus its warning


@dataclass
class DiffusionSettings:
    """The config section ``diffusion`` (see config/README.md)."""

    source: str = "scratch"
    path: str | None = None  # modelscope: the local model directory
    prompt: str = "a video of a {class}"  # class-name prompt template (modelscope)
    # modelscope only: UNet fine-tuning (steps 0: none)
    steps: int = 1500
    batch_size: int = 256
    lr: float = 1.0e-3
    checkpoint_every: int = 200
    class_dropout: float = 0.1  # share of training clips with the empty prompt (for CFG)
    resolution: list[int] | None = None  # generation [height, width]; default: the frame size
    # the quality check of the summary: samples per class (0: none), their DDIM steps and CFG
    quality_samples: int = 8
    quality_steps: int = 25
    quality_cfg_scale: float = 1.0
    # scratch only: PCA components per frame, frames the PCA is fitted to, the denoiser's
    # smallest kernel width as a share of the distance between neighbouring training clips
    latent_dims: int = 64
    pca_frames: int = 20000
    bandwidth: float = 0.0
    beta_schedule: str = "linear"
    train_timesteps: int = 1000

    @classmethod
    def from_dict(cls, values: dict) -> "DiffusionSettings":
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown diffusion settings {sorted(unknown)}")
        settings = cls(**values)
        if settings.source not in SOURCES:
            raise ValueError(f"diffusion.source {settings.source!r}: use one of {SOURCES}")
        if settings.source == "modelscope" and not settings.path:
            raise ValueError("diffusion.source modelscope needs diffusion.path (a local model directory)")
        return settings


# ---------------------------------------------------------------- the embedded generator


class FramePCA(ModelMixin, ConfigMixin):
    """The latent space of the embedded generator: per-frame PCA of the training frames, the
    components scaled by one factor to unit mean variance (not whitened: distances stay
    pixel distances). Linear, so decoding is exact on the kept subspace; a clip becomes a
    latent [D, T, 1, 1] (D components per frame)."""

    @register_to_config
    def __init__(self, pixels: int, dims: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(pixels))
        self.register_buffer("components", torch.zeros(dims, pixels))  # orthonormal rows
        self.register_buffer("scale", torch.ones(dims))  # latent unit -> pixel units, per component

    @torch.no_grad()
    def fit(self, frames: torch.Tensor, seed: int) -> float:
        """Fit to frames [N, pixels] in [0, 1]; returns the share of the variance kept."""
        torch.manual_seed(seed)
        mean = frames.mean(0)
        centred = frames - mean
        _, singular, v = torch.svd_lowrank(centred, q=self.config.dims + 10, niter=4)
        variance = singular[: self.config.dims] ** 2 / (len(frames) - 1)
        self.mean.copy_(mean)
        self.components.copy_(v[:, : self.config.dims].T)
        self.scale.fill_(float(variance.mean().sqrt()))
        return float(variance.sum() / centred.pow(2).sum(0).div(len(frames) - 1).sum())

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """[N, pixels] -> [N, D]."""
        return ((frames - self.mean) @ self.components.T) / self.scale

    def decode_frames(self, latents: torch.Tensor) -> torch.Tensor:
        """[N, D] -> [N, pixels]."""
        return (latents * self.scale) @ self.components + self.mean


class ClosedFormDenoiser(ModelMixin, ConfigMixin):
    """The optimal denoiser of the training clips, with the call signature of
    ``UNet3DConditionModel``: ``sample`` [B, D, T, 1, 1], the timestep and
    ``encoder_hidden_states`` [B, L, num_classes + 1] (one-hot class prompts, the last
    column the empty prompt; pooled over L) in, the noise estimate ε̂ out.

    With y = x_t/√ᾱ_t = x₀ + σ_t·ε (σ_t² = (1 − ᾱ_t)/ᾱ_t) and the prompt's training clips
    x₀⁽ⁱ⁾ as the data distribution (uniform over the class; over all clips for the empty
    prompt), E[x₀ | x_t] = Σ_i w_i·x₀⁽ⁱ⁾ with w = softmax_i(−‖y − x₀⁽ⁱ⁾‖² / (2·s²)) and
    s = σ_t: the exact posterior mean, so sampling draws training clips. ``min_sigma``
    (s = max(σ_t, min_sigma)) keeps the weights from sharpening beyond that distance, so
    that the last steps blend the training clips within about ``min_sigma`` of the sample
    instead of snapping to one (0: the exact denoiser). ε̂ = (x_t − √ᾱ_t·x̂₀)/√(1 − ᾱ_t).

    The training clips are stored as the latents of the training frames
    (``frame_latents`` [frames, D]) and the frame indices of every clip window (``windows``).
    """

    @register_to_config
    def __init__(
        self,
        latent_dims: int = 64,
        num_frames: int = 8,
        num_classes: int = 10,
        num_train_frames: int = 1,
        num_train_clips: int = 1,
        num_train_timesteps: int = 1000,
        beta_schedule: str = "linear",
    ):
        super().__init__()
        alpha_bar = DDIMScheduler(num_train_timesteps=num_train_timesteps, beta_schedule=beta_schedule).alphas_cumprod
        self.register_buffer("alpha_bar", alpha_bar.float(), persistent=False)
        self.register_buffer("frame_latents", torch.zeros(num_train_frames, latent_dims))
        self.register_buffer("windows", torch.zeros(num_train_clips, num_frames, dtype=torch.long))
        self.register_buffer("labels", torch.zeros(num_train_clips, dtype=torch.long))
        self.register_buffer("min_sigma", torch.zeros(()))
        self._clips = None

    def set_training_clips(self, frame_latents: torch.Tensor, windows: torch.Tensor, labels: torch.Tensor, min_sigma: float) -> None:
        self.frame_latents.copy_(frame_latents)
        self.windows.copy_(windows)
        self.labels.copy_(labels)
        self.min_sigma.fill_(min_sigma)
        self._clips = None

    def _apply(self, fn, *args, **kwargs):  # a device move or a reload drops the cached clips
        self._clips = None
        return super()._apply(fn, *args, **kwargs)

    def training_clips(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The training clip latents [N, D·T] (in the order of a latent [D, T]) and the class
        prior [num_classes + 1, N] (each row uniform over its clips)."""
        clips, _, prior = self._training_clips()
        return clips, prior

    def _training_clips(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self._clips is None:  # gathered once (with their squared norms): every step uses them
            clips = self.frame_latents[self.windows].transpose(1, 2).flatten(1)
            member = F.one_hot(self.labels, self.config.num_classes + 1).T.float()
            member[-1] = 1.0  # the empty prompt: every clip
            self._clips = (clips, clips.pow(2).sum(1), member / member.sum(1, keepdim=True))
        return self._clips

    def predict_x0(self, sample: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor) -> torch.Tensor:
        """x̂₀ [B, D, T, 1, 1] from x_t at integer timesteps [B]."""
        clips, norms, prior = self._training_clips()
        alpha_bar = self.alpha_bar.to(sample.device)[timestep.long()].to(sample.dtype)[:, None]
        y = sample.flatten(1) / alpha_bar.sqrt()
        variance = ((1 - alpha_bar) / alpha_bar).clamp_min(self.min_sigma**2)
        weights = encoder_hidden_states.mean(dim=1) @ prior  # [B, N]: the prompt's prior over clips
        # −‖y − x₀⁽ⁱ⁾‖²/(2s²) up to the term in ‖y‖², which the softmax ignores
        logits = (2 * y @ clips.T - norms) / (2 * variance) + weights.log()
        return (logits.softmax(dim=1) @ clips).view_as(sample)

    def forward(self, sample, timestep, encoder_hidden_states, return_dict: bool = True):
        timestep = torch.as_tensor(timestep, device=sample.device).reshape(-1).expand(sample.shape[0])
        alpha_bar = self.alpha_bar.to(sample.device)[timestep.long()].to(sample.dtype).view(-1, 1, 1, 1, 1)
        x0 = self.predict_x0(sample, timestep, encoder_hidden_states)
        eps = (sample - alpha_bar.sqrt() * x0) / (1 - alpha_bar).sqrt()
        return UNet3DConditionOutput(sample=eps) if return_dict else (eps,)


# ---------------------------------------------------------------- one interface, two sources


class VideoDiffusion:
    """A denoiser in some latent space with its scheduler, encoder/decoder and prompts.

    Clips are [B, T, C, H, W] in [0, 1]; latents [B, C_latent, T, h, w].
    """

    unet: nn.Module
    scheduler: DDIMScheduler
    resolution: tuple[int, int]

    def encode(self, clips: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def condition(self, labels: torch.Tensor) -> torch.Tensor:
        """Prompt embeddings (``encoder_hidden_states``) of the classes ``labels``."""
        raise NotImplementedError

    def uncondition(self, n: int) -> torch.Tensor:
        """Embeddings of the empty prompt (classifier-free guidance)."""
        raise NotImplementedError

    def latent_shape(self, num_frames: int) -> tuple[int, int, int, int]:
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        """Where the denoiser runs (its first parameter or buffer)."""
        return next(iter([*self.unet.parameters(), *self.unet.buffers()])).device

    def resize(self, clips: torch.Tensor) -> torch.Tensor:
        """Clips at the model's resolution."""
        if tuple(clips.shape[-2:]) == tuple(self.resolution):
            return clips
        b, t = clips.shape[:2]
        resized = F.interpolate(clips.flatten(0, 1), size=self.resolution, mode="bilinear", align_corners=False)
        return resized.unflatten(0, (b, t))


class ScratchDiffusion(VideoDiffusion):
    """:class:`ClosedFormDenoiser` in the :class:`FramePCA` latent; the prompts are one-hot
    class vectors (the last entry: the empty prompt)."""

    def __init__(self, unet: ClosedFormDenoiser, latent_space: FramePCA, scheduler: DDIMScheduler, resolution):
        self.unet, self.latent_space, self.scheduler = unet, latent_space, scheduler
        self.resolution = tuple(resolution)

    @property
    def num_classes(self) -> int:
        return self.unet.config.num_classes

    def encode(self, clips):
        clips = self.resize(clips).to(self.latent_space.mean.device)
        latents = self.latent_space.encode_frames(clips.flatten(2))  # [B, T, D]
        return latents.transpose(1, 2)[..., None, None]

    def decode(self, latents):
        frames = self.latent_space.decode_frames(latents[..., 0, 0].transpose(1, 2))  # [B, T, pixels]
        return frames.unflatten(2, (3, *self.resolution)).clamp(*PIXEL_RANGE)

    def condition(self, labels):
        return F.one_hot(labels.long(), self.num_classes + 1).float()[:, None].to(self.device)

    def uncondition(self, n):
        return self.condition(torch.full((n,), self.num_classes, dtype=torch.long))

    def latent_shape(self, num_frames):
        if num_frames != self.unet.config.num_frames:
            raise ValueError(f"the embedded denoiser generates {self.unet.config.num_frames} frames, not {num_frames}")
        return (self.latent_space.config.dims, num_frames, 1, 1)


class ModelScopeDiffusion(VideoDiffusion):
    """ModelScope text-to-video: UNet3D in the VAE latent, prompts through CLIP."""

    def __init__(self, unet, vae, tokenizer, text_encoder, scheduler, class_names, prompt: str, resolution, encode_batch: int = 32):
        self.unet, self.vae, self.tokenizer, self.text_encoder = unet, vae, tokenizer, text_encoder
        self.scheduler, self.prompt, self.resolution = scheduler, prompt, tuple(resolution)
        self.class_names = list(class_names)
        self.encode_batch = encode_batch
        self.scale = self.vae.config.scaling_factor
        self.vae_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)

    def _embed(self, prompts: list[str]) -> torch.Tensor:
        ids = self.tokenizer(
            prompts, padding="max_length", max_length=self.tokenizer.model_max_length, truncation=True, return_tensors="pt"
        ).input_ids
        with torch.no_grad():
            return self.text_encoder(ids.to(self.text_encoder.device))[0]

    def condition(self, labels):
        return self._embed([self.prompt.format(**{"class": self.class_names[int(c)]}) for c in labels])

    def uncondition(self, n):
        return self._embed([""] * n)

    def encode(self, clips):
        clips = self.resize(clips) * 2 - 1
        frames = clips.flatten(0, 1).to(self.vae.device, self.vae.dtype)
        with torch.no_grad():
            latents = torch.cat([self.vae.encode(chunk).latent_dist.mean for chunk in frames.split(self.encode_batch)])
        return (latents * self.scale).unflatten(0, clips.shape[:2]).transpose(1, 2)

    def decode(self, latents):
        frames = latents.transpose(1, 2).flatten(0, 1) / self.scale
        with torch.no_grad():
            images = torch.cat([self.vae.decode(chunk.to(self.vae.dtype)).sample for chunk in frames.split(self.encode_batch)])
        return ((images.float().unflatten(0, latents.shape[:1] + latents.shape[2:3]) + 1) / 2).clamp(*PIXEL_RANGE)

    def latent_shape(self, num_frames):
        h, w = self.resolution
        return (self.vae.config.latent_channels, num_frames, h // self.vae_factor, w // self.vae_factor)

    def trainable(self) -> list[nn.Module]:
        return [self.unet]


def _load_modelscope(base: Path, unet_dir: Path, class_names, prompt, resolution, device) -> ModelScopeDiffusion:
    from transformers import CLIPTextModel, CLIPTokenizer

    unet = UNet3DConditionModel.from_pretrained(unet_dir, **LOAD).to(device)
    vae = AutoencoderKL.from_pretrained(base / "vae", **LOAD).to(device)
    text_encoder = CLIPTextModel.from_pretrained(base / "text_encoder").to(device)
    tokenizer = CLIPTokenizer.from_pretrained(base / "tokenizer")
    scheduler = DDIMScheduler.from_pretrained(base / "scheduler")
    if resolution is None:  # the resolution the model was trained at
        factor = 2 ** (len(vae.config.block_out_channels) - 1)
        resolution = (unet.config.sample_size * factor,) * 2
    for module in (unet, vae, text_encoder):
        module.eval().requires_grad_(False)
    return ModelScopeDiffusion(unet, vae, tokenizer, text_encoder, scheduler, class_names, prompt, resolution)


def load_diffusion(model_dir, class_names, device=None) -> VideoDiffusion:
    """The model the ``diffusion`` stage wrote to ``model_dir`` (eval mode, frozen)."""
    model_dir = Path(model_dir)
    spec = json.loads((model_dir / MODEL_FILE).read_text())
    device = torch.device(device or "cpu")
    if spec["source"] == "scratch":
        if len(class_names) != spec["num_classes"]:
            raise ValueError(f"the diffusion model knows {spec['num_classes']} classes, the dataset has {len(class_names)}")
        parts = [
            cls.from_pretrained(model_dir / sub, **LOAD).to(device).eval().requires_grad_(False)
            for cls, sub in ((ClosedFormDenoiser, "unet"), (FramePCA, "vae"))
        ]
        return ScratchDiffusion(*parts, DDIMScheduler.from_pretrained(model_dir / "scheduler"), spec["resolution"])
    base = Path(spec["base"])
    unet_dir = model_dir / "unet" if spec["finetuned"] else base / "unet"
    return _load_modelscope(base, unet_dir, class_names, spec["prompt"], spec["resolution"], device)


# ---------------------------------------------------------------- the diffusion stage


class TrainingClips:
    """Random training clips with their labels from a frame store, encoded by ``encode``."""

    def __init__(self, store: FrameStore, clip: dict, encode):
        self.store, self.videos, self.encode = store, store.videos("train"), encode
        self.num_frames, self.stride = clip["num_frames"], clip["stride"]

    def batch(self, n: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        rows = rng.integers(len(self.videos), size=n)
        frames = [
            self.store.frames[self.videos["offset"].iat[r] + random_clip(int(self.videos["n_stored"].iat[r]), self.num_frames, self.stride, rng)]
            for r in rows
        ]
        labels = torch.as_tensor(self.videos["label"].to_numpy()[rows], dtype=torch.long)
        with torch.no_grad():
            return self.encode(to_clip_tensor(np.stack(frames))), labels


def clip_windows(videos, num_frames: int, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every clip window of the training videos (frames stored video after video): the frame
    indices [N, num_frames], the label and the video (row of ``videos``) of each window."""
    windows, labels, video_ids = [], [], []
    starts = np.concatenate([[0], np.cumsum(videos["n_stored"].to_numpy())[:-1]])
    for row, (start, n, label) in enumerate(zip(starts, videos["n_stored"], videos["label"])):
        step = fitting_stride(int(n), num_frames, stride)
        for first in range(max(int(n) - clip_span(num_frames, step), 0) + 1):
            windows.append(start + np.minimum(first + step * np.arange(num_frames), int(n) - 1))
            labels.append(label)
            video_ids.append(row)
    return np.stack(windows), np.asarray(labels), np.asarray(video_ids)


def neighbour_distance(clips: torch.Tensor, labels: np.ndarray, video_ids: np.ndarray) -> float:
    """The median over clips [N, ...] of the distance to the nearest clip of the same class
    from another video (how far apart distinct training clips are)."""
    nearest = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        distances = torch.cdist(clips[members].flatten(1), clips[members].flatten(1))
        same_video = torch.from_numpy(video_ids[members][:, None] == video_ids[members][None])
        nearest.append(distances.masked_fill(same_video, float("inf")).min(dim=1).values)
    nearest = torch.cat(nearest)
    return float(nearest[torch.isfinite(nearest)].median()) if torch.isfinite(nearest).any() else 0.0


def _train_frames(store: FrameStore, videos) -> np.ndarray:
    """Every stored frame of ``videos`` [N, H, W, 3] uint8, video after video."""
    return np.concatenate([store.frames[o : o + n] for o, n in zip(videos["offset"], videos["n_stored"])])


def _frame_pixels(model: ScratchDiffusion, frames: np.ndarray) -> torch.Tensor:
    """uint8 frames [N, H, W, 3] -> [N, 3·h·w] in [0, 1] at the model's resolution."""
    clips = model.resize(to_clip_tensor(frames[None]))  # one long "clip" [1, N, 3, h, w]
    return clips[0].flatten(1)


def build_scratch(settings: DiffusionSettings, num_classes: int, frame_size, num_frames: int, train_frames: int, train_clips: int) -> ScratchDiffusion:
    """The embedded generator, empty (its PCA latent unfitted, its training clips zero)."""
    resolution = tuple(settings.resolution or frame_size)
    unet = ClosedFormDenoiser(
        latent_dims=settings.latent_dims,
        num_frames=num_frames,
        num_classes=num_classes,
        num_train_frames=train_frames,
        num_train_clips=train_clips,
        num_train_timesteps=settings.train_timesteps,
        beta_schedule=settings.beta_schedule,
    )
    latent_space = FramePCA(3 * resolution[0] * resolution[1], settings.latent_dims)
    scheduler = DDIMScheduler(
        num_train_timesteps=settings.train_timesteps,
        beta_schedule=settings.beta_schedule,
        clip_sample=False,  # PCA latents are not bounded
        set_alpha_to_one=True,
        timestep_spacing="trailing",  # the first sampling step starts from pure noise
    )
    return ScratchDiffusion(unet, latent_space, scheduler, resolution)


@torch.no_grad()
def fit_scratch(store: FrameStore, clip: dict, opts: DiffusionSettings, seed: int, chunk: int = 4096) -> tuple[ScratchDiffusion, dict]:
    """The embedded generator of the store's training clips: the PCA latent fitted to (at
    most ``pca_frames`` evenly spaced) training frames, the denoiser given every training
    clip window; ``min_sigma`` = ``bandwidth`` × the training clips' neighbour distance."""
    videos = store.videos("train")
    frames = _train_frames(store, videos)
    windows, labels, video_ids = clip_windows(videos, clip["num_frames"], clip["stride"])
    model = build_scratch(opts, store.num_classes, store.frame_size, clip["num_frames"], len(frames), len(windows))
    keep = np.linspace(0, len(frames) - 1, min(opts.pca_frames, len(frames))).round().astype(int)
    torch.manual_seed(seed)
    variance_kept = model.latent_space.fit(_frame_pixels(model, frames[keep]), seed)
    latents = torch.cat([model.latent_space.encode_frames(_frame_pixels(model, frames[i : i + chunk])) for i in range(0, len(frames), chunk)])
    windows = torch.from_numpy(windows)
    spacing = neighbour_distance(latents[windows], labels, video_ids)
    model.unet.set_training_clips(latents, windows, torch.from_numpy(labels), opts.bandwidth * spacing)
    return model, {"latent_variance_kept": variance_kept, "train_clips": len(windows), "neighbour_distance": spacing, "min_sigma": opts.bandwidth * spacing}


def denoising_loss(model: VideoDiffusion, latents: torch.Tensor, labels: torch.Tensor, class_dropout: float, generator: torch.Generator) -> torch.Tensor:
    """MSE of the noise estimate at random timesteps; ``class_dropout`` of the prompts are empty."""
    device = model.device
    latents = latents.to(device)
    noise = torch.randn(latents.shape, generator=generator).to(device)
    timesteps = torch.randint(0, model.scheduler.config.num_train_timesteps, (len(latents),), generator=generator)
    noisy = model.scheduler.add_noise(latents, noise, timesteps).to(device)
    drop = torch.rand(len(labels), generator=generator) < class_dropout
    cond = model.condition(labels)
    if drop.any():
        cond = torch.where(drop.to(device)[:, None, None], model.uncondition(len(labels)), cond)
    pred = model.unet(noisy, timesteps.to(device), encoder_hidden_states=cond).sample
    return F.mse_loss(pred.float(), noise.float())


def train_diffusion(
    store_dir, out_dir, meta_path, *, settings: dict, clip: dict, seed: int, teacher_stem=None, work_dir=None, device=None, progress=True
) -> dict:
    """The ``diffusion`` stage: build the embedded generator (scratch: nothing to train, see
    :class:`ClosedFormDenoiser`) or fine-tune ModelScope's UNet on the training clips, and
    write the model directory ``out_dir`` and its summary ``meta_path`` (with the samples'
    quality, :func:`sample_quality`, judged by the teacher ``teacher_stem``)."""
    store = FrameStore(store_dir)
    opts = DiffusionSettings.from_dict(settings)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    class_names = store.classes.sort_values("label")["name"].tolist()
    started = time.perf_counter()
    extra, losses = {}, []
    if opts.source == "scratch":
        model, extra = fit_scratch(store, clip, opts, seed)
        for module in (model.unet, model.latent_space):
            module.to(device)
    else:
        model = _load_modelscope(Path(opts.path), Path(opts.path) / "unet", class_names, opts.prompt, opts.resolution, device)
        if opts.steps:
            losses = _train_steps(model, model.trainable(), TrainingClips(store, clip, model.encode), opts, seed, work_dir, progress)
    wall = time.perf_counter() - started
    spec = {
        "source": opts.source,
        "base": str(Path(opts.path).resolve()) if opts.path else None,
        "finetuned": opts.source == "modelscope" and opts.steps > 0,
        "prompt": opts.prompt,
        "num_classes": store.num_classes,
        "class_names": class_names,
        "resolution": list(model.resolution),
        "latent": "per-frame PCA" if opts.source == "scratch" else "VAE",
        "denoiser": "closed-form optimal denoiser of the training clips" if opts.source == "scratch" else "UNet3DConditionModel",
    }
    write_model_dir(Path(out_dir), model, spec)
    summary = {
        **spec,
        **extra,
        "settings": asdict(opts),
        "steps": opts.steps if opts.source == "modelscope" else 0,
        "train_seconds": wall,
        "final_loss": float(np.mean(losses[-50:])) if losses else None,
        "unet_parameters": sum(p.numel() for p in model.unet.parameters()),
        "device": device.type,
        "seed": seed,
    }
    if teacher_stem is not None and opts.quality_samples:
        quality = sample_quality(
            model, store, teacher_stem, clip, opts.quality_samples, steps=opts.quality_steps, cfg_scale=opts.quality_cfg_scale, seed=seed
        )
        summary["quality"] = quality
    summary["seconds"] = time.perf_counter() - started
    write_json(meta_path, summary)
    if work_dir is not None:
        shutil.rmtree(work_dir, ignore_errors=True)
    return summary


@torch.no_grad()
def sample_quality(model: VideoDiffusion, store: FrameStore, teacher_stem, clip: dict, per_class: int, *, steps: int, cfg_scale: float, seed: int) -> dict:
    """How real the class-conditional samples (``per_class`` per class, as ``gvd_naive``) are:
    the teacher's accuracy on them (%); the Fréchet distance of their teacher features to the
    real test clips' (``feature_fd``; ``real_train_fd``: the same for the real training clips,
    the floor); the RMSE (pixels in [0, 1]) of each sample to its nearest real training clip
    (``nn_rmse``) and the mean absolute frame-to-frame difference of samples and real clips."""
    from ..gvd import sample
    from ..metrics import embed
    from ..models import load_model
    from ..training import RealClips

    teacher = load_model(teacher_stem)
    device = model.device
    num_frames = clip["num_frames"]
    labels = torch.arange(store.num_classes).repeat_interleave(per_class)
    noise = torch.randn((len(labels), *model.latent_shape(num_frames)), generator=torch.Generator().manual_seed(seed))
    clips = torch.cat(
        [model.decode(sample(model, lab, z, steps=steps, cfg_scale=cfg_scale)).cpu() for lab, z in zip(labels.split(64), noise.split(64))]
    )
    clips = F.interpolate(clips.flatten(0, 1), size=tuple(store.frame_size), mode="bilinear", align_corners=False).unflatten(0, clips.shape[:2])
    real = {split: RealClips(store, num_frames, clip["stride"], split) for split in ("train", "test")}
    real_clips = {split: r.clips(np.arange(len(r)), None) for split, r in real.items()}
    features, logits = embed(teacher, clips.split(64), device)
    real_features = {split: embed(teacher, c.split(64), device)[0] for split, c in real_clips.items()}
    nearest = torch.cdist(clips.flatten(1), real_clips["train"].flatten(1)).min(dim=1).values
    frame_step = lambda c: float((c[:, 1:] - c[:, :-1]).abs().mean())  # noqa: E731
    return {
        "samples": len(clips),
        "sampling_steps": steps,
        "cfg_scale": cfg_scale,
        "teacher_accuracy": 100.0 * float((logits.argmax(1) == labels.numpy()).mean()),
        "feature_fd": frechet_distance(features, real_features["test"]),
        "real_train_fd": frechet_distance(real_features["train"], real_features["test"]),
        "nn_rmse": float((nearest / clips[0].numel() ** 0.5).mean()),
        "frame_diff": frame_step(clips),
        "real_frame_diff": frame_step(real_clips["test"]),
    }


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """‖μ_a − μ_b‖² + tr(Σ_a + Σ_b − 2(Σ_a Σ_b)^½) of two point sets [N, D] (FID/FVD's distance)."""
    from scipy import linalg

    mean_a, mean_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b).real
    return float(((mean_a - mean_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def _train_steps(model, modules, data: TrainingClips, opts: DiffusionSettings, seed, work_dir, progress) -> list[float]:
    for module in modules:
        module.train().requires_grad_(True)
    params = [p for m in modules for p in m.parameters()]
    optimizer = torch.optim.AdamW(params, lr=opts.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 50) * 0.5 * (1 + math.cos(math.pi * s / opts.steps)))
    rng = np.random.default_rng([seed, 17])
    generator = torch.Generator().manual_seed(seed)
    modules_by_name = {f"module{i}": m for i, m in enumerate(modules)}
    training = TrainingState(optimizer=optimizer, schedule=schedule, rng=rng, generator=generator, **modules_by_name)
    ckpt = Checkpointer(work_dir, opts.checkpoint_every)
    start, saved = ckpt.resume(training, {"losses": []})
    losses = list(saved["losses"])
    if start:
        print(f"resumed from step {start}")

    with ckpt.handle_sigterm():
        bar = tqdm(range(start, opts.steps), initial=start, total=opts.steps, desc="diffusion", disable=not progress, mininterval=5)
        for step in bar:
            clips, labels = data.batch(opts.batch_size, rng)
            loss = denoising_loss(model, clips, labels, opts.class_dropout, generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
            ckpt.step(step + 1, training, {"losses": losses})
    for module in modules:
        module.eval().requires_grad_(False)
    return losses


def write_model_dir(out_dir: Path, model: VideoDiffusion, spec: dict) -> None:
    """Write the model directory beside ``out_dir`` and move it into place in one rename."""
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if spec["source"] == "scratch":
        model.unet.save_pretrained(tmp / "unet")
        model.latent_space.save_pretrained(tmp / "vae")
        model.scheduler.save_pretrained(tmp / "scheduler")
    elif spec["finetuned"]:
        model.unet.save_pretrained(tmp / "unet")
    (tmp / MODEL_FILE).write_text(json.dumps(spec, indent=2) + "\n")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
