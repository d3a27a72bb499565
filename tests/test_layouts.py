"""Dataset adapters on small faithful copies of the real layouts."""

import os
from pathlib import Path

import pytest

from layouts import UCF_CLASSES, make_hmdb51, make_kinetics400, make_ucf101
from vidcond.data.layouts import (
    MINIUCF50,
    DatasetLayoutError,
    layout_files,
    list_dataset,
    listing_checksum,
    resolve_inside,
    root_problem,
)


@pytest.fixture(scope="module")
def ucf(tmp_path_factory):
    root = tmp_path_factory.mktemp("ucf")
    return root, make_ucf101(root)


def _by_id(listing):
    return listing.videos.set_index("video_id")


def test_ucf101_lists_every_video_with_label_and_split(ucf):
    root, facts = ucf
    listing = list_dataset({"format": "ucf101", "root": str(root), "split": 1})
    videos = _by_id(listing)
    assert set(videos.index) == set(facts["videos"])
    for video_id, (class_name, split) in facts["videos"].items():
        assert videos.loc[video_id, "class_name"] == class_name
        assert videos.loc[video_id, "split"] == split
        # labels follow classInd (0-based)
        assert videos.loc[video_id, "label"] == facts["classInd"].index(class_name)
    assert (videos["status"] == "ok").all()  # a truncated file is found on disk; extraction flags it


def test_ucf101_handstand_quirk_resolves_to_the_files_on_disk(ucf):
    root, _ = ucf
    videos = list_dataset({"format": "ucf101", "root": str(root)}).videos
    quirky = videos[videos["class_name"] == "HandstandPushups"]
    assert len(quirky) == 3
    assert all("v_HandStandPushups_" in p for p in quirky["path"])


def test_ucf101_class_subset_relabels_in_dataset_order(ucf):
    root, _ = ucf
    listing = list_dataset({"format": "ucf101", "root": str(root), "classes": ["Biking", "ApplyEyeMakeup"]})
    assert list(listing.classes["name"]) == ["ApplyEyeMakeup", "Biking"]
    assert set(listing.videos["class_name"]) == {"ApplyEyeMakeup", "Biking"}
    assert listing.videos.groupby("class_name")["label"].first().to_dict() == {"ApplyEyeMakeup": 0, "Biking": 1}


def test_ucf101_miniucf50_subset(ucf):
    root, _ = ucf
    listing = list_dataset({"format": "ucf101", "root": str(root), "classes": "miniucf50"})
    assert list(listing.classes["name"]) == sorted(MINIUCF50)
    kept = {c for c in UCF_CLASSES if c in MINIUCF50}
    assert set(listing.videos["class_name"]) == kept
    assert listing.videos.set_index("class_name")["label"].to_dict()["Biking"] == sorted(MINIUCF50).index("Biking")


def test_unknown_class_in_subset_is_named(ucf):
    root, _ = ucf
    with pytest.raises(DatasetLayoutError, match="NoSuchClass"):
        list_dataset({"format": "ucf101", "root": str(root), "classes": ["Biking", "NoSuchClass"]})


def test_hmdb51_tags_and_special_file_names(tmp_path):
    facts = make_hmdb51(tmp_path)
    listing = list_dataset({"format": "hmdb51", "root": str(tmp_path), "split": 1})
    videos = _by_id(listing)
    assert set(videos.index) == set(facts["videos"])
    for video_id, (class_name, split) in facts["videos"].items():
        assert (videos.loc[video_id, "class_name"], videos.loc[video_id, "split"]) == (class_name, split)
    assert list(listing.classes["name"]) == ["brush_hair", "cartwheel", "catch"]
    # split 2 uses other tags: tag 0 rows are left out
    split2 = list_dataset({"format": "hmdb51", "root": str(tmp_path), "split": 2}).videos
    assert len(split2) == 6


def test_kinetics400_records_missing_videos(tmp_path):
    facts = make_kinetics400(tmp_path)
    listing = list_dataset({"format": "kinetics400", "root": str(tmp_path)})
    videos = _by_id(listing)
    assert set(videos.index) == set(facts["videos"])
    (missing,) = facts["bad"]
    assert videos.loc[missing, "status"] == "missing"
    assert (videos.drop(index=missing)["status"] == "ok").all()
    assert list(listing.classes["name"]) == ["abseiling", "passing American football (in game)"]
    assert videos.loc["val/abseiling/aaa333_000005_000015", "split"] == "test"


def test_kinetics400_videos_key_points_elsewhere(tmp_path):
    make_kinetics400(tmp_path / "videos")
    (tmp_path / "meta").mkdir()
    (tmp_path / "videos" / "annotations").rename(tmp_path / "meta" / "annotations")
    listing = list_dataset({"format": "kinetics400", "root": str(tmp_path / "meta"), "videos": str(tmp_path / "videos")})
    assert (listing.videos["status"] == "ok").sum() == 5


def test_split_file_paths_cannot_escape_the_root(ucf, tmp_path):
    root, _ = ucf
    with pytest.raises(DatasetLayoutError, match="escapes"):
        resolve_inside(root, "../outside.avi", "list:1")
    with pytest.raises(DatasetLayoutError, match="escapes"):
        resolve_inside(root, "/etc/passwd", "list:1")
    # an escaping line in a real split file is rejected with its file and line
    lists = tmp_path / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("1 Biking\r\n")
    (lists / "trainlist01.txt").write_text("Biking/../../secret.avi 1\r\n")
    (lists / "testlist01.txt").write_text("")
    with pytest.raises(DatasetLayoutError, match=r"trainlist01.txt:1.*escapes"):
        list_dataset({"format": "ucf101", "root": str(tmp_path), "videos": str(tmp_path / "UCF-101")})


def test_missing_split_file_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetLayoutError, match="classInd.txt"):
        list_dataset({"format": "ucf101", "root": str(tmp_path)})


# ---------------------------------------------------------------- checks before any job


def test_root_one_folder_too_low_or_too_high_is_named(ucf, tmp_path):
    root, _ = ucf
    assert root_problem("datasets.ucf", {"format": "ucf101", "root": str(root)}) is None
    too_low = root_problem("datasets.ucf", {"format": "ucf101", "root": str(root / "UCF-101")})
    lines = too_low.splitlines()
    assert lines[0] == f"config datasets.ucf.root: {root / 'UCF-101'} is not a ucf101 root: it has no ucfTrainTestlist/"
    assert lines[1].startswith("  a ucf101 root holds ucfTrainTestlist/ (classInd.txt")
    assert lines[2] == "  found in it: ApplyEyeMakeup/, Archery/, Biking/, HandstandPushups/"
    assert lines[3] == f"  root is one folder too low: did you mean root: {root}?"
    make_ucf101(tmp_path / "UCF101")
    too_high = root_problem("datasets.ucf", {"format": "ucf101", "root": str(tmp_path)})
    assert too_high.splitlines()[2] == "  found in it: UCF101/"
    assert too_high.splitlines()[-1] == f"  root is one folder too high: did you mean root: {tmp_path / 'UCF101'}?"
    assert len(too_high.splitlines()) <= 10


def test_root_with_a_missing_split_file_names_it(tmp_path):
    make_ucf101(tmp_path)
    (tmp_path / "ucfTrainTestlist" / "testlist02.txt").unlink()
    problem = root_problem("datasets.ucf", {"format": "ucf101", "root": str(tmp_path), "split": 2})
    assert problem.startswith(f"config datasets.ucf.root: {tmp_path}: missing {tmp_path / 'ucfTrainTestlist' / 'testlist02.txt'}")


def test_layout_files_are_the_split_files_read(tmp_path):
    make_hmdb51(tmp_path / "hmdb")
    files = layout_files({"format": "hmdb51", "root": str(tmp_path / "hmdb"), "split": 2})
    assert [Path(f).name for f in files] == [f"{c}_test_split2.txt" for c in ("brush_hair", "cartwheel", "catch")]
    make_kinetics400(tmp_path / "k400")
    files = layout_files({"format": "kinetics400", "root": str(tmp_path / "k400")})
    assert files == [str(tmp_path / "k400" / "annotations" / n) for n in ("train.csv", "val.csv")]
    assert layout_files({"format": "synthetic", "root": str(tmp_path)}) == []


def test_kinetics_csv_without_a_column_names_file_line_and_column(tmp_path):
    make_kinetics400(tmp_path)
    csv_path = tmp_path / "annotations" / "val.csv"
    lines = csv_path.read_text().splitlines()
    csv_path.write_text("\n".join(line.rsplit(",", 3)[0] + "," + line.rsplit(",", 2)[1] for line in lines) + "\n")
    assert csv_path.read_text().splitlines()[0] == "label,youtube_id,time_end"
    opts = {"format": "kinetics400", "root": str(tmp_path)}
    expected = f"{csv_path}:1: missing column 'time_start'"
    assert root_problem("datasets.k400", opts).startswith(expected)
    with pytest.raises(DatasetLayoutError) as error:
        list_dataset(opts)
    assert str(error.value).startswith(expected)


def test_kinetics_bad_number_names_file_line_and_column(tmp_path):
    make_kinetics400(tmp_path)
    csv_path = tmp_path / "annotations" / "train.csv"
    csv_path.write_text(csv_path.read_text().replace(",aaa222,0,", ",aaa222,zero,"))
    with pytest.raises(DatasetLayoutError, match=rf"^{csv_path}:3: column 'time_start': 'zero' is not a whole number$"):
        list_dataset({"format": "kinetics400", "root": str(tmp_path)})


def test_malformed_split_lines_name_file_and_line(tmp_path):
    make_ucf101(tmp_path / "ucf")
    class_ind = tmp_path / "ucf" / "ucfTrainTestlist" / "classInd.txt"
    lines = class_ind.read_bytes().split(b"\r\n")
    class_ind.write_bytes(b"\r\n".join(lines[:2] + [b"3"] + lines[3:]))  # line 3 lost its name
    with pytest.raises(DatasetLayoutError, match=rf"^{class_ind}:3: expected '<index> <class name>'"):
        list_dataset({"format": "ucf101", "root": str(tmp_path / "ucf")})
    make_hmdb51(tmp_path / "hmdb")
    split = tmp_path / "hmdb" / "testTrainMulti_7030_splits" / "catch_test_split1.txt"
    split.write_text(split.read_text() + "lonely\n")
    with pytest.raises(DatasetLayoutError, match=rf"^{split}:4: expected '<file name> <tag 0\|1\|2>'"):
        list_dataset({"format": "hmdb51", "root": str(tmp_path / "hmdb")})


def test_listing_checksum_changes_with_the_videos_on_disk(tmp_path):
    make_ucf101(tmp_path)
    opts = {"format": "ucf101", "root": str(tmp_path)}
    before = listing_checksum(opts)
    assert listing_checksum(opts) == before  # deterministic
    video = tmp_path / "UCF-101" / "Biking" / "v_Biking_g08_c01.avi"
    data, stat = video.read_bytes(), video.stat()
    video.unlink()
    assert listing_checksum(opts) != before
    video.write_bytes(data)
    os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # restored exactly: nothing to redo
    assert listing_checksum(opts) == before
    os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # re-added later
    assert listing_checksum(opts) != before
