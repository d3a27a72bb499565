"""The validation split: carved per class from the training videos, seeded, disjoint."""

import pandas as pd
import pytest

from vidcond.data.splits import carve_validation, validation_count


def listing(per_class=10, test=4, classes=3):
    rows = []
    for label in range(classes):
        rows += [{"video_id": f"c{label}_tr{i:02d}", "label": label, "split": "train"} for i in range(per_class)]
        rows += [{"video_id": f"c{label}_te{i:02d}", "label": label, "split": "test"} for i in range(test)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("n, fraction, expected", [(24, 0.15, 4), (3, 0.15, 1), (1, 0.5, 0), (2, 0.9, 1), (10, 0.0, 0)])
def test_validation_count(n, fraction, expected):
    assert validation_count(n, fraction) == expected


def test_validation_is_carved_from_train_only_per_class_and_disjoint():
    videos = listing()
    out = carve_validation(videos, 0.2, seed=0)
    assert (out.loc[videos["split"] == "test", "split"] == "test").all()  # test untouched
    per_class = out[out["split"] == "val"].groupby("label").size()
    assert per_class.tolist() == [2, 2, 2]
    val, train = set(out.loc[out["split"] == "val", "video_id"]), set(out.loc[out["split"] == "train", "video_id"])
    assert not val & train and len(val | train) == 30
    assert (videos["split"] == "train").sum() == 30  # the input is not modified


def test_validation_is_stable_under_a_seed_and_changes_with_it():
    videos = listing()
    val = lambda seed, frame=videos: set(carve_validation(frame, 0.2, seed).query("split == 'val'")["video_id"])
    assert val(0) == val(0)
    assert val(0) != val(1)
    # listing order does not matter: the draw follows video_id order
    assert val(0, videos.sample(frac=1, random_state=3)) == val(0)
