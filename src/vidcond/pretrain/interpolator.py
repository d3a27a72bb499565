"""Training the parametric interpolator ("Dancing with Still Images", Sec. 3.3).

From each real clip of T frames, ``n`` evenly spaced frames are kept and duplicated back to
T; the interpolator (a TimeSformer, :class:`vidcond.models.parts.TimesformerInterpolator`)
learns to restore the clip (MSE). ``n`` is drawn per batch from ``n_syn``, so one network
serves every N_syn of the temporal grid. The result is written as ``<stem>.safetensors``
(weights) + ``<stem>.json`` (the part's name and options, which a condensed set copies to
rebuild it, and the test error against plain duplication).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from tqdm import tqdm

from ..checkpoint import Checkpointer, TrainingState
from ..condensed import duplicate_frames
from ..data.framestore import FrameStore
from ..data.sampling import center_clip, evenly_spaced_frames, random_clip, to_clip_tensor
from ..io import atomic_path, write_json
from ..models.parts import build_part
from ..training import pick_device

PART = "interpolator_timesformer"


@dataclass
class InterpolatorTraining:
    steps: int = 300
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 0.01
    n_syn: list[int] = field(default_factory=lambda: [1, 2, 4])
    checkpoint_every: int = 100


def duplicated(clips: torch.Tensor, n: int) -> torch.Tensor:
    """The interpolator's input: ``n`` evenly spaced frames of each clip, duplicated to T."""
    return duplicate_frames(evenly_spaced_frames(clips, n), clips.shape[1])


def _clips(
    store: FrameStore, videos, rows, clip: dict, rng: np.random.Generator | None
) -> torch.Tensor:
    frames = []
    for r in rows:
        offset, n = int(videos["offset"].iat[r]), int(videos["n_stored"].iat[r])
        pick = (
            random_clip(n, clip["num_frames"], clip["stride"], rng)
            if rng is not None
            else center_clip(n, clip["num_frames"], clip["stride"])
        )
        frames.append(store.frames[offset + pick])
    return to_clip_tensor(np.stack(frames))


def train_interpolator(
    store_dir,
    out_stem,
    *,
    options: dict,
    training: dict,
    clip: dict,
    seed: int,
    work_dir=None,
    progress: bool = True,
) -> dict:
    store = FrameStore(store_dir)
    settings = InterpolatorTraining(**training)
    device = pick_device()
    height, width = store.frame_size
    if height != width:
        raise ValueError(f"the TimeSformer interpolator needs square frames, not {height}x{width}")
    spec = {
        "name": PART,
        "options": {"num_frames": clip["num_frames"], "image_size": height, **options},
    }
    torch.manual_seed(seed)
    model = build_part(spec["name"], **spec["options"]).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
    )
    rng = np.random.default_rng(seed)
    train_videos = store.videos("train")

    checkpointer = Checkpointer(work_dir, settings.checkpoint_every)
    state = TrainingState(model=model, optimizer=optimizer, rng=rng)
    start, saved = checkpointer.resume(state, {"losses": []})
    losses = list(saved["losses"])

    model.train()
    with checkpointer.handle_sigterm():
        for step in tqdm(
            range(start, settings.steps),
            initial=start,
            total=settings.steps,
            desc="interpolator",
            disable=not progress,
            mininterval=5,
        ):
            rows = rng.choice(
                len(train_videos),
                settings.batch_size,
                replace=settings.batch_size > len(train_videos),
            )
            clips = _clips(store, train_videos, rows, clip, rng).to(device)
            n = int(rng.choice(settings.n_syn))
            loss = F.mse_loss(model(duplicated(clips, n)), clips)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            checkpointer.step(step + 1, state, {"losses": losses})

    model.eval()
    test_videos = store.videos("test")
    test = _clips(store, test_videos, range(len(test_videos)), clip, None).to(device)
    errors = {}
    with torch.no_grad():
        for n in settings.n_syn:
            source = duplicated(test, n)
            errors[f"test_mse_duplicate_n{n}"] = F.mse_loss(source, test).item()
            errors[f"test_mse_restored_n{n}"] = F.mse_loss(model(source), test).item()
    stem = Path(out_stem)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(stem.with_suffix(".safetensors")) as tmp:
        save_file(state, str(tmp))
    meta = {
        **spec,
        "training": training,
        "final_loss": float(np.mean(losses[-20:])) if losses else None,
        **errors,
    }
    write_json(stem.with_suffix(".json"), meta)
    checkpointer.clear()
    return meta
