"""The jobs of a dry run as sorted "rule<TAB>output<TAB>inputs" lines, and the saved lists
that the planner refactor is checked against (tests/data/*_jobs.txt).

Regenerate (only when a change is *meant* to plan other jobs):
    python tests/joblist.py default   # writes tests/data/default_jobs.txt
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import yaml

DATA = Path(__file__).resolve().parent / "data"


def dry_run_jobs(stdout: str) -> list[str]:
    """One line per planned job: rule, its outputs and its inputs (each sorted), tab-separated."""
    jobs, rule, fields = [], None, {}

    def close():
        if rule is not None:
            outputs = ", ".join(sorted(fields.get("output", "").split(", ")))
            inputs = ", ".join(sorted(fields.get("input", "").split(", ")))
            jobs.append(f"{rule}\t{outputs}\t{inputs}")

    for line in stdout.splitlines():
        if line.startswith(("rule ", "localrule ", "checkpoint ")) and line.endswith(":"):
            close()
            rule, fields = line.split()[1].rstrip(":"), {}
        elif rule is not None and line.startswith("    ") and ": " in line:
            key, value = line.strip().split(": ", 1)
            fields.setdefault(key, value)
        elif rule is not None and not line.startswith("    "):
            close()
            rule = None
    close()
    return sorted(jobs)


def saved_jobs(name: str) -> list[str]:
    return (DATA / f"{name}_jobs.txt").read_text().splitlines()


def configs(layouts: Path) -> dict[str, dict]:
    """The configs whose job lists are saved; the paper config reads the generated copies of
    the real layouts under ``layouts`` (tests/layouts.py)."""
    from helpers import REPO, embedded_config, extended_config, tiny_config

    videodc = yaml.safe_load((REPO / "config" / "paper" / "videodc.yaml").read_text())
    for dataset in videodc["datasets"].values():
        dataset["root"] = str(layouts / ROOT_OF_FORMAT[dataset["format"]])
    return {"default": embedded_config(), "extended": extended_config(), "tiny": tiny_config(), "videodc": videodc}


ROOT_OF_FORMAT = {"ucf101": "UCF101", "hmdb51": "HMDB51", "kinetics400": "K400"}


def make_layouts(data: Path) -> Path:
    from layouts import make_hmdb51, make_kinetics400, make_ucf101

    make_ucf101(data / "UCF101")
    make_hmdb51(data / "HMDB51")
    make_kinetics400(data / "K400")
    return data


def planned_jobs(workdir: Path, name: str) -> list[str]:
    """The job list of a dry run of config ``name`` in ``workdir``."""
    from helpers import run_workflow

    layouts = make_layouts(workdir / "layouts") if name == "videodc" else workdir
    result = run_workflow(workdir / "run", configs(layouts)[name], "all_tables", "-n")
    return [line.replace(str(layouts), "<layouts>") for line in dry_run_jobs(result.stdout)]


if __name__ == "__main__":
    for name in sys.argv[1:]:
        with tempfile.TemporaryDirectory() as tmp:
            jobs = planned_jobs(Path(tmp), name)
        (DATA / f"{name}_jobs.txt").write_text("\n".join(jobs) + "\n")
