"""`synthaction`: a procedurally generated action dataset written as real video files.

Two kinds of classes make the benchmark meaningful:

* **static** classes differ in appearance (shape, colour) and all share the same random
  ``drift`` motion, so one frame is enough to tell them apart;
* **dynamic** classes share one appearance and differ only in motion (direction, rotation
  sense, growing vs shrinking, fading in vs out). Start positions, angles and sizes are drawn so that the
  distribution of any single frame is the same for both members of a pair (e.g. ``left`` /
  ``right``): only the temporal order separates them.

Intra-class variety (position, speed, size, colour jitter, background texture, distractors,
pixel noise) makes more instances per class genuinely more informative.

The output follows the UCF101 layout: ``<Class>/v_<Class>_gGG_cCC.<ext>`` plus
``classInd.txt``, ``trainlist01.txt``, ``testlist01.txt`` (CRLF lines, as in UCF101) and a
``classes.tsv`` class table with each class's group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .videoio import write_video

SHAPES = ("circle", "square", "bar", "triangle", "cross", "ring")
MOTIONS = ("drift", "right", "left", "up", "down", "cw", "ccw", "grow", "shrink", "fade_in", "fade_out")
CLIPS_PER_GROUP = 4  # UCF101 names videos by group and clip: v_<Class>_gGG_cCC


def class_group(motion: str) -> str:
    """Classes whose motion carries no label information are recognisable from one frame."""
    return "static" if motion == "drift" else "dynamic"


@dataclass(frozen=True)
class ClassSpec:
    name: str
    shape: str
    color: tuple[int, int, int]
    motion: str

    @property
    def group(self) -> str:
        return class_group(self.motion)


@dataclass(frozen=True)
class GeneratorConfig:
    classes: tuple[ClassSpec, ...]
    seed: int = 0
    train_per_class: int = 24
    test_per_class: int = 8
    frames: int = 32
    height: int = 64
    width: int = 64
    fps: int = 25
    containers: tuple[str, ...] = ("avi", "mp4")
    b_frames: int = 2
    size_range: tuple[float, float] = (0.1, 0.25)  # object radius / min(H, W)
    travel_range: tuple[float, float] = (0.3, 0.55)  # displacement over the video / frame size
    spin_range: tuple[float, float] = (6.0, 14.0)  # degrees per frame
    color_jitter: float = 25.0
    distractors: int = 2
    noise: float = 0.03

    @classmethod
    def from_dict(cls, options: dict) -> "GeneratorConfig":
        opts = dict(options)
        opts["classes"] = tuple(
            ClassSpec(c["name"], c["shape"], tuple(c["color"]), c["motion"]) for c in opts["classes"]
        )
        for key in ("containers", "size_range", "travel_range", "spin_range"):
            if key in opts:
                opts[key] = tuple(opts[key])
        return cls(**opts)


@dataclass
class _Trajectory:
    """Per-frame centre (pixels), angle (radians), radius (pixels) and opacity of the object."""

    cx: np.ndarray
    cy: np.ndarray
    angle: np.ndarray
    radius: np.ndarray
    opacity: np.ndarray


def _trajectory(motion: str, cfg: GeneratorConfig, rng: np.random.Generator) -> _Trajectory:
    n, h, w = cfg.frames, cfg.height, cfg.width
    u = np.linspace(0.0, 1.0, n)
    side = min(h, w)
    r_lo, r_hi = (s * side for s in cfg.size_range)
    radius = np.full(n, rng.uniform(r_lo, r_hi))
    angle = np.full(n, rng.uniform(0, math.pi))
    margin = 0.6 * radius[0]  # objects may touch the border, not leave the frame
    travel = rng.uniform(*cfg.travel_range)
    # A position whose whole path stays inside the frame; for a direction pair the start
    # intervals mirror each other, so the per-frame position distributions coincide.
    cx = np.full(n, rng.uniform(margin, w - margin))
    cy = np.full(n, rng.uniform(margin, h - margin))
    if motion in ("right", "left"):
        span = min(travel * w, w - 2 * margin - 1)
        start = rng.uniform(margin, w - margin - span)
        cx = start + span * u if motion == "right" else (w - start) - span * u
    elif motion in ("down", "up"):
        span = min(travel * h, h - 2 * margin - 1)
        start = rng.uniform(margin, h - margin - span)
        cy = start + span * u if motion == "down" else (h - start) - span * u
    elif motion in ("cw", "ccw"):
        rate = math.radians(rng.uniform(*cfg.spin_range)) * (1 if motion == "cw" else -1)
        angle = angle + rate * np.arange(n)
    elif motion in ("grow", "shrink"):
        grown = r_lo + (r_hi - r_lo) * u
        radius = grown if motion == "grow" else grown[::-1].copy()
    opacity = np.ones(n)
    if motion in ("fade_in", "fade_out"):
        faded = 0.15 + 0.85 * u
        opacity = faded if motion == "fade_in" else faded[::-1].copy()
    if motion in ("drift", "fade_in", "fade_out"):
        # Small random translation and spin: present in every static class alike.
        step = rng.normal(0, 0.08 * side, size=2)
        cx = np.clip(cx + step[0] * u, margin, w - margin)
        cy = np.clip(cy + step[1] * u, margin, h - margin)
        angle = angle + rng.normal(0, math.radians(4)) * np.arange(n)
    return _Trajectory(cx, cy, angle, radius, opacity)


def _box_sdf(x: np.ndarray, y: np.ndarray, bx: float, by: float) -> np.ndarray:
    return np.maximum(np.abs(x) - bx, np.abs(y) - by)


def _shape_sdf(shape: str, x: np.ndarray, y: np.ndarray, r: float) -> np.ndarray:
    """Signed distance (pixels, negative inside) of ``shape`` centred at 0 with radius ``r``."""
    if shape == "circle":
        return np.hypot(x, y) - r
    if shape == "square":
        return _box_sdf(x, y, 0.8 * r, 0.8 * r)
    if shape == "bar":
        return _box_sdf(x, y, r, 0.3 * r)
    if shape == "cross":
        return np.minimum(_box_sdf(x, y, r, 0.3 * r), _box_sdf(x, y, 0.3 * r, r))
    if shape == "ring":
        return np.abs(np.hypot(x, y) - 0.75 * r) - 0.25 * r
    if shape == "triangle":
        edges = [
            x * math.cos(a) + y * math.sin(a) - 0.5 * r
            for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)
        ]
        return np.maximum.reduce(edges)
    raise ValueError(f"unknown shape {shape!r}; known: {SHAPES}")


def _background(cfg: GeneratorConfig, rng: np.random.Generator) -> np.ndarray:
    """A smooth random texture: a coarse random grid upsampled bilinearly, around a dim base colour."""
    h, w = cfg.height, cfg.width
    base = rng.uniform(20, 90, size=3)
    coarse = rng.normal(0, 18, size=(5, 5, 3))
    ys, xs = np.linspace(0, 4, h), np.linspace(0, 4, w)
    y0, x0 = np.minimum(ys.astype(int), 3), np.minimum(xs.astype(int), 3)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    top = coarse[y0][:, x0] * (1 - fx) + coarse[y0][:, x0 + 1] * fx
    bottom = coarse[y0 + 1][:, x0] * (1 - fx) + coarse[y0 + 1][:, x0 + 1] * fx
    return base + top * (1 - fy) + bottom * fy


def render_video(spec: ClassSpec, cfg: GeneratorConfig, rng: np.random.Generator) -> np.ndarray:
    """Render one video of class ``spec``: [T, H, W, 3] uint8 RGB."""
    h, w, n = cfg.height, cfg.width, cfg.frames
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64) + 0.5
    background = _background(cfg, rng)
    color = np.clip(np.asarray(spec.color, float) + rng.normal(0, cfg.color_jitter, 3), 0, 255)
    traj = _trajectory(spec.motion, cfg, rng)
    side = min(h, w)
    dots = [
        (
            rng.uniform(0, w),
            rng.uniform(0, h),
            rng.normal(0, 0.1 * side, 2),
            rng.uniform(0.02, 0.04) * side,
            rng.uniform(60, 255, 3),
        )
        for _ in range(cfg.distractors)
    ]
    video = np.empty((n, h, w, 3), np.uint8)
    u = np.linspace(0.0, 1.0, n)
    for t in range(n):
        frame = background.copy()
        for x0, y0, vel, rad, dot_color in dots:
            dist = np.hypot(xx - (x0 + vel[0] * u[t]) % w, yy - (y0 + vel[1] * u[t]) % h) - rad
            alpha = np.clip(0.5 - dist, 0, 1)[..., None]
            frame = frame * (1 - alpha) + dot_color * alpha
        cos, sin = math.cos(traj.angle[t]), math.sin(traj.angle[t])
        dx, dy = xx - traj.cx[t], yy - traj.cy[t]
        sdf = _shape_sdf(spec.shape, cos * dx + sin * dy, -sin * dx + cos * dy, traj.radius[t])
        alpha = traj.opacity[t] * np.clip(0.5 - sdf, 0, 1)[..., None]  # one-pixel anti-aliased edge
        frame = frame * (1 - alpha) + color * alpha
        frame = frame + rng.normal(0, cfg.noise * 255, frame.shape)
        video[t] = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
    return video


def video_name(class_name: str, index: int, container: str) -> str:
    group, clip = divmod(index, CLIPS_PER_GROUP)
    return f"v_{class_name}_g{group + 1:02d}_c{clip + 1:02d}.{container}"


def generate(root: str | Path, cfg: GeneratorConfig, progress: bool = True) -> None:
    """Write the whole dataset under ``root`` (which must not exist yet or be empty).

    Every video draws from its own generator seeded by (seed, class, index), so a video does
    not depend on the order of generation or on the other classes.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    per_class = cfg.test_per_class + cfg.train_per_class
    train_lines, test_lines = [], []
    jobs = [(c, i) for c in range(len(cfg.classes)) for i in range(per_class)]
    for c, i in tqdm(jobs, desc="synthaction videos", disable=not progress, mininterval=2):
        spec = cfg.classes[c]
        container = cfg.containers[i % len(cfg.containers)]
        rel = f"{spec.name}/{video_name(spec.name, i, container)}"
        (root / spec.name).mkdir(exist_ok=True)
        frames = render_video(spec, cfg, np.random.default_rng([cfg.seed, c, i]))
        write_video(root / rel, frames, fps=cfg.fps, b_frames=cfg.b_frames)
        # The test split holds the first groups of each class, like UCF101's split 1.
        if i < cfg.test_per_class:
            test_lines.append(rel)
        else:
            train_lines.append(f"{rel} {c + 1}")
    crlf = "\r\n"
    (root / "classInd.txt").write_text(
        "".join(f"{c + 1} {s.name}{crlf}" for c, s in enumerate(cfg.classes)), newline=""
    )
    (root / "trainlist01.txt").write_text("".join(f"{line}{crlf}" for line in train_lines), newline="")
    (root / "testlist01.txt").write_text("".join(f"{line}{crlf}" for line in test_lines), newline="")
    rows = ["name\tlabel\tgroup\tshape\tmotion"] + [
        f"{s.name}\t{c}\t{s.group}\t{s.shape}\t{s.motion}" for c, s in enumerate(cfg.classes)
    ]
    (root / "classes.tsv").write_text("\n".join(rows) + "\n")
