"""`gvd`, `gvd_naive`, `gvd_knoise`: condensation by a video diffusion model (GVD paper).

All three read the model of the ``diffusion`` stage (requirement ``diffusion``) and
generate per class with one denoising loop (:func:`vidcond.gvd.sample`):

* ``gvd``: guidance towards the k-means centroids of the class's training latents, with
  the frame-wise linear decay (``decay``) and a stop threshold (``stop``);
* ``gvd_naive``: the class prompt only;
* ``gvd_knoise``: a noised prototype (k-means centroid of the first-frame latents, repeated
  over the frames as in D4M/the paper's K-Noise; or of whole clips) as the starting latent.

With ``mvic`` each final video is composed from ``len(pattern)`` generated ones
(``pattern[i]`` consecutive frames each), so G·IPC videos are generated per class; the
k-means then has one cluster per generated video (as many as the class has training videos
at most, centroids reused in turn beyond that).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..checkpoint import Checkpointer
from ..data.sampling import PIXEL_RANGE
from ..gvd import Guidance, class_centroids, compose_mvic, sample
from ..memory import peak_memory_mb
from .base import Condensed, CondenseContext, Method, Params, param, register_method

if TYPE_CHECKING:  # diffusers takes seconds to import: only the jobs that sample load it
    from ..pretrain.diffusion import VideoDiffusion


@dataclass(frozen=True, kw_only=True)
class DiffusionParams(Params):
    steps: int = param(25, "DDIM sampling steps", minimum=1)
    cfg_scale: float = param(1.0, "classifier-free guidance scale (1: off)", minimum=0)
    batch_size: int = param(32, "videos denoised at once (bounds the memory whatever the IPC)", minimum=1)
    mvic: bool = param(True, "compose each video from len(pattern) generated ones")
    pattern: tuple[int, ...] = param((4, 4, 4, 4), "frames taken from each member of a group (sum = clip length)")
    selection: Literal["random", "continuous"] = param("random", "which frames of each member MVIC takes")

    def check(self) -> None:
        if not self.pattern or min(self.pattern) < 1:
            raise ValueError(f"pattern: {list(self.pattern)} must be positive frame counts")


@dataclass(frozen=True, kw_only=True)
class GuidedParams(DiffusionParams):
    strength: float = param(0.1, "guidance strength towards the class's k-means centroids", minimum=0)
    stop: float = param(0.5, "share of the sampling steps guided", minimum=0, maximum=1)
    decay: bool = param(True, "frame-wise linear decay of the guidance")
    decay_end: float = param(0.0, "guidance weight of the last frame under decay", minimum=0, maximum=1)


@dataclass(frozen=True, kw_only=True)
class KNoiseParams(DiffusionParams):
    init_strength: float = param(0.7, "noise strength of the starting prototype", above=0, maximum=1)
    prototype: Literal["first_frame", "video"] = param("first_frame", "k-means of first-frame latents (repeated) or of whole clips")


TINY = {"steps": 2, "mvic": False}  # MVIC as in the embedded config (MVIC itself: test_gvd.py)


class DiffusionMethod(Method):
    """Generation per class with checkpoints after each class; subclasses choose the start
    latent and the guidance of a batch."""

    needs = ("diffusion",)
    family, paper_protocol = "diffusion", "gvd"

    def settings(self, ctx: CondenseContext) -> DiffusionParams:
        params = self.params_class.of(ctx.params)
        if not params.mvic:
            params = replace(params, pattern=(ctx.clip["num_frames"],))
        if sum(params.pattern) != ctx.clip["num_frames"]:
            raise ValueError(f"MVIC pattern {list(params.pattern)} must sum to the clip length {ctx.clip['num_frames']}")
        return params

    def batch_inputs(self, params: DiffusionParams, latents: torch.Tensor, count: int, seed: int) -> dict:
        """Keyword arguments of :func:`sample` for all ``count`` videos of a class; tensors
        (and a guidance's centroids) hold one entry per video and are cut per batch."""
        return {}

    def condense(self, ctx: CondenseContext) -> Condensed:
        params = self.settings(ctx)
        class_names = ctx.store.classes.sort_values("label")["name"].tolist()
        from ..pretrain.diffusion import load_diffusion

        model = load_diffusion(ctx.require("diffusion"), class_names, ctx.device)
        group = len(params.pattern)
        per_class = ctx.ipc * group
        ckpt = Checkpointer(ctx.work_dir, 1)
        state = ckpt.load() or {"done": 0, "videos": [], "seconds": 0.0}
        if state["done"]:
            print(f"resumed after class {state['done']}")
        videos = ctx.train_videos
        if ctx.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(ctx.device)
        with ckpt.handle_sigterm():
            for label in tqdm(range(state["done"], ctx.num_classes), desc=self.name, disable=not ctx.progress):
                started = time.perf_counter()
                real = ctx.clips(videos[videos["label"] == label])  # centred clips
                generated = self.generate_class(ctx, model, params, label, real, per_class)
                if params.mvic:
                    generated = compose_mvic(generated, list(params.pattern), params.selection, ctx.rng(label, 1))
                state["videos"].append(generated.half().cpu())
                state["seconds"] += time.perf_counter() - started
                state["done"] = label + 1
                ckpt.step(label + 1, lambda: state)
        data = torch.cat(state["videos"])
        labels = torch.arange(ctx.num_classes).repeat_interleave(ctx.ipc)
        meta = {
            "generated_videos": per_class * ctx.num_classes,
            "generation_s": state["seconds"],
            "generation_s_per_ipc": state["seconds"] / ctx.ipc,
            "generation_peak_mem_mb": peak_memory_mb(ctx.device),
            "sampling_steps": params.steps,
            "mvic_pattern": list(params.pattern) if params.mvic else None,
        }
        return Condensed({"videos": data, "labels": labels}, meta)

    def generate_class(self, ctx, model: VideoDiffusion, params: DiffusionParams, label: int, real: torch.Tensor, count: int) -> torch.Tensor:
        """``count`` clips [count, T, C, H, W] in [0, 1] of class ``label`` at the store's size."""
        num_frames = ctx.clip["num_frames"]
        latents = torch.cat([model.encode(chunk.to(ctx.device)) for chunk in real.split(params.batch_size)]).cpu()
        generator = torch.Generator().manual_seed(int(ctx.rng(label, 2).integers(2**62)))
        noise = torch.randn((count, *model.latent_shape(num_frames)), generator=generator)
        per_video = self.batch_inputs(params, latents, count, ctx.seed)
        clips = []
        for begin in range(0, count, params.batch_size):
            part = slice(begin, begin + params.batch_size)
            labels = torch.full((len(noise[part]),), label, dtype=torch.long)
            kwargs = {k: _batch_part(v, part) for k, v in per_video.items()}
            out = sample(model, labels, noise[part], steps=params.steps, cfg_scale=params.cfg_scale, **kwargs)
            clips.append(self._to_store_size(model.decode(out), ctx.store.frame_size).cpu())
        return torch.cat(clips)

    @staticmethod
    def _to_store_size(clips: torch.Tensor, size) -> torch.Tensor:
        if tuple(clips.shape[-2:]) == tuple(size):
            return clips
        frames = F.interpolate(clips.flatten(0, 1), size=tuple(size), mode="bilinear", align_corners=False)
        return frames.unflatten(0, clips.shape[:2]).clamp(*PIXEL_RANGE)


def _batch_part(value, part: slice):
    if isinstance(value, torch.Tensor):
        return value[part]
    if isinstance(value, Guidance):
        return replace(value, centroids=value.centroids[part])
    return value


def _assign(centroids: torch.Tensor, count: int) -> torch.Tensor:
    """One centroid per generated video, in turn."""
    return centroids[torch.arange(count) % len(centroids)]


@register_method
class GVD(DiffusionMethod):
    name, params_class, tiny_params = "gvd", GuidedParams, TINY

    def batch_inputs(self, params, latents, count, seed):
        centroids = _assign(class_centroids(latents, min(count, len(latents)), seed), count)
        stop = int(round(params.stop * params.steps))
        guide = {"strength": params.strength, "decay": params.decay, "decay_end": params.decay_end}
        return {"guidance": Guidance(centroids, stop=stop, **guide)}


@register_method
class GVDNaive(DiffusionMethod):
    name, params_class, tiny_params = "gvd_naive", DiffusionParams, TINY


@register_method
class GVDKNoise(DiffusionMethod):
    name, params_class, tiny_params = "gvd_knoise", KNoiseParams, TINY

    def batch_inputs(self, params, latents, count, seed):
        k = min(count, len(latents))
        if params.prototype == "first_frame":
            first = class_centroids(latents[:, :, :1], k, seed)
            prototypes = first.expand(-1, -1, latents.shape[2], -1, -1)
        else:
            prototypes = class_centroids(latents, k, seed)
        starts = _assign(prototypes, count)
        return {"init": starts, "init_strength": params.init_strength}
