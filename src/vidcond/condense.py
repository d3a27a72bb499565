"""Run one condensation job: method -> condensed-set file with its accounting."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import torch

from .condensed import condensation_ratio, save_condensed
from .data.framestore import FrameStore
from .memory import estimate_line, job_estimate, peak_memory_mb
from .methods import CondenseContext, get_method
from .training import pick_device
from .workflow import provenance


def check_ipc(store: FrameStore, ipc: int, dataset: str) -> None:
    """Fail early when a class has fewer training videos than ``ipc``."""
    counts = store.videos("train").groupby("label").size().reindex(store.classes["label"], fill_value=0)
    short = counts[counts < ipc]
    if not short.empty:
        names = store.classes.set_index("label")["name"]
        label = short.index[0]
        raise ValueError(
            f"IPC {ipc} exceeds the {short.iloc[0]} training videos of class {names[label]!r} "
            f"in dataset {dataset!r}"
        )


def run_condense(
    store_dir,
    out_stem,
    *,
    dataset: str,
    method: str,
    kind: str,
    ipc: int,
    params: dict,
    clip: dict,
    seed: int,
    inputs: dict | None = None,
    model_options: dict | None = None,
    work_dir=None,
    progress: bool = True,
) -> dict:
    store = FrameStore(store_dir)
    check_ipc(store, ipc, dataset)
    try:  # a log line: never the reason a job fails
        print(estimate_line(job_estimate(kind, params, ipc, store_dir, clip, dict(model_options or {}), inputs)), flush=True)
    except Exception as err:
        print(f"memory estimate unavailable: {type(err).__name__}: {err}", flush=True)
    device = pick_device()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    ctx = CondenseContext(
        store=store,
        dataset=dataset,
        ipc=ipc,
        params=params,
        clip=clip,
        seed=seed,
        device=device,
        inputs=dict(inputs or {}),
        model_options=dict(model_options or {}),
        work_dir=Path(work_dir) if work_dir else None,
        progress=progress,
    )
    started = time.perf_counter()
    result = get_method(kind).condense(ctx)
    wall = time.perf_counter() - started
    frames = int(result.meta.get("frames", clip["num_frames"]))
    num_videos = int(result.tensors["labels"].numel())
    train_frames = int(store.videos("train")["n_frames"].sum())
    ratio = condensation_ratio(num_videos, frames, train_frames)
    height, width = store.frame_size
    settings = {"method": method, "kind": kind, "ipc": ipc, "params": params, "clip": clip, "models": model_options}
    meta = {
        "dataset": dataset,
        "method": method,
        "kind": kind,
        "ipc": ipc,
        "frames": frames,
        "height": height,
        "width": width,
        "channels": 3,
        "condensation_ratio": ratio,
        "wall_time_s": wall,
        "peak_mem_mb": peak_memory_mb(device),
        "device": device.type,
        **provenance(settings, seed),
        **result.meta,
    }
    saved = save_condensed(out_stem, result.tensors, meta)
    if ctx.work_dir is not None:
        shutil.rmtree(ctx.work_dir, ignore_errors=True)  # checkpoints are no longer needed
    return saved
