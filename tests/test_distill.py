"""DM, Static-DC and the temporal taxonomy: losses against hand/numpy computations,
interpolation, checkpoint/resume, and condensed sets written by the methods."""

import os
import signal

import numpy as np
import pytest
import torch

from vidcond.condense import run_condense
from vidcond.condensed import load_condensed
from vidcond.pretrain.interpolator import train_interpolator
from vidcond.methods import CondenseContext, get_method
from vidcond.methods.dc_static import (
    GradientMatchObjective,
    gradient_match_distance,
    layer_cosine_distance,
)
from vidcond.methods.distill import RealSampler, SlideWindow, Temporal
from vidcond.methods.dm import DMObjective, class_mean_distance
from vidcond.models.parts import build_part

CLIP = {"num_frames": 4, "stride": 2}
MODELS = {"miniC3D": {"channels": [4, 8, 8]}, "convnet_d4": {"width": 4, "depth": 2}}


def make_ctx(store, work_dir=None, ipc=1, **params):
    return CondenseContext(
        store=store,
        dataset="tiny",
        ipc=ipc,
        params=params,
        clip=CLIP,
        seed=3,
        model_options=MODELS,
        work_dir=work_dir,
        progress=False,
    )


def test_class_mean_distance_by_hand():
    real_means = {0: torch.tensor([2.0, 3.0]), 1: torch.tensor([1.0, 1.0])}
    syn = torch.tensor([[1.0, 1.0], [1.0, 0.0], [3.0, 2.0]])
    # class 0: (2, 3) - mean syn (2, 1.5) -> 0 + 2.25; class 1: (1, 1) - (1, 0) -> 0 + 1
    loss = class_mean_distance(real_means, syn, torch.tensor([0, 1, 0]))
    assert loss.item() == pytest.approx(3.25)


class ChannelMeans(torch.nn.Module):
    """A stand-in embedding: the mean of each colour channel over frames and pixels."""

    def features(self, x):
        return x.mean(dim=(1, 3, 4))


def test_dm_objective_segments_and_real_frames_by_hand(tiny_store, monkeypatch):
    ctx = make_ctx(tiny_store, batch_real=3, n_real=2, segments=2)
    objective = DMObjective(ctx, np.random.default_rng(7))
    monkeypatch.setattr(objective, "embedder", ChannelMeans)
    videos = torch.rand(2, 4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([1, 3])
    loss = objective.loss(videos, labels, 0).item()

    sampler, rng = RealSampler(ctx), np.random.default_rng(7)  # the same real clips
    real = {c: sampler.clips(c, 3, rng).numpy() for c in (1, 3)}
    syn = videos.numpy()
    expected = 0.0
    for k in range(2):  # segment k: real frame k of (0, 2) and synthetic frames 2k, 2k + 1
        for i, c in enumerate((1, 3)):
            real_mean = real[c][:, [0, 2][k]].mean(axis=(0, 2, 3))
            syn_mean = syn[i, 2 * k : 2 * k + 2].mean(axis=(0, 2, 3))
            expected += ((real_mean - syn_mean) ** 2).sum()
    assert loss == pytest.approx(expected / 2, rel=1e-5)  # the mean over the 2 segments


def test_layer_cosine_distance_against_numpy():
    rng = np.random.default_rng(0)
    shapes = [(4, 3, 3, 3), (5, 6), (4,)]
    real = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    syn = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    expected = 0.0
    for r, s in zip(real[:2], syn[:2]):  # the bias counts zero
        r, s = r.reshape(len(r), -1), s.reshape(len(s), -1)
        cosine = (r * s).sum(1) / (np.linalg.norm(r, axis=1) * np.linalg.norm(s, axis=1) + 1e-6)
        expected += (1 - cosine).sum()
    got = gradient_match_distance(
        [torch.from_numpy(r) for r in real], [torch.from_numpy(s) for s in syn]
    )
    assert got.item() == pytest.approx(expected, rel=1e-5)
    same = torch.from_numpy(real[0])
    assert layer_cosine_distance(same, 2 * same).item() == pytest.approx(0.0, abs=1e-5)
    assert layer_cosine_distance(same, -same).item() == pytest.approx(2.0 * 4, rel=1e-5)


def two_frames():
    f1, f2 = torch.zeros(3, 2, 2), torch.ones(3, 2, 2) * 3.0
    return f1, f2, torch.stack([f1, f2])[None].requires_grad_(True)


def test_linear_expansion_of_two_frames_and_its_gradient():
    f1, f2, frames = two_frames()
    out = Temporal(num_frames=4, n_syn=2, n_real=4, interpolation="linear").expand(frames)
    expected = torch.stack([f1, (2 * f1 + f2) / 3, (f1 + 2 * f2) / 3, f2])
    assert torch.allclose(out[0], expected)
    out.sum().backward()  # each frame's weights over the four outputs sum to 2
    assert torch.allclose(frames.grad, torch.full_like(frames, 2.0))


def test_duplicate_expansion_of_two_frames():
    f1, f2, frames = two_frames()
    out = Temporal(num_frames=4, n_syn=2, n_real=4).expand(frames)
    assert torch.equal(out[0].detach(), torch.stack([f1, f1, f2, f2]))


def test_parametric_expansion_restores_from_duplicated_frames():
    _, _, frames = two_frames()
    interpolator = build_part(
        "interpolator_timesformer",
        num_frames=4,
        image_size=2,
        patch_size=1,
        hidden_size=8,
        layers=1,
        heads=2,
        intermediate_size=8,
    )
    temporal = Temporal(num_frames=4, n_syn=2, n_real=4, interpolation="parametric")
    # an untrained interpolator's pixel map is zero: plain duplication
    assert torch.equal(temporal.expand(frames, interpolator), Temporal(4, 2, 4).expand(frames))
    with pytest.raises(ValueError, match="interpolator"):
        temporal.expand(frames)


def test_interpolator_maps_each_token_back_to_its_frame_and_patch():
    """Without attention layers a token sees only its own patch of its own frame, so a
    change there changes exactly that region of the output."""
    torch.manual_seed(0)
    net = build_part(
        "interpolator_timesformer",
        num_frames=4,
        image_size=8,
        patch_size=4,
        hidden_size=8,
        layers=1,
        heads=2,
        intermediate_size=8,
    )
    net.backbone.encoder.layer = torch.nn.ModuleList()
    torch.nn.init.normal_(net.to_pixels.weight)
    x = torch.rand(1, 4, 3, 8, 8)
    y = x.clone()
    y[0, 2, :, 4:, :4] += 1.0  # frame 2, bottom-left patch
    changed = (net(y) - net(x)).abs().sum(dim=2)[0] > 1e-6
    region = torch.zeros(4, 8, 8, dtype=torch.bool)
    region[2, 4:, :4] = True
    assert torch.equal(changed, region)


def test_temporal_rejects_uneven_segments():
    with pytest.raises(ValueError, match="evenly"):
        Temporal(num_frames=8, n_syn=4, n_real=6, segments=4)
    assert Temporal.from_params({"n_real": 2}, 8) == Temporal(8, 8, 2)


def run_method(store, kind, work_dir, **params):
    return get_method(kind).condense(make_ctx(store, work_dir, **params))


@pytest.mark.parametrize(
    "kind, params",
    [
        (
            "dm",
            {
                "arch": "miniC3D",
                "iterations": 6,
                "batch_real": 2,
                "lr": 50.0,
                "n_syn": 2,
                "checkpoint_every": 2,
            },
        ),
        (
            "dc_static",
            {
                "iterations": 4,
                "batch_real": 3,
                "outer_loop": 2,
                "inner_loop": 1,
                "lr": 0.01,
                "checkpoint_every": 1,
            },
        ),
    ],
)
def test_killed_distillation_resumes_to_the_same_result(
    tiny_store, tmp_path, monkeypatch, kind, params
):
    reference = run_method(tiny_store, kind, tmp_path / "ref", **params).tensors["videos"]
    work = tmp_path / "killed"
    objective = DMObjective if kind == "dm" else GradientMatchObjective
    original = objective.loss

    def loss_then_sigterm(self, videos, labels, iteration):
        if iteration == 2:  # SIGTERM mid-run: the loop saves at the end of this iteration and exits
            os.kill(os.getpid(), signal.SIGTERM)
        return original(self, videos, labels, iteration)

    monkeypatch.setattr(objective, "loss", loss_then_sigterm)
    with pytest.raises(SystemExit) as stopped:
        run_method(tiny_store, kind, work, **params)
    assert stopped.value.code == 143 and (work / "checkpoint.pt").exists()
    monkeypatch.setattr(objective, "loss", original)
    resumed = run_method(tiny_store, kind, work, **params).tensors["videos"]
    assert torch.equal(resumed, reference)
    assert not torch.equal(
        reference,
        run_method(tiny_store, kind, None, **{**params, "iterations": 1}).tensors["videos"],
    )


def test_dc_static_writes_single_frames_duplicated_at_evaluation(tiny_store_dir, tmp_path):
    stem = tmp_path / "dc"
    run_condense(
        tiny_store_dir,
        stem,
        dataset="tiny",
        method="dc_static",
        kind="dc_static",
        ipc=2,
        params={"iterations": 2, "batch_real": 2, "outer_loop": 2},
        clip=CLIP,
        seed=0,
        model_options=MODELS,
        progress=False,
    )
    condensed = load_condensed(stem)
    assert condensed.tensors["videos"].shape == (8, 1, 3, 16, 16) and condensed.meta["frames"] == 1
    assert condensed.labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    clips = condensed.draw(4)
    assert torch.equal(clips, condensed.tensors["videos"].float().expand(-1, 4, -1, -1, -1))
    assert condensed.meta["seconds_per_iteration"] > 0


def test_dm_writes_n_syn_frames_with_a_parametric_interpolator(tiny_store_dir, tmp_path):
    interpolator = tmp_path / "interpolator"
    options = {"patch_size": 8, "hidden_size": 8, "layers": 1, "heads": 2, "intermediate_size": 8}
    meta = train_interpolator(
        tiny_store_dir,
        interpolator,
        options=options,
        training={"steps": 3, "batch_size": 2, "n_syn": [2]},
        clip=CLIP,
        seed=0,
        progress=False,
    )
    assert {"test_mse_duplicate_n2", "test_mse_restored_n2"} <= set(meta)
    stem = tmp_path / "dm"
    params = {
        "arch": "miniC3D",
        "iterations": 2,
        "batch_real": 2,
        "n_syn": 2,
        "interpolation": "parametric",
    }
    run_condense(
        tiny_store_dir,
        stem,
        dataset="tiny",
        method="dm",
        kind="dm",
        ipc=1,
        params=params,
        clip=CLIP,
        seed=0,
        inputs={"interpolator": str(interpolator)},
        model_options=MODELS,
        progress=False,
    )
    condensed = load_condensed(stem)
    assert condensed.tensors["videos"].shape == (4, 2, 3, 16, 16)
    assert condensed.meta["frames"] == 2 and condensed.meta["interpolation"] == "parametric"
    assert any(k.startswith("interpolator.") for k in condensed.tensors)
    net = build_part(
        condensed.meta["interpolator"]["name"], **condensed.meta["interpolator"]["options"]
    )
    net.load_state_dict(
        {
            k[len("interpolator.") :]: v
            for k, v in condensed.tensors.items()
            if k.startswith("interpolator.")
        }
    )
    videos = condensed.tensors["videos"].float()
    with torch.no_grad():
        assert torch.allclose(condensed.draw(4), net.eval()(videos[:, [0, 0, 1, 1]]), atol=1e-6)


def test_slide_window_draws_clip_length_windows_covering_the_video():
    window = SlideWindow(3, np.random.default_rng(0))
    videos = torch.arange(2 * 7, dtype=torch.float32).reshape(2, 7, 1, 1, 1).requires_grad_(True)
    seen = [set(), set()]
    for _ in range(40):
        clips = window(videos)
        assert clips.shape == (2, 3, 1, 1, 1)
        for i, clip in enumerate(clips.flatten(1).tolist()):
            start = clip[0] - 7 * i
            assert clip == [7 * i + start + k for k in range(3)]  # consecutive frames of video i
            seen[i].add(int(start))
    assert seen == [set(range(5))] * 2  # every start 0..T-3 of each video over the draws
    window(videos).sum().backward()  # gradients reach the long videos through the window
    assert videos.grad.shape == videos.shape and videos.grad.sum() == 2 * 3


def test_slide_window_is_deterministic_by_seed():
    videos = torch.rand(4, 9, 1, 2, 2)
    first = SlideWindow(4, np.random.default_rng(5))(videos)
    assert torch.equal(first, SlideWindow(4, np.random.default_rng(5))(videos))
    assert not torch.equal(first, SlideWindow(4, np.random.default_rng(6))(videos))


def test_syn_frames_shorter_than_the_clip_or_with_n_syn_is_refused(tiny_store):
    from vidcond.methods import check_params

    with pytest.raises(ValueError, match="shorter than the clip"):
        run_method(tiny_store, "dm", None, iterations=1, batch_real=2, syn_frames=3)
    with pytest.raises(ValueError, match="leave n_syn 0"):
        check_params("dm", {"syn_frames": 8, "n_syn": 2})
    with pytest.raises(ValueError, match="syn_frames"):
        check_params("dm_sd", {"syn_frames": 8, "static": {"method": "dc_static", "spc": 1}, "lr_dynamic": 1.0, "lr_hal": 0.0, "iterations": 1})


def test_dm_slide_window_set_stores_long_videos_that_load_and_evaluate(tiny_store_dir, tmp_path, monkeypatch):
    from vidcond.evaluation import evaluation_rows

    stem = tmp_path / "dm_window"
    params = {"iterations": 3, "batch_real": 2, "syn_frames": 8, "checkpoint_every": 10}
    seen = []
    original = DMObjective.loss

    def recording_loss(self, videos, labels, iteration):
        seen.append(tuple(videos.shape))
        return original(self, videos, labels, iteration)

    monkeypatch.setattr(DMObjective, "loss", recording_loss)
    meta = run_condense(tiny_store_dir, stem, dataset="tiny", method="dm", kind="dm", ipc=1, params=params,
                        clip=CLIP, seed=0, model_options=MODELS, progress=False)
    assert seen == [(4, 4, 3, 16, 16)] * 3  # the objective sees clip-length windows
    condensed = load_condensed(stem)
    assert condensed.tensors["videos"].shape == (4, 8, 3, 16, 16) and meta["frames"] == 8
    assert condensed.meta["frames"] == 8
    assert condensed.draw(4, torch.Generator().manual_seed(0)).shape == (4, 4, 3, 16, 16)
    settings = {"labels": "hard", "loss": "ce", "epochs": 1, "batch_size": 4, "resized_crop": False}
    (row,) = evaluation_rows(store_dir=tiny_store_dir, condensed_stem=stem, teacher_stem=None, dataset="tiny", method="dm",
                             arch="miniC3D", protocol="test", variant="default", seeds=[0], settings=settings,
                             model_options=MODELS["miniC3D"], clip=CLIP, progress=False)
    assert row["num_train"] == 4 and 0.0 <= row["top1"] <= 1.0
    # the same seed gives the same set
    again = tmp_path / "again"
    run_condense(tiny_store_dir, again, dataset="tiny", method="dm", kind="dm", ipc=1, params=params,
                 clip=CLIP, seed=0, model_options=MODELS, progress=False)
    assert torch.equal(load_condensed(again).tensors["videos"], condensed.tensors["videos"])
