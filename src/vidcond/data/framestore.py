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
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
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


def resize_frames(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """Antialiased bilinear resize of [N, h, w, 3] uint8 frames to [N, height, width, 3]."""
    if frames.shape[1:3] == (height, width):
        return frames
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    return x.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def _decode_kept(path: str, opts: ExtractOptions) -> tuple[np.ndarray, int, float]:
    """Decode ``path`` sequentially; return (kept frames resized, decoded count, fps)."""
    frames = iter_frames(path)
    fps, n_header = next(frames)
    wanted = set(opts.kept_indices(n_header).tolist())
    kept, decoded = [], 0
    for index, frame in enumerate(frames):
        decoded = index + 1
        if index in wanted:
            kept.append(frame)
    if not kept:
        raise ValueError("no decodable frame")
    return resize_frames(np.stack(kept), opts.height, opts.width), decoded, fps


def extract(listing: Listing, out_dir: str | Path, opts: ExtractOptions, progress: bool = True) -> pd.DataFrame:
    """Extract every ``ok`` video of ``listing`` into a frame store at ``out_dir``.

    A video that fails to decode is recorded with its error and skipped; the store is
    still written. Every file is written under a temporary name and renamed at the end.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = listing.videos.copy()
    manifest["status"] = manifest["status"].map({"ok": "ok", "missing": "error"})
    columns = {"n_frames": 0, "fps": np.nan, "offset": -1, "n_stored": 0}
    for name, default in columns.items():
        manifest[name] = default
    offset = 0
    with atomic_path(out_dir / FRAMES_FILE) as tmp_frames, open(tmp_frames, "wb") as sink:
        rows = tqdm(manifest.itertuples(), total=len(manifest), desc="extract", disable=not progress, mininterval=2)
        for row in rows:
            if row.status != "ok":
                continue
            try:
                frames, decoded, fps = _decode_kept(row.path, opts)
            except Exception as err:  # decord raises RuntimeError/DECORDError on bad files
                manifest.loc[row.Index, ["status", "error"]] = ["error", f"{type(err).__name__}: {err}"]
                continue
            sink.write(frames.tobytes())
            manifest.loc[row.Index, ["n_frames", "fps", "offset", "n_stored"]] = [decoded, fps, offset, len(frames)]
            offset += len(frames)
        sink.flush()
        os.fsync(sink.fileno())
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
