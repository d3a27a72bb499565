"""Dataset adapters: one per on-disk layout, each listing videos with class, label and split.

Every adapter returns a :class:`Listing`: the class table (``label, name, group``) and one
row per video (``video_id, path, class_name, label, split, status, error``). A video named
by a split file but absent on disk is a row with ``status == "missing"``; it is recorded,
not fatal. A split-file path that would leave the dataset root is rejected.
"""

from __future__ import annotations

import csv
import hashlib
import os
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
    class_path = list_dir / "classInd.txt"
    all_names = []
    for number, line in enumerate(_read_lines(class_path), start=1):
        fields = line.split(maxsplit=1)
        if len(fields) != 2:
            raise DatasetLayoutError(f"{class_path}:{number}: expected '<index> <class name>', got {line!r}")
        all_names.append(fields[1])
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
            fields = line.rsplit(maxsplit=1)
            if len(fields) != 2:
                raise DatasetLayoutError(f"{split_file}:{number}: expected '<file name> <tag 0|1|2>', got {line!r}")
            filename, tag = fields
            if tag in tags:
                source = f"{split_file}:{number}"
                rows.append(_video_row(video_dir, f"{class_name}/{filename}", class_name, tags[tag], source))
    return _finish(names, rows)


KINETICS_COLUMNS = ("label", "youtube_id", "time_start", "time_end")


def _csv_int(row: dict, column: str, source: str) -> int:
    try:
        return int(row[column])
    except (TypeError, ValueError):
        raise DatasetLayoutError(f"{source}: column {column!r}: {row[column]!r} is not a whole number") from None


def list_kinetics400(opts: dict) -> Listing:
    root = Path(opts["root"])
    video_dir = Path(opts.get("videos") or root)
    annotations = {}
    for split_name in ("train", "val"):
        path = root / "annotations" / f"{split_name}.csv"
        if not path.is_file():
            raise DatasetLayoutError(f"missing annotation file {path}")
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in KINETICS_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise DatasetLayoutError(
                    f"{path}:1: missing column {missing[0]!r} (header: {', '.join(reader.fieldnames or [])}; "
                    f"needed: {', '.join(KINETICS_COLUMNS)})"
                )
            annotations[split_name] = list(reader)
    all_names = sorted({row["label"] for row in annotations["train"]})
    names = _select_classes(all_names, opts.get("classes"), "kinetics400")
    rows = []
    for split_name, records in annotations.items():
        for number, row in enumerate(records, start=2):  # line 1 is the header
            source = f"{root / 'annotations' / split_name}.csv:{number}"
            start, end = (_csv_int(row, column, source) for column in ("time_start", "time_end"))
            stem = f"{row['youtube_id']}_{start:06d}_{end:06d}"
            rel = f"{split_name}/{row['label']}/{stem}.mp4"
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


# ---------------------------------------------------------------- checks before extraction

# Per real format: the folder every root holds (its marker), the files read from it, and
# where the videos are unless `videos` says otherwise.
ROOT_LAYOUTS = {
    "ucf101": {
        "marker": "ucfTrainTestlist",
        "files": ("classInd.txt", "trainlist0{split}.txt", "testlist0{split}.txt"),
        "videos": "UCF-101",
        "shape": "ucfTrainTestlist/ (classInd.txt, trainlist01.txt, ...) and UCF-101/<Class>/*.avi",
    },
    "hmdb51": {
        "marker": "testTrainMulti_7030_splits",
        "files": (),  # one <class>_test_split<n>.txt per class, globbed
        "videos": "",
        "shape": "testTrainMulti_7030_splits/ (<class>_test_split1.txt, ...) and <class>/*.avi",
    },
    "kinetics400": {
        "marker": "annotations",
        "files": ("train.csv", "val.csv"),
        "videos": "",
        "shape": "annotations/ (train.csv, val.csv) and {train,val}/<label>/*.mp4",
    },
}
MAX_FOUND = 8  # entries of a folder named in a root hint


def _entries(folder: Path) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    if not names:
        return "nothing"
    return ", ".join(names[:MAX_FOUND]) + (f", ... ({len(names) - MAX_FOUND} more)" if len(names) > MAX_FOUND else "")


def layout_files(opts: dict) -> list[str]:
    """The split or annotation files a real dataset's listing reads (none for synthetic)."""
    fmt = opts["format"]
    if fmt not in ROOT_LAYOUTS:
        return []
    layout, root = ROOT_LAYOUTS[fmt], Path(opts["root"])
    marker = root / layout["marker"]
    if fmt == "hmdb51":
        return [str(p) for p in sorted(marker.glob(f"*_test_split{opts.get('split', 1)}.txt"))]
    return [str(marker / name.format(split=opts.get("split", 1))) for name in layout["files"]]


def root_problem(where: str, opts: dict) -> str | None:
    """Why ``opts["root"]`` is not a root of its format (None when it is), with what the
    root must hold, what was found, and the folder one level up or down that would do."""
    fmt = opts["format"]
    if fmt not in ROOT_LAYOUTS:
        return None
    layout, root = ROOT_LAYOUTS[fmt], Path(opts["root"])
    head = f"config {where}.root: {root}"
    if not root.is_dir():
        return f"{head} is not a directory"
    marker = layout["marker"]
    if not (root / marker).is_dir():
        lines = [
            f"{head} is not a {fmt} root: it has no {marker}/",
            f"  a {fmt} root holds {layout['shape']}",
            f"  found in it: {_entries(root)}",
        ]
        if (root.parent / marker).is_dir():
            lines.append(f"  root is one folder too low: did you mean root: {root.parent}?")
        below = [p for p in sorted(root.iterdir()) if (p / marker).is_dir()]
        if below:
            lines.append(f"  root is one folder too high: did you mean root: {below[0]}?")
        return "\n".join(lines)
    files = layout_files(opts)
    if fmt == "hmdb51" and not files:
        return f"{head}: no *_test_split{opts.get('split', 1)}.txt in {root / marker}"
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        return f"{head}: missing {missing[0]} (found in {marker}/: {_entries(root / marker)})"
    videos = Path(opts["videos"]) if opts.get("videos") else root / layout["videos"]
    if not videos.is_dir():
        return f"{head}: no video folder {videos} (set `videos` when the videos are elsewhere)"
    if fmt == "kinetics400":
        for path in files:
            with open(path, newline="", encoding="utf-8") as handle:
                header = next(csv.reader(handle), [])
            absent = [c for c in KINETICS_COLUMNS if c not in header]
            if absent:
                return f"{path}:1: missing column {absent[0]!r} (header: {', '.join(header)})"
    return None


def listing_checksum(opts: dict) -> str:
    """A digest of what extraction would read: every listed video with its split, label,
    and its size and modification time on disk (0 when missing). It changes when a video
    listed in a split file is added, removed or replaced, or a split file is edited."""
    videos = list_dataset(opts).videos
    digest = hashlib.sha256()
    for row in videos.itertuples():
        try:
            stat = os.stat(row.path)
            size, mtime = stat.st_size, stat.st_mtime_ns
        except OSError:
            size, mtime = -1, 0
        digest.update(f"{row.video_id}\t{row.split}\t{row.label}\t{size}\t{mtime}\n".encode())
    return digest.hexdigest()


def skip_reason(row) -> str:
    """``missing``, ``empty`` or ``undecodable``: why a manifest row was skipped."""
    if row.error == "file not found" or not os.path.exists(row.path):
        return "missing"
    return "empty" if os.path.getsize(row.path) == 0 else "undecodable"


def manifest_summary(name: str, manifest_path) -> str:
    """One line: videos ok and skipped (by reason) of a dataset's frame-store manifest."""
    manifest = pd.read_parquet(manifest_path, columns=["path", "status", "error"])
    skipped = manifest[manifest["status"] != "ok"]
    line = f"dataset {name}: {len(manifest) - len(skipped)} videos ok, {len(skipped)} skipped"
    if len(skipped):
        reasons = pd.Series([skip_reason(r) for r in skipped.itertuples()]).value_counts()
        line += " (" + ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items())) + ")"
    return f"{line}; manifest {manifest_path}"


def extraction_summaries(names, since: float, frames_dir="results/frames") -> list[str]:
    """Summary lines of the datasets whose manifest was written at or after ``since``
    (those extracted by the current run)."""
    lines = []
    for name in names:
        manifest = Path(frames_dir) / name / "manifest.parquet"
        if manifest.exists() and manifest.stat().st_mtime >= since:
            try:
                lines.append(manifest_summary(name, manifest))
            except Exception as err:  # e.g. a file made by `--touch`: say so, never fail the run
                lines.append(f"dataset {name}: manifest {manifest} unreadable ({type(err).__name__}: {err})")
    return lines
