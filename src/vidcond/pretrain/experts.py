"""Expert trajectories for trajectory matching (MTT, DATM).

An expert is a network trained on the real training split; its parameters are recorded
after every epoch. The experts of one (dataset, architecture) live under a stem:

* ``<stem>/expert_<i>.safetensors``: tensor ``trajectory`` [epochs + 1, P] float32, row
  ``t`` the flat parameter vector (``model.named_parameters()`` order) after ``t`` epochs;
* ``<stem>.json``: the index: network spec (arch, num_classes, clip_shape, options), the
  parameter layout (names, shapes), the training settings and each expert's test accuracy.

Training checkpoints between experts (and on SIGTERM, mid-expert): finished shards wait in
the work folder and move to ``<stem>/`` at the end, so a killed job loses at most the
epochs of the current expert since its last checkpoint, and resumes identically.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from tqdm import tqdm

from ..checkpoint import Checkpointer, TrainingState
from ..data.framestore import FrameStore
from ..io import atomic_path, write_json
from ..models import VideoModel, build_model
from ..training import (
    RealClips,
    TrainSettings,
    augment,
    compute_loss,
    lr_factor,
    make_optimizer,
    measure_accuracy,
    pick_device,
)
from ..workflow import config_hash, provenance

SHARD = "expert_{:03d}.safetensors"


# ---------------------------------------------------------------- flat parameters


@dataclass(frozen=True)
class ParamLayout:
    """Names and shapes of a network's parameters, to go between them and one flat vector."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]

    @classmethod
    def of(cls, model: torch.nn.Module) -> "ParamLayout":
        named = list(model.named_parameters())
        return cls(tuple(n for n, _ in named), tuple(tuple(p.shape) for _, p in named))

    @property
    def sizes(self) -> list[int]:
        return [math.prod(s) for s in self.shapes]

    @property
    def num_params(self) -> int:
        return sum(self.sizes)

    def flatten(self, model: torch.nn.Module) -> torch.Tensor:
        params = dict(model.named_parameters())
        return torch.cat([params[n].detach().reshape(-1) for n in self.names])

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of ``flat`` shaped as the named parameters (gradients flow back to ``flat``)."""
        return {n: p.view(s) for n, p, s in zip(self.names, flat.split(self.sizes), self.shapes)}


# ---------------------------------------------------------------- reading


class ExpertBank:
    """The experts of one (dataset, arch), read lazily: one snapshot at a time."""

    def __init__(self, stem: str | Path):
        self.stem = Path(stem)
        self.index = json.loads(self.stem.with_suffix(".json").read_text())
        self.layout = ParamLayout(
            tuple(self.index["param_names"]), tuple(tuple(s) for s in self.index["param_shapes"])
        )

    @property
    def num_experts(self) -> int:
        return len(self.index["experts"])

    @property
    def epochs(self) -> int:
        return int(self.index["epochs"])

    @property
    def lr(self) -> float:
        """The learning rate the experts were trained with (MTT's lr_teacher)."""
        return float(self.index["training"]["lr"])

    def build_model(self, device: torch.device | str = "cpu") -> VideoModel:
        spec = self.index["spec"]
        model = build_model(
            spec["arch"], spec["num_classes"], spec["clip_shape"], **spec["options"]
        )
        return model.to(device)

    def snapshot(self, expert: int, epoch: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """Flat parameters [P] of ``expert`` after ``epoch`` epochs."""
        if not 0 <= epoch <= self.epochs:
            raise IndexError(f"epoch {epoch} outside the recorded 0..{self.epochs}")
        path = self.stem / self.index["experts"][expert]["file"]
        with safe_open(str(path), framework="pt", device="cpu") as shard:
            return shard.get_slice("trajectory")[epoch].to(device)


# ---------------------------------------------------------------- training


def _expert_generators(seed: int, expert: int) -> tuple[np.random.Generator, torch.Generator]:
    return np.random.default_rng([seed, expert]), torch.Generator().manual_seed(
        seed * 100_003 + expert
    )


def train_experts(
    store_dir,
    stem,
    *,
    arch: str,
    model_options: dict,
    num_experts: int,
    epochs: int,
    training: dict,
    clip: dict,
    seed: int,
    work_dir=None,
    checkpoint_every: int = 0,
    progress: bool = True,
) -> dict:
    """Train ``num_experts`` networks for ``epochs`` epochs each on the real training split,
    recording the flat parameters after every epoch; writes ``<stem>/`` and ``<stem>.json``.

    ``checkpoint_every`` (epochs, 0: once per expert) sets how often a running expert is
    saved besides at its end and on SIGTERM.
    """
    stem = Path(stem)
    store = FrameStore(store_dir)
    settings = TrainSettings.from_dict(
        {**training, "epochs": epochs}
    )  # schedules span the expert's epochs
    if settings.labels != "hard" or settings.cutmix:
        raise ValueError(
            "experts train on real clips with hard labels and no CutMix (labels: hard, loss: ce)"
        )
    device = pick_device()
    shape = (clip["num_frames"], 3, *store.frame_size)
    spec = {
        "arch": arch,
        "num_classes": store.num_classes,
        "clip_shape": list(shape),
        "options": dict(model_options),
    }
    job = {
        "spec": spec,
        "num_experts": num_experts,
        "epochs": epochs,
        "training": settings.to_dict(),
        "clip": clip,
        "seed": seed,
    }
    job_hash = config_hash(job)
    real = RealClips(store, clip["num_frames"], clip["stride"])
    test = RealClips(store, clip["num_frames"], clip["stride"], split="test")
    batch_size = settings.batch_size or settings.batch_base

    work = Path(work_dir) if work_dir else stem.parent / f".{stem.name}.work"
    # one step per epoch of any expert: step e * epochs + k is expert e after k epochs
    ckpt = Checkpointer(work, max(1, checkpoint_every or epochs), unit="epoch")
    saved = ckpt.latest()
    if saved is not None and saved["extra"].get("job_hash") != job_hash:
        saved = None  # settings changed since: start over
    done: list[dict] = list(saved["extra"]["done"]) if saved else []
    resume_step = int(saved["step"]) if saved else 0
    layout = ParamLayout.of(build_model(arch, store.num_classes, shape, **model_options))

    with ckpt.handle_sigterm():
        for expert in range(len(done), num_experts):
            rng, generator = _expert_generators(seed, expert)
            torch.manual_seed(seed * 100_003 + expert)
            model = build_model(arch, store.num_classes, shape, **model_options).to(device).train()
            optimizer = make_optimizer(model, settings, settings.lr)
            schedule = torch.optim.lr_scheduler.LambdaLR(
                optimizer, lambda e: lr_factor(settings, e)
            )
            state = TrainingState(
                model=model, optimizer=optimizer, schedule=schedule, rng=rng, generator=generator
            )
            snapshots = [layout.flatten(model).cpu()]
            first_epoch = 0
            if saved is not None and resume_step > expert * epochs:  # this expert was running
                state.load_state_dict(saved["training_state"])
                snapshots = list(saved["extra"]["snapshots"].unbind(0))
                first_epoch = resume_step - expert * epochs
                print(f"resumed expert {expert} from epoch {first_epoch}")
            saved = None

            bar = tqdm(
                range(first_epoch, epochs),
                desc=f"expert {expert}",
                disable=not progress,
                mininterval=5,
            )
            for epoch in bar:
                model.train()
                for clips, labels, _ in real.epoch(batch_size, rng, generator):
                    clips = augment(clips.to(device), settings, generator)
                    loss = compute_loss(settings, model(clips), labels.to(device))
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                schedule.step()
                snapshots.append(layout.flatten(model).cpu())
                bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
                if epoch + 1 < epochs:
                    running = {"job_hash": job_hash, "done": list(done), "snapshots": torch.stack(snapshots)}
                    ckpt.step(expert * epochs + epoch + 1, state, running)

            metrics = measure_accuracy(model, test, store.classes, device=device)
            with atomic_path(work / SHARD.format(expert)) as tmp:
                save_file({"trajectory": torch.stack(snapshots).contiguous()}, str(tmp))
            done.append(
                {
                    "file": SHARD.format(expert),
                    "top1": metrics["top1"],
                    "top5": metrics["top5"],
                    "final_loss": loss.item(),
                }
            )
            print(f"expert {expert}: top-1 {metrics['top1']:.1f}%")
            # an expert's end is always saved: the next one starts from its own seed
            ckpt.step((expert + 1) * epochs, state, {"job_hash": job_hash, "done": list(done)}, always=True)

    stem.mkdir(parents=True, exist_ok=True)
    for entry in done:
        if (work / entry["file"]).exists():  # absent only when a previous run moved it already
            os.replace(work / entry["file"], stem / entry["file"])
    index = {
        "spec": spec,
        "param_names": list(layout.names),
        "param_shapes": [list(s) for s in layout.shapes],
        "num_params": layout.num_params,
        "num_experts": num_experts,
        "epochs": epochs,
        "training": settings.to_dict(),
        "clip": clip,
        "device": device.type,
        "experts": done,
        "top1_mean": float(np.mean([e["top1"] for e in done])),
        **provenance(job, seed),
    }
    write_json(stem.with_suffix(".json"), index)
    ckpt.clear()
    return index
