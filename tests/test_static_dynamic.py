"""The static/dynamic ("+SD") parametrisation: H, gradients, pairing, storage, a condense run."""

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from vidcond.condensed import load_condensed, save_condensed, storage_bytes
from vidcond.methods import CondenseContext, get_method, method_class, requirements, static_dynamic_bases
from vidcond.methods.distill import MatchingObjective
from vidcond.methods.mtt import MTTObjective
from vidcond.methods.static_dynamic import (
    StaticDynamicMethod,
    StaticDynamicVideos,
    condense_static_dynamic,
    draw_pairing,
    load_static_memory,
    pairing_choices,
)
from vidcond.models.parts import build_part
from vidcond.report import frame_differences


def test_the_three_methods_run_their_base_objective():
    """Each +SD kind is a StaticDynamicMethod naming its base method's class, whose
    objective and hyperparameters it takes over, and `static_dynamic_bases` names the
    same bases."""
    assert static_dynamic_bases() == {"dm_sd": "dm", "mtt_sd": "mtt", "frepo_sd": "frepo"}
    for kind, base in static_dynamic_bases().items():
        method = get_method(kind)
        assert isinstance(method, StaticDynamicMethod) and method.base is method_class(base)
        assert issubclass(method.base.objective_class, MatchingObjective)
        assert issubclass(method.params_class, method.base.params_class)
        assert requirements(kind, method.tiny_params) == ("static", *requirements(base, {}))
    assert type(get_method("mtt")).objective_class is MTTObjective


@pytest.mark.parametrize("name", ["integrator_conv", "integrator_conv_deconv"])
def test_integrator_maps_static_and_dynamic_to_videos(name):
    h = build_part(name, channels=3)
    out = h(torch.rand(5, 3, 6, 7), torch.randn(5, 4, 1, 6, 7))
    assert out.shape == (5, 4, 3, 6, 7)


def test_default_integrator_is_one_conv_over_static_repeated_and_dynamic():
    torch.manual_seed(0)
    h = build_part("integrator_conv", channels=3)
    static, dynamic = torch.rand(2, 3, 5, 5), torch.randn(2, 4, 1, 5, 5)
    # independent construction: static repeated over time, dynamic as a 4th channel, [N, C, T, H, W]
    stacked = np.concatenate(
        [
            np.repeat(static.numpy()[:, :, None], 4, axis=2),
            dynamic.numpy().transpose(0, 2, 1, 3, 4),
        ],
        axis=1,
    )
    expected = F.conv3d(torch.from_numpy(stacked), h.net.weight, h.net.bias, padding=1).permute(
        0, 2, 1, 3, 4
    )
    # the decoded video is bounded to the pixel range, as every condensed set's pixels
    assert torch.allclose(h(static, dynamic), expected.clamp(0, 1), atol=1e-6)
    assert sum(p.numel() for p in h.parameters()) == 3 * 4 * 27 + 3


def test_gradients_reach_dynamic_memory_and_integrator_not_static():
    torch.manual_seed(0)
    memory = StaticDynamicVideos(
        torch.rand(4, 3, 6, 6), torch.randn(4, 5, 1, 6, 6), build_part("integrator_conv")
    )
    assert [name for name, _ in memory.named_parameters()] == [
        "dynamic",
        "integrator.net.weight",
        "integrator.net.bias",
    ]
    videos = memory(torch.tensor([0, 3]), torch.tensor([1, 1]))
    videos.pow(2).mean().backward()
    assert memory.static.grad is None and not memory.static.requires_grad
    grad = memory.dynamic.grad
    assert grad[1].abs().sum() > 0 and grad[[0, 2, 3]].abs().sum() == 0  # only the memory drawn
    assert all(p.grad.abs().sum() > 0 for p in memory.integrator.parameters())


def test_pairing_choices_share_out_each_class_memories():
    # 3 classes, IPC 2, 4 memories per class: two of its own for each video (official 2:1)
    assert pairing_choices(3, 2, 4).tolist() == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [10, 11]]
    # IPC 5, 2 memories per class: the videos of a class take them in turn
    assert pairing_choices(2, 5, 2).tolist() == [[0], [1], [0], [1], [0], [2], [3], [2], [3], [2]]
    # IPC 1: every memory of the class is a candidate of its video
    assert pairing_choices(2, 1, 3).tolist() == [[0, 1, 2], [3, 4, 5]]


def test_pairing_draws_only_memories_of_the_video_class():
    num_classes, ipc, per_class = 4, 2, 6
    choices = pairing_choices(num_classes, ipc, per_class)
    labels = torch.arange(num_classes).repeat_interleave(ipc)
    rng = np.random.default_rng(0)
    drawn = torch.stack([draw_pairing(choices, rng) for _ in range(200)])
    assert (drawn // per_class == labels).all()
    assert set(drawn.flatten().tolist()) == set(range(num_classes * per_class))  # every memory used
    again = torch.stack([draw_pairing(choices, np.random.default_rng(0)) for _ in range(1)])
    assert torch.equal(again[0], drawn[0])  # determined by the generator


def test_storage_counts_static_dynamic_and_integrator():
    # 10 classes, SPC 1, DPC 1, 8 frames 32x32, default H; IPC 1
    k, t, h, w = 10, 8, 32, 32
    integrator = build_part("integrator_conv")
    tensors = {
        "static": torch.zeros(k, 3, h, w),
        "dynamic": torch.zeros(k, t, 1, h, w),
        **{f"integrator.{n}": v for n, v in integrator.state_dict().items()},
        "static_choices": torch.zeros(k, 1, dtype=torch.long),
        "dynamic_choices": torch.zeros(k, 1, dtype=torch.long),
        "labels": torch.arange(k),
    }
    by_hand = 4 * (10 * 3 * 1024 + 10 * 8 * 1024 + 327)  # 451_868 bytes
    assert storage_bytes(tensors) == by_hand == 451_868
    assert by_hand < 4 * 10 * 8 * 3 * 32 * 32  # the base method's 10 full videos: 983_040 bytes


def _static_set(path, num_classes, spc, size, seed=0):
    """A dc_static-like set: frames [N, 1, C, H, W] float16, labels in shuffled order."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(num_classes).repeat(spc)[torch.randperm(num_classes * spc, generator=gen)]
    frames = labels.float()[:, None, None, None, None] / num_classes + 0.01 * torch.rand(
        len(labels), 1, 3, *size, generator=gen
    )
    save_condensed(
        path,
        {"videos": frames.half(), "labels": labels},
        {"ipc": spc, "frames": 1, "wall_time_s": 3.5, "peak_mem_mb": 10.0},
    )
    return frames[:, 0].float(), labels


def test_static_memory_is_class_major(tmp_path):
    frames, labels = _static_set(tmp_path / "static", 3, 2, (4, 4))
    static, meta = load_static_memory(tmp_path / "static", 3, 2)
    order = np.argsort(labels.numpy(), kind="stable")
    assert torch.allclose(static, frames.half().float()[order]) and meta["wall_time_s"] == 3.5
    with pytest.raises(ValueError, match="needs 1 frames per class"):
        load_static_memory(tmp_path / "static", 3, 1)


class MeanFrameObjective(MatchingObjective):
    """Stand-in objective: each class's videos should match a fixed target frame per class;
    with a learnable scale as its own parameter group (stored like a learned lr)."""

    def __init__(self, ctx, rng):
        super().__init__(ctx, rng)
        self.targets = torch.rand(
            ctx.num_classes, 1, 3, *ctx.store.frame_size, generator=torch.Generator().manual_seed(7)
        )
        self.scale = torch.tensor(1.0, requires_grad=True)

    def loss(self, videos, labels, iteration):
        return (self.scale * videos - self.targets[labels]).pow(2).mean()

    def param_groups(self):
        return [{"params": [self.scale], "lr": 0.01}]

    def state(self):
        return {**super().state(), "scale": self.scale}

    def outputs(self):
        return {"syn_lr": self.scale.detach().clone()}


def _context(store, tmp_path, spc, dpc, ipc=1, **params):
    hyper = {
        "static": {"method": "dc_static", "spc": spc},
        "dpc": dpc,
        "lr_dynamic": 0.5,
        "lr_hal": 0.05,
        "iterations": 30,
        **params,
    }
    return CondenseContext(
        store=store,
        dataset="tiny",
        ipc=ipc,
        params=hyper,
        clip={"num_frames": 4, "stride": 2},
        seed=0,
        inputs={"static": str(tmp_path / "static")},
        work_dir=tmp_path / "work",
        progress=False,
    )


def test_condense_writes_a_set_that_decodes_to_videos(tiny_store, tmp_path):
    k, (h, w) = tiny_store.num_classes, tiny_store.frame_size
    _static_set(tmp_path / "static", k, 2, (h, w))
    ctx = _context(tiny_store, tmp_path, spc=2, dpc=3, iterations=60)
    static_before, _ = load_static_memory(tmp_path / "static", k, 2)
    result = condense_static_dynamic(ctx, MeanFrameObjective)
    t = result.tensors
    assert t["static"].shape == (k * 2, 3, h, w) and t["dynamic"].shape == (k * 3, 4, 1, h, w)
    assert torch.equal(t["static"], static_before)  # frozen
    assert t["static_choices"].shape == (k, 2) and t["dynamic_choices"].shape == (k, 3)
    assert "syn_lr" in t and result.meta["integrator"] == {
        "name": "integrator_conv",
        "options": {"channels": 3},
    }
    assert (
        result.meta["stage1_wall_time_s"] == 3.5
        and result.meta["spc"] == 2
        and result.meta["dpc"] == 3
    )

    meta = save_condensed(tmp_path / "sd", result.tensors, {"ipc": 1, **result.meta})
    assert meta["storage_bytes"] == 4 * (k * 2 * 3 * h * w + k * 3 * 4 * h * w + 327)
    condensed = load_condensed(tmp_path / "sd")
    videos = condensed.base_videos(torch.Generator().manual_seed(0))
    assert videos.shape == (k, 4, 3, h, w) and condensed.draw(4).shape == (k, 4, 3, h, w)
    # the decoded set is what the objective was trained toward: closer than at the start
    stand_in = MeanFrameObjective(ctx, None)
    initial_loss = stand_in.loss(_decode_initial(ctx), torch.arange(k), 0).item()
    stand_in.scale = condensed.tensors["syn_lr"]  # as learned
    assert stand_in.loss(videos, torch.arange(k), 0).item() < 0.5 * initial_loss


def _decode_initial(ctx):
    """The videos before any iteration (same seed, zero iterations)."""
    ctx0 = CondenseContext(
        **{**ctx.__dict__, "params": {**ctx.params, "iterations": 0}, "work_dir": None}
    )
    initial = condense_static_dynamic(ctx0, MeanFrameObjective).tensors
    memory = StaticDynamicVideos(
        initial["static"], initial["dynamic"], build_part("integrator_conv")
    )
    memory.integrator.load_state_dict(
        {k[len("integrator.") :]: v for k, v in initial.items() if k.startswith("integrator.")}
    )
    with torch.no_grad():
        return memory(initial["static_choices"][:, 0], initial["dynamic_choices"][:, 0])


def test_condense_is_deterministic_by_seed(tiny_store, tmp_path):
    k, size = tiny_store.num_classes, tiny_store.frame_size
    _static_set(tmp_path / "static", k, 1, size)
    runs = [
        condense_static_dynamic(
            _context(
                tiny_store,
                tmp_path,
                spc=1,
                dpc=1,
                iterations=5,
                integrator="integrator_conv_deconv",
            ),
            MeanFrameObjective,
        )
        for _ in range(2)
    ]
    for key, value in runs[0].tensors.items():
        assert torch.equal(value, runs[1].tensors[key]), key
    assert runs[0].meta["integrator"] == {
        "name": "integrator_conv_deconv",
        "options": {"channels": 3, "middle": 8},
    }


def test_frame_differences_by_hand():
    videos = np.zeros((1, 3, 3, 2, 2), dtype=np.float32)
    videos[0, 1] = 0.5
    videos[0, 2, 0] = 1.0  # channel 0 rises to 1, channels 1 and 2 fall back to 0
    diff = frame_differences(videos)
    assert diff.shape == (1, 2, 2, 2)
    assert np.allclose(diff[0, 0], 0.5) and np.allclose(diff[0, 1], (0.5 + 0.5 + 0.5) / 3)


def test_ablation_table_rows_by_hand():
    from vidcond.tables import static_dynamic_table

    def row(method, ipc, seed, top1):
        return {
            "dataset": "d",
            "method": method,
            "ipc": ipc,
            "seed": seed,
            "top1": top1,
            "top5": 0.9,
            "top1_static": top1 + 0.1,
            "top1_dynamic": top1 - 0.1,
            "n_test": 40,
            "storage_bytes": 0,
            "condensation_ratio": 0.1,
            "num_train": 2,
            "steps": 300,
            "epochs_run": 300,
            "final_loss": 0.5,
            "train_seconds": 1.0,
            "config_hash": "h",
            "package_version": "0",
            "git_commit": "c",
        }

    rows = pd.DataFrame(
        [
            row("dc_static", 1, 0, 0.20),
            row("dc_static", 1, 1, 0.30),
            row("dm_sd", 1, 0, 0.40),
            row("dm_sd", 1, 1, 0.50),
        ]
    )
    runs = [
        {"dataset": "d", "spc": 1, "dpc": 0, "ipc": 1, "method": "dc_static", "run_ipc": 1},
        {"dataset": "d", "spc": 1, "dpc": 1, "ipc": 1, "method": "dm_sd", "run_ipc": 1},
    ]
    # 2 classes, 8-frame clips of 4x4: the base method stores 2 x 8 x 3 x 16 floats
    metas = [
        {
            "num_videos": 2,
            "channels": 3,
            "height": 4,
            "width": 4,
            "storage_bytes": 4 * 96,
            "wall_time_s": 5.0,
        },
        {
            "num_videos": 2,
            "channels": 3,
            "height": 4,
            "width": 4,
            "storage_bytes": 4 * 400,
            "wall_time_s": 9.0,
            "seconds_per_iteration": 0.3,
        },
    ]
    static = {"wall_time_s": 5.0, "seconds_per_iteration": 0.5, "peak_mem_mb": 100.0}
    table = static_dynamic_table(rows, runs, metas, [static, static], {"d": 8})
    assert table["top1_mean"].tolist() == pytest.approx([0.25, 0.45])
    assert table["top1_static_mean"].tolist() == pytest.approx([0.35, 0.55])
    assert table["top1_dynamic_mean"].tolist() == pytest.approx([0.15, 0.35])
    assert table["storage_vs_base"].tolist() == pytest.approx([96 / 768, 400 / 768])
    assert table["stage1_seconds_per_iteration"].tolist() == [0.5, 0.5] and table[
        "stage2_seconds"
    ].tolist() == [0.0, 9.0]


def test_static_start_of_h_passes_the_static_frame_through():
    from vidcond.methods.static_dynamic import pass_static_through

    torch.manual_seed(0)
    h = build_part("integrator_conv")
    dynamic_weights = h.net.weight[:, 3].clone()
    pass_static_through(h)
    static = torch.rand(2, 3, 5, 5)
    out = h(static, torch.zeros(2, 4, 1, 5, 5))
    assert torch.equal(out, static[:, None].expand(-1, 4, -1, -1, -1))
    assert torch.equal(
        h.net.weight[:, 3], dynamic_weights
    )  # the dynamic channel's map stays random
    with pytest.raises(ValueError, match="integrator_conv"):
        pass_static_through(build_part("integrator_conv_deconv"))


def test_killed_condensation_resumes_to_the_same_result(tiny_store, tmp_path, monkeypatch):
    import os
    import signal

    k, size = tiny_store.num_classes, tiny_store.frame_size
    _static_set(tmp_path / "static", k, 2, size)
    params = {"iterations": 6, "checkpoint_every": 1}
    reference = condense_static_dynamic(
        _context(tiny_store, tmp_path, spc=2, dpc=3, **params), MeanFrameObjective
    ).tensors
    (tmp_path / "work").rename(tmp_path / "unused")  # the reference run's (emptied) work dir
    original = MeanFrameObjective.loss

    def loss_then_sigterm(self, videos, labels, iteration):
        if iteration == 3:  # the loop saves at the end of this iteration and exits
            os.kill(os.getpid(), signal.SIGTERM)
        return original(self, videos, labels, iteration)

    monkeypatch.setattr(MeanFrameObjective, "loss", loss_then_sigterm)
    with pytest.raises(SystemExit) as stopped:
        condense_static_dynamic(
            _context(tiny_store, tmp_path, spc=2, dpc=3, **params), MeanFrameObjective
        )
    assert stopped.value.code == 143 and (tmp_path / "work" / "checkpoint.pt").exists()
    monkeypatch.setattr(MeanFrameObjective, "loss", original)
    resumed = condense_static_dynamic(
        _context(tiny_store, tmp_path, spc=2, dpc=3, **params), MeanFrameObjective
    ).tensors
    for key in ("dynamic", "integrator.net.weight", "syn_lr"):
        assert torch.equal(resumed[key], reference[key]), key
