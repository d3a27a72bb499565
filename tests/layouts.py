"""Small faithful copies of the real dataset layouts (UCF101, HMDB51, Kinetics-400).

Each holds a few short real video files, the split files exactly as the archives ship them
(CRLF lines in UCF101, the ``HandstandPushups`` / ``v_HandStandPushups_*`` quirk, HMDB51
file names with ``#``, ``!``, ``&``, ``(`` and spaces, Kinetics CSV annotations), plus broken
cases: a truncated file, an empty file and a Kinetics video listed but missing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vidcond.data.layouts import MINIUCF50
from vidcond.data.videoio import write_video

FRAMES, HEIGHT, WIDTH = 10, 24, 32


def video_frames(seed: int) -> np.ndarray:
    """A short clip whose content identifies it: a bright block at a seed-given place."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 60, (FRAMES, HEIGHT, WIDTH, 3), dtype=np.uint8)
    row, col = rng.integers(0, HEIGHT - 8), rng.integers(0, WIDTH - 8)
    for t in range(FRAMES):
        frames[t, row : row + 8, col : col + 8] = 255 - 10 * t
    return frames


def _write(path: Path, seed: int, b_frames: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, video_frames(seed), b_frames=b_frames)


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


# UCF101 classes of the copy: two MiniUCF classes, the quirky one, and one more.
UCF_CLASSES = ["ApplyEyeMakeup", "Archery", "Biking", "HandstandPushups"]


def make_ucf101(root: Path) -> dict:
    """UCF101 copy under ``root``; returns the expected facts for the tests."""
    root = Path(root)
    all_names = sorted(set(UCF_CLASSES) | set(MINIUCF50))  # classInd lists every class
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    crlf = "\r\n"
    (lists / "classInd.txt").write_text("".join(f"{i + 1} {n}{crlf}" for i, n in enumerate(all_names)), newline="")
    train, test, expected = [], [], {}
    for c, name in enumerate(UCF_CLASSES):
        file_class = "HandStandPushups" if name == "HandstandPushups" else name
        for g, split in ((1, "test"), (8, "train"), (9, "train")):
            rel = f"{name}/v_{file_class}_g{g:02d}_c01.avi"
            _write(root / "UCF-101" / rel, seed=100 * c + g, b_frames=2)
            label = all_names.index(name)
            (train if split == "train" else test).append(f"{rel} {label + 1}" if split == "train" else rel)
            expected[str(Path(rel).with_suffix(""))] = (name, split)
    for split_no in (1, 2, 3):
        (lists / f"trainlist0{split_no}.txt").write_text("".join(f"{line}{crlf}" for line in train), newline="")
        (lists / f"testlist0{split_no}.txt").write_text("".join(f"{line}{crlf}" for line in test), newline="")
    broken = root / "UCF-101" / "Archery" / "v_Archery_g09_c01.avi"
    truncate(broken)
    return {"videos": expected, "bad": {"Archery/v_Archery_g09_c01"}, "classInd": all_names}


HMDB_CLASSES = ["brush_hair", "cartwheel", "catch"]
HMDB_FILES = {
    "brush_hair": ["April_09_brush_hair_u_nm_np1_ba_goo_0.avi", "Blonde_being_brushed_brush_hair_f_nm_np2_ri_med_0.avi", "brushing hair #1 (good)!_brush_hair_u_nm_np1_fr_goo_1.avi"],
    "cartwheel": ["Bodenturnen_2004_cartwheel_f_cm_np1_le_med_0.avi", "Cartwheel_&_Flip_cartwheel_f_cm_np1_ri_med_2.avi", "(Rad)schlag_cartwheel_f_cm_np1_le_bad_0.avi"],
    "catch": ["Ball_hochwerfen_-_Rolle_-_Ball_fangen_catch_u_cm_np1_fr_goo_0.avi", "Catch_the_ball!_catch_f_cm_np1_ba_med_1.avi", "empty_catch_f_cm_np1_ba_bad_0.avi"],
}


def make_hmdb51(root: Path) -> dict:
    root = Path(root)
    splits = root / "testTrainMulti_7030_splits"
    splits.mkdir(parents=True)
    expected = {}
    for c, name in enumerate(HMDB_CLASSES):
        for split_no in (1, 2, 3):
            lines = []
            for i, filename in enumerate(HMDB_FILES[name]):
                tag = {0: 1, 1: 2, 2: 1}[i] if split_no == 1 else (1 + i) % 3
                lines.append(f"{filename} {tag} \n")
            (splits / f"{name}_test_split{split_no}.txt").write_text("".join(lines))
        for i, filename in enumerate(HMDB_FILES[name]):
            _write(root / name / filename, seed=1000 + 10 * c + i, b_frames=2)
            expected[f"{name}/{Path(filename).stem}"] = (name, {0: "train", 1: "test", 2: "train"}[i])
    (root / "catch" / "empty_catch_f_cm_np1_ba_bad_0.avi").write_bytes(b"")
    return {"videos": expected, "bad": {"catch/empty_catch_f_cm_np1_ba_bad_0"}}


K400_ROWS = [
    ("abseiling", "aaa111", 10, 20, "train"),
    ("abseiling", "aaa222", 0, 10, "train"),
    ("abseiling", "aaa333", 5, 15, "val"),
    ("passing American football (in game)", "bbb111", 30, 40, "train"),
    ("passing American football (in game)", "bbb222", 1, 11, "train"),
    ("passing American football (in game)", "bbb333", 2, 12, "val"),
]
K400_MISSING = ("passing American football (in game)", "bbb222", 1, 11, "train")


def make_kinetics400(root: Path) -> dict:
    root = Path(root)
    (root / "annotations").mkdir(parents=True)
    expected = {}
    for split in ("train", "val"):
        rows = [r for r in K400_ROWS if r[4] == split]
        text = "label,youtube_id,time_start,time_end,split\n" + "".join(f'"{r[0]}",{r[1]},{r[2]},{r[3]},{r[4]}\n' for r in rows)
        (root / "annotations" / f"{split}.csv").write_text(text)
    for i, (label, yid, start, end, split) in enumerate(K400_ROWS):
        rel = f"{split}/{label}/{yid}_{start:06d}_{end:06d}"
        expected[rel] = (label, "train" if split == "train" else "test")
        if (label, yid, start, end, split) != K400_MISSING:
            (root / f"{rel}.mp4").parent.mkdir(parents=True, exist_ok=True)
            write_video(root / f"{rel}.mp4", video_frames(2000 + i), b_frames=2)
    missing = K400_MISSING
    return {"videos": expected, "bad": {f"{missing[4]}/{missing[0]}/{missing[1]}_{missing[2]:06d}_{missing[3]:06d}"}}
