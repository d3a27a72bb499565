"""Faults: a condensation job killed by SIGTERM (SLURM's time-out / pre-emption) or SIGKILL
resumes from its checkpoint when the workflow reruns, and ends with the same condensed set
as an uninterrupted run; a killed job never leaves an output that looks complete."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file

from helpers import REPO, run_workflow, tiny_config, with_methods

TARGET = "results/condensed/synthaction/dm/ipc1.json"
CHECKPOINT = "results/work/condense/synthaction/dm/ipc1/checkpoint.pt"


def dm_config() -> dict:
    """The tiny dataset with one distillation method long enough to be killed mid-run."""
    return with_methods(tiny_config(), {"dm": {"iterations": 60, "checkpoint_every": 3, "batch_real": 2}})


def condense_pid(workdir: Path) -> int | None:
    """The pid of the running condense script of ``workdir`` (Snakemake runs a copy of it
    under ``<workdir>/.snakemake/scripts``)."""
    out = subprocess.run(["pgrep", "-f", f"{workdir}/.snakemake/scripts/.*condense.py"], capture_output=True, text=True)
    pids = [int(p) for p in out.stdout.split()]
    return pids[0] if pids else None


def start_and_kill(workdir: Path, sig: int) -> None:
    """Start the condense job, wait for its first checkpoint and a few more iterations,
    then send ``sig`` to the job's process (not to Snakemake)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(dm_config(), sort_keys=False))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--configfile",
           str(workdir / "config.yaml"), "--directory", str(workdir), "--cores", "1", TARGET]
    snakemake = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not (workdir / CHECKPOINT).exists():
            assert snakemake.poll() is None, snakemake.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint within 240 s"
            time.sleep(0.2)
        time.sleep(0.5)
        pid = condense_pid(workdir)
        assert pid is not None and snakemake.poll() is None, "the job ended before it could be killed"
        os.kill(pid, sig)
        _, stderr = snakemake.communicate(timeout=120)
    finally:
        if snakemake.poll() is None:
            snakemake.kill()
    assert snakemake.returncode != 0, "the killed job was reported as a success"
    assert not (workdir / TARGET).exists() and not (workdir / TARGET).with_suffix(".safetensors").exists()
    assert (workdir / CHECKPOINT).exists()
    log = (workdir / "logs" / "condense" / "synthaction" / "dm" / "ipc1.log").read_text()
    if sig == signal.SIGTERM:
        assert "SystemExit: 143" in log  # saved its state and exited as SLURM expects


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    workdir = tmp_path_factory.mktemp("whole")
    run_workflow(workdir, dm_config(), TARGET)
    return load_file(str(workdir / TARGET.replace(".json", ".safetensors")))


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_killed_condensation_resumes_to_the_same_result(tmp_path, sig, uninterrupted):
    start_and_kill(tmp_path, sig)
    rerun = run_workflow(tmp_path, dm_config(), TARGET)
    log = (tmp_path / "logs" / "condense" / "synthaction" / "dm" / "ipc1.log").read_text()
    assert "resumed from iteration" in log, rerun.stderr[-2000:]
    resumed = load_file(str(tmp_path / TARGET.replace(".json", ".safetensors")))
    assert resumed.keys() == uninterrupted.keys()
    for name, tensor in uninterrupted.items():
        assert (resumed[name] == tensor).all(), name
    assert not (tmp_path / CHECKPOINT).exists()  # cleared once the output is written
