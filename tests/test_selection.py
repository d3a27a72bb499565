"""Sample selection: herding, k-center and RDED against hand-worked values and brute force,
determinism by seed, and condense runs on the tiny frame store."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import tiny_config

from vidcond.condense import run_condense
from vidcond.condensed import load_condensed, to_uint8
from vidcond.data.framestore import ExtractOptions, FrameStore, extract
from vidcond.data.layouts import list_dataset
from vidcond.data.sampling import center_clip, to_clip_tensor, window_clips
from vidcond.data.synthetic import GeneratorConfig, generate
from vidcond.methods.rded import stitch
from vidcond.methods.selection import (
    herding_order,
    kcenter_order,
    nearest_to_mean,
    rded_choice,
    score_candidates,
)
from vidcond.models import build_model, load_model, save_model

CLIP = {"num_frames": 4, "stride": 2}  # the tiny config's clip

# ---------------------------------------------------------------- herding


def test_herding_follows_the_hand_worked_greedy_order():
    # Mean (0, 0). Step 1: |f| = 1.41, 2.83, 2.24, 6.32, 5 -> 0. Step 2: |(f0 + f)/2| =
    # 1.58, 0.5, 3.81, 1.80 -> 2. Step 3: |(f0 + f2 + f)/3| = 1.20 (1), 1.80 (3), 1.89 (4) -> 1.
    # Step 4: |(3, 2) + f| / 4 = 1.25 (3), 1.58 (4) -> 3.
    features = np.array([[-1, 1], [2, 2], [2, -1], [-6, 2], [3, -4]], dtype=float)
    assert herding_order(features, 5).tolist() == [0, 2, 1, 3, 4]


def test_herding_picks_the_subset_whose_mean_is_closest_for_small_ipc():
    features = np.array([[-1, 1], [2, 2], [2, -1], [-6, 2], [3, -4]], dtype=float)
    mean = features.mean(0)
    for k in (1, 2):
        best = min(
            itertools.combinations(range(5), k),
            key=lambda s: np.linalg.norm(features[list(s)].mean(0) - mean),
        )
        assert sorted(herding_order(features, k)) == sorted(best)


def test_herding_rejects_more_than_available():
    with pytest.raises(ValueError, match="cannot select 4 of 3"):
        herding_order(np.zeros((3, 2)), 4)


# ---------------------------------------------------------------- k-center


def _min_pairwise(points):
    return min(np.linalg.norm(a - b) for a, b in itertools.combinations(points, 2))


def test_kcenter_picks_maximise_the_minimum_distance():
    # square corners, its centre and two points near the centre
    features = np.array(
        [[0, 0], [10, 10], [5, 5], [10, 0], [5.5, 4], [0, 10], [4.5, 6]], dtype=float
    )
    for k in range(2, 6):
        picks = kcenter_order(features, k, start=0)
        best = max(
            _min_pairwise(features[[0, *rest]])
            for rest in itertools.combinations(range(1, len(features)), k - 1)
        )
        assert _min_pairwise(features[picks]) == pytest.approx(best)
    assert (
        kcenter_order(features, 5, start=0).tolist()[:2] == [0, 1]
        and kcenter_order(features, 5, 0)[-1] == 2
    )


def test_kcenter_radius_is_within_twice_the_optimum():
    # greedy farthest-point is a 2-approximation of the k-center radius, from any start
    points = np.random.default_rng(0).normal(size=(9, 3))
    distances = np.linalg.norm(points[:, None] - points[None], axis=-1)
    for k in range(1, 6):
        optimum = min(
            distances[:, list(s)].min(1).max() for s in itertools.combinations(range(9), k)
        )
        for start in range(9):
            radius = distances[:, kcenter_order(points, k, start)].min(1).max()
            assert radius <= 2 * optimum + 1e-12


def test_kcenter_selects_up_to_every_sample_even_with_duplicates():
    features = np.array([[0.0, 0], [0, 0], [1, 1], [1, 1], [3, 0]])
    order = kcenter_order(features, 5, start=1)
    assert sorted(order) == list(range(5)) and order[:2].tolist() == [1, 4]


def test_kcenter_starts_from_the_point_nearest_the_mean():
    # mean (1, 0.4): distances 1.08, 1.08, 0.6, 0.6, 2.04 -> row 2 (the first of the tie)
    features = np.array([[0.0, 0], [0, 0], [1, 1], [1, 1], [3, 0]])
    assert nearest_to_mean(features) == 2
    features = np.random.default_rng(1).normal(size=(12, 4))
    by_hand = int(np.argmin(((features - features.mean(0)) ** 2).sum(1)))
    assert nearest_to_mean(features) == by_hand


# ---------------------------------------------------------------- RDED


def test_rded_keeps_each_videos_best_clip_then_the_lowest_videos():
    losses = np.array([[3.0, 0.5, 2.0], [0.9, 4.0, 1.0], [0.2, 0.8, 0.7], [5.0, 6.0, 0.6]])
    videos, crops = rded_choice(losses, 3)
    assert videos.tolist() == [2, 0, 3] and crops.tolist() == [0, 1, 2]


def test_rded_scoring_with_a_stub_scorer_picks_the_lowest_loss_clip():
    # clip (v, c) is filled with its loss; the stub scorer reads it back
    set_losses = np.array([[0.7, 0.3], [0.9, 0.1], [0.5, 0.6], [0.4, 0.8], [0.2, 0.95]])
    clips = torch.tensor(set_losses, dtype=torch.float32)[:, :, None, None, None, None].expand(
        5, 2, 2, 3, 4, 4
    )
    calls = []

    def stub(batch, labels):
        calls.append(len(batch))
        assert (labels == 7).all()
        return batch.mean(dim=(1, 2, 3, 4))

    losses = score_candidates(clips.split(2), 7, stub)  # chunks of 2, 2, 1 videos
    np.testing.assert_allclose(losses, set_losses, rtol=1e-6)
    assert calls == [4, 4, 2]
    videos, crops = rded_choice(losses, 1)
    assert (videos[0], crops[0]) == (1, 1)
    videos, crops = rded_choice(losses, 2)
    assert videos.tolist() == [1, 4] and crops.tolist() == [1, 0]


def test_stitch_tiles_shrunk_clips_row_by_row():
    clips = (
        torch.arange(4, dtype=torch.float32)[:, None, None, None, None]
        .expand(4, 2, 3, 6, 8)
        .clone()
    )
    out = stitch(clips, 2)
    assert out.shape == (2, 3, 6, 8)
    assert (out[..., :3, :4] == 0).all() and (out[..., :3, 4:] == 1).all()
    assert (out[..., 3:, :4] == 2).all() and (out[..., 3:, 4:] == 3).all()


# ---------------------------------------------------------------- condense runs


@pytest.fixture(scope="module")
def teacher_stem(tmp_path_factory):
    torch.manual_seed(0)
    options = {"channels": [4, 8, 8]}
    model = build_model("miniC3D", 4, (4, 3, 16, 16), **options).eval()
    stem = tmp_path_factory.mktemp("teacher") / "miniC3D"
    save_model(
        stem,
        model,
        {"arch": "miniC3D", "num_classes": 4, "clip_shape": [4, 3, 16, 16], "options": options},
    )
    return stem


def _condense(store_dir, tmp_path, teacher_stem, method, ipc=1, seed=0, params=None, name=None):
    stem = tmp_path / (name or f"{method}_ipc{ipc}_seed{seed}")
    run_condense(
        store_dir,
        stem,
        dataset="tiny",
        method=method,
        kind=method,
        ipc=ipc,
        params=params or {},
        clip=CLIP,
        seed=seed,
        inputs={"teacher": str(teacher_stem)},
        progress=False,
    )
    return load_condensed(stem)


def _stored_clip(store, video_id, pick):
    row = store.videos("train").set_index("video_id").loc[video_id]
    return to_uint8(to_clip_tensor(store.frames[int(row["offset"]) + pick]))


@pytest.mark.parametrize("method", ["herding", "kcenter"])
def test_feature_selection_writes_the_centre_clips_it_picked(
    tiny_store_dir, tmp_path, teacher_stem, method
):
    store = FrameStore(tiny_store_dir)
    condensed = _condense(tiny_store_dir, tmp_path, teacher_stem, method, ipc=2)
    videos = condensed.tensors["videos"]
    assert videos.dtype == torch.uint8 and videos.shape == (8, 4, 3, 16, 16)
    assert condensed.labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    train = store.videos("train").set_index("video_id")
    ids = condensed.meta["selected_videos"]
    assert len(set(ids)) == 8 and train.loc[ids, "label"].tolist() == condensed.labels.tolist()
    for video, vid in zip(videos, ids):
        n = int(train.loc[vid, "n_stored"])
        assert torch.equal(video, _stored_clip(store, vid, center_clip(n, 4, 2)))


def test_herding_matches_the_order_on_teacher_features(tiny_store_dir, tmp_path, teacher_stem):
    store, teacher = FrameStore(tiny_store_dir), load_model(teacher_stem)
    condensed = _condense(tiny_store_dir, tmp_path, teacher_stem, "herding", ipc=2)
    train = store.videos("train")
    for label in range(4):
        rows = train[train["label"] == label]
        clips = to_clip_tensor(
            np.stack(
                [
                    store.frames[o + center_clip(int(n), 4, 2)]
                    for o, n in zip(rows["offset"], rows["n_stored"])
                ]
            )
        )
        with torch.no_grad():
            features = teacher.features(clips).numpy()
        expected = rows["video_id"].iloc[herding_order(features, 2)].tolist()
        assert condensed.meta["selected_videos"][2 * label : 2 * label + 2] == expected


def test_rded_keeps_the_clip_with_the_lowest_teacher_cross_entropy(
    tiny_store_dir, tmp_path, teacher_stem
):
    store, teacher = FrameStore(tiny_store_dir), load_model(teacher_stem)
    condensed = _condense(
        tiny_store_dir, tmp_path, teacher_stem, "rded", params={"mipc": 3, "num_crop": 3}
    )
    assert condensed.tensors["videos"].shape == (4, 4, 3, 16, 16) and condensed.labels.tolist() == [
        0,
        1,
        2,
        3,
    ]
    train = store.videos("train")
    for label in range(4):  # every video and window of the class, scored independently
        best = (np.inf, None)
        for row in train[train["label"] == label].itertuples():
            for window in window_clips(int(row.n_stored), 4, 2, 3):
                clip = to_clip_tensor(store.frames[row.offset + window])[None]
                with torch.no_grad():
                    loss = F.cross_entropy(teacher(clip), torch.tensor([label])).item()
                best = min(
                    best, (loss, _stored_clip(store, row.video_id, window)), key=lambda b: b[0]
                )
        assert torch.equal(condensed.tensors["videos"][label], best[1])
        assert condensed.meta["selected_losses"][label] == pytest.approx(best[0], rel=1e-4)


@pytest.fixture(scope="module")
def four_per_class_store(tmp_path_factory):
    """2 classes with 4 training videos each: enough for RDED's factor 2 at IPC 1."""
    root = tmp_path_factory.mktemp("four")
    synth = tiny_config()["datasets"]["synthaction"]
    generator = {
        **synth["generator"],
        "classes": synth["generator"]["classes"][:2],
        "train_per_class": 4,
        "test_per_class": 1,
    }
    generate(root / "videos", GeneratorConfig.from_dict(generator), progress=False)
    extract(
        list_dataset({"format": "synthetic", "root": str(root / "videos")}),
        root / "frames",
        ExtractOptions(**synth["extract"]),
        progress=False,
    )
    return root / "frames"


def test_rded_factor_two_stitches_the_four_best_clips(four_per_class_store, tmp_path, teacher_stem):
    store, teacher = FrameStore(four_per_class_store), load_model(teacher_stem)
    condensed = _condense(
        four_per_class_store,
        tmp_path,
        teacher_stem,
        "rded",
        params={"mipc": 4, "num_crop": 2, "factor": 2},
    )
    assert condensed.tensors["videos"].shape == (2, 4, 3, 16, 16) and condensed.labels.tolist() == [
        0,
        1,
    ]
    train = store.videos("train")
    for label in range(2):
        best = []  # (loss, clip) of each video's best window
        for row in train[train["label"] == label].itertuples():
            windows = window_clips(int(row.n_stored), 4, 2, 2)
            clips = to_clip_tensor(store.frames[row.offset + windows])
            with torch.no_grad():
                losses = F.cross_entropy(teacher(clips), torch.full((2,), label), reduction="none")
            best.append((losses.min().item(), clips[losses.argmin()]))
        ordered = torch.stack([clip for _, clip in sorted(best, key=lambda b: b[0])])
        assert torch.equal(condensed.tensors["videos"][label], to_uint8(stitch(ordered, 2)))
    with pytest.raises(
        ValueError, match="rded needs IPC x factor\\^2 = 8 videos of class 'RedCircle'"
    ):
        _condense(four_per_class_store, tmp_path, teacher_stem, "rded", ipc=2, params={"factor": 2})


@pytest.mark.parametrize(
    "method, params", [("herding", {}), ("kcenter", {}), ("rded", {"mipc": 2, "num_crop": 2})]
)
def test_selection_is_deterministic_by_seed(tiny_store_dir, tmp_path, teacher_stem, method, params):
    first = _condense(tiny_store_dir, tmp_path, teacher_stem, method, params=params, name="a")
    again = _condense(tiny_store_dir, tmp_path, teacher_stem, method, params=params, name="b")
    assert torch.equal(first.tensors["videos"], again.tensors["videos"])
    assert first.meta["selected_videos"] == again.meta["selected_videos"]
    if method == "rded":  # herding and k-center (from the point nearest the mean) have no random part
        picks = {
            tuple(
                _condense(
                    tiny_store_dir, tmp_path, teacher_stem, method, seed=s, params=params
                ).meta["selected_videos"]
            )
            for s in range(1, 4)
        }
        assert len(picks | {tuple(first.meta["selected_videos"])}) > 1


def test_ipc_above_a_class_size_fails_naming_the_class(tiny_store_dir, tmp_path, teacher_stem):
    for method in ("random", "herding", "rded"):
        with pytest.raises(
            ValueError, match="IPC 4 exceeds the 3 training videos of class 'RedCircle'"
        ):
            _condense(tiny_store_dir, tmp_path, teacher_stem, method, ipc=4)
    assert not list(tmp_path.glob("*.safetensors"))
