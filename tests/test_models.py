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


@pytest.mark.parametrize("size", [(20, 20), (7, 9), (32, 31), (1, 2)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_the_stem_convolves_space_to_depth_exactly_as_nn_conv3d(size, channels_last):
    """Output, both gradients and the gradient of the weight gradient with respect to the
    input (MTT's path), in float64 against the plain strided convolution."""
    import torch.nn.functional as F

    from vidcond.models.c3d import StemConv3d

    torch.manual_seed(0)
    stem = StemConv3d(3, 5, (3, 7, 7), (1, 2, 2), (1, 3, 3)).double()
    x = torch.randn(2, 3, 4, *size, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    probe = torch.randn_like(stem.weight)

    def run(conv):
        inputs = x.clone().requires_grad_(True)
        out = conv(inputs)
        (grad_weight,) = torch.autograd.grad(out.relu().pow(2).sum(), stem.weight, create_graph=True)
        (grad_input,) = torch.autograd.grad((grad_weight * probe).sum(), inputs)
        return out, grad_weight, grad_input, out.is_contiguous(memory_format=torch.channels_last_3d)

    ours = run(stem)
    plain = run(lambda v: F.conv3d(v, stem.weight, stem.bias, (1, 2, 2), (1, 3, 3)))
    for a, b in zip(ours[:3], plain[:3]):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert ours[3] == plain[3], "the output keeps the input's memory layout"


def test_the_stem_is_a_plain_convolution_without_input_gradient():
    from vidcond.models.c3d import StemConv3d

    torch.manual_seed(0)
    stem = StemConv3d(3, 4, (3, 7, 7), (1, 2, 2), (1, 3, 3))
    x = torch.rand(1, 3, 4, 16, 16)
    torch.testing.assert_close(stem(x), torch.nn.Conv3d.forward(stem, x), rtol=0, atol=0)
    with pytest.raises(ValueError, match="space stride 2"):
        StemConv3d(3, 4, 3, 1, 1)
