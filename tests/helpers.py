"""Shared test helpers: tiny configs and running the workflow in a temporary directory."""

from __future__ import annotations

import copy
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


@lru_cache(maxsize=1)
def _embedded_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def embedded_config() -> dict:
    """The embedded default config (a fresh copy)."""
    return copy.deepcopy(_embedded_config())


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
    cfg["evaluation"]["overrides"]["epochs"] = 2
    cfg["evaluation"]["full"]["epochs"] = 2
    cfg["evaluation"]["cross_arch"]["archs"] = ["convnet_gru"]
    cfg["kd"]["training"]["epochs"] = 2
    cfg["kd"]["sakd"]["every"] = [1]
    cfg["kd"]["ablation"].update(every=1, eta=[0.5], lam=[0.5], ratio=[0.1, 0.5])
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
