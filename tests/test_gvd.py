"""GVD: the diffusion stage (ModelScope local directory, the embedded closed-form denoiser),
mode guidance with frame-wise decay, MVIC composition and the three diffusion condensation
methods."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, UNet3DConditionModel
from paper_smoke import write_tiny_modelscope
from safetensors.torch import load_file

from vidcond.pretrain import diffusion as diffusion_module
from vidcond.condense import run_condense
from vidcond.condensed import load_condensed
from vidcond.data.framestore import FrameStore
from vidcond.pretrain.diffusion import ClosedFormDenoiser, DiffusionSettings, ModelScopeDiffusion, fit_scratch, load_diffusion, train_diffusion
from vidcond.gvd import Guidance, compose_mvic, frame_coefficients, guidance_pull, predicted_x0, sample

CLIP = {"num_frames": 4, "stride": 2}
SCRATCH = {"source": "scratch", "latent_dims": 6, "bandwidth": 0.2, "quality_samples": 0}
TINY_SAMPLING = {"steps": 2, "pattern": [2, 2], "cfg_scale": 2.0, "batch_size": 4}


def _class_names(store_dir):
    return [c["name"] for c in sorted(json.loads((store_dir / "store.json").read_text())["classes"], key=lambda c: c["label"])]


def test_modelscope_directory_fine_tunes_and_generates_a_two_step_video(tmp_path, tiny_store_dir):
    base = write_tiny_modelscope(tmp_path / "modelscope")
    out = tmp_path / "model"
    settings = {"source": "modelscope", "path": str(base), "steps": 1, "batch_size": 2, "prompt": "a video of a {class}"}
    summary = train_diffusion(tiny_store_dir, out, tmp_path / "model.json", settings=settings, clip=CLIP, seed=0, progress=False)
    assert summary["finetuned"] and summary["resolution"] == [16, 16]
    tuned = load_file(out / "unet" / "diffusion_pytorch_model.safetensors")
    original = load_file(base / "unet" / "diffusion_pytorch_model.safetensors")
    assert any(not torch.equal(tuned[k], original[k]) for k in original)  # one fine-tuning step changed it

    model = load_diffusion(out, _class_names(tiny_store_dir))
    assert isinstance(model, ModelScopeDiffusion) and isinstance(model.unet, UNet3DConditionModel)
    ids = model.tokenizer(["a video of a redcircle"]).input_ids[0]
    assert ids[0] == 0 and ids[-1] == 1 and len(set(ids)) > 4  # real tokens, not one id for all
    assert model.condition(torch.tensor([0, 1])).shape == (2, 16, 32)
    shape = model.latent_shape(CLIP["num_frames"])
    assert shape == (4, 4, 8, 8)
    noise = torch.randn((2, *shape), generator=torch.Generator().manual_seed(0))
    guidance = Guidance(torch.zeros((2, *shape)), strength=0.1, stop=1)
    latents = sample(model, torch.tensor([0, 1]), noise, steps=2, cfg_scale=3.0, guidance=guidance)
    clips = model.decode(latents)
    assert clips.shape == (2, 4, 3, 16, 16)
    assert torch.isfinite(clips).all() and clips.min() >= 0 and clips.max() <= 1
    assert model.encode(clips).shape == (2, *shape)


def test_guidance_pull_has_the_size_of_the_mgd3_ddim_term():
    gen = torch.Generator().manual_seed(0)
    x_t, eps, centroid = (torch.randn((2, 3, 3, 4, 4), generator=gen, dtype=torch.float64) for _ in range(3))
    alpha_bar, lam = 0.3, 0.1
    strength = lam * torch.tensor([1.0, 0.5, 0.0], dtype=torch.float64)
    pull = guidance_pull(eps, x_t, alpha_bar, centroid, strength).numpy()
    # By hand: x̂₀ from ε, then g = λ·λ_f·√ᾱ·(m − x̂₀) per frame.
    x0 = (x_t.numpy() - np.sqrt(1 - alpha_bar) * eps.numpy()) / np.sqrt(alpha_bar)
    for f, lam_f in enumerate([1.0, 0.5, 0.0]):
        np.testing.assert_allclose(pull[:, :, f], lam * lam_f * np.sqrt(alpha_bar) * (centroid.numpy() - x0)[:, :, f], atol=1e-12)
    # Its size: |g| = λ·√ᾱ·|m − x̂₀| at the first frame (0.1·√0.3 ≈ 0.0548 of the gap).
    gap = np.linalg.norm((centroid.numpy() - x0)[:, :, 0])
    assert np.linalg.norm(pull[:, :, 0]) == pytest.approx(0.1 * np.sqrt(0.3) * gap, rel=1e-12)
    assert np.linalg.norm(pull[:, :, 0]) / gap == pytest.approx(0.05477, abs=1e-5)


def test_guided_step_moves_x_prev_by_the_pull_and_not_less():
    """One DDIM step: the guided x_{t−1} minus the plain one is exactly g (no cancellation)."""
    scheduler = DDIMScheduler(num_train_timesteps=1000, clip_sample=False, set_alpha_to_one=True, timestep_spacing="trailing")
    scheduler.set_timesteps(4)
    t = scheduler.timesteps[1]
    gen = torch.Generator().manual_seed(2)
    x_t, eps, centroid = (torch.randn((1, 2, 4, 1, 1), generator=gen, dtype=torch.float64) for _ in range(3))
    guidance = Guidance(centroid, strength=0.3, stop=2, decay=True, decay_end=0.0)
    alpha_bar = float(scheduler.alphas_cumprod[t])
    plain = scheduler.step(eps, t, x_t).prev_sample
    guided = plain + guidance.pull(1, eps, x_t, alpha_bar)
    x0 = (x_t - np.sqrt(1 - alpha_bar) * eps) / np.sqrt(alpha_bar)
    lam_f = torch.tensor([1.0, 2 / 3, 1 / 3, 0.0], dtype=torch.float64).view(1, 1, 4, 1, 1)
    torch.testing.assert_close(guided - plain, 0.3 * lam_f * np.sqrt(alpha_bar) * (centroid - x0))


def test_guidance_acts_before_the_stop_threshold_only():
    gen = torch.Generator().manual_seed(1)
    x_t, eps, centroid = (torch.randn((1, 2, 4, 3, 3), generator=gen) for _ in range(3))
    guidance = Guidance(centroid, strength=0.3, stop=2)
    assert guidance.pull(0, eps, x_t, 0.5).abs().sum() > 0
    assert guidance.pull(1, eps, x_t, 0.5).abs().sum() > 0
    assert torch.equal(guidance.pull(2, eps, x_t, 0.5), torch.zeros_like(x_t))
    assert torch.equal(guidance.pull(5, eps, x_t, 0.5), torch.zeros_like(x_t))
    assert torch.equal(Guidance(centroid, strength=0.0, stop=2).pull(0, eps, x_t, 0.5), torch.zeros_like(x_t))


def test_frame_coefficients_decay_linearly_to_the_configured_end():
    coefficients = frame_coefficients(6, decay=True, decay_end=0.25).numpy()
    np.testing.assert_allclose(coefficients, np.linspace(1.0, 0.25, 6), atol=1e-7)
    np.testing.assert_allclose(np.diff(coefficients, 2), 0, atol=1e-6)  # linear
    assert coefficients[0] == 1.0 and coefficients[-1] == pytest.approx(0.25)
    assert torch.equal(frame_coefficients(6, decay=False, decay_end=0.25), torch.ones(6))
    # In the guidance, frame f moves λ·λ_f·√ᾱ of its gap: λ at the first frame, λ·end at the last.
    x_t, eps = torch.zeros((1, 1, 3, 1, 1)), torch.ones((1, 1, 3, 1, 1))
    centroid = predicted_x0(eps, x_t, 0.25) + 1.0  # one unit away on every frame
    guidance = Guidance(centroid, strength=0.2, stop=1, decay=True, decay_end=0.5)
    moved = guidance.pull(0, eps, x_t, 0.25)
    np.testing.assert_allclose(moved.flatten().numpy(), [0.1, 0.075, 0.05], atol=1e-6)


def _numbered_videos(count, frames):
    """Videos [count, frames, 1, 1, 1] whose value is 100·video + frame."""
    values = 100 * torch.arange(count)[:, None] + torch.arange(frames)[None]
    return values.float().view(count, frames, 1, 1, 1)


def test_mvic_continuous_takes_consecutive_parts_of_each_group_member_in_order():
    composed = compose_mvic(_numbered_videos(4, 4), [2, 2], "continuous")
    assert composed.flatten(1).tolist() == [[0, 1, 102, 103], [200, 201, 302, 303]]
    composed = compose_mvic(_numbered_videos(3, 6), [1, 2, 3], "continuous")
    assert composed.flatten(1).tolist() == [[0, 101, 102, 203, 204, 205]]


def test_mvic_random_parts_are_consecutive_frames_of_distinct_videos():
    pattern = [2, 3, 3]
    composed = compose_mvic(_numbered_videos(6, 8), pattern, "random", np.random.default_rng(0))
    assert composed.shape == (2, 8, 1, 1, 1)
    sources = []
    for video in composed.flatten(1).long().tolist():
        bounds = np.cumsum([0, *pattern])
        for begin, end in zip(bounds[:-1], bounds[1:]):
            part = video[begin:end]
            source = {v // 100 for v in part}
            assert len(source) == 1  # one source video per part
            assert np.all(np.diff([v % 100 for v in part]) == 1)  # its frames consecutive, in order
            sources.append(source.pop())
    assert sorted(sources) == list(range(6))  # every generated video used once


def _ctx_params(kind):
    extra = {"gvd": {"strength": 0.5, "stop": 0.5}, "gvd_knoise": {"init_strength": 0.5}}.get(kind, {})
    return {**TINY_SAMPLING, **extra}


@pytest.fixture(scope="module")
def scratch_model(tmp_path_factory, tiny_store_dir):
    out = tmp_path_factory.mktemp("scratch") / "model"
    train_diffusion(tiny_store_dir, out, out.with_suffix(".json"), settings=SCRATCH, clip=CLIP, seed=0, progress=False)
    return out


def test_scratch_model_keeps_the_unet_call_signature(scratch_model, tiny_store_dir):
    model = load_diffusion(scratch_model, _class_names(tiny_store_dir))
    clips = torch.rand((2, 4, 3, 16, 16))
    latents = model.encode(clips)
    assert latents.shape == (2, 6, 4, 1, 1)
    # Decoding is the exact linear inverse on the kept components: encode(decode(z)) = z.
    z = torch.randn((2, 6, 4, 1, 1), generator=torch.Generator().manual_seed(0)) * 0.01
    torch.testing.assert_close(model.encode(model.latent_space.decode_frames(z[..., 0, 0].transpose(1, 2)).unflatten(2, (3, 16, 16))), z, atol=1e-5, rtol=0)
    out = model.unet(latents, torch.tensor(10), encoder_hidden_states=model.condition(torch.tensor([0, 3])))
    assert out.sample.shape == latents.shape


@pytest.mark.parametrize("kind", ["gvd", "gvd_naive", "gvd_knoise"])
def test_condense_writes_loadable_sets(kind, scratch_model, tiny_store_dir, tmp_path):
    kwargs = dict(dataset="tiny", method=kind, kind=kind, ipc=1, params=_ctx_params(kind), clip=CLIP, seed=0, inputs={"diffusion": str(scratch_model)}, progress=False)
    meta = run_condense(tiny_store_dir, tmp_path / "set", **kwargs)
    loaded = load_condensed(tmp_path / "set")
    videos = loaded.tensors["videos"]
    assert videos.shape == (4, 4, 3, 16, 16) and videos.dtype == torch.float16
    assert loaded.tensors["labels"].tolist() == [0, 1, 2, 3]
    assert torch.isfinite(videos.float()).all() and 0 <= videos.min() and videos.max() <= 1
    assert meta["generated_videos"] == 8 and meta["generation_s"] > 0 and meta["generation_peak_mem_mb"] > 0
    if kind == "gvd":  # same seed, same set
        run_condense(tiny_store_dir, tmp_path / "again", **kwargs)
        assert torch.equal(load_condensed(tmp_path / "again").tensors["videos"], videos)


def test_guidance_pulls_generated_latents_to_their_centroids(scratch_model, tiny_store_dir):
    model = load_diffusion(scratch_model, _class_names(tiny_store_dir))
    shape = model.latent_shape(4)
    noise = torch.randn((2, *shape), generator=torch.Generator().manual_seed(0))
    centroids = torch.randn((2, *shape), generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 1])
    plain = sample(model, labels, noise, steps=4)
    guided = sample(model, labels, noise, steps=4, guidance=Guidance(centroids, strength=0.5, stop=4, decay=False))
    assert (guided - centroids).norm() < (plain - centroids).norm()
    # With the threshold at step 0, guidance never acts.
    unguided = sample(model, labels, noise, steps=4, guidance=Guidance(centroids, strength=0.5, stop=0))
    assert torch.equal(unguided, plain)


def test_interrupted_modelscope_fine_tuning_resumes_to_the_same_weights(tmp_path, tiny_store_dir, monkeypatch):
    base = write_tiny_modelscope(tmp_path / "modelscope")
    settings = {"source": "modelscope", "path": str(base), "steps": 3, "batch_size": 2, "checkpoint_every": 1, "quality_samples": 0}
    train_diffusion(tiny_store_dir, tmp_path / "whole", tmp_path / "whole.json", settings=settings, clip=CLIP, seed=0, progress=False)
    batch = diffusion_module.TrainingClips.batch
    calls = []

    def batch_then_sigterm(self, n, rng):
        calls.append(1)
        if len(calls) == 2:  # SIGTERM arrives during the second step
            os.kill(os.getpid(), signal.SIGTERM)
        return batch(self, n, rng)

    monkeypatch.setattr(diffusion_module.TrainingClips, "batch", batch_then_sigterm)
    work = tmp_path / "work"
    with pytest.raises(SystemExit) as stopped:
        train_diffusion(tiny_store_dir, tmp_path / "split", tmp_path / "split.json", settings=settings, clip=CLIP, seed=0, work_dir=work, progress=False)
    assert stopped.value.code == 143 and not (tmp_path / "split").exists()
    monkeypatch.setattr(diffusion_module.TrainingClips, "batch", batch)
    train_diffusion(tiny_store_dir, tmp_path / "split", tmp_path / "split.json", settings=settings, clip=CLIP, seed=0, work_dir=work, progress=False)
    whole = load_file(tmp_path / "whole" / "unet" / "diffusion_pytorch_model.safetensors")
    split = load_file(tmp_path / "split" / "unet" / "diffusion_pytorch_model.safetensors")
    # Adam amplifies the last-bit differences of the UNet's convolutions between runs up to
    # ~6e-5; a lost or repeated step would move weights by about lr = 1e-3
    for key in whole:
        torch.testing.assert_close(split[key], whole[key], rtol=0, atol=2e-4)
    assert any(not torch.equal(whole[k], load_file(base / "unet" / "diffusion_pytorch_model.safetensors")[k]) for k in whole)
    assert not work.exists()


def _two_class_denoiser(min_sigma: float = 0.0) -> ClosedFormDenoiser:
    """Frames with latents 0, 1, 2, 4 (D = 1); clips A = (0, 1) and B = (2, 4) of class 0,
    C = (1, 2) of class 1."""
    denoiser = ClosedFormDenoiser(latent_dims=1, num_frames=2, num_classes=2, num_train_frames=4, num_train_clips=3)
    denoiser.set_training_clips(torch.tensor([[0.0], [1.0], [2.0], [4.0]]), torch.tensor([[0, 1], [2, 3], [1, 2]]), torch.tensor([0, 0, 1]), min_sigma)
    return denoiser


def test_closed_form_denoiser_is_the_posterior_mean_of_the_class_clips():
    denoiser = _two_class_denoiser()
    t = 300
    alpha_bar = float(denoiser.alpha_bar[t])
    x_t = torch.tensor([0.5, 1.5]).view(1, 1, 2, 1, 1)
    clips = {"A": np.array([0.0, 1.0]), "B": np.array([2.0, 4.0]), "C": np.array([1.0, 2.0])}
    y, var = x_t.flatten().numpy() / np.sqrt(alpha_bar), (1 - alpha_bar) / alpha_bar

    def by_hand(names):  # E[x₀ | x_t] over equally likely clips
        logits = np.array([-((y - clips[n]) ** 2).sum() / (2 * var) for n in names])
        w = np.exp(logits - logits.max())
        w /= w.sum()
        return sum(wi * clips[n] for wi, n in zip(w, names)), w

    one_hot = lambda c: torch.nn.functional.one_hot(torch.tensor([c]), 3).float()[:, None]  # noqa: E731
    expected, w = by_hand(["A", "B"])
    assert 0.01 < w[0] < 0.99  # both clips count at this noise level
    x0 = denoiser.predict_x0(x_t, torch.tensor([t]), one_hot(0))
    np.testing.assert_allclose(x0.flatten().numpy(), expected, rtol=1e-5)
    eps = denoiser(x_t, t, encoder_hidden_states=one_hot(0)).sample
    np.testing.assert_allclose(eps.flatten().numpy(), (x_t.flatten().numpy() - np.sqrt(alpha_bar) * expected) / np.sqrt(1 - alpha_bar), rtol=1e-5)
    # class 1 has the one clip C; the empty prompt (last column) weighs all three
    np.testing.assert_allclose(denoiser.predict_x0(x_t, torch.tensor([t]), one_hot(1)).flatten().numpy(), clips["C"], rtol=1e-6)
    np.testing.assert_allclose(denoiser.predict_x0(x_t, torch.tensor([t]), one_hot(2)).flatten().numpy(), by_hand(["A", "B", "C"])[0], rtol=1e-5)


def test_bandwidth_floors_the_kernel_width():
    """At t = 0 the exact denoiser snaps to the nearest clip; with min_sigma s it weighs the
    clips by exp(−‖y − x₀⁽ⁱ⁾‖²/2s²) instead."""
    x_t = torch.tensor([0.8, 1.8]).view(1, 1, 2, 1, 1)
    one_hot = torch.tensor([[[1.0, 0.0, 0.0]]])
    exact = _two_class_denoiser().predict_x0(x_t, torch.tensor([0]), one_hot)
    np.testing.assert_allclose(exact.flatten().numpy(), [0.0, 1.0], atol=1e-6)
    denoiser = _two_class_denoiser(min_sigma=1.5)
    y = x_t.flatten().numpy() / np.sqrt(float(denoiser.alpha_bar[0]))
    logits = np.array([-((y - c) ** 2).sum() / (2 * 1.5**2) for c in ([0.0, 1.0], [2.0, 4.0])])
    w = np.exp(logits) / np.exp(logits).sum()
    expected = w[0] * np.array([0.0, 1.0]) + w[1] * np.array([2.0, 4.0])
    np.testing.assert_allclose(denoiser.predict_x0(x_t, torch.tensor([0]), one_hot).flatten().numpy(), expected, rtol=1e-5)


def test_at_small_t_the_closed_form_denoiser_returns_the_nearest_training_clip(tiny_store_dir):
    store = FrameStore(tiny_store_dir)
    model, extra = fit_scratch(store, CLIP, DiffusionSettings.from_dict({"latent_dims": 6}), seed=0)
    clips, _ = model.unet.training_clips()
    labels = model.unet.labels
    gen = torch.Generator().manual_seed(0)
    picks = torch.randint(len(clips), (6,), generator=gen)
    t = 0
    alpha_bar = model.unet.alpha_bar[t]
    x0 = clips[picks] + 0.05 * extra["neighbour_distance"] * torch.randn(clips[picks].shape, generator=gen)
    x_t = (alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * torch.randn(x0.shape, generator=gen)).view(6, 6, 4, 1, 1)
    predicted = model.unet.predict_x0(x_t, torch.full((6,), t), model.condition(labels[picks])).flatten(1)
    # the nearest clip of the same class to x_t/√ᾱ, found by brute force
    y = x_t.flatten(1) / alpha_bar.sqrt()
    for row, pick in enumerate(picks):
        same = (labels == labels[pick]).nonzero().flatten()
        nearest = same[(clips[same] - y[row]).norm(dim=1).argmin()]
        torch.testing.assert_close(predicted[row], clips[nearest], rtol=0, atol=1e-4 * extra["neighbour_distance"])


def test_embedded_generator_is_deterministic_by_seed(tmp_path, tiny_store_dir):
    for name in ("a", "b"):
        train_diffusion(tiny_store_dir, tmp_path / name, tmp_path / f"{name}.json", settings=SCRATCH, clip=CLIP, seed=3, progress=False)
    for part in ("unet", "vae"):
        a = load_file(tmp_path / "a" / part / "diffusion_pytorch_model.safetensors")
        b = load_file(tmp_path / "b" / part / "diffusion_pytorch_model.safetensors")
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    model = load_diffusion(tmp_path / "a", _class_names(tiny_store_dir))
    shape = model.latent_shape(4)
    draws = [
        sample(model, torch.tensor([0, 2]), torch.randn((2, *shape), generator=torch.Generator().manual_seed(seed)), steps=5, cfg_scale=2.0)
        for seed in (7, 7, 8)
    ]
    assert torch.equal(draws[0], draws[1]) and not torch.equal(draws[0], draws[2])
