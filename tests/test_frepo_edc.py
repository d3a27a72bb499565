"""FRePo (kernel ridge regression on a model pool) and EDC (statistics matching)."""

import numpy as np
import pytest
import torch
from torch import nn

from vidcond.condense import run_condense
from vidcond.condensed import load_condensed
from vidcond.methods import CondenseContext, get_method
from vidcond.methods.distill import init_synthetic
from vidcond.methods.edc import (
    EDCObjective,
    FeatureTap,
    LayerStatistics,
    real_statistics,
    statistics_loss,
)
from vidcond.methods.frepo import FRePoObjective, krr_predict, label_margin_loss
from vidcond.models import build_model, save_model

CLIP = {"num_frames": 4, "stride": 2}
MODELS = {"miniC3D": {"channels": [8, 16, 16], "norm": "batch"}}
FREPO = {"iterations": 3, "num_models": 2, "max_online_updates": 2, "batch_real": 8}
EDC = {"iterations": 3, "condensation_models": ["miniC3D"], "alpha": 0.3}


def test_krr_prediction_matches_a_numpy_solve():
    rng = np.random.default_rng(0)
    support, target, y = rng.normal(size=(5, 7)), rng.normal(size=(3, 7)), rng.normal(size=(5, 4))
    k_ss = support @ support.T
    ridge = 0.1 * np.trace(k_ss) / 5
    expected = (target @ support.T) @ np.linalg.solve(k_ss + ridge * np.eye(5), y)
    got = krr_predict(*(torch.from_numpy(a) for a in (target, support, y)), reg=0.1)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)
    # With a vanishing ridge and fewer support points than features, KRR interpolates them.
    exact = krr_predict(
        torch.from_numpy(support), torch.from_numpy(support), torch.from_numpy(y), reg=1e-12
    )
    np.testing.assert_allclose(exact.numpy(), y, atol=1e-6)


def test_label_margin_is_capped_at_one_over_k():
    y = torch.tensor([[3.0, 1.0, 0.0, 0.0], [0.5, 0.45, 0.0, 0.0]])
    # margins 2 -> capped at 1/4, and 0.05
    assert label_margin_loss(y).item() == pytest.approx(-(0.25 + 0.05) / 2)


class TinyNet(nn.Module):
    """Conv3d -> BatchNorm3d -> ReLU -> Conv3d -> BatchNorm3d -> pooled linear head."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv3d(3, 4, 1), nn.BatchNorm3d(4)
        self.conv2, self.bn2 = nn.Conv3d(4, 5, (1, 3, 3), padding=(0, 1, 1)), nn.BatchNorm3d(5)
        self.fc = nn.Linear(5, 3)

    def forward(self, x):
        h = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return self.fc(h.mean(dim=(2, 3, 4)))


def test_real_statistics_are_numpy_class_and_overall_moments():
    torch.manual_seed(0)
    net = TinyNet().eval()
    clips = torch.randn(10, 3, 2, 4, 4) * 2 + 1
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 0, 1, 2])
    tap = FeatureTap(net, "batchnorm")
    stats = real_statistics(tap, [(clips[:6], labels[:6]), (clips[6:], labels[6:])], num_classes=3)
    with torch.no_grad():
        first = net.conv1(clips)
        layer_inputs = [first, net.conv2(torch.relu(net.bn1(first)))]
    assert len(stats) == 2
    for stat, feature in zip(stats, layer_inputs):
        x = feature.numpy().astype(np.float64)  # [B, C, T, H, W]
        per_channel = x.transpose(1, 0, 2, 3, 4).reshape(x.shape[1], len(x), -1)  # [C, B, P]
        np.testing.assert_allclose(stat.mean, per_channel.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(stat.var, per_channel.var(axis=(1, 2)), rtol=1e-5, atol=1e-6)
        for c in range(3):
            of_class = per_channel[:, labels.numpy() == c]
            np.testing.assert_allclose(
                stat.class_mean[c], of_class.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6
            )
            np.testing.assert_allclose(
                stat.class_var[c], of_class.var(axis=(1, 2)), rtol=1e-5, atol=1e-6
            )
    conv_tap = FeatureTap(TinyNet(), "conv")
    assert [f.shape[1] for f in conv_tap(clips)[1]] == [4, 5]


def test_statistics_loss_combines_both_forms_with_alpha():
    rng = np.random.default_rng(1)
    feature = rng.normal(size=(4, 3, 2, 2, 2))
    labels = np.array([0, 0, 2, 2])  # class 1 is absent from the synthetic batch
    real = LayerStatistics(
        *(torch.from_numpy(rng.normal(size=s)) for s in [(3, 3), (3, 3), (3,), (3,)])
    )
    prior = np.array([0.5, 0.3, 0.2])
    alpha, weight = 0.3, 2.0
    got = statistics_loss(
        [torch.from_numpy(feature)],
        torch.from_numpy(labels),
        [real],
        torch.from_numpy(prior),
        alpha,
        [weight],
    )

    channels = feature.transpose(1, 0, 2, 3, 4).reshape(3, 4, -1)
    whole = np.linalg.norm(channels.mean(axis=(1, 2)) - real.mean.numpy()) + np.linalg.norm(
        channels.var(axis=(1, 2)) - real.var.numpy()
    )
    per_class = 0.0
    for c in (0, 2):
        x = channels[:, labels == c]
        per_class += prior[c] * (
            np.linalg.norm(x.mean(axis=(1, 2)) - real.class_mean[c].numpy())
            + np.linalg.norm(x.var(axis=(1, 2)) - real.class_var[c].numpy())
        )
    assert got.item() == pytest.approx(
        weight * (alpha * whole + (1 - alpha) * per_class), rel=1e-10
    )


@pytest.fixture()
def teacher_stem(tmp_path, tiny_store):
    """An (untrained) MiniC3D with batch norm saved as the condensation teacher."""
    torch.manual_seed(0)
    shape = (CLIP["num_frames"], 3, *tiny_store.frame_size)
    model = build_model("miniC3D", tiny_store.num_classes, shape, **MODELS["miniC3D"])
    stem = tmp_path / "teacher_miniC3D"
    save_model(
        stem,
        model,
        {
            "arch": "miniC3D",
            "num_classes": tiny_store.num_classes,
            "clip_shape": list(shape),
            "options": MODELS["miniC3D"],
        },
    )
    return str(stem)


def _ctx(store, params, **extra):
    return CondenseContext(
        store=store,
        dataset="synthaction",
        ipc=1,
        params=params,
        clip=CLIP,
        model_options=MODELS,
        progress=False,
        **extra,
    )


def test_frepo_gradients_reach_videos_and_labels_and_the_pool_resets(tiny_store):
    ctx = _ctx(tiny_store, {**FREPO, "num_models": 1})
    objective = FRePoObjective(ctx, np.random.default_rng(0))
    videos, labels = init_synthetic(ctx, "real", np.random.default_rng(1))
    objective.loss(videos, labels, 0).backward()
    assert videos.grad.abs().sum() > 0 and objective.soft_labels.grad.abs().sum() > 0
    assert objective.steps.tolist() == [1]
    objective.loss(videos, labels, 1)
    assert objective.steps.tolist() == [2]
    objective.loss(videos, labels, 2)  # max_online_updates = 2: re-initialised, then one step
    assert objective.steps.tolist() == [1]
    first = next(objective.models[0].parameters())
    assert objective.optimizers[0].state[first]["step"].item() == 1  # Adam restarted too


def test_edc_gradients_reach_the_videos(tiny_store, teacher_stem):
    ctx = _ctx(tiny_store, EDC, inputs={"teacher_miniC3D": teacher_stem})
    objective = EDCObjective(ctx, np.random.default_rng(0))
    videos, labels = init_synthetic(ctx, "real", np.random.default_rng(1))
    loss = objective.loss(videos, labels, 0)
    loss.backward()
    assert torch.isfinite(loss) and videos.grad.abs().sum() > 0
    assert len(objective.real[0]) == 3  # the three BatchNorm layers of MiniC3D


@pytest.mark.parametrize("kind", ["frepo", "edc"])
def test_condense_writes_a_loadable_set_with_its_labels_deterministically(
    kind, tiny_store, tiny_store_dir, teacher_stem, tmp_path
):
    params, inputs = (FREPO, {}) if kind == "frepo" else (EDC, {"teacher_miniC3D": teacher_stem})
    sets = []
    for run in range(2):
        run_condense(
            tiny_store_dir,
            tmp_path / f"{kind}{run}",
            dataset="synthaction",
            method=kind,
            kind=kind,
            ipc=1,
            params=params,
            clip=CLIP,
            seed=0,
            inputs=inputs,
            model_options=MODELS,
            progress=False,
        )
        sets.append(load_condensed(tmp_path / f"{kind}{run}"))
    k = tiny_store.num_classes
    first = sets[0]
    assert first.tensors["videos"].shape == (k, CLIP["num_frames"], 3, *tiny_store.frame_size)
    assert first.labels.tolist() == list(range(k)) and torch.isfinite(first.tensors["videos"].float()).all()
    if kind == "frepo":  # FRePo's learned labels, marked as the regression targets they are
        assert first.soft_labels.shape == (k, k) and first.meta["label_kind"] == "soft"
        assert first.meta["soft_label_kind"] == "regression_targets"
    else:  # EDC: relabelled per augmented view by the evaluator's teacher, no static labels
        assert first.soft_labels is None and first.meta["relabel"] == "per_view"
    for key, value in first.tensors.items():
        assert torch.equal(value, sets[1].tensors[key]), key


@pytest.mark.parametrize("kind", ["frepo", "edc"])
def test_resumed_run_ends_where_an_uninterrupted_one_does(
    kind, tiny_store, teacher_stem, tmp_path, capsys
):
    params, inputs = (FREPO, {}) if kind == "frepo" else (EDC, {"teacher_miniC3D": teacher_stem})
    method = get_method(kind)

    def condense(iterations, work_dir, **extra):
        ctx = _ctx(
            tiny_store,
            {**params, "iterations": iterations, **extra},
            inputs=inputs,
            work_dir=work_dir,
        )
        return method.condense(ctx)

    whole = condense(4, tmp_path / "whole")
    # A run stopped after 2 iterations (its checkpoint kept), then the full run resumes it.
    condense(2, tmp_path / "split", checkpoint_every=2)
    capsys.readouterr()
    resumed = condense(4, tmp_path / "split")
    assert "resumed from iteration 2" in capsys.readouterr().out
    for key in whole.tensors:
        assert torch.equal(whole.tensors[key], resumed.tensors[key]), key
