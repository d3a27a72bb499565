"""The paper-scale smoke, shared by bench/paper_scale.py and tests/test_paper_scale.py: a paper
config (config/paper/*.yaml) shortened so that every rule runs once at the paper's clip size
and network widths, on the small copies of the real dataset layouts (tests/layouts.py), then
run through the workflow's rules.

Shortened: the first dataset only (of UCF101 the four classes of the copy), IPC 1, every
iteration count of a method (iterations, sampling steps) set to ``iterations``, real batches
capped, static memories 1 per class, trajectory matching started at epoch 0..1 of one expert
of 3 epochs, every training (teacher, evaluation, full, KD) one epoch of seed 0, the
interpolator and the diffusion model's quality check ``iterations`` steps, each ablation grid
one point. Widths, resolutions and clip lengths stay the paper's. Two inputs the papers load
from disk are replaced: ModelScope by a tiny random pipeline in the same hub layout
(`write_tiny_modelscope`), the pretrained VideoMAE by a randomly initialised videomae-base
(`VIDEOMAE_BASE`)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import yaml

from layouts import UCF_CLASSES, make_hmdb51, make_kinetics400, make_ucf101

REPO = Path(__file__).resolve().parents[1]
ROOT_OF_FORMAT = {"ucf101": ("UCF101", make_ucf101), "hmdb51": ("HMDB51", make_hmdb51), "kinetics400": ("K400", make_kinetics400)}
# videomae-base's shapes (12 layers of 768, 12 heads, 16x16x2 tubelets), randomly initialised
VIDEOMAE_BASE = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072, "patch_size": 16, "tubelet_size": 2}
REAL_BATCH_CAP = 8


def paper_config(name: str) -> dict:
    return yaml.safe_load((REPO / "config" / "paper" / f"{name}.yaml").read_text())


def write_tiny_modelscope(directory: Path) -> Path:
    """A random ModelScope text-to-video directory in the hub layout, written by save_pretrained."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet3DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    directory = Path(directory)
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = ["<|startoftext|>", "<|endoftext|>", *letters, *[f"{c}</w>" for c in letters], "vi", "de"]
    (directory / "raw").mkdir(parents=True)
    (directory / "raw" / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(vocab)}))
    (directory / "raw" / "merges.txt").write_text("#version: 0.2\nv i\nd e\n")
    tokenizer = CLIPTokenizer(
        vocab=str(directory / "raw" / "vocab.json"), merges=str(directory / "raw" / "merges.txt"), model_max_length=16
    )
    tokenizer.save_pretrained(directory / "tokenizer")
    text_config = CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=16, bos_token_id=0, eos_token_id=1, pad_token_id=1,
    )
    torch.manual_seed(0)
    CLIPTextModel(text_config).save_pretrained(directory / "text_encoder")
    UNet3DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"), up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        cross_attention_dim=32, attention_head_dim=8,
    ).save_pretrained(directory / "unet")
    AutoencoderKL(
        block_out_channels=(32, 64), down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, sample_size=16,
    ).save_pretrained(directory / "vae")
    DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
        set_alpha_to_one=False, steps_offset=1,
    ).save_pretrained(directory / "scheduler")
    return directory


def write_inputs(root: Path, cfg: dict) -> dict:
    """The layouts the config's first dataset reads and, where it uses one, the tiny
    ModelScope pipeline, under ``root``; {"data": ..., "modelscope": ...}."""
    dataset = next(iter(cfg["datasets"].values()))
    folder, make = ROOT_OF_FORMAT[dataset["format"]]
    made = {"data": Path(root) / folder}
    if not made["data"].exists():
        make(made["data"])
    if cfg.get("diffusion", {}).get("source") == "modelscope":
        made["modelscope"] = Path(root) / "modelscope"
        if not made["modelscope"].exists():
            write_tiny_modelscope(made["modelscope"])
    return made


def _shorten_method(entry: dict, dataset: str, iterations: int) -> dict:
    entry = copy.deepcopy(entry)
    entry.pop("ipcs", None)
    for key, kept in (("by_dataset", dataset), ("by_ipc", "1")):  # the overrides of what still runs
        if key in entry:
            entry[key] = {k: v for k, v in entry[key].items() if str(k) == kept}
    for section in [entry, *entry.get("by_dataset", {}).values(), *entry.get("by_ipc", {}).values()]:
        for key in ("iterations", "steps", "num_train_steps"):
            if key in section:
                section[key] = iterations
        if "batch_real" in section:
            section["batch_real"] = min(int(section["batch_real"]), REAL_BATCH_CAP)
        if "syn_steps" in section or "expert_epochs" in section:  # trajectory matching: starts within one expert
            section.update(max_start_epoch=1)
            section.update({k: v for k, v in {"current_max_start_epoch": 1, "min_start_epoch": 0, "expansion_end_iteration": 1}.items() if k in section})
    if "static" in entry:  # the copy has one training video per class (plus one for val)
        entry["static"]["spc"] = 1
    if entry.get("kind", "").startswith("gvd") or "cfg_scale" in entry:
        entry["steps"] = iterations
    return entry


def smoke_config(cfg: dict, inputs: dict, iterations: int = 2, epochs: int = 1, methods: list[str] | None = None) -> dict:
    """``cfg`` (a paper config) shortened as the module docstring says; ``methods``: keep only
    these (default: all)."""
    cfg = copy.deepcopy(cfg)
    name, dataset = next(iter(cfg["datasets"].items()))
    dataset["root"] = str(inputs["data"])
    if dataset["format"] == "ucf101":  # the copy's classes (classInd lists all 101, most without videos here)
        dataset["classes"] = list(UCF_CLASSES)
    cfg["datasets"] = {name: dataset}
    cfg["ipcs"] = [1]
    if "videomae" in cfg.get("models", {}):
        cfg["models"]["videomae"] = dict(VIDEOMAE_BASE)
    if "modelscope" in inputs:
        cfg["diffusion"]["path"] = str(inputs["modelscope"])
    if "diffusion" in cfg:  # its quality check: one sample per class
        cfg["diffusion"].update(quality_samples=1, quality_steps=iterations)
    keep = methods if methods is not None else list(cfg.get("methods", {}))
    for entry in cfg.get("methods", {}).values():  # +SD methods need their static method
        if "static" in entry and entry["static"]["method"] not in keep:
            keep.append(entry["static"]["method"])
    cfg["methods"] = {m: _shorten_method(e, name, iterations) for m, e in cfg.get("methods", {}).items() if m in keep}

    teacher = cfg["teacher"]
    teacher["training"]["epochs"] = epochs
    for settings in teacher.get("by_arch", {}).values():
        settings["epochs"] = epochs
    if "experts" in cfg:
        cfg["experts"].update(num_experts=1, epochs=3)
    if "interpolator" in cfg:
        cfg["interpolator"]["training"].update(steps=iterations, batch_size=4)

    evaluation = cfg["evaluation"]
    evaluation["seeds"] = [0]
    evaluation["overrides"] = {"epochs": epochs, "min_clips": 0}
    evaluation["full"]["epochs"] = epochs
    if "cross_arch" in evaluation:
        cross = evaluation["cross_arch"]
        cross["ipcs"] = [1]
        cross["methods"] = [m for m in cross["methods"] if m in cfg["methods"]][:1]
        if not cross["methods"]:
            del evaluation["cross_arch"]
    if "labels_ablation" in evaluation:
        labels = evaluation["labels_ablation"]
        labels.update(ipcs=[1], seeds=[0], methods=[m for m in labels["methods"] if m in cfg["methods"]][:1], variants=labels["variants"][:1])
        if not labels["methods"]:
            del evaluation["labels_ablation"]
    for grid in ("temporal", "static_dynamic", "guidance_ablation"):
        if grid in cfg and cfg[grid]["method"] not in cfg["methods"]:
            del cfg[grid]
    if "temporal" in cfg:  # the point that needs the interpolator, or else the first
        points = cfg["temporal"]["grid"]
        cfg["temporal"].update(seeds=[0], grid=[next((p for p in points if p.get("interpolation") == "parametric"), points[0])])
    if "static_dynamic" in cfg:
        cfg["static_dynamic"]["grid"] = [g for g in cfg["static_dynamic"]["grid"] if g[0] == 1 and g[1] > 0][:1]
    if "guidance_ablation" in cfg:
        cfg["guidance_ablation"].update(ipc=1, strengths=cfg["guidance_ablation"]["strengths"][:1])

    if "kd" in cfg:
        kd = cfg["kd"]
        kd["seeds"] = [0]
        kd["training"]["epochs"] = epochs
        if "sakd" in kd:
            kd["sakd"]["every"] = [1]
        if "ablation" in kd:
            kd["ablation"].update(every=1, eta=kd["ablation"]["eta"][:1], lam=kd["ablation"]["lam"][:1], ratio=kd["ablation"]["ratio"][:1])
    return cfg


def run_smoke(workdir: Path, cfg: dict, target: str = "all_tables", *args: str) -> subprocess.CompletedProcess:
    """Snakemake on this repository's Snakefile with ``cfg`` alone (the embedded config
    replaced, as the paper configs are run), one core."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    cmd = [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
        "--configfile", str(config_path), "--replace-workflow-config",
        "--directory", str(workdir), "--cores", "1", target, *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)


def smoke_rows(workdir: Path) -> list[dict]:
    """One row per job of results/runs.parquet (of the benchmark files written so far when
    the run stopped before it): rule, job, wall seconds, peak memory, and for condense jobs
    the method, seconds per iteration and device of its sidecar."""
    import contextlib

    import pandas as pd

    from vidcond.tables import runs_table

    workdir = Path(workdir)
    if (workdir / "results" / "runs.parquet").exists():
        runs = pd.read_parquet(workdir / "results" / "runs.parquet")
    else:
        with contextlib.chdir(workdir):  # the table reads rule and job from the relative path
            runs = runs_table(sorted(Path("benchmarks").rglob("*.tsv")))
    rows = []
    for run in runs.itertuples():
        row = {"rule": run.rule, "job": run.job, "method": "", "s_per_iter": None, "device": "",
               "wall_s": float(run.wall_seconds), "peak_mib": float(run.peak_rss_mib)}
        if run.rule == "condense":
            sidecar = workdir / "results" / "condensed" / f"{run.job}.json"
            meta = json.loads(sidecar.read_text()) if sidecar.exists() else {}
            row.update(method=run.job.split("/")[1], s_per_iter=meta.get("seconds_per_iteration"), device=meta.get("device", ""))
        rows.append(row)
    return rows
