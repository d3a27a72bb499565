"""Expert trajectories, MTT and DATM: the matching loss against hand computations, the
unrolled student against manual SGD, gradients, the experts' files and their resume, the
DATM window and labels, and condensed sets written by both methods."""

import os
import signal

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from vidcond.pretrain import experts as experts_module
from vidcond.condense import run_condense
from vidcond.condensed import load_condensed
from vidcond.pretrain.experts import ExpertBank, ParamLayout, train_experts
from vidcond.methods import CondenseContext, get_method
from vidcond.methods.datm import DATMObjective, start_upper_bound
from vidcond.methods.mtt import MTTObjective, normalised_distance
from vidcond.training import RealClips

CLIP = {"num_frames": 4, "stride": 2}
ARCH_OPTIONS = {"channels": [4, 8, 8], "norm": "instance", "head": "linear", "dropout": 0.0}
TRAINING = {
    "optimizer": "sgd",
    "lr": 0.05,
    "momentum": 0.0,
    "weight_decay": 0.0,
    "schedule": "constant",
    "batch_size": 4,
    "resized_crop": False,
    "labels": "hard",
    "loss": "ce",
}


def make_experts(store_dir, stem, work_dir=None, num_experts=2, epochs=3):
    return train_experts(
        store_dir,
        stem,
        arch="miniC3D",
        model_options=ARCH_OPTIONS,
        num_experts=num_experts,
        epochs=epochs,
        training=TRAINING,
        clip=CLIP,
        seed=5,
        work_dir=work_dir,
        progress=False,
    )


@pytest.fixture(scope="module")
def expert_stem(tiny_store_dir, tmp_path_factory):
    stem = tmp_path_factory.mktemp("experts") / "miniC3D"
    make_experts(tiny_store_dir, stem)
    return stem


def make_ctx(store, expert_stem, ipc=1, work_dir=None, **params):
    return CondenseContext(
        store=store,
        dataset="tiny",
        ipc=ipc,
        params=params,
        clip=CLIP,
        seed=2,
        inputs={"experts": str(expert_stem)},
        work_dir=work_dir,
        progress=False,
    )


def test_normalised_distance_by_hand():
    theta = torch.tensor([1.0, 2.0, 3.0])
    start = torch.tensor([0.0, 0.0, 0.0])
    target = torch.tensor([1.0, 1.0, 1.0])
    # ||(0, 1, 2)||² = 5 over ||(-1, -1, -1)||² = 3
    assert normalised_distance(theta, start, target).item() == pytest.approx(5 / 3)


def test_param_layout_round_trip():
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))
    layout = ParamLayout.of(model)
    flat = layout.flatten(model)
    assert layout.num_params == 3 * 2 + 2 + 2 + 1 == flat.numel()
    for (name, param), view in zip(model.named_parameters(), layout.unflatten(flat).values()):
        assert torch.equal(param, view), name


def test_experts_files_round_trip(expert_stem, tiny_store):
    bank = ExpertBank(expert_stem)
    assert bank.num_experts == 2 and bank.epochs == 3 and bank.lr == 0.05
    model = bank.build_model()
    assert bank.layout.num_params == sum(p.numel() for p in model.parameters())
    for e, entry in enumerate(bank.index["experts"]):
        trajectory = load_file(str(expert_stem / entry["file"]))["trajectory"]
        assert trajectory.shape == (3 + 1, bank.layout.num_params)  # epochs + 1 snapshots
        assert torch.equal(bank.snapshot(e, 2), trajectory[2])
        assert not torch.equal(trajectory[0], trajectory[-1])  # it trained
    assert not torch.equal(bank.snapshot(0, 0), bank.snapshot(1, 0))  # independent inits


def test_recorded_expert_accuracy_is_that_of_its_last_snapshot(expert_stem, tiny_store):
    bank = ExpertBank(expert_stem)
    test = RealClips(tiny_store, CLIP["num_frames"], CLIP["stride"], split="test")
    clips = test.clips(np.arange(len(test)), None)  # centre clips
    model = bank.build_model().eval()
    for e, entry in enumerate(bank.index["experts"]):
        weights = bank.layout.unflatten(bank.snapshot(e, bank.epochs))
        with torch.no_grad():
            predicted = torch.func.functional_call(model, weights, (clips,)).argmax(1)
        assert entry["top1"] == pytest.approx((predicted == test.labels).float().mean().item())
        assert entry["top1"] * 8 == pytest.approx(round(entry["top1"] * 8))  # 8 test videos


def test_experts_resume_after_sigterm_ends_identical(tiny_store_dir, tmp_path, monkeypatch):
    reference = make_experts(tiny_store_dir, tmp_path / "full" / "m", num_experts=2, epochs=2)
    calls = {"n": 0}
    original = experts_module.augment

    def augment_then_term(*args):  # SIGTERM during the second expert's first epoch
        calls["n"] += 1
        if calls["n"] == 4:
            os.kill(os.getpid(), signal.SIGTERM)
        return original(*args)

    monkeypatch.setattr(experts_module, "augment", augment_then_term)
    stem, work = tmp_path / "killed" / "m", tmp_path / "work"
    with pytest.raises(SystemExit) as stopped:
        make_experts(tiny_store_dir, stem, work_dir=work, num_experts=2, epochs=2)
    assert stopped.value.code == 143 and (work / "checkpoint.pt").exists()
    monkeypatch.setattr(experts_module, "augment", original)
    resumed = make_experts(tiny_store_dir, stem, work_dir=work, num_experts=2, epochs=2)
    assert [e["top1"] for e in resumed["experts"]] == [e["top1"] for e in reference["experts"]]
    for entry in reference["experts"]:
        full = load_file(str(tmp_path / "full" / "m" / entry["file"]))["trajectory"]
        assert torch.equal(load_file(str(stem / entry["file"]))["trajectory"], full)
    assert not work.exists()


def _manual_sgd_step(bank, theta, videos, labels, lr):
    model = bank.build_model().train()
    model.channels_last = False  # the student's layout: the same convolutions, to float rounding
    torch.nn.utils.vector_to_parameters(theta.clone(), model.parameters())
    loss = torch.nn.functional.cross_entropy(model(videos), labels)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    return theta - lr * torch.cat([g.reshape(-1) for g in grads])


@pytest.mark.parametrize("low_memory", [False, True])
def test_one_unrolled_step_is_a_manual_sgd_step(tiny_store, expert_stem, low_memory):
    ctx = make_ctx(
        tiny_store,
        expert_stem,
        syn_steps=1,
        syn_lr_init=0.3,
        max_start_epoch=2,
        low_memory=low_memory,
    )
    objective = MTTObjective(ctx, np.random.default_rng(0))
    videos = torch.rand(4, 4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 1, 2, 3])
    theta = objective.bank.snapshot(0, 1)
    stepped = objective.unroll(theta, videos, labels)
    expected = _manual_sgd_step(objective.bank, theta, videos, labels, 0.3)
    torch.testing.assert_close(stepped.detach(), expected, rtol=1e-5, atol=1e-6)


def test_student_convolves_its_flat_weights_in_their_own_layout(tiny_store, expert_stem):
    # channels-last input would convert every view of the flat θ (and its gradient) per
    # convolution; the logits are those of the channels-last network
    objective = MTTObjective(make_ctx(tiny_store, expert_stem, max_start_epoch=2), np.random.default_rng(0))
    assert objective.net.channels_last is False
    videos = torch.rand(2, 4, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    weights = objective.bank.layout.unflatten(objective.bank.snapshot(1, 2))
    channels_last = objective.bank.build_model().train()
    assert channels_last.channels_last is True
    torch.testing.assert_close(
        torch.func.functional_call(objective.net, weights, (videos,)),
        torch.func.functional_call(channels_last, weights, (videos,)),
        rtol=1e-5,
        atol=1e-6,
    )


def _loss_and_grads(ctx, videos, labels):
    objective = MTTObjective(ctx, np.random.default_rng(4))
    videos = videos.clone().requires_grad_(True)
    loss = objective.loss(videos, labels, 0)
    loss.backward()
    return loss.item(), videos.grad, objective.lr_value.grad


def test_gradients_reach_videos_and_lr_and_low_memory_agrees(tiny_store, expert_stem):
    videos = torch.rand(8, 4, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    labels = torch.arange(4).repeat_interleave(2)
    params = dict(syn_steps=3, batch_syn=3, max_start_epoch=2, expert_epochs=1)
    loss, video_grad, lr_grad = _loss_and_grads(
        make_ctx(tiny_store, expert_stem, **params), videos, labels
    )
    assert loss > 0 and video_grad.abs().sum() > 0 and torch.isfinite(video_grad).all()
    assert lr_grad is not None and lr_grad.item() != 0
    low = _loss_and_grads(
        make_ctx(tiny_store, expert_stem, low_memory=True, **params), videos, labels
    )
    # the same computation in another order: equal up to float rounding (which 3 steps of
    # a student far from the expert, loss ~33, amplify to ~1e-4)
    assert low[0] == pytest.approx(loss, rel=1e-3)
    torch.testing.assert_close(
        low[1], video_grad, rtol=1e-3, atol=1e-4 * video_grad.abs().max().item()
    )
    torch.testing.assert_close(low[2], lr_grad, rtol=1e-3, atol=0.0)


def test_log_lr_parametrisation_stores_the_lr(tiny_store, expert_stem):
    objective = MTTObjective(
        make_ctx(tiny_store, expert_stem, max_start_epoch=2, lr_param="log", syn_lr_init=0.02),
        np.random.default_rng(0),
    )
    assert objective.lr_value.item() == pytest.approx(np.log(0.02))
    assert objective.outputs()["syn_lr"].item() == pytest.approx(0.02)


def test_start_window_beyond_the_trajectory_is_refused(tiny_store, expert_stem):
    with pytest.raises(ValueError, match="within the experts' 3 epochs"):
        MTTObjective(
            make_ctx(tiny_store, expert_stem, max_start_epoch=3, expert_epochs=2),
            np.random.default_rng(0),
        )


def test_datm_window_grows_linearly_to_the_final_bound(tiny_store, expert_stem):
    # DATM: U = min(current + floor((final - current) * it / end), final)
    assert [start_upper_bound(it, 2, 10, 20) for it in (0, 5, 10, 19, 20, 40)] == [
        2,
        4,
        6,
        9,
        10,
        10,
    ]
    ctx = make_ctx(
        tiny_store,
        expert_stem,
        min_start_epoch=0,
        current_max_start_epoch=1,
        max_start_epoch=3,
        expansion_end_iteration=4,
    )
    objective = DATMObjective(ctx, np.random.default_rng(0))
    assert [objective.start_window(it) for it in (0, 2, 4, 9)] == [(0, 1), (0, 2), (0, 3), (0, 3)]


def test_datm_labels_start_from_the_experts_and_learn(tiny_store, expert_stem):
    ctx = make_ctx(
        tiny_store, expert_stem, syn_steps=2, current_max_start_epoch=1, max_start_epoch=2
    )
    objective = DATMObjective(ctx, np.random.default_rng(0))
    videos = torch.rand(4, 4, 3, 16, 16, generator=torch.Generator().manual_seed(3)).requires_grad_(
        True
    )
    labels = torch.tensor([0, 1, 2, 3])
    objective.prepare(videos, labels)
    bank = objective.bank
    logits = []
    for e in range(bank.num_experts):  # each expert's network at its last epoch, run as a module
        model = bank.build_model().train()
        torch.nn.utils.vector_to_parameters(bank.snapshot(e, bank.epochs), model.parameters())
        with torch.no_grad():
            logits.append(model(videos))
    logits = torch.stack(logits)
    for i in range(4):  # the mean over the experts right on clip i, or over all of them
        right = logits[:, i].argmax(-1) == labels[i]
        expected = logits[right, i].mean(0) if right.any() else logits[:, i].mean(0)
        torch.testing.assert_close(
            objective.soft_labels[i].detach(), expected, rtol=1e-4, atol=1e-5
        )
    objective.loss(videos, labels, 0).backward()
    assert objective.soft_labels.grad.abs().sum() > 0 and videos.grad.abs().sum() > 0
    groups = objective.param_groups()
    assert [g["lr"] for g in groups] == [1e-5, 2.0]


@pytest.mark.parametrize("method", ["mtt", "datm"])
def test_condense_writes_a_loadable_set(tiny_store_dir, expert_stem, tmp_path, method):
    params = {"iterations": 2, "syn_steps": 2, "max_start_epoch": 2, "lr_img": 10.0}
    if method == "datm":
        params.update(current_max_start_epoch=1, expansion_end_iteration=2)
    meta = run_condense(
        tiny_store_dir,
        tmp_path / "set",
        dataset="tiny",
        method=method,
        kind=method,
        ipc=1,
        params=params,
        clip=CLIP,
        seed=0,
        inputs={"experts": str(expert_stem)},
        work_dir=tmp_path / "work",
        progress=False,
    )
    condensed = load_condensed(tmp_path / "set")
    assert condensed.tensors["videos"].shape == (4, 4, 3, 16, 16) and meta["num_videos"] == 4
    assert condensed.labels.tolist() == [0, 1, 2, 3]
    assert condensed.syn_lr is not None and condensed.syn_lr > 0
    if method == "datm":
        assert condensed.soft_labels.shape == (4, 4) and meta["label_kind"] == "soft"
    assert condensed.draw(4).shape == (4, 4, 3, 16, 16)


def test_killed_datm_resumes_to_the_same_videos_labels_and_lr(
    tiny_store, expert_stem, tmp_path, monkeypatch
):
    params = {
        "iterations": 4,
        "syn_steps": 2,
        "current_max_start_epoch": 1,
        "max_start_epoch": 2,
        "expansion_end_iteration": 2,
        "lr_img": 10.0,
        "lr_lr": 1e-3,
        "checkpoint_every": 3,
    }

    def condense(work_dir):
        return (
            get_method("datm")
            .condense(make_ctx(tiny_store, expert_stem, work_dir=work_dir, **params))
            .tensors
        )

    reference = condense(tmp_path / "ref")
    original = DATMObjective.loss

    def loss_then_sigterm(self, videos, labels, iteration):
        if iteration == 1:  # SIGTERM mid-run: the loop saves after this iteration and exits
            os.kill(os.getpid(), signal.SIGTERM)
        return original(self, videos, labels, iteration)

    monkeypatch.setattr(DATMObjective, "loss", loss_then_sigterm)
    with pytest.raises(SystemExit) as stopped:
        condense(tmp_path / "killed")
    assert stopped.value.code == 143
    monkeypatch.setattr(DATMObjective, "loss", original)
    resumed = condense(tmp_path / "killed")
    for name in ("videos", "soft_labels", "syn_lr"):
        assert torch.equal(resumed[name], reference[name]), name
    params["iterations"] = 0  # the labels as initialised: training moved them
    assert not torch.equal(reference["soft_labels"], condense(None)["soft_labels"])


def test_low_memory_auto_follows_the_estimate_against_the_memory_available(tiny_store, expert_stem, monkeypatch):
    from vidcond.memory import activation_profile, mtt_unroll_mb
    from vidcond.methods import mtt

    spec = ExpertBank(expert_stem).index["spec"]
    profile = activation_profile(spec["arch"], spec["num_classes"], spec["clip_shape"], spec["options"])
    needed = mtt_unroll_mb(profile, 4, 5, False)  # IPC 1 of 4 classes, 5 steps
    assert needed > mtt_unroll_mb(profile, 4, 5, True)
    for available, expected in [(2 * needed - 1, True), (2 * needed + 1, False)]:
        monkeypatch.setattr(mtt, "available_mb", lambda device, mb=available: mb)
        objective = MTTObjective(make_ctx(tiny_store, expert_stem, syn_steps=5, max_start_epoch=2), np.random.default_rng(0))
        assert objective.low_memory is expected
    explicit = MTTObjective(make_ctx(tiny_store, expert_stem, syn_steps=5, max_start_epoch=2, low_memory=False), np.random.default_rng(0))
    assert explicit.low_memory is False  # an explicit setting is kept whatever the memory
