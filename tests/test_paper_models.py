"""Every registered model at the papers' sizes: built, one forward/backward on a batch of two
16x112x112 clips (the Dancing / Video-DC UCF101 clip), shapes and gradients checked."""

import time

import pytest
import torch

from vidcond.models import REGISTRY, build_model

CLIP = (16, 3, 112, 112)
CLASSES = 101
# The published widths (config/paper/*.yaml). VideoMAE: the shapes of videomae-base
# (12 layers of 768, 12 heads, 16x16x2 tubelets: 392 tokens at 16x112x112).
PAPER = {
    "miniC3D": {"channels": [64, 128, 128], "norm": "none", "head": "conv_max"},
    "convnet_gru": {"width": 128},
    "convnet_lstm": {"width": 128},
    "convnet_rnn": {"width": 128},
    "convnet_d4": {"width": 128},
    "r2plus1d_r18": {"width": 64},
    "i3d_r18": {"width": 64},
    "slowonly_r18": {"width": 64},
    "videomae": {
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
        "patch_size": 16,
        "tubelet_size": 2,
    },
}


def test_every_registered_model_has_paper_sizes():
    assert set(PAPER) == set(REGISTRY)


@pytest.mark.slow
@pytest.mark.parametrize("arch", sorted(PAPER))
def test_paper_size_forward_backward(arch):
    torch.manual_seed(0)
    started = time.perf_counter()
    model = build_model(arch, CLASSES, CLIP, **PAPER[arch]).train()
    clips = torch.rand(2, *CLIP, requires_grad=True)
    logits = model(clips)
    assert logits.shape == (2, CLASSES) and torch.isfinite(logits).all()
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 100])).backward()
    assert clips.grad.shape == clips.shape and clips.grad.abs().sum() > 0
    missing = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"parameters without a gradient: {missing[:5]}"
    print(f"{arch}: {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters, {time.perf_counter() - started:.1f} s")
