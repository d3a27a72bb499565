"""The paper configs (config/paper/*.yaml) are valid full configs: each dry-runs `all_tables`
against small generated copies of the real dataset layouts and plans every configured
dataset x method x IPC."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helpers import REPO, run_workflow
from layouts import make_hmdb51, make_kinetics400, make_ucf101

PAPER_CONFIGS = sorted((REPO / "config" / "paper").glob("*.yaml"))
ROOT_OF_FORMAT = {"ucf101": "UCF101", "hmdb51": "HMDB51", "kinetics400": "K400"}


@pytest.fixture(scope="module")
def layouts(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("layouts")
    make_ucf101(data / "UCF101")
    make_hmdb51(data / "HMDB51")
    make_kinetics400(data / "K400")
    return data


def condense_jobs(stdout: str) -> set[tuple[str, str, int]]:
    """(dataset, method, IPC) of every condense job a dry run plans."""
    jobs = set()
    for line in stdout.splitlines():
        if line.startswith("    output: results/condensed/"):
            dataset, method, ipc = line.split("results/condensed/")[1].split(",")[0].split("/")[:3]
            jobs.add((dataset, method, int(ipc.split(".")[0].removeprefix("ipc"))))
    return jobs


def test_every_paper_has_a_config():
    assert {p.stem for p in PAPER_CONFIGS} == {"dancing", "videodc", "gvd", "sakd"}


@pytest.mark.slow
@pytest.mark.parametrize("path", PAPER_CONFIGS, ids=lambda p: p.stem)
def test_paper_config_dry_runs_on_the_real_layouts(tmp_path, layouts, path):
    cfg = yaml.safe_load(path.read_text())
    for dataset in cfg["datasets"].values():
        dataset["root"] = str(layouts / ROOT_OF_FORMAT[dataset["format"]])
    result = run_workflow(tmp_path, cfg, "all_tables", "-n")
    planned = condense_jobs(result.stdout)
    methods = cfg["methods"]
    expected = {
        (d, m, ipc)
        for d in cfg["datasets"]
        for m, entry in methods.items()
        for ipc in entry.get("ipcs", cfg["ipcs"])
    }
    assert expected <= planned
    assert not (tmp_path / "results").exists()
