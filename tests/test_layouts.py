"""Dataset adapters on small faithful copies of the real layouts."""

import pytest

from layouts import UCF_CLASSES, make_hmdb51, make_kinetics400, make_ucf101
from vidcond.data.layouts import MINIUCF50, DatasetLayoutError, list_dataset, resolve_inside


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
