"""Frame store: every extracted frame of a dataset in one uint8 file, plus a manifest.

Layout of ``results/frames/<dataset>/``:

* ``frames.u8`` — raw uint8 array ``[total_frames, H, W, 3]`` (read back as a memmap);
* ``manifest.parquet`` — one row per listed video: ``video_id, path, class_name, label,
  split, n_frames, fps, status, error, offset, n_stored``. ``n_frames`` counts the decoded
  source frames; ``offset``/``n_stored`` locate the kept frames in ``frames.u8``. A missing,
  empty, truncated or undecodable file has ``status == "error"`` and its message;
* ``store.json`` — frame size, frame count, extraction settings and the class table.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..io import atomic_path, write_json, write_parquet
from .layouts import Listing
from .videoio import iter_frames

FRAMES_FILE, MANIFEST_FILE, META_FILE = "frames.u8", "manifest.parquet", "store.json"


@dataclass(frozen=True)
class ExtractOptions:
    height: int
    width: int
    frame_stride: int = 1  # keep every k-th source frame
    max_frames: int = 0  # > 0: keep at most this many frames, evenly spaced

    def kept_indices(self, n_source: int) -> np.ndarray:
        kept = np.arange(0, n_source, self.frame_stride)
        if self.max_frames and len(kept) > self.max_frames:
            kept = kept[np.linspace(0, len(kept) - 1, self.max_frames).round().astype(int)]
        return kept


def decode_kept(path: str, opts: ExtractOptions) -> tuple[np.ndarray, int, float]:
    """Decode ``path`` sequentially, resizing while decoding; return (kept frames, decoded count, fps)."""
    frames = iter_frames(path, opts.height, opts.width)
    fps, n_header = next(frames)
    wanted = opts.kept_indices(n_header)
    kept, decoded, next_wanted = [], 0, 0
    for index, frame in enumerate(frames):
        decoded = index + 1
        if next_wanted < len(wanted) and index == wanted[next_wanted]:
            kept.append(frame)
            next_wanted += 1
    if not kept:
        raise ValueError("no decodable frame")
    return np.stack(kept), decoded, fps


def _decode_or_error(job: tuple[str, ExtractOptions]) -> tuple[np.ndarray | None, int, float, str]:
    """`decode_kept` for a worker process: a failure comes back as its message."""
    try:
        return (*decode_kept(*job), "")
    except Exception as err:  # decord raises RuntimeError/DECORDError on bad files
        return None, 0, np.nan, f"{type(err).__name__}: {err}"


def _decoded(jobs: list[tuple[str, ExtractOptions]], workers: int):
    """`_decode_or_error` of every job, in order, over ``workers`` processes."""
    if workers <= 1 or len(jobs) <= 1:
        yield from map(_decode_or_error, jobs)
        return
    # fork: the parent may be a Snakemake script, which spawn would re-execute on import.
    with multiprocessing.get_context("fork").Pool(min(workers, len(jobs))) as pool:
        yield from pool.imap(_decode_or_error, jobs, chunksize=2)


def extract(
    listing: Listing, out_dir: str | Path, opts: ExtractOptions, progress: bool = True, workers: int = 1
) -> pd.DataFrame:
    """Extract every ``ok`` video of ``listing`` into a frame store at ``out_dir``.

    ``workers`` videos are decoded in parallel (separate processes); frames are written in
    listing order whatever their number. A video that fails to decode is recorded with its
    error and skipped; the store is still written. Every file is written under a temporary
    name and renamed at the end.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = listing.videos.copy()
    status = manifest["status"].map({"ok": "ok", "missing": "error"}).to_numpy(dtype=object)
    errors = manifest["error"].to_numpy(dtype=object).copy()
    n_frames, n_stored = np.zeros(len(manifest), np.int64), np.zeros(len(manifest), np.int64)
    fps, offsets = np.full(len(manifest), np.nan), np.full(len(manifest), -1, np.int64)
    todo = np.flatnonzero(status == "ok")
    jobs = [(path, opts) for path in manifest["path"].to_numpy()[todo]]
    offset = 0
    with atomic_path(out_dir / FRAMES_FILE) as tmp_frames, open(tmp_frames, "wb") as sink:
        results = tqdm(_decoded(jobs, workers), total=len(jobs), desc="extract", disable=not progress, mininterval=2)
        for i, (frames, decoded, rate, error) in zip(todo, results):
            if frames is None:
                status[i], errors[i] = "error", error
                continue
            sink.write(frames.data)
            n_frames[i], fps[i], offsets[i], n_stored[i] = decoded, rate, offset, len(frames)
            offset += len(frames)
        sink.flush()
        os.fsync(sink.fileno())
    manifest = manifest.assign(
        status=status, error=errors, n_frames=n_frames, fps=fps, offset=offsets, n_stored=n_stored
    )
    write_parquet(out_dir / MANIFEST_FILE, manifest)
    meta = {
        "height": opts.height,
        "width": opts.width,
        "total_frames": offset,
        "extract": vars(opts),
        "classes": listing.classes.to_dict(orient="records"),
    }
    write_json(out_dir / META_FILE, meta)
    return manifest


class FrameStore:
    """Read side of a frame store: videos of a split as uint8 frame arrays."""

    def __init__(self, directory: str | Path):
        directory = Path(directory)
        self.meta = json.loads((directory / META_FILE).read_text())
        self.manifest = pd.read_parquet(directory / MANIFEST_FILE)
        shape = (self.meta["total_frames"], self.meta["height"], self.meta["width"], 3)
        self.frames = np.memmap(directory / FRAMES_FILE, np.uint8, "r", shape=shape) if shape[0] else np.zeros(shape, np.uint8)
        self.classes = pd.DataFrame(self.meta["classes"])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def frame_size(self) -> tuple[int, int]:
        return self.meta["height"], self.meta["width"]

    def videos(self, split: str) -> pd.DataFrame:
        """The decodable videos of ``split`` ("train" or "test")."""
        ok = self.manifest[(self.manifest["split"] == split) & (self.manifest["status"] == "ok")]
        return ok.reset_index(drop=True)

    def video(self, offset: int, n_stored: int) -> np.ndarray:
        return self.frames[offset : offset + n_stored]


def clip_shape(store: FrameStore, num_frames: int) -> tuple[int, int, int, int]:
    """The (T, C, H, W) shape of a clip of ``num_frames`` frames from ``store``."""
    return (num_frames, 3, *store.frame_size)
