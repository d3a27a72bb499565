"""The condensed-set format: round trip, accounting and decoding."""

import json

import pytest
import torch

from vidcond.condensed import (
    condensation_ratio,
    interpolate_frames,
    load_condensed,
    save_condensed,
    storage_bytes,
    to_uint8,
)
from vidcond.models.parts import build_part


def test_round_trip_is_bit_exact(tmp_path):
    torch.manual_seed(0)
    tensors = {
        "videos": torch.randn(6, 4, 3, 8, 8).half(),
        "labels": torch.tensor([0, 0, 1, 1, 2, 2]),
        "soft_labels": torch.randn(6, 3),
        "syn_lr": torch.tensor(0.0123),
    }
    meta = save_condensed(tmp_path / "set", tensors, {"method": "x", "ipc": 2})
    loaded = load_condensed(tmp_path / "set")
    for key, value in tensors.items():
        assert loaded.tensors[key].dtype == value.dtype
        assert torch.equal(loaded.tensors[key], value)
    assert loaded.meta == json.loads((tmp_path / "set.json").read_text()) == meta
    assert meta["num_videos"] == 6 and meta["label_kind"] == "soft"
    assert loaded.syn_lr == pytest.approx(0.0123)


def test_uint8_videos_decode_to_unit_range(tmp_path):
    frames = torch.rand(2, 4, 3, 5, 5)
    save_condensed(tmp_path / "s", {"videos": to_uint8(frames), "labels": torch.tensor([0, 1])}, {"ipc": 1})
    clips = load_condensed(tmp_path / "s").draw(4)
    assert clips.dtype == torch.float32 and clips.shape == (2, 4, 3, 5, 5)
    assert (clips - frames).abs().max() <= 0.5 / 255 + 1e-6


def test_storage_counts_float32_elements_of_all_data_parts():
    # MiniUCF IPC 1 as the Dancing paper counts it: 50 videos x 16 frames x 3 x 112 x 112 floats
    assert storage_bytes({"videos": torch.zeros(50, 16, 3, 112, 112, dtype=torch.uint8)}) == 120_422_400
    parts = {
        "static": torch.zeros(4, 3, 10, 10),  # 1200
        "dynamic": torch.zeros(4, 8, 1, 10, 10),  # 3200
        "integrator.net.weight": torch.zeros(3, 4, 3, 3, 3),  # 324
        "integrator.net.bias": torch.zeros(3),  # 3
        "labels": torch.zeros(4, dtype=torch.long),  # not data
        "soft_labels": torch.zeros(4, 2),  # counted apart
    }
    assert storage_bytes(parts) == 4 * (1200 + 3200 + 324 + 3)


def test_condensation_ratio_arithmetic():
    # 10 classes x IPC 5 x 8 frames over 240 training videos of 32 frames
    assert condensation_ratio(50, 8, 240 * 32) == pytest.approx(400 / 7680)


def test_linear_interpolation_of_two_frames_to_four():
    f1, f2 = torch.full((1, 3, 2, 2), 0.0), torch.full((1, 3, 2, 2), 3.0)
    video = torch.cat([f1, f2]).unsqueeze(0)  # [1, 2, C, H, W]
    out = interpolate_frames(video, 4, "linear")
    expected = torch.stack([f1, (2 * f1 + f2) / 3, (f1 + 2 * f2) / 3, f2], dim=1).squeeze(2)
    torch.testing.assert_close(out, expected)


def test_duplicate_interpolation_repeats_in_order():
    video = torch.arange(2.0).view(1, 2, 1, 1, 1)
    assert interpolate_frames(video, 4, "duplicate").flatten().tolist() == [0, 0, 1, 1]


def test_longer_sets_are_sampled_with_a_slide_window(tmp_path):
    video = torch.arange(10.0).view(1, 10, 1, 1, 1).expand(1, 10, 3, 2, 2)
    save_condensed(tmp_path / "s", {"videos": video, "labels": torch.tensor([0])}, {"ipc": 1})
    condensed = load_condensed(tmp_path / "s")
    assert condensed.draw(4)[0, :, 0, 0, 0].tolist() == [3, 4, 5, 6]  # centred without a generator
    starts = {int(condensed.draw(4, torch.Generator().manual_seed(s))[0, 0, 0, 0, 0]) for s in range(40)}
    assert starts == set(range(7))


def test_factorised_sets_decode_through_the_integrator(tmp_path):
    torch.manual_seed(0)
    integrator = build_part("integrator_conv", channels=3)
    static, dynamic = torch.rand(4, 3, 6, 6), torch.rand(4, 5, 1, 6, 6)
    tensors = {
        "static": static,
        "dynamic": dynamic,
        "static_choices": torch.tensor([[0, 1], [2, 3]]),
        "dynamic_choices": torch.tensor([[0, 1], [2, 3]]),
        "labels": torch.tensor([0, 1]),
        **{f"integrator.{k}": v for k, v in integrator.state_dict().items()},
    }
    save_condensed(tmp_path / "sd", tensors, {"ipc": 1, "integrator": {"name": "integrator_conv", "options": {"channels": 3}}})
    condensed = load_condensed(tmp_path / "sd")
    clips = condensed.draw(5)  # first candidates without a generator
    with torch.no_grad():
        expected = integrator(static[[0, 2]], dynamic[[0, 2]])
    torch.testing.assert_close(clips, expected)
    assert clips.shape == (2, 5, 3, 6, 6)
    # with a generator every candidate pairing shows up
    seen = set()
    for seed in range(30):
        drawn = condensed.draw(5, torch.Generator().manual_seed(seed))[0]
        for s in (0, 1):
            for d in (0, 1):
                with torch.no_grad():
                    if torch.allclose(drawn, integrator(static[[s]], dynamic[[d]])[0], atol=1e-5):
                        seen.add((s, d))
    assert seen == {(0, 0), (0, 1), (1, 0), (1, 1)}


def test_a_set_needs_labels_and_videos(tmp_path):
    with pytest.raises(ValueError, match="labels"):
        save_condensed(tmp_path / "bad", {"videos": torch.zeros(1, 1, 3, 2, 2)}, {})
