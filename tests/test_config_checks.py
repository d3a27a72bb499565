"""Config mistakes stop the workflow before any job, with a short message naming the key."""

import os
import subprocess
import sys

import pytest
import yaml

from helpers import REPO, embedded_config, run_workflow
from vidcond.config_checks import (
    did_you_mean,
    model_options,
    reference_problems,
    schema_problem,
    slurm_problem,
)

SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
ARCHS = SCHEMA["$defs"]["arch_name"]["enum"]


def problems_of(cfg):
    return reference_problems(cfg, ARCHS)


def test_the_embedded_config_passes_every_check():
    cfg = embedded_config()
    assert schema_problem(cfg, SCHEMA) is None
    assert problems_of(cfg) == []


@pytest.mark.parametrize("paper", sorted((REPO / "config" / "paper").glob("*.yaml")), ids=lambda p: p.stem)
def test_the_paper_configs_pass_every_check(paper):
    cfg = yaml.safe_load(paper.read_text())  # some have no `experts` or `kd` section
    assert schema_problem(cfg, SCHEMA) is None
    assert problems_of(cfg) == []


def test_did_you_mean_ignores_case_and_finds_near_names():
    assert did_you_mean("miniC3d", ARCHS) == "miniC3D"
    assert did_you_mean("nrom", ["channels", "norm", "head"]) == "norm"
    assert did_you_mean("randm", ["random", "herding"]) == "random"
    assert did_you_mean("zzzzzz", ["random", "herding"]) is None


def test_a_misspelt_top_level_key_names_the_near_key_in_a_few_lines():
    cfg = embedded_config()
    cfg["ipc"] = cfg.pop("ipcs")
    message = schema_problem(cfg, SCHEMA)
    lines = message.splitlines()
    # `ipcs` is then both missing and misspelt: the unknown key is what the user typed
    assert lines[0] == "config ipc: unknown key 'ipc'"
    assert lines[-1] == "  did you mean 'ipcs'?"
    assert len(lines) <= 10 and "$defs" not in message and "synthaction" not in message


def test_a_bad_enum_value_lists_the_allowed_values():
    cfg = embedded_config()
    cfg["datasets"]["synthaction"]["format"] = "synthetc"
    lines = schema_problem(cfg, SCHEMA).splitlines()
    assert lines == [
        "config datasets.synthaction.format: unknown value 'synthetc'",
        "  allowed: synthetic, ucf101, hmdb51, kinetics400",
        "  did you mean 'synthetic'?",
    ]


@pytest.mark.parametrize(
    "where, edit",
    [
        ("evaluation.arch", lambda c: c["evaluation"].update(arch="miniC3d")),
        ("teacher.arch", lambda c: c["teacher"].update(arch="miniC3d")),
        ("experts.arch", lambda c: c["experts"].update(arch="miniC3d")),
        ("evaluation.cross_arch.archs[0]", lambda c: c["evaluation"]["cross_arch"].update(archs=["miniC3d"])),
        ("methods.dm.arch", lambda c: c["methods"]["dm"].update(arch="miniC3d")),
        ("methods.dm.by_ipc.5.arch", lambda c: c["methods"]["dm"].update(by_ipc={"5": {"arch": "miniC3d"}})),
        ("methods.edc.condensation_models[0]", lambda c: c["methods"]["edc"].update(condensation_models=["miniC3d"])),
    ],
)
def test_an_unknown_architecture_is_named_with_its_key(where, edit):
    cfg = embedded_config()
    edit(cfg)
    (problem,) = problems_of(cfg)
    lines = problem.splitlines()
    assert lines[0] == f"config {where}: unknown architecture 'miniC3d'"
    assert "miniC3D_wide" in lines[1]  # the `models` variants are allowed too
    assert lines[2] == "  did you mean 'miniC3D'?"


def test_a_misspelt_model_option_is_checked_against_the_constructor():
    cfg = embedded_config()
    cfg["models"]["miniC3D_wide"]["nrom"] = "batch"  # a variant: checked against its `arch`
    cfg["models"]["i3d_r18"]["widht"] = 8
    assert problems_of(cfg) == [
        "config models.miniC3D_wide.nrom: unknown miniC3D option 'nrom'\n"
        "  allowed: channels, dropout, head, norm\n"
        "  did you mean 'norm'?",
        "config models.i3d_r18.widht: unknown i3d_r18 option 'widht'\n"
        "  allowed: dropout, width\n"
        "  did you mean 'width'?",
    ]


def test_model_options_follow_factories_to_their_class():
    assert model_options("miniC3D") == {"channels", "norm", "head", "dropout"}
    assert model_options("convnet_gru") == {"width", "depth", "norm", "hidden"}  # `cell` is the factory's
    assert model_options("slowonly_r18") == {"width", "dropout"}
    videomae = model_options("videomae")  # the rest go to transformers' VideoMAEConfig
    assert {"pretrained", "hidden_size", "tubelet_size"} <= videomae and "hiden_size" not in videomae


def test_unknown_method_and_dataset_references():
    cfg = embedded_config()
    cfg["evaluation"]["cross_arch"]["methods"] = ["randm"]
    cfg["methods"]["dm"]["by_dataset"] = {"synthacton": {"iterations": 2}}
    first, second = problems_of(cfg)
    assert first.splitlines()[0] == "config evaluation.cross_arch.methods[0]: unknown method 'randm'"
    assert first.splitlines()[-1] == "  did you mean 'random'?"
    assert second.splitlines() == [
        "config methods.dm.by_dataset.synthacton: unknown dataset 'synthacton'",
        "  allowed: synthaction",
        "  did you mean 'synthaction'?",
    ]


def test_the_dry_run_stops_before_any_job_with_a_short_message(tmp_path):
    cfg = embedded_config()
    cfg["evaluation"]["arch"] = "miniC3d"
    result = run_workflow(tmp_path, cfg, "-n", "--replace-workflow-config", "all_tables", check=False)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode != 0
    assert len(output.splitlines()) <= 10, output
    assert "evaluation.arch" in output and "did you mean 'miniC3D'?" in output
    assert "Building DAG" not in output and not (tmp_path / "results").exists()


# ---------------------------------------------------------------- SLURM preflight


def test_slurm_preflight_names_what_is_missing():
    problem = slurm_problem(which=lambda tool: None if tool == "sbatch" else f"/usr/bin/{tool}")
    assert problem.startswith("--profile slurm: sbatch not found on PATH")
    assert "snakemake --cores N all_tables" in problem


def test_slurm_preflight_reports_a_controller_that_does_not_answer():
    def failing_squeue(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 1, "", "slurm_load_jobs error: Unable to contact slurm controller\n")

    problem = slurm_problem(which=lambda tool: f"/usr/bin/{tool}", run=failing_squeue)
    assert "`squeue` failed" in problem and "Unable to contact slurm controller" in problem


def test_slurm_preflight_lets_a_working_cluster_through():
    def answering(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 0, "", "")

    assert slurm_problem(which=lambda tool: f"/usr/bin/{tool}", run=answering) is None


SLURM_TOOLS = {"sbatch", "squeue", "sacct", "sinfo", "scontrol", "scancel", "srun", "salloc"}


def path_without_slurm(folder):
    """A folder linking every program on PATH (bash, which, ...) except SLURM's."""
    folder.mkdir()
    for directory in reversed(os.environ["PATH"].split(os.pathsep)):  # first on PATH wins
        if os.path.isdir(directory):
            for name in os.listdir(directory):
                if name not in SLURM_TOOLS:
                    (folder / name).unlink(missing_ok=True)
                    (folder / name).symlink_to(os.path.join(directory, name))
    return folder


def test_profile_slurm_without_sbatch_stops_the_dry_run(tmp_path):
    """From the repository root as documented, with a PATH holding no SLURM tools."""
    previous = tmp_path / "results" / "main.parquet"
    previous.parent.mkdir(parents=True)
    previous.write_bytes(b"an earlier run's table")
    env = {**os.environ, "PATH": str(path_without_slurm(tmp_path / "bin"))}
    cmd = [sys.executable, "-m", "snakemake", "--profile", "slurm", "--configfile", str(REPO / "config" / "config.yaml")]
    cmd += ["--directory", str(tmp_path), "-n", "all_tables"]
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "sbatch" in output and "snakemake --cores N all_tables" in output
    assert previous.read_bytes() == b"an earlier run's table"
    assert not (tmp_path / ".snakemake" / "locks").exists() or not any((tmp_path / ".snakemake" / "locks").iterdir())
