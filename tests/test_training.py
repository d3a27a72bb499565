"""The training loop behind teachers and evaluation: losses, schedules, optimizers, testing."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import tiny_config
from vidcond.models import build_model
from vidcond.condensed import CondensedSet
from vidcond.training import (
    CondensedClips,
    RealClips,
    TrainSettings,
    augment,
    autocast_dtype,
    compute_loss,
    lr_factor,
    make_optimizer,
    measure_accuracy,
    random_resized_crop,
    train,
)


def _softmax(x, t=1.0):
    e = np.exp(x / t - (x / t).max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@pytest.fixture()
def logits():
    g = torch.Generator().manual_seed(0)
    return torch.randn(4, 5, generator=g), torch.randn(4, 5, generator=g), torch.tensor([0, 2, 4, 1])


def _ce(s, y):
    return float(np.mean(-np.log(_softmax(s))[np.arange(len(y)), y]))


def test_ce_loss(logits):
    student, _, y = logits
    loss = compute_loss(TrainSettings(labels="hard", loss="ce"), student, y)
    assert loss.item() == pytest.approx(_ce(student.numpy(), y.numpy()), rel=1e-5)


def test_kl_loss_with_temperature(logits):
    student, teacher, y = logits
    s, t, tau = student.numpy(), teacher.numpy(), 4.0
    p = _softmax(t, tau)
    expected = np.sum(p * (np.log(p) - np.log(_softmax(s, tau)))) / len(s)
    loss = compute_loss(TrainSettings(loss="kl", temperature=tau), student, y, teacher)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_mse_gt_loss(logits):
    student, teacher, y = logits
    s, t = student.numpy(), teacher.numpy()
    expected = np.mean((s - t) ** 2) + 0.1 * _ce(s, y.numpy())
    loss = compute_loss(TrainSettings(loss="mse_gt"), student, y, teacher)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_kd_ce_loss(logits):
    student, teacher, y = logits
    s, t, tau, alpha = student.numpy(), teacher.numpy(), 3.0, 0.7
    p = _softmax(t, tau)
    kl = np.sum(p * (np.log(p) - np.log(_softmax(s, tau)))) / len(s)
    expected = alpha * tau**2 * kl + (1 - alpha) * _ce(s, y.numpy())
    loss = compute_loss(TrainSettings(loss="kd_ce", temperature=tau, kd_alpha=alpha), student, y, teacher)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_quarter_cosine_schedule_of_the_official_code():
    s = TrainSettings(schedule="quarter_cosine", epochs=300)
    assert lr_factor(s, 0) == 1.0
    assert lr_factor(s, 150) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert lr_factor(s, 300) == pytest.approx(0.5)  # never below half the base rate


def test_step_and_cosine_schedules():
    step = TrainSettings(schedule="step", epochs=500, milestones=(0.5,), gamma=0.1)
    assert [lr_factor(step, e) for e in (0, 249, 250, 499)] == [1.0, 1.0, pytest.approx(0.1), pytest.approx(0.1)]
    cosine = TrainSettings(schedule="cosine", epochs=10)
    assert lr_factor(cosine, 5) == pytest.approx(0.5) and lr_factor(cosine, 10) == pytest.approx(0.0, abs=1e-12)


def test_weight_decay_only_on_matrices():
    model = build_model("miniC3D", 3, (4, 3, 16, 16), channels=[4, 4, 4])
    optimizer = make_optimizer(model, TrainSettings(optimizer="adamw", weight_decay=0.01), 1e-3)
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 0.01 and plain["weight_decay"] == 0.0
    assert all(p.dim() > 1 for p in decayed["params"]) and all(p.dim() <= 1 for p in plain["params"])
    sgd = make_optimizer(model, TrainSettings(optimizer="sgd", decay_matrices_only=False, weight_decay=5e-4, momentum=0.9), 0.01)
    assert isinstance(sgd, torch.optim.SGD) and sgd.param_groups[0]["momentum"] == 0.9


def test_settings_reject_unknown_keys_and_bad_combinations():
    with pytest.raises(ValueError, match="unknown training settings.*lrr"):
        TrainSettings.from_dict({"lrr": 1})
    with pytest.raises(ValueError, match="needs teacher logits"):
        TrainSettings.from_dict({"labels": "hard", "loss": "mse_gt"})


def test_random_resized_crop_uses_one_window_per_clip():
    clip = torch.arange(16.0).view(1, 1, 1, 4, 4).expand(2, 3, 2, 4, 4).contiguous()
    out = random_resized_crop(clip, (0.25, 0.5), torch.Generator().manual_seed(0))
    assert out.shape == clip.shape
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, :, 0], out[:, :, 1])


def _per_clip_resized_crop(clips, scale, generator):
    """The per-clip reference (the loop the batched crop replaced): each clip's window cut
    out and resized by F.interpolate."""
    b, t, c, h, w = clips.shape
    out = torch.empty_like(clips)
    rand = torch.rand(b, 4, generator=generator)
    for i in range(b):
        area = h * w * (scale[0] + (scale[1] - scale[0]) * rand[i, 0].item())
        aspect = math.exp(math.log(3 / 4) + (math.log(4 / 3) - math.log(3 / 4)) * rand[i, 1].item())
        ch = min(h, max(1, round(math.sqrt(area / aspect))))
        cw = min(w, max(1, round(math.sqrt(area * aspect))))
        top, left = int(rand[i, 2] * (h - ch + 1)), int(rand[i, 3] * (w - cw + 1))
        window = clips[i, :, :, top : top + ch, left : left + cw]
        out[i] = torch.nn.functional.interpolate(window, size=(h, w), mode="bilinear", align_corners=False)
    return out


@pytest.mark.parametrize("shape, scale", [((12, 3, 2, 17, 23), (0.08, 1.0)), ((6, 2, 3, 64, 64), (0.5, 1.0)),
                                          ((9, 2, 1, 9, 31), (0.01, 0.2)), ((4, 1, 3, 8, 8), (1.0, 1.0))])
def test_batched_resized_crop_equals_the_per_clip_crop(shape, scale):
    clips = torch.rand(shape, generator=torch.Generator().manual_seed(1))
    for seed in range(4):
        expected = _per_clip_resized_crop(clips, scale, torch.Generator().manual_seed(seed))
        batched = random_resized_crop(clips, scale, torch.Generator().manual_seed(seed))
        torch.testing.assert_close(batched, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("crop, flip", [(True, True), (True, False), (False, True), (False, False)])
def test_augment_crops_then_flips_each_clip(crop, flip):
    # the flip folded into the crop's resampling is the per-clip crop, then a mirror per clip
    clips = torch.rand(10, 2, 3, 17, 23, generator=torch.Generator().manual_seed(2))
    settings = TrainSettings(resized_crop=crop, flip=flip, crop_scale=(0.08, 1.0))
    generator = torch.Generator().manual_seed(7)
    expected = _per_clip_resized_crop(clips, (0.08, 1.0), generator) if crop else clips
    if flip:
        mirrored = torch.rand(10, generator=generator) < 0.5
        assert 0 < mirrored.sum() < 10
        expected = torch.stack([clip.flip(-1) if m else clip for clip, m in zip(expected, mirrored)])
    torch.testing.assert_close(augment(clips, settings, torch.Generator().manual_seed(7)), expected, atol=1e-5, rtol=0)


def test_resized_crop_is_deterministic_by_seed_and_passes_gradients():
    clips = torch.rand(5, 2, 3, 16, 16, generator=torch.Generator().manual_seed(0), requires_grad=True)
    a, b, c = (random_resized_crop(clips, (0.08, 1.0), torch.Generator().manual_seed(s)) for s in (3, 3, 4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    a.sum().backward()  # EDC crops the videos it learns
    assert clips.grad.abs().sum() > 0


class FixedLogits(torch.nn.Module):
    def __init__(self, table):
        super().__init__()
        self.table = table
        self.calls = 0

    def forward(self, x):
        out = self.table[self.calls : self.calls + len(x)]
        self.calls += len(x)
        return out


def test_test_metrics_top1_top5_and_groups(tiny_store):
    real = RealClips(tiny_store, 4, 2, split="test")
    labels = real.labels
    table = torch.zeros(len(labels), 4)
    table[torch.arange(len(labels)), labels] = 1.0  # all right ...
    table[0] = torch.tensor([0.0, 0.0, 0.0, 0.0])
    table[0, (labels[0] + 1) % 4] = 1.0  # ... but the first
    metrics = measure_accuracy(FixedLogits(table), real, tiny_store.classes, batch_size=3)
    n = len(labels)
    assert metrics["top1"] == pytest.approx((n - 1) / n) and metrics["n_test"] == n
    assert metrics["top5"] == 1.0  # 4 classes: the label is always in the top 5
    groups = tiny_store.classes.set_index("label")["group"]
    first_group = groups[int(labels[0])]
    in_first = (pd.Series(labels.numpy()).map(groups) == first_group).sum()
    assert metrics[f"top1_{first_group}"] == pytest.approx((in_first - 1) / in_first)


def test_training_is_deterministic_by_seed(tiny_store):
    settings = TrainSettings(optimizer="sgd", lr=0.05, epochs=2, batch_size=4, labels="hard", loss="ce")

    def run(seed):
        torch.manual_seed(123)  # same init; the training seed drives everything else
        model = build_model("miniC3D", tiny_store.num_classes, (4, 3, 16, 16), channels=[4, 8, 8])
        stats = train(model, RealClips(tiny_store, 4, 2), settings, seed=seed, progress=False, device=torch.device("cpu"))
        return stats, torch.cat([p.flatten() for p in model.parameters()])

    (a_stats, a), (b_stats, b), (_, c) = run(0), run(0), run(1)
    assert torch.equal(a, b) and a_stats["steps"] == 2 * math.ceil(12 / 4)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("clips, epochs, min_clips, expected", [(10, 60, 3000, 300), (50, 30, 3000, 60), (200, 40, 3000, 40), (7, 1, 10, 2)])
def test_min_clips_raises_the_epochs(clips, epochs, min_clips, expected):
    assert TrainSettings(epochs=epochs, min_clips=min_clips).epochs_for(clips) == expected


def test_the_step_budget_is_what_the_run_made_and_the_schedule_stretches(tiny_store):
    # 12 training videos at batch 8: 2 steps an epoch; 3 epochs asked, at least 60 clips
    settings = TrainSettings(optimizer="sgd", lr=0.05, epochs=3, min_clips=60, batch_size=8, labels="hard", loss="ce",
                             schedule="step", milestones=(0.8,))
    model = build_model("miniC3D", tiny_store.num_classes, (4, 3, 16, 16), channels=[4, 8, 8])
    stats = train(model, RealClips(tiny_store, 4, 2), settings, seed=0, progress=False, device=torch.device("cpu"))
    assert stats["epochs_run"] == 5 and stats["steps"] == 10 and stats["batch_size"] == 8
    # the milestone at 0.8 of the 5 epochs run (epoch 4), not of the 3 asked (epoch 2)
    assert [lr_factor(settings, e, 5) for e in range(5)] == pytest.approx([1, 1, 1, 1, 0.1])
    assert [lr_factor(settings, e) for e in range(3)] == pytest.approx([1, 1, 0.1])


class FixedBatches:
    """A training source giving the same batches, in the same order, every epoch."""

    def __init__(self, batches):
        self.batches = batches

    def __len__(self):
        return sum(len(labels) for _, labels in self.batches)

    def epoch(self, batch_size, rng, generator):
        for clips, labels in self.batches:
            yield clips, labels, None


def _fixed_batches(num_classes=4):
    g = torch.Generator().manual_seed(5)
    return FixedBatches([(torch.rand(4, 4, 3, 16, 16, generator=g), torch.randint(num_classes, (4,), generator=g))
                         for _ in range(2)])


def _initial_model():
    torch.manual_seed(123)
    return build_model("miniC3D", 4, (4, 3, 16, 16), channels=[4, 8, 8])


def _weights(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_full_precision_training_is_exactly_a_plain_float32_loop():
    # amp off: no autocast, no loss scaling left in the loop (bitwise the loop before `amp`)
    settings = TrainSettings(optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=0.0, decay_matrices_only=False,
                             epochs=3, schedule="constant", resized_crop=False, flip=False, labels="hard", loss="ce")
    source = _fixed_batches()
    model = _initial_model()
    train(model, source, settings, seed=0, progress=False, device=torch.device("cpu"))

    reference = _initial_model()
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.05, momentum=0.9)
    torch.manual_seed(0)
    for _ in range(3):
        for clips, labels, _ in source.epoch(4, None, None):
            loss = torch.nn.functional.cross_entropy(reference(clips), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    assert torch.equal(_weights(model), _weights(reference))


def test_mixed_precision_is_for_gpus_and_leaves_a_cpu_run_in_full_precision():
    """CPU bfloat16 3D convolutions give NaN gradients in torch 2.13 (an embedded-default
    evaluation ended at a NaN loss and chance accuracy): on CPU `amp` changes nothing."""
    settings = TrainSettings(optimizer="sgd", lr=0.05, epochs=4, schedule="constant", batch_size=4, labels="hard",
                             loss="ce", crop_scale=(0.5, 1.0))
    logit_dtypes = []

    def run(amp):
        model = _initial_model()
        model.register_forward_hook(lambda module, inputs, out: logit_dtypes.append(out.dtype))
        train(model, _fixed_batches(), TrainSettings.from_dict({**settings.to_dict(), "amp": amp}), seed=0,
              progress=False, device=torch.device("cpu"))
        return _weights(model)

    assert torch.equal(run(True), run(False))
    assert set(logit_dtypes) == {torch.float32}
    assert autocast_dtype(torch.device("cpu")) is None


def test_a_float16_run_resumes_with_its_loss_scale(tmp_path, monkeypatch):
    """With float16 (GPUs without bfloat16) the GradScaler's scale is part of the checkpoint:
    a run stopped after epoch 2 and resumed ends where the uninterrupted run does (a fresh
    scale of 2**16 would overflow and skip the first step after the resume). float16
    autocast runs on CPU too, which lets the test force it."""
    import vidcond.training as training
    from vidcond.checkpoint import Checkpointer

    monkeypatch.setattr(training, "autocast_dtype", lambda device: torch.float16)
    settings = TrainSettings(optimizer="sgd", lr=0.05, momentum=0.9, epochs=4, schedule="constant", resized_crop=False,
                             flip=False, labels="hard", loss="ce", amp=True)

    class StopAfter(Checkpointer):  # as SIGTERM after a chosen epoch: save, then exit
        def step(self, step, state, extra=None, always=False):
            self.stop_requested = step == 2
            super().step(step, state, extra, always)

    def run(checkpointer):
        model = _initial_model()
        train(model, _fixed_batches(), settings, seed=0, progress=False, device=torch.device("cpu"), checkpointer=checkpointer)
        return _weights(model)

    uninterrupted = run(None)
    with pytest.raises(SystemExit):
        run(StopAfter(tmp_path, every=1, unit="epoch"))
    assert "scaler" in torch.load(tmp_path / "checkpoint.pt", weights_only=True)["training_state"]["objects"]
    assert torch.equal(run(Checkpointer(tmp_path, every=1, unit="epoch")), uninterrupted)


@pytest.mark.parametrize("stored_frames, drawn_alike", [(4, True), (2, True), (6, False)])
def test_a_condensed_set_drawn_alike_every_epoch_is_drawn_once(stored_frames, drawn_alike):
    videos = torch.randint(0, 256, (3, stored_frames, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    condensed = CondensedSet({"videos": videos, "labels": torch.tensor([0, 1, 2])}, {})
    source = CondensedClips(condensed, 4)
    generator = torch.Generator().manual_seed(1)
    epochs = [torch.cat([clips for clips, _, _ in source.epoch(3, np.random.default_rng(0), generator)]) for _ in range(2)]
    assert (source.fixed_clips is not None) == drawn_alike
    # the same clips as drawing every epoch, and the same generator state after
    reference = torch.Generator().manual_seed(1)
    expected = [condensed.draw(4, reference)[torch.as_tensor(np.random.default_rng(0).permutation(3))] for _ in range(2)]
    assert all(torch.equal(a, b) for a, b in zip(epochs, expected))
    assert torch.equal(generator.get_state(), reference.get_state())
    assert torch.equal(epochs[0], epochs[1]) == drawn_alike


def test_a_teacher_is_the_same_on_every_run(tiny_store_dir, tmp_path):
    """Its initial weights come from the job's seed, not from whatever the process drew
    before (the soft labels, EDC, RDED and the KD rows all read the teacher)."""
    from safetensors.torch import load_file

    from vidcond.pretrain.teacher import train_teacher

    cfg = tiny_config()
    training = {**cfg["teacher"]["training"], "epochs": 1}
    weights = []
    for k, drawn_before in enumerate((1, 2)):
        torch.manual_seed(drawn_before)
        train_teacher(tiny_store_dir, tmp_path / f"t{k}", arch="miniC3D", model_options={"channels": [4, 8, 8]},
                      training=training, clip=cfg["datasets"]["synthaction"]["clip"], seed=0, progress=False)
        weights.append(load_file(str(tmp_path / f"t{k}.safetensors")))
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])
