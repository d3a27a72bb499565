"""Config validation, the plan, path templates, wildcard constraints and the input functions
every stage shares (no rules here). What runs, with which settings, is `vidcond.plan`;
each stage's own input functions sit in its rule file."""

import importlib.util
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from vidcond import config_checks
from vidcond.data import layouts
from vidcond.plan import Plan, config_schema

# ---------------------------------------------------------------- checks before any job
# A short message (key, value, allowed values, nearest name) instead of the schema dump of
# `validate`, which then only fills in the defaults.
_problem = config_checks.schema_problem(config, config_schema())
if _problem:
    raise WorkflowError(_problem)
validate(config, schema="../schemas/config.schema.yaml")
for _name, _dataset in config["datasets"].items():
    _problem = layouts.root_problem(f"datasets.{_name}", _dataset)
    if _problem:
        raise WorkflowError(_problem)
if (
    not workflow.remote_exec
    and "snakemake" in Path(sys.argv[0]).parts + (Path(sys.argv[0]).name,)
    and config_checks.intended_executor(sys.argv[1:], [".", workflow.basedir]) == "slurm"
):
    _problem = config_checks.slurm_problem()
    if _problem:
        raise WorkflowError(_problem)
try:
    PLAN = Plan(config)
except config_checks.ConfigError as error:
    raise WorkflowError(str(error))

DATASETS = PLAN.datasets
# A pattern no name matches when no dataset is synthetic.
SYNTHETIC_PATTERN = "|".join(PLAN.synthetic_datasets) or "(?!)"

# ---------------------------------------------------------------- paths

FRAME_STORE = "results/frames/{dataset}/manifest.parquet"
TEACHER = "results/teachers/{dataset}/{arch}"
# The kd student pretrained on the disjoint source dataset (kd.pretrain), per target dataset.
STUDENT = "results/students/{dataset}/{arch}"
EXPERTS = "results/experts/{dataset}/{arch}"  # trajectory shards; their index is EXPERTS.json
DIFFUSION = "results/diffusion/{dataset}"  # model directory; its summary is DIFFUSION.json
CONDENSED = "results/condensed/{dataset}/{method}/ipc{ipc}"
# one evaluation job trains a fresh network per seed and writes a row per seed
EVAL = "results/eval/{dataset}/{method}/ipc{ipc}/{arch}/{protocol}/{variant}.parquet"
EVAL_FULL = "results/eval/{dataset}/full/{arch}.parquet"
KD_ROW = "results/kd/{dataset}/{kd_method}/{mode}/{setting}/seed{seed}.parquet"
DIVERSITY_ROWS = "results/diversity/{dataset}.parquet"  # every condensed set of the dataset
DIVERSITY_COVERED = "results/diversity/{dataset}.covered.parquet"  # real points each set covers
CROSS_ARCH = "results/cross_arch/{dataset}/{method}/ipc{ipc}/{arch}.parquet"
INTERPOLATOR = "results/interpolators/{dataset}"

# The file each planned job (vidcond.plan.Job) is named by, from its wildcards.
OUTPUTS = {
    "condense": f"{CONDENSED}.json",
    "evaluate": EVAL,
    "evaluate_full": EVAL_FULL,
    "cross_arch": CROSS_ARCH,
    "kd": KD_ROW,
    "diversity": DIVERSITY_ROWS,
}

# Benchmark file of each rule, with the same wildcards as its output.
BENCHMARKS = {
    "generate_synthetic": "benchmarks/generate_synthetic/{dataset}.tsv",
    "extract_frames": "benchmarks/extract_frames/{dataset}.tsv",
    "teacher": "benchmarks/teacher/{dataset}/{arch}.tsv",
    "experts": "benchmarks/experts/{dataset}/{arch}.tsv",
    "diffusion": "benchmarks/diffusion/{dataset}.tsv",
    "interpolator": "benchmarks/interpolator/{dataset}.tsv",
    "condense": "benchmarks/condense/{dataset}/{method}/ipc{ipc}.tsv",
    "evaluate": "benchmarks/evaluate/{dataset}/{method}/ipc{ipc}/{arch}/{protocol}/{variant}.tsv",
    "evaluate_full": "benchmarks/evaluate_full/{dataset}/{arch}.tsv",
    "cross_arch": "benchmarks/cross_arch/{dataset}/{method}/ipc{ipc}/{arch}.tsv",
    "kd": "benchmarks/kd/{dataset}/{kd_method}/{mode}/{setting}/seed{seed}.tsv",
    "pretrain_student": "benchmarks/pretrain_student/{dataset}/{arch}.tsv",
    "diversity": "benchmarks/diversity/{dataset}.tsv",
}


def outputs(jobs, templates=OUTPUTS):
    """The file of each planned job."""
    return [templates[rule].format(**wc) for rule, wc in jobs]


wildcard_constraints:
    dataset="|".join(DATASETS),
    method="|".join(PLAN.entries) or "(?!)",
    ipc=r"\d+",
    seed=r"\d+",
    arch=r"[A-Za-z0-9_]+",
    variant=r"[A-Za-z0-9_]+",
    protocol="|".join(PLAN.evaluation["protocols"]),
    kd_method=r"none|kd|dkd|ctkd|fea",
    mode=r"vanilla|sakd_every\d+",
    setting=r"default|scratch|(eta|lam|ratio)[0-9.e+-]+",


# ---------------------------------------------------------------- shared input functions


def frame_store(wildcards):
    return FRAME_STORE.format(dataset=wildcards.dataset)


def get_clip(wildcards):
    return DATASETS[wildcards.dataset]["clip"]


def get_arch_options(wildcards):
    return PLAN.arch_options(wildcards.arch)


def teacher_weights(dataset, arch):
    return f"{TEACHER.format(dataset=dataset, arch=arch)}.safetensors"


def get_all_tables():
    return [f"results/{table}.parquet" for table in PLAN.tables()]


# ---------------------------------------------------------------- code versions
# Each job's `code` param hashes the code it runs (its script, the package modules the
# script imports and, for `condense`, the method's module): editing a module reruns exactly
# the jobs that run it, touching a file reruns nothing (`code` is not a rerun trigger,
# profiles/default/profile.yaml). Loaded from its file: Snakemake's own environment needs
# no `vidcond` (the jobs run src/vidcond, installed editable).
_CODE_SPEC = importlib.util.spec_from_file_location(
    "vidcond_codeversion", Path(workflow.basedir) / "src" / "vidcond" / "codeversion.py"
)
_codeversion = importlib.util.module_from_spec(_CODE_SPEC)
_CODE_SPEC.loader.exec_module(_codeversion)
CODE = _codeversion.CodeVersions(
    Path(workflow.basedir) / "src" / "vidcond", Path(workflow.basedir) / "workflow" / "scripts"
)


def code_version(script):
    """The code version of a job running workflow/scripts/<script>.py."""
    return CODE.script_version(script)
