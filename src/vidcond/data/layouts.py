"""Dataset adapters: one per on-disk layout, each listing videos with class, label and split.

Every adapter returns a :class:`Listing`: the class table (``label, name, group``) and one
row per video (``video_id, path, class_name, label, split, status, error``). A video named
by a split file but absent on disk is a row with ``status == "missing"``; it is recorded,
not fatal. A split-file path that would leave the dataset root is rejected.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

# The 50 MiniUCF classes of "Dancing with Still Images" (label = index in this sorted list).
MINIUCF50 = (
    "ApplyEyeMakeup BalanceBeam BandMarching BaseballPitch Basketball BasketballDunk Biking "
    "Billiards BlowingCandles Bowling BreastStroke CleanAndJerk CliffDiving CricketShot Diving "
    "FloorGymnastics FrisbeeCatch GolfSwing HammerThrow HighJump HorseRace HorseRiding HulaHoop "
    "IceDancing JumpingJack Knitting MilitaryParade Mixing ParallelBars PlayingPiano "
    "PlayingViolin PoleVault PommelHorse Punch Rafting Rowing SkateBoarding Skiing Skijet "
    "SkyDiving SoccerPenalty StillRings SumoWrestling Surfing Swing TennisSwing "
    "TrampolineJumping UnevenBars VolleyballSpiking WritingOnBoard"
).split()
NAMED_CLASS_SUBSETS = {"miniucf50": MINIUCF50}

VIDEO_COLUMNS = ["video_id", "path", "class_name", "label", "split", "status", "error"]


class DatasetLayoutError(ValueError):
    """The files of a dataset do not match its declared layout."""


@dataclass
class Listing:
    classes: pd.DataFrame  # label (0-based), name, group ("static" / "dynamic" / None)
    videos: pd.DataFrame  # VIDEO_COLUMNS


def resolve_inside(base: Path, relative: str, source: str) -> Path:
    """``base / relative``, refusing absolute paths and ``..`` escapes out of ``base``."""
    candidate = Path(relative)
    resolved = (base / candidate).resolve()
    if candidate.is_absolute() or not resolved.is_relative_to(base.resolve()):
        raise DatasetLayoutError(f"{source}: path {relative!r} escapes the dataset root {base}")
    return resolved


def _find_case_insensitive(path: Path) -> Path:
    """UCF101 quirk: folder ``HandstandPushups`` holds ``v_HandStandPushups_*`` files, and
    lists may spell either; fall back to a case-insensitive match in the same folder."""
    if path.exists() or not path.parent.is_dir():
        return path
    wanted = path.name.lower()
    for sibling in path.parent.iterdir():
        if sibling.name.lower() == wanted:
            return sibling
    return path


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise DatasetLayoutError(f"missing split file {path}")
    # UCF101 lists use CRLF line ends; splitlines() handles both.
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _select_classes(names: list[str], subset, dataset_desc: str) -> list[str]:
    """Keep ``names`` order, restricted to ``subset`` (a list or a named subset)."""
    if subset is None:
        return names
    wanted = NAMED_CLASS_SUBSETS[subset] if isinstance(subset, str) else list(subset)
    lower = {n.lower(): n for n in names}
    unknown = [w for w in wanted if w.lower() not in lower]
    if unknown:
        raise DatasetLayoutError(f"{dataset_desc}: classes not in the dataset: {unknown}")
    keep = {lower[w.lower()] for w in wanted}
    return [n for n in names if n in keep]


def _video_row(video_dir: Path, rel: str, class_name: str, split: str, source: str) -> dict:
    path = _find_case_insensitive(resolve_inside(video_dir, rel, source))
    exists = path.is_file()
    return {
        "video_id": str(Path(rel).with_suffix("")),
        "path": str(path),
        "class_name": class_name,
        "split": split,
        "status": "ok" if exists else "missing",
        "error": "" if exists else "file not found",
    }


def _finish(class_names: list[str], rows: list[dict], groups: dict | None = None) -> Listing:
    label_of = {name: i for i, name in enumerate(class_names)}
    classes = pd.DataFrame(
        {
            "label": range(len(class_names)),
            "name": class_names,
            "group": [(groups or {}).get(n) for n in class_names],
        }
    )
    rows = [r for r in rows if r["class_name"] in label_of]
    videos = pd.DataFrame(rows, columns=[c for c in VIDEO_COLUMNS if c != "label"])
    videos.insert(3, "label", videos["class_name"].map(label_of).astype("int64"))
    if videos.empty:
        raise DatasetLayoutError("the split files list no video of the selected classes")
    return Listing(classes, videos[VIDEO_COLUMNS].reset_index(drop=True))


def _ucf_style(list_dir: Path, video_dir: Path, split: int, subset, desc: str, groups=None) -> Listing:
    class_lines = _read_lines(list_dir / "classInd.txt")
    all_names = [line.split(maxsplit=1)[1] for line in class_lines]
    by_lower = {n.lower(): n for n in all_names}
    names = _select_classes(all_names, subset, desc)
    rows = []
    for split_name, list_name in (("train", f"trainlist0{split}.txt"), ("test", f"testlist0{split}.txt")):
        list_path = list_dir / list_name
        for number, line in enumerate(_read_lines(list_path), start=1):
            rel = line.split()[0] if split_name == "train" else line
            folder = rel.split("/")[0]
            class_name = by_lower.get(folder.lower())
            if class_name is None:
                raise DatasetLayoutError(f"{list_path}:{number}: class folder {folder!r} not in classInd.txt")
            rows.append(_video_row(video_dir, rel, class_name, split_name, f"{list_path}:{number}"))
    return _finish(names, rows, groups)


def list_ucf101(opts: dict) -> Listing:
    root = Path(opts["root"])
    video_dir = Path(opts.get("videos") or root / "UCF-101")
    return _ucf_style(root / "ucfTrainTestlist", video_dir, opts.get("split", 1), opts.get("classes"), "ucf101")


def list_synthetic(opts: dict) -> Listing:
    """The generated dataset: UCF101-style lists at its root plus ``classes.tsv`` with groups."""
    root = Path(opts["root"])
    table = pd.read_csv(root / "classes.tsv", sep="\t")
    groups = dict(zip(table["name"], table["group"]))
    return _ucf_style(root, root, 1, opts.get("classes"), "synthetic", groups)


def list_hmdb51(opts: dict) -> Listing:
    root = Path(opts["root"])
    video_dir = Path(opts.get("videos") or root)
    split = opts.get("split", 1)
    split_dir = root / "testTrainMulti_7030_splits"
    suffix = f"_test_split{split}.txt"
    split_files = sorted(split_dir.glob(f"*{suffix}"))
    if not split_files:
        raise DatasetLayoutError(f"no *{suffix} files in {split_dir}")
    all_names = [f.name[: -len(suffix)] for f in split_files]
    names = _select_classes(all_names, opts.get("classes"), "hmdb51")
    tags = {"1": "train", "2": "test"}  # tag 0: not used in this split
    rows = []
    for class_name, split_file in zip(all_names, split_files):
        for number, line in enumerate(_read_lines(split_file), start=1):
            # File names may hold spaces, '#', '!', '&', '(': the tag is the last field.
            filename, tag = line.rsplit(maxsplit=1)
            if tag in tags:
                source = f"{split_file}:{number}"
                rows.append(_video_row(video_dir, f"{class_name}/{filename}", class_name, tags[tag], source))
    return _finish(names, rows)


def list_kinetics400(opts: dict) -> Listing:
    root = Path(opts["root"])
    video_dir = Path(opts.get("videos") or root)
    annotations = {}
    for split_name in ("train", "val"):
        path = root / "annotations" / f"{split_name}.csv"
        if not path.is_file():
            raise DatasetLayoutError(f"missing annotation file {path}")
        with open(path, newline="", encoding="utf-8") as handle:
            annotations[split_name] = list(csv.DictReader(handle))
    all_names = sorted({row["label"] for row in annotations["train"]})
    names = _select_classes(all_names, opts.get("classes"), "kinetics400")
    rows = []
    for split_name, records in annotations.items():
        for number, row in enumerate(records, start=2):  # line 1 is the header
            stem = f"{row['youtube_id']}_{int(row['time_start']):06d}_{int(row['time_end']):06d}"
            rel = f"{split_name}/{row['label']}/{stem}.mp4"
            source = f"{root / 'annotations' / split_name}.csv:{number}"
            split = "train" if split_name == "train" else "test"
            rows.append(_video_row(video_dir, rel, row["label"], split, source))
    return _finish(names, rows)


ADAPTERS: dict[str, Callable[[dict], Listing]] = {
    "synthetic": list_synthetic,
    "ucf101": list_ucf101,
    "hmdb51": list_hmdb51,
    "kinetics400": list_kinetics400,
}


def list_dataset(opts: dict) -> Listing:
    """Dispatch on ``opts["format"]``."""
    fmt = opts["format"]
    if fmt not in ADAPTERS:
        raise DatasetLayoutError(f"unknown dataset format {fmt!r}; known: {sorted(ADAPTERS)}")
    return ADAPTERS[fmt](opts)
