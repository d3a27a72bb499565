"""Video diffusion models for the diffusion-based methods (GVD), behind one interface.

Two sources, one call signature (``unet(sample [B, C, F, h, w], timestep,
encoder_hidden_states=...).sample``, the signature of diffusers' ``UNet3DConditionModel``):

* ``modelscope``: a ModelScope text-to-video model from a local directory in the hub layout
  (``unet/``, ``vae/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``), loaded with
  diffusers and transformers; the UNet is optionally fine-tuned on the dataset's training
  clips with class-name prompts (``prompt`` template, e.g. ``"a video of a person {class}"``).
* ``scratch``: no weights exist offline, so a small factorised-convolution video UNet
  (:class:`TinyVideoUNet`) is trained from scratch. It works in a trivial latent space: the
  frames scaled to [-1, 1] and folded space-to-depth by ``patch`` (lossless and exactly
  invertible, so "decoding" loses nothing). A learned class embedding
  (:class:`ClassEmbedding`) stands in for the text encoder; its last row is the empty prompt
  of classifier-free guidance.

:func:`train_diffusion` is the ``diffusion`` stage: it writes a model directory (our
``vidcond_diffusion.json`` plus the parts in the hub layout) that :func:`load_diffusion`
reads back. Training checkpoints every ``checkpoint_every`` steps and on SIGTERM.
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
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.unets.unet_3d_condition import UNet3DConditionOutput
from torch import nn
from tqdm import tqdm

from .checkpoint import Checkpointer
from .data.framestore import FrameStore
from .data.sampling import random_clip, to_clip_tensor
from .io import write_json

MODEL_FILE = "vidcond_diffusion.json"
SOURCES = ("scratch", "modelscope")
LOAD = {"low_cpu_mem_usage": False}  # the default without `accelerate`, minus its warning


@dataclass
class DiffusionSettings:
    """The config section ``diffusion`` (see config/README.md)."""

    source: str = "scratch"
    path: str | None = None  # modelscope: the local model directory
    prompt: str = "a video of a {class}"  # class-name prompt template (modelscope)
    steps: int = 1000  # training steps (scratch) or fine-tuning steps (modelscope; 0: none)
    batch_size: int = 16
    lr: float = 2.0e-3
    checkpoint_every: int = 200
    class_dropout: float = 0.1  # share of training clips with the empty prompt (for CFG)
    resolution: list[int] | None = None  # generation [height, width]; default: the frame size
    # scratch only
    channels: list[int] = (32, 64, 64)
    patch: int = 2
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


# ---------------------------------------------------------------- the scratch denoiser


class ClassEmbedding(ModelMixin, ConfigMixin):
    """Stands in for the text encoder: one learned token per class, the last for the empty prompt."""

    @register_to_config
    def __init__(self, num_classes: int, dim: int):
        super().__init__()
        self.table = nn.Embedding(num_classes + 1, dim)

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        return self.table(labels)[:, None]  # [B, 1, dim], like a one-token prompt


class FactorisedResBlock(nn.Module):
    """(1x3x3 spatial then 3x1x1 temporal) convolutions, scaled and shifted by the embedding."""

    def __init__(self, in_channels: int, out_channels: int, emb_dim: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(min(8, in_channels), in_channels)
        self.spatial = nn.Conv3d(in_channels, out_channels, (1, 3, 3), padding=(0, 1, 1))
        self.temporal = nn.Conv3d(out_channels, out_channels, (3, 1, 1), padding=(1, 0, 0))
        self.film = nn.Linear(emb_dim, 2 * out_channels)
        self.norm2 = nn.GroupNorm(min(8, out_channels), out_channels)
        self.out = nn.Conv3d(out_channels, out_channels, (1, 3, 3), padding=(0, 1, 1))
        self.skip = nn.Conv3d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.temporal(self.spatial(F.silu(self.norm1(x))))
        scale, shift = self.film(emb)[:, :, None, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        return self.skip(x) + self.out(F.silu(h))


class TinyVideoUNet(ModelMixin, ConfigMixin):
    """A small conv-only video UNet with the call signature of ``UNet3DConditionModel``.

    The timestep and the pooled ``encoder_hidden_states`` [B, L, cond_dim] condition every
    block; spatial resolution halves between levels, frames are kept. The noise estimate is
    the network's output plus the linear least-squares estimate of the noise from the input,
    a(t)·x_t with a(t) = √(1−ᾱ_t) / (σ_d²·ᾱ_t + 1 − ᾱ_t) for data of variance σ_d²: a
    narrow network cannot pass every latent channel through its output nonlinearity, and at
    high noise that linear term is nearly the whole answer.
    """

    @register_to_config
    def __init__(
        self,
        in_channels: int = 12,
        channels: tuple[int, ...] = (32, 64, 64),
        cond_dim: int = 64,
        num_train_timesteps: int = 1000,
        beta_schedule: str = "linear",
        sigma_data: float = 0.6,
    ):
        super().__init__()
        alpha_bar = DDIMScheduler(num_train_timesteps=num_train_timesteps, beta_schedule=beta_schedule).alphas_cumprod
        self.register_buffer("input_gain", (1 - alpha_bar).sqrt() / (sigma_data**2 * alpha_bar + 1 - alpha_bar), persistent=False)
        emb_dim = 4 * channels[0]
        self.time_proj = Timesteps(channels[0], flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(channels[0], emb_dim)
        self.cond_embedding = nn.Linear(cond_dim, emb_dim)
        self.conv_in = nn.Conv3d(in_channels, channels[0], (1, 3, 3), padding=(0, 1, 1))
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        previous = channels[0]
        for level, width in enumerate(channels):
            self.down.append(FactorisedResBlock(previous, width, emb_dim))
            last = level == len(channels) - 1
            self.downsample.append(nn.Identity() if last else nn.Conv3d(width, width, (1, 3, 3), (1, 2, 2), (0, 1, 1)))
            previous = width
        self.mid = FactorisedResBlock(previous, previous, emb_dim)
        self.up = nn.ModuleList()
        for width in reversed(channels):
            self.up.append(FactorisedResBlock(previous + width, width, emb_dim))
            previous = width
        self.norm_out = nn.GroupNorm(min(8, previous), previous)
        self.conv_out = nn.Conv3d(previous, in_channels, (1, 3, 3), padding=(0, 1, 1))

    def forward(self, sample, timestep, encoder_hidden_states, return_dict: bool = True):
        timestep = torch.as_tensor(timestep, device=sample.device).reshape(-1).expand(sample.shape[0])
        linear = self.input_gain[timestep.long()].to(sample.dtype).view(-1, 1, 1, 1, 1) * sample
        emb = self.time_embedding(self.time_proj(timestep).to(sample.dtype))
        emb = F.silu(emb + self.cond_embedding(encoder_hidden_states.mean(dim=1)))
        h = self.conv_in(sample)
        skips = []
        for block, down in zip(self.down, self.downsample):
            h = block(h, emb)
            skips.append(h)
            h = down(h)
        h = self.mid(h, emb)
        for block in self.up:
            skip = skips.pop()
            if h.shape[-2:] != skip.shape[-2:]:
                h = F.interpolate(h, size=skip.shape[-3:], mode="nearest")
            h = block(torch.cat([h, skip], dim=1), emb)
        out = self.conv_out(F.silu(self.norm_out(h))) + linear
        return UNet3DConditionOutput(sample=out) if return_dict else (out,)


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

    def resize(self, clips: torch.Tensor) -> torch.Tensor:
        """Clips at the model's resolution."""
        if tuple(clips.shape[-2:]) == tuple(self.resolution):
            return clips
        b, t = clips.shape[:2]
        resized = F.interpolate(clips.flatten(0, 1), size=self.resolution, mode="bilinear", align_corners=False)
        return resized.unflatten(0, (b, t))


class ScratchDiffusion(VideoDiffusion):
    """:class:`TinyVideoUNet` in the space-to-depth pixel latent, conditioned by class."""

    def __init__(self, unet: TinyVideoUNet, class_embedding: ClassEmbedding, scheduler: DDIMScheduler, patch: int, resolution):
        self.unet, self.class_embedding, self.scheduler = unet, class_embedding, scheduler
        self.patch, self.resolution = int(patch), tuple(resolution)

    @property
    def num_classes(self) -> int:
        return self.class_embedding.config.num_classes

    def encode(self, clips):
        clips = self.resize(clips) * 2 - 1
        folded = F.pixel_unshuffle(clips.flatten(0, 1), self.patch).unflatten(0, clips.shape[:2])
        return folded.transpose(1, 2)  # [B, C*p*p, T, h, w]

    def decode(self, latents):
        frames = latents.transpose(1, 2)
        clips = F.pixel_shuffle(frames.flatten(0, 1), self.patch).unflatten(0, frames.shape[:2])
        return ((clips + 1) / 2).clamp(0, 1)

    def condition(self, labels):
        return self.class_embedding(labels.to(self.class_embedding.device))

    def uncondition(self, n):
        null = torch.full((n,), self.num_classes, dtype=torch.long, device=self.class_embedding.device)
        return self.class_embedding(null)

    def latent_shape(self, num_frames):
        h, w = self.resolution
        return (3 * self.patch**2, num_frames, h // self.patch, w // self.patch)

    def trainable(self) -> list[nn.Module]:
        return [self.unet, self.class_embedding]


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
        return ((images.float().unflatten(0, latents.shape[:1] + latents.shape[2:3]) + 1) / 2).clamp(0, 1)

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
        unet = TinyVideoUNet.from_pretrained(model_dir / "unet", **LOAD).to(device).eval().requires_grad_(False)
        embedding = ClassEmbedding.from_pretrained(model_dir / "text_encoder", **LOAD).to(device).eval().requires_grad_(False)
        scheduler = DDIMScheduler.from_pretrained(model_dir / "scheduler")
        return ScratchDiffusion(unet, embedding, scheduler, spec["patch"], spec["resolution"])
    base = Path(spec["base"])
    unet_dir = model_dir / "unet" if spec["finetuned"] else base / "unet"
    return _load_modelscope(base, unet_dir, class_names, spec["prompt"], spec["resolution"], device)


# ---------------------------------------------------------------- the diffusion stage


class TrainingClips:
    """Random training clips with their labels, from a frame store."""

    def __init__(self, store: FrameStore, clip: dict):
        self.store, self.videos = store, store.videos("train")
        self.num_frames, self.stride = clip["num_frames"], clip["stride"]

    def batch(self, n: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        rows = rng.integers(len(self.videos), size=n)
        frames = [
            self.store.frames[self.videos["offset"].iat[r] + random_clip(int(self.videos["n_stored"].iat[r]), self.num_frames, self.stride, rng)]
            for r in rows
        ]
        labels = torch.as_tensor(self.videos["label"].to_numpy()[rows], dtype=torch.long)
        return to_clip_tensor(np.stack(frames)), labels


def build_scratch(settings: DiffusionSettings, num_classes: int, frame_size, seed: int) -> ScratchDiffusion:
    resolution = tuple(settings.resolution or frame_size)
    if any(s % (settings.patch * 2 ** (len(settings.channels) - 1)) for s in resolution):
        raise ValueError(f"resolution {resolution} must divide by patch x 2^(levels-1) of the scratch denoiser")
    torch.manual_seed(seed)
    cond_dim = 4 * settings.channels[0]
    unet = TinyVideoUNet(
        in_channels=3 * settings.patch**2,
        channels=tuple(settings.channels),
        cond_dim=cond_dim,
        num_train_timesteps=settings.train_timesteps,
        beta_schedule=settings.beta_schedule,
    )
    embedding = ClassEmbedding(num_classes, cond_dim)
    scheduler = DDIMScheduler(
        num_train_timesteps=settings.train_timesteps,
        beta_schedule=settings.beta_schedule,
        clip_sample=True,  # x̂₀ lives in [-1, 1] in the pixel latent; clipping keeps early steps stable
        set_alpha_to_one=True,
        timestep_spacing="trailing",  # the first sampling step starts from pure noise
    )
    return ScratchDiffusion(unet, embedding, scheduler, settings.patch, resolution)


def denoising_loss(model: VideoDiffusion, clips: torch.Tensor, labels: torch.Tensor, class_dropout: float, generator: torch.Generator) -> torch.Tensor:
    """Noise-prediction MSE at random timesteps; ``class_dropout`` of the prompts are empty."""
    device = next(model.unet.parameters()).device
    with torch.no_grad():
        latents = model.encode(clips.to(device))
    noise = torch.randn(latents.shape, generator=generator).to(device)
    timesteps = torch.randint(0, model.scheduler.config.num_train_timesteps, (len(latents),), generator=generator)
    noisy = model.scheduler.add_noise(latents, noise, timesteps).to(device)
    drop = torch.rand(len(labels), generator=generator) < class_dropout
    cond = model.condition(labels)
    if drop.any():
        cond = torch.where(drop.to(device)[:, None, None], model.uncondition(len(labels)), cond)
    pred = model.unet(noisy, timesteps.to(device), encoder_hidden_states=cond).sample
    return F.mse_loss(pred.float(), noise.float())


def train_diffusion(store_dir, out_dir, meta_path, *, settings: dict, clip: dict, seed: int, work_dir=None, device=None, progress=True) -> dict:
    """The ``diffusion`` stage: train (scratch) or fine-tune (modelscope) the denoiser on the
    training clips and write the model directory ``out_dir`` and its summary ``meta_path``."""
    store = FrameStore(store_dir)
    opts = DiffusionSettings.from_dict(settings)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    class_names = store.classes.sort_values("label")["name"].tolist()
    if opts.source == "scratch":
        model = build_scratch(opts, store.num_classes, store.frame_size, seed)
        model.unet.to(device), model.class_embedding.to(device)
    else:
        model = _load_modelscope(Path(opts.path), Path(opts.path) / "unet", class_names, opts.prompt, opts.resolution, device)
    modules = model.trainable()
    started = time.perf_counter()
    losses = _train_steps(model, modules, TrainingClips(store, clip), opts, seed, work_dir, progress) if opts.steps else []
    wall = time.perf_counter() - started
    spec = {
        "source": opts.source,
        "base": str(Path(opts.path).resolve()) if opts.path else None,
        "finetuned": opts.source == "modelscope" and opts.steps > 0,
        "prompt": opts.prompt,
        "num_classes": store.num_classes,
        "class_names": class_names,
        "patch": opts.patch,
        "resolution": list(model.resolution),
        "latent": "space-to-depth pixels" if opts.source == "scratch" else "VAE",
    }
    write_model_dir(Path(out_dir), model, spec)
    summary = {
        **spec,
        "settings": asdict(opts),
        "steps": opts.steps,
        "train_seconds": wall,
        "final_loss": float(np.mean(losses[-50:])) if losses else None,
        "unet_parameters": sum(p.numel() for p in model.unet.parameters()),
        "device": device.type,
        "seed": seed,
    }
    write_json(meta_path, summary)
    if work_dir is not None:
        shutil.rmtree(work_dir, ignore_errors=True)
    return summary


def _train_steps(model, modules, data: TrainingClips, opts: DiffusionSettings, seed, work_dir, progress) -> list[float]:
    for module in modules:
        module.train().requires_grad_(True)
    params = [p for m in modules for p in m.parameters()]
    optimizer = torch.optim.AdamW(params, lr=opts.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 50) * 0.5 * (1 + math.cos(math.pi * s / opts.steps)))
    rng = np.random.default_rng([seed, 17])
    generator = torch.Generator().manual_seed(seed)
    state = {"step": 0, "losses": []}
    ckpt = Checkpointer(work_dir, opts.checkpoint_every)
    saved = ckpt.load()
    if saved is not None:
        for module, weights in zip(modules, saved["modules"]):
            module.load_state_dict(weights)
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        rng.bit_generator.state = saved["rng"]
        generator.set_state(saved["generator"])
        state = {"step": saved["step"], "losses": list(saved["losses"])}
        print(f"resumed from step {state['step']}")

    def snapshot(step):
        return {
            "step": step,
            "losses": list(state["losses"]),
            "modules": [m.state_dict() for m in modules],
            "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict(),
            "rng": rng.bit_generator.state,
            "generator": generator.get_state(),
        }

    with ckpt.handle_sigterm():
        bar = tqdm(range(state["step"], opts.steps), initial=state["step"], total=opts.steps, desc="diffusion", disable=not progress, mininterval=5)
        for step in bar:
            clips, labels = data.batch(opts.batch_size, rng)
            loss = denoising_loss(model, clips, labels, opts.class_dropout, generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            state["losses"].append(loss.item())
            bar.set_postfix(loss=f"{loss.item():.4f}")
            ckpt.step(step + 1, lambda: snapshot(step + 1))
    for module in modules:
        module.eval().requires_grad_(False)
    return state["losses"]


def write_model_dir(out_dir: Path, model: VideoDiffusion, spec: dict) -> None:
    """Write the model directory beside ``out_dir`` and move it into place in one rename."""
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if spec["source"] == "scratch":
        model.unet.save_pretrained(tmp / "unet")
        model.class_embedding.save_pretrained(tmp / "text_encoder")
        model.scheduler.save_pretrained(tmp / "scheduler")
    elif spec["finetuned"]:
        model.unet.save_pretrained(tmp / "unet")
    (tmp / MODEL_FILE).write_text(json.dumps(spec, indent=2) + "\n")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
