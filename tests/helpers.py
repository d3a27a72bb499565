"""Shared test helpers: tiny configs and running the workflow in a temporary directory."""

from __future__ import annotations

import copy
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import yaml

from vidcond.methods import method_class

REPO = Path(__file__).resolve().parents[1]


@lru_cache(maxsize=1)
def _embedded_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def embedded_config() -> dict:
    """The embedded default config (a fresh copy)."""
    return copy.deepcopy(_embedded_config())


def extended_config() -> dict:
    """The embedded default with config/extended.yaml merged on top, as a second
    ``--configfile`` merges it (snakemake's own merge)."""
    from snakemake.utils import update_config

    cfg = embedded_config()
    update_config(cfg, yaml.safe_load((REPO / "config" / "extended.yaml").read_text()))
    return cfg


def tiny_config() -> dict:
    """The embedded default shrunk to seconds: 4 classes (2 static, 2 dynamic), 3 training
    and 2 test videos per class, 16x16 frames, 4-frame clips, 2 training epochs, IPC 1; the
    knowledge-distillation stage with one extra ablation run (ratio 0.5)."""
    cfg = embedded_config()
    synth = cfg["datasets"]["synthaction"]
    classes = synth["generator"]["classes"]
    synth["generator"].update(train_per_class=3, test_per_class=2, frames=12, height=32, width=32)
    synth["generator"]["classes"] = classes[:2] + classes[4:6]
    synth["extract"] = {"height": 16, "width": 16}
    synth["clip"] = {"num_frames": 4, "stride": 2}
    cfg["ipcs"] = [1]
    cfg["teacher"]["training"]["epochs"] = 2
    for settings in cfg["teacher"].get("by_arch", {}).values():
        settings["epochs"] = 2
    cfg["evaluation"]["overrides"].update(epochs=2, min_clips=12)
    cfg["evaluation"]["full"]["epochs"] = 2
    cfg["evaluation"]["cross_arch"]["archs"] = ["convnet_gru"]
    cfg["kd"].update(seeds=[0])  # intervals over KD seeds: tests/test_kd.py
    cfg["kd"]["training"]["epochs"] = 2
    cfg["experts"].update(num_experts=2, epochs=2)  # trajectories of 3 snapshots
    cfg["kd"]["sakd"]["every"] = [1]
    # the embedded generator on 6 PCA components per frame
    cfg["diffusion"].update(latent_dims=6, quality_samples=1)
    cfg["kd"]["ablation"].update(every=1, eta=[0.5], lam=[0.5], ratio=[0.1, 0.5])
    # students from scratch here; the pretrained start is tested in test_kd
    cfg["kd"].pop("pretrain", None)
    # one setting per label mode (CutMix and both losses among them)
    cfg["evaluation"]["labels_ablation"].update(variants=["hard_ce_cutmix", "soft_kl", "multi_soft_mse_gt"], seeds=[0])
    # the temporal table on 4-frame clips, the parametric interpolator trained a few steps
    cfg["interpolator"]["training"].update(steps=2, batch_size=4, n_syn=[2])
    cfg["guidance_ablation"].update(ipc=1, strengths=[0.3])
    cfg["temporal"]["grid"] = [
        {"n_syn": 1, "n_real": 4},
        {"n_syn": 2, "n_real": 4, "interpolation": "parametric"},
        {"n_syn": 4, "n_real": 4, "segments": 2},
    ]
    for name, entry in cfg["methods"].items():
        # each method's tiny hyperparameters (declared on its class), shrinking it to seconds
        entry.update(copy.deepcopy(method_class(entry.get("kind", name)).tiny_params))
        entry.pop("ipcs", None)
    return cfg


def with_methods(cfg: dict, methods: dict) -> dict:
    """``cfg`` with only ``methods``: the grids built on other method entries (labels
    ablation, temporal taxonomy, static/dynamic ablation, cross-architecture) are dropped or
    narrowed to them."""
    cfg["methods"] = methods
    evaluation = cfg["evaluation"]
    evaluation.pop("labels_ablation", None)
    evaluation["cross_arch"]["methods"] = [m for m in evaluation["cross_arch"]["methods"] if m in methods]
    for grid in ("temporal", "static_dynamic", "guidance_ablation"):
        if cfg.get(grid, {}).get("method") not in methods:
            cfg.pop(grid, None)
    return cfg


def run_workflow(workdir, config: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run snakemake on this repository's Snakefile with ``config`` in ``workdir``."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(REPO / "Snakefile"),
        "--configfile", str(config_path),
        "--directory", str(workdir),
        "--cores", "2",
        *args,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result
