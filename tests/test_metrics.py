"""Diversity metrics against numpy computations, and the VideoMAE registry model."""

import numpy as np
import pytest
import torch

from vidcond.metrics import (
    assignment_entropy,
    cluster_entropy,
    coverage,
    coverage_radius,
    covered,
    embed,
    mean_pairwise_distance,
)
from vidcond.models import build_model, load_model, save_model


def pairwise(a, b):
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


def test_coverage_hand_worked():
    real = np.array([[0, 0], [1, 0], [2, 0], [3, 0], [10, 0]], dtype=float)
    # real nearest-neighbour distances 1, 1, 1, 1, 7: 90th percentile 1 + 0.6 * 6 = 4.6;
    # distances to the one condensed point 0, 1, 2, 3, 10 -> 4 of 5 covered
    assert coverage(real, np.array([[0.0, 0.0]])) == pytest.approx(0.8)
    assert coverage(real, np.array([[10.0, 0.0]])) == pytest.approx(0.2)  # only (10, 0) itself
    assert coverage(real, real) == 1.0


def test_coverage_matches_numpy():
    rng = np.random.default_rng(0)
    real, condensed = rng.normal(size=(40, 5)), rng.normal(size=(6, 5))
    d_real = pairwise(real, real) + np.diag(np.full(40, np.inf))
    radius = np.percentile(d_real.min(1), 75)
    expected = (pairwise(real, condensed).min(1) <= radius).mean()
    assert 0 < expected < 1
    assert coverage(real, condensed, percentile=75) == pytest.approx(expected)


def test_mean_pairwise_distance():
    assert mean_pairwise_distance(np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])) == pytest.approx(
        4.0
    )
    points = np.random.default_rng(1).normal(size=(7, 3))
    d = pairwise(points, points)
    assert mean_pairwise_distance(points) == pytest.approx(d[np.triu_indices(7, 1)].mean())
    assert np.isnan(mean_pairwise_distance(points[:1]))


def test_cluster_entropy_over_real_clusters():
    rng = np.random.default_rng(2)
    centres = np.array([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0]])
    real = np.concatenate([c + rng.normal(size=(30, 2)) for c in centres])
    # two points near the first centre, one near each other: shares 1/2, 1/4, 1/4
    condensed = np.array([[0.5, 0.0], [-0.5, 0.0], [20.0, 0.5], [0.0, 19.5]])
    expected = -(0.5 * np.log(0.5) + 2 * 0.25 * np.log(0.25))
    assert cluster_entropy(real, condensed, 3) == pytest.approx(expected)
    assert cluster_entropy(real, condensed[:2], 3) == pytest.approx(0.0)  # one cluster
    assert assignment_entropy(np.array([0, 1, 2, 3]), 4) == pytest.approx(np.log(4))


@pytest.mark.parametrize("clip_shape", [(8, 3, 32, 32), (4, 3, 16, 16)])
def test_videomae_shapes_and_features(clip_shape):
    torch.manual_seed(0)
    model = build_model("videomae", 5, clip_shape).eval()
    clips = torch.rand(3, *clip_shape)
    with torch.no_grad():
        logits, features = model(clips), model.features(clips)
    assert logits.shape == (3, 5) and features.shape == (3, 64)
    features_np, logits_np = embed(model, clips.split(2), torch.device("cpu"))
    np.testing.assert_allclose(features_np, features.numpy(), atol=1e-5)
    np.testing.assert_allclose(logits_np, logits.numpy(), atol=1e-5)


def test_videomae_rejects_clips_that_do_not_split():
    with pytest.raises(ValueError, match="tubelets"):
        build_model("videomae", 5, (5, 3, 32, 32))


def test_videomae_loads_local_pretrained_and_round_trips(tmp_path):
    from transformers import VideoMAEConfig, VideoMAEForVideoClassification

    torch.manual_seed(0)
    sizes = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    config = VideoMAEConfig(
        **sizes, patch_size=8, tubelet_size=2, image_size=64, num_frames=16, num_labels=3
    )
    VideoMAEForVideoClassification(config).save_pretrained(tmp_path / "pretrained")
    saved = VideoMAEForVideoClassification.from_pretrained(tmp_path / "pretrained").state_dict()

    model = build_model(
        "videomae", 5, (8, 3, 32, 32), pretrained=str(tmp_path / "pretrained")
    ).eval()
    state = model.net.state_dict()
    encoder = [k for k in saved if k.startswith("videomae.")]
    assert encoder and all(torch.equal(state[k], saved[k]) for k in encoder)
    assert model.net.classifier.weight.shape == (5, 32)  # a new head for 5 classes
    clips = torch.rand(2, 8, 3, 32, 32)
    with torch.no_grad():
        logits = model(clips)
    assert logits.shape == (2, 5)

    # as a teacher: saved and rebuilt through the registry, same predictions
    spec = {"arch": "videomae", "num_classes": 5, "clip_shape": [8, 3, 32, 32]}
    save_model(
        tmp_path / "teacher",
        model,
        {**spec, "options": {"pretrained": str(tmp_path / "pretrained")}},
    )
    with torch.no_grad():
        assert torch.allclose(load_model(tmp_path / "teacher")(clips), logits, atol=1e-6)


class RandomClips:
    """A stand-in training source: fixed random clips, shuffled by the loop's generator."""

    def __init__(self, n=12, clip_shape=(4, 3, 16, 16), num_classes=3):
        data = torch.Generator().manual_seed(5)
        self.data = torch.rand(n, *clip_shape, generator=data)
        self.labels = torch.arange(n) % num_classes

    def __len__(self):
        return len(self.data)

    def epoch(self, batch_size, rng, generator):
        order = torch.as_tensor(rng.permutation(len(self.data)))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            yield self.data[idx], self.labels[idx], idx


def test_teacher_training_resumes_to_the_same_weights(tmp_path):
    from vidcond.checkpoint import Checkpointer
    from vidcond.training import TrainSettings, train

    def run(epochs, checkpointer=None):
        torch.manual_seed(0)
        model = build_model("videomae", 3, (4, 3, 16, 16), hidden_dropout_prob=0.1)
        settings = TrainSettings(epochs=epochs, schedule="constant", batch_size=4, labels="hard", loss="ce")
        stats = train(model, RandomClips(), settings, seed=3, progress=False, checkpointer=checkpointer)
        return model.state_dict(), stats

    straight, stats = run(4)
    run(2, Checkpointer(tmp_path, every=1))  # "interrupted" after epoch 2, checkpoint kept
    assert Checkpointer(tmp_path, every=1).load()["step"] == 2
    resumed, resumed_stats = run(4, Checkpointer(tmp_path, every=1))
    assert resumed_stats["steps"] == stats["steps"] == 4 * 3
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    assert not all(torch.equal(straight[k], run(2)[0][k]) for k in straight)  # training moved on


def test_covered_with_a_shared_radius_equals_its_own():
    rng = np.random.default_rng(0)
    real, condensed = rng.normal(size=(30, 4)), rng.normal(size=(5, 4))
    radius = coverage_radius(real, 75)
    np.testing.assert_array_equal(covered(real, condensed, 75), covered(real, condensed, radius=radius))
    assert coverage(real, condensed, 75) == covered(real, condensed, radius=radius).mean()
