"""Model registry: every model on two clip sizes."""

import pytest
import torch

from vidcond.models import REGISTRY, build_model, load_model, save_model

SMALL = {"width": 8}
OPTIONS = {
    "miniC3D": {"channels": [8, 16, 16]},
    "convnet_gru": SMALL,
    "convnet_lstm": SMALL,
    "convnet_rnn": SMALL,
    "convnet_d4": SMALL,
    "r2plus1d_r18": SMALL,
    "i3d_r18": SMALL,
    "slowonly_r18": SMALL,
    "videomae": {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32, "patch_size": 8, "tubelet_size": 2},
}


def test_every_registered_model_is_covered():
    assert set(REGISTRY) == set(OPTIONS), "give every registered model test options in OPTIONS"


@pytest.mark.parametrize("arch", sorted(OPTIONS))
@pytest.mark.parametrize("shape", [(8, 3, 32, 32), (4, 3, 16, 24)])
def test_logits_and_features_shapes(arch, shape):
    torch.manual_seed(0)
    model = build_model(arch, 7, shape, **OPTIONS[arch]).eval()
    x = torch.rand(2, *shape)
    logits, features = model(x), model.features(x)
    assert logits.shape == (2, 7)
    assert features.dim() == 2 and features.shape[0] == 2
    logits.sum().backward()  # trainable end to end


@pytest.mark.parametrize("norm, head", [("none", "conv_max"), ("instance", "linear"), ("batch", "conv_max")])
def test_minic3d_variants(norm, head):
    model = build_model("miniC3D", 5, (16, 3, 112, 112), channels=[8, 16, 16], norm=norm, head=head).eval()
    x = torch.rand(1, 16, 3, 112, 112)
    assert model(x).shape == (1, 5)
    # conv layout of the papers: 112 -> 28 -> 7 -> 2 spatially, 16 -> 16 -> 8 -> 4 in time
    maps = model.blocks(x.transpose(1, 2))
    assert maps.shape == (1, 16, 4, 2, 2)


def test_convnet_d4_takes_single_frames_too():
    model = build_model("convnet_d4", 3, (4, 3, 16, 16), width=8).eval()
    frames = torch.rand(5, 3, 16, 16)
    assert model(frames).shape == (5, 3)
    # a clip of identical frames gets the logits of its frame
    clip = frames[:1].unsqueeze(1).expand(1, 4, 3, 16, 16)
    torch.testing.assert_close(model(clip), model(frames[:1]))


def test_unknown_model_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        build_model("nope", 2, (4, 3, 16, 16))


def test_save_and_load_round_trip(tmp_path):
    model = build_model("miniC3D", 4, (4, 3, 16, 16), channels=[8, 8, 8]).eval()
    spec = {"arch": "miniC3D", "num_classes": 4, "clip_shape": [4, 3, 16, 16], "options": {"channels": [8, 8, 8]}}
    save_model(tmp_path / "m", model, spec, {"test": {"top1": 1.0}})
    loaded = load_model(tmp_path / "m")
    x = torch.rand(2, 4, 3, 16, 16)
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize("shape", [(16, 3, 112, 112), (8, 3, 32, 32), (8, 3, 56, 56), (4, 3, 16, 24), (1, 3, 9, 7)])
def test_minic3d_block_output_size_matches_a_forward(shape):
    from vidcond.models.c3d import block_output_size

    model = build_model("miniC3D", 3, shape, channels=[2, 2, 2], norm="none", head="conv_max")
    with torch.no_grad():
        maps = model.blocks(torch.zeros(1, 3, shape[0], *shape[2:]))
    assert maps.shape[2:] == (block_output_size(shape[0], time=True), block_output_size(shape[2]), block_output_size(shape[3]))
