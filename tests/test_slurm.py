"""The workflow on a real SLURM cluster, through the shipped profile (`--profile slurm`).

A throw-away single-node cluster (slurmctld + slurmd, one fake GPU declared as gres) is
started by ``../shared/tools/slurm_local.sh`` beside the repository. Needs root and the
Debian packages slurmctld, slurmd and slurm-client (`.ci/run` installs them); skipped
otherwise.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from helpers import REPO, tiny_config, with_methods

CLUSTER_SCRIPT = REPO.parent / "shared" / "tools" / "slurm_local.sh"
# Compute rules that need no GPU; every other rule that is not a localrule trains or runs a
# network and must ask for one (a new such rule is covered without changes here).
CPU_RULES = {"generate_synthetic", "extract_frames"}
GPU_RULES = {"teacher", "condense", "evaluate", "evaluate_full", "cross_arch"}  # at least these


def local_rules() -> set[str]:
    """Rules named in the `localrules:` blocks of the workflow's rule files."""
    names = set()
    for rules_file in (REPO / "workflow" / "rules").glob("*.smk"):
        for block in re.findall(r"^localrules:(.*(?:\n[ \t]+\S.*)*)", rules_file.read_text(), re.MULTILINE):
            names.update(re.findall(r"\w+", block))
    return names


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.fixture(scope="module")
def slurm_env():
    """Environment of a shell that talks to a fresh local cluster (SLURM_CONF, srun wrapper)."""
    if not CLUSTER_SCRIPT.exists():
        pytest.skip(f"{CLUSTER_SCRIPT} not found")
    if os.geteuid() != 0:
        pytest.skip("the local SLURM cluster needs root")
    missing = [b for b in ("slurmctld", "slurmd", "sbatch", "squeue", "scontrol") if not shutil.which(b)]
    if missing:
        pytest.skip(f"SLURM not installed (missing {', '.join(missing)})")
    # A fixed folder per checkout (short: slurmd keeps a socket in it): stopping first ends
    # daemons that a killed earlier session left behind.
    cluster = Path(tempfile.gettempdir()) / f"vidcond-slurm-{hashlib.sha1(str(REPO).encode()).hexdigest()[:8]}"
    if (cluster / "slurm.conf").exists():
        subprocess.run(["bash", CLUSTER_SCRIPT, "stop", cluster], capture_output=True)
    shutil.rmtree(cluster, ignore_errors=True)
    # Free ports, so that test sessions of other checkouts on this machine do not collide.
    ctld_port, slurmd_port = free_ports(2)
    ports = {"SLURM_TEST_CTLD_PORT": str(ctld_port), "SLURM_TEST_D_PORT": str(slurmd_port)}
    # The node's CPU count comes from `nproc`, which OMP_NUM_THREADS would lower below what
    # the profile's jobs ask for (they would then pend forever).
    start_env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    started = subprocess.run(
        ["bash", CLUSTER_SCRIPT, "start", cluster], env={**start_env, **ports}, capture_output=True, text=True
    )
    try:
        assert started.returncode == 0, f"cluster did not start:\n{started.stdout}\n{started.stderr}"
        exported = subprocess.run(
            ["bash", "-c", f'eval "$(bash {CLUSTER_SCRIPT} env {cluster})" && printf "%s\\0%s" "$SLURM_CONF" "$PATH"'],
            capture_output=True, text=True, check=True,
        ).stdout.split("\0")
        env = {**os.environ, "SLURM_CONF": exported[0], "PATH": exported[1]}
        env.pop("CUDA_VISIBLE_DEVICES", None)  # exported to every job: only SLURM may set it
        yield env
    finally:
        subprocess.run(["bash", CLUSTER_SCRIPT, "stop", cluster], capture_output=True)


def slurm_jobs(env) -> list[dict]:
    """Every job the cluster knows (finished ones stay listed for MinJobAge = 300 s)."""
    out = subprocess.run(["scontrol", "-o", "show", "job"], env=env, capture_output=True, text=True, check=True)
    return [dict(re.findall(r"(\S+?)=(\S*)", line)) for line in out.stdout.splitlines() if line.strip()]


def rule_of(job: dict) -> str:
    """The plugin writes `rule_<rule>[_wildcards_<values>]` into the job's comment."""
    return re.fullmatch(r"rule_(.+?)(_wildcards_.*)?", job["Comment"]).group(1)


def asks_gpu(job: dict) -> bool:
    return any("gpu" in value for key, value in job.items() if key.startswith("TresPer"))


def dry_run_jobs(stdout: str) -> dict[str, dict]:
    """Rule -> {"threads": int, "resources": {...}, "log": bool} from a dry run's job list."""
    jobs, current = {}, None
    for line in stdout.splitlines():
        header = re.fullmatch(r"(?:local)?rule (\w+):", line)
        if header:
            current = jobs.setdefault(header[1], {"threads": 1, "resources": {}, "log": False})
        elif current is not None and line.startswith("    log: "):
            current["log"] = True
        elif current is not None and line.startswith("    threads: "):
            current["threads"] = int(line.split(": ")[1])
        elif current is not None and line.startswith("    resources: "):
            current["resources"] = dict(item.split("=", 1) for item in line[len("    resources: "):].split(", "))
    return jobs


def test_profile_is_found_from_the_root_and_asks_gpus_for_gpu_rules_only(tmp_path):
    """No cluster needed: the dry run shows what each job would request."""
    cfg = with_methods(tiny_config(), {"random": {}})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    cmd = [sys.executable, "-m", "snakemake", "--profile", "slurm", "all_tables", "-n", "--cores", "64",
           "--directory", str(tmp_path), "--configfile", str(tmp_path / "config.yaml")]
    # a cluster that answers, for the preflight (the dry run submits nothing)
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("sbatch", "squeue"):
        (tools / tool).write_text("#!/bin/sh\nexit 0\n")
        (tools / tool).chmod(0o755)
    env = {**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Using profiles slurm and workflow specific profile profiles/default" in result.stderr
    jobs = dry_run_jobs(result.stdout)
    compute = {rule for rule, job in jobs.items() if job["log"]} - local_rules()  # targets have no log
    assert GPU_RULES | CPU_RULES <= compute and {"main_table", "table_html", "accuracy_plot"} <= set(jobs)
    # what the plugin counts as a GPU job: `gpu` > 0 (--gpus) or a gpu gres (--gres)
    gpu_jobs = {
        rule for rule, job in jobs.items()
        if int(job["resources"].get("gpu", 0)) or "gpu" in job["resources"].get("gres", "")
    }
    assert gpu_jobs == compute - CPU_RULES
    for rule, job in jobs.items():
        assert int(job["resources"]["runtime"]) >= 60, rule
        # condense: the job's memory estimate, known once its frame store exists
        if not (rule == "condense" and job["resources"]["mem_mb"] == "<TBD>"):
            assert int(job["resources"]["mem_mb"]) >= 4000, rule
    assert all(jobs[rule]["threads"] > 1 for rule in gpu_jobs)  # the profile's set-threads

    # Time and memory grow with the attempt (retries), for every rule the profile lists.
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "profile.yaml").read_text())
    assert profile["retries"] >= 1 and profile["rerun-incomplete"] and profile["keep-going"]
    for rule, resources in [("default", profile["default-resources"]), *profile["set-resources"].items()]:
        for key in ("runtime", "mem_mb"):
            if rule == "condense" and key == "mem_mb":
                continue  # the rule's own, from the job's memory estimate
            first, second = (eval(str(resources[key]), {"attempt": a}) for a in (1, 2))
            assert second == 2 * first > 0, (rule, key)


@pytest.mark.slow
@pytest.mark.slurm
def test_tiny_workflow_on_slurm_gpu_rules_get_a_gpu(slurm_env, tmp_path):
    cfg = with_methods(tiny_config(), {"random": {}})
    cfg["evaluation"]["seeds"] = [0]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    # The literal command from the repository root plus what this cluster needs: no
    # accounting database (squeue for status, a short first check) and memory capped to fit.
    cmd = [
        sys.executable, "-m", "snakemake", "--profile", "slurm", "all_tables",
        "--directory", str(tmp_path), "--configfile", str(tmp_path / "config.yaml"),
        "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "10",
        "--slurm-keep-successful-logs", "--resources", "mem_mb=1000",
    ]
    result = subprocess.run(cmd, cwd=REPO, env=slurm_env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    assert "Using profiles slurm and workflow specific profile profiles/default" in result.stderr

    jobs = slurm_jobs(slurm_env)
    assert {j["JobState"] for j in jobs} == {"COMPLETED"}
    by_rule = {}
    for job in jobs:
        by_rule.setdefault(rule_of(job), []).append(job)
    # Every job writes "rule <name> on <host>, ..., CUDA_VISIBLE_DEVICES=<ids>" to its log.
    devices = {}
    for log in (tmp_path / "logs").rglob("*.log"):
        match = re.search(r"rule (\w+) on \S+, \d+ threads, CUDA_VISIBLE_DEVICES=(\S+)", log.read_text())
        if match:
            devices.setdefault(match[1], set()).add(match[2])
    # Every rule that ran went to SLURM unless it is a localrule (tables, report figures).
    local = local_rules()
    assert GPU_RULES | CPU_RULES <= set(by_rule) and not set(by_rule) & local
    assert set(by_rule) == set(devices) - local
    assert {p.name.removeprefix("rule_") for p in (tmp_path / "logs" / "slurm").iterdir()} == set(by_rule)
    # GPU rules asked SLURM for a GPU and got the fake one; the others neither.
    for rule, rule_jobs in by_rule.items():
        assert all(asks_gpu(j) == (rule not in CPU_RULES) for j in rule_jobs), (rule, rule_jobs)
    assert devices == {rule: {"unset"} if rule in CPU_RULES | local else {"0"} for rule in devices}

    main = pd.read_parquet(tmp_path / "results" / "main.parquet")
    assert set(main["method"]) == {"full", "random"}
    assert (tmp_path / "results" / "report" / "accuracy_ipc" / "synthaction.png").stat().st_size > 0
