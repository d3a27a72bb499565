"""Config validation, path templates, target builders and wildcard constraints (no rules here)."""

from pathlib import Path

import yaml
from jsonschema import Draft202012Validator
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

validate(config, schema="../schemas/config.schema.yaml")

DATASETS = config["datasets"]
SYNTHETIC_DATASETS = [n for n, d in DATASETS.items() if d["format"] == "synthetic"]
# A pattern no name matches when no dataset is synthetic.
SYNTHETIC_PATTERN = "|".join(SYNTHETIC_DATASETS) or "(?!)"
METHODS = config["methods"]
EVALUATION = config["evaluation"]
KD = config.get("kd")  # the knowledge-distillation stage runs only when configured
# Keys of a method entry that configure the workflow, not the method itself.
METHOD_RESERVED = ("kind", "requires", "ipcs", "evaluation", "by_dataset", "by_ipc")

# ---------------------------------------------------------------- checks beyond the schema

with open(Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml") as _schema_file:
    _SCHEMA_DEFS = yaml.safe_load(_schema_file)["$defs"]
_METHOD_SCHEMAS = _SCHEMA_DEFS["methods"]
ARCHS = _SCHEMA_DEFS["arch_name"]["enum"]


def _check_config():
    for name, dataset in DATASETS.items():
        if dataset["format"] != "synthetic":
            for key in ("root", "videos"):
                if key in dataset and not Path(dataset[key]).is_dir():
                    raise WorkflowError(
                        f"config datasets.{name}.{key}: {dataset[key]!r} is not a directory"
                    )
        if dataset["format"] == "synthetic":
            per_class = dataset["generator"].get("train_per_class", 24)
            for method in METHODS:
                for ipc in method_ipcs(method):
                    if ipc > per_class:
                        raise WorkflowError(
                            f"config: IPC {ipc} of method {method!r} exceeds the {per_class} "
                            f"training videos per class of dataset {name!r}"
                        )
    for name, entry in METHODS.items():
        kind = method_kind(name)
        if kind not in _METHOD_SCHEMAS:
            raise WorkflowError(
                f"config methods.{name}: unknown method kind {kind!r}; known: {sorted(_METHOD_SCHEMAS)}"
            )
        validator = Draft202012Validator(_METHOD_SCHEMAS[kind])
        parts = {
            "": entry,
            **{f".by_dataset.{k}": v for k, v in entry.get("by_dataset", {}).items()},
        }
        parts.update({f".by_ipc.{k}": v for k, v in entry.get("by_ipc", {}).items()})
        for where, part in parts.items():
            hyper = {k: v for k, v in part.items() if k not in METHOD_RESERVED}
            for error in validator.iter_errors(hyper):
                raise WorkflowError(f"config methods.{name}{where}: {error.message}")
    protocol = EVALUATION["protocol"]
    if protocol not in EVALUATION["protocols"]:
        raise WorkflowError(
            f"config evaluation.protocol: {protocol!r} is not in evaluation.protocols"
        )
    for name, options in config.get("models", {}).items():
        if name not in ARCHS and "arch" not in options:
            raise WorkflowError(
                f"config models.{name}: not an architecture ({ARCHS}); a variant needs `arch`"
            )
    if KD:
        for role in ("teacher", "student"):
            if KD[role] not in ARCHS and KD[role] not in config.get("models", {}):
                raise WorkflowError(
                    f"config kd.{role}: {KD[role]!r} is neither an architecture nor a `models` entry"
                )
        ablation = KD.get("ablation")
        if ablation and ablation["method"] not in KD["methods"]:
            raise WorkflowError(
                f"config kd.ablation.method: {ablation['method']!r} is not in kd.methods"
            )


# ---------------------------------------------------------------- resolving settings


def method_kind(method):
    return METHODS[method].get("kind", method)


def method_ipcs(method):
    return METHODS[method].get("ipcs", config["ipcs"])


def method_params(method, dataset, ipc):
    """Hyperparameters of ``method`` for one dataset and IPC (base < by_dataset < by_ipc)."""
    entry = METHODS[method]
    params = {k: v for k, v in entry.items() if k not in METHOD_RESERVED}
    params.update(entry.get("by_dataset", {}).get(dataset, {}))
    params.update(entry.get("by_ipc", {}).get(str(ipc), {}))
    return params


def eval_settings(dataset, method, variant):
    """Protocol preset < evaluation.overrides < dataset < method < variant."""
    settings = dict(EVALUATION["protocols"][EVALUATION["protocol"]])
    settings.update(EVALUATION.get("overrides", {}))
    settings.update(DATASETS[dataset].get("evaluation", {}))
    if method != "full":
        settings.update(METHODS[method].get("evaluation", {}))
    settings.update(EVALUATION["variants"][variant])
    return settings


def kd_modes():
    """``vanilla`` and one SAKD mode per selection interval."""
    return ["vanilla"] + [f"sakd_every{k}" for k in KD["sakd"].get("every", [1, 5])]


KD_ABLATED = ("eta", "lam", "ratio")


def kd_setting(param, value):
    """The setting wildcard of an ablation run: ``default`` at the configured value."""
    return "default" if value == KD["sakd"][param] else f"{param}{value:g}"


def kd_setting_overrides(setting):
    if setting == "default":
        return {}
    param = next(p for p in KD_ABLATED if setting.startswith(p))
    return {param: float(setting[len(param) :])}


def kd_ablation_grid():
    """param -> [(value, setting)] of the ablation runs."""
    ablation = KD.get("ablation") or {}
    return {
        p: [(v, kd_setting(p, v)) for v in ablation.get(p, [])]
        for p in KD_ABLATED
        if ablation.get(p)
    }


def full_settings(dataset):
    return {**EVALUATION["full"], **DATASETS[dataset].get("evaluation_full", {})}


def models_used(value):
    """Options of the architectures named anywhere in ``value`` (so that editing the
    options of one network reruns only the jobs that build it)."""
    names = set()

    def visit(v):
        if isinstance(v, str) and v in config.get("models", {}):
            names.add(v)
        elif isinstance(v, dict):
            list(map(visit, v.values()))
        elif isinstance(v, (list, tuple)):
            list(map(visit, v))

    visit(value)
    return {name: config["models"][name] for name in sorted(names)}


_check_config()

# ---------------------------------------------------------------- paths

TEACHER = "results/teachers/{dataset}/{arch}"
CONDENSED = "results/condensed/{dataset}/{method}/ipc{ipc}"
EVAL = "results/eval/{dataset}/{method}/ipc{ipc}/{arch}/{variant}/seed{seed}.parquet"
EVAL_FULL = "results/eval/{dataset}/full/{arch}/seed{seed}.parquet"
KD_ROW = "results/kd/{dataset}/{kd_method}/{mode}/{setting}/seed{seed}.parquet"
CROSS_ARCH = "results/cross_arch/{dataset}/{method}/ipc{ipc}/{arch}/seed{seed}.parquet"

# Benchmark file of each rule, with the same wildcards as its output.
BENCHMARKS = {
    "generate_synthetic": "benchmarks/generate_synthetic/{dataset}.tsv",
    "extract_frames": "benchmarks/extract_frames/{dataset}.tsv",
    "teacher": "benchmarks/teacher/{dataset}/{arch}.tsv",
    "condense": "benchmarks/condense/{dataset}/{method}/ipc{ipc}.tsv",
    "evaluate": "benchmarks/evaluate/{dataset}/{method}/ipc{ipc}/{arch}/{variant}/seed{seed}.tsv",
    "evaluate_full": "benchmarks/evaluate_full/{dataset}/{arch}/seed{seed}.tsv",
    "cross_arch": "benchmarks/cross_arch/{dataset}/{method}/ipc{ipc}/{arch}/seed{seed}.tsv",
    "kd": "benchmarks/kd/{dataset}/{kd_method}/{mode}/{setting}/seed{seed}.tsv",
}


wildcard_constraints:
    dataset="|".join(DATASETS),
    method="|".join(METHODS) or "(?!)",
    ipc=r"\d+",
    seed=r"\d+",
    arch=r"[A-Za-z0-9_]+",
    variant=r"[A-Za-z0-9_]+",
    kd_method=r"none|kd|dkd|ctkd|fea",
    mode=r"vanilla|sakd_every\d+",
    setting=r"default|(eta|lam|ratio)[0-9.e+-]+",


# ---------------------------------------------------------------- input functions


def get_dataset_options(wildcards, input):
    """The dataset entry as the adapter needs it; a synthetic dataset's root is its generated folder."""
    options = {
        k: v
        for k, v in DATASETS[wildcards.dataset].items()
        if k in ("format", "root", "videos", "split", "classes")
    }
    if options["format"] == "synthetic":
        options["root"] = input.generated
    return options


def get_extract_input(wildcards):
    if DATASETS[wildcards.dataset]["format"] == "synthetic":
        return {"generated": f"results/datasets/{wildcards.dataset}"}
    return {}


def get_generator_options(wildcards):
    return DATASETS[wildcards.dataset]["generator"]


def get_extract_options(wildcards):
    return DATASETS[wildcards.dataset]["extract"]


def get_clip(wildcards):
    return DATASETS[wildcards.dataset]["clip"]


def frame_store(wildcards):
    return f"results/frames/{wildcards.dataset}/manifest.parquet"


def teacher_stem(dataset):
    return TEACHER.format(dataset=dataset, arch=config["teacher"]["arch"])


def get_teacher_training(wildcards):
    return config["teacher"]["training"]


def get_arch_options(wildcards):
    return config.get("models", {}).get(wildcards.arch, {})


# Inputs a method can name in its `requires`: name -> main file of that input for a
# condense job (the method receives the path without suffix as `ctx.inputs[name]`).
REQUIREMENTS = {
    "teacher": lambda wc: f"{teacher_stem(wc.dataset)}.safetensors",
}


def kd_teacher_stem(dataset):
    return TEACHER.format(dataset=dataset, arch=KD["teacher"])


def get_kd_input(wildcards):
    inputs = {"store": frame_store(wildcards)}
    if wildcards.kd_method != "none":
        inputs["teacher"] = f"{kd_teacher_stem(wildcards.dataset)}.safetensors"
    return inputs


def get_kd_training(wildcards):
    return KD["training"]


def get_kd_method_options(wildcards):
    return KD["methods"].get(wildcards.kd_method, {})


def get_kd_sakd(wildcards):
    """SAKD settings of a job ({} for vanilla runs, so that SAKD edits leave them alone)."""
    if wildcards.mode == "vanilla":
        return {}
    settings = {k: v for k, v in KD["sakd"].items() if k != "every"}
    settings["every"] = int(wildcards.mode[len("sakd_every") :])
    settings.update(kd_setting_overrides(wildcards.setting))
    return settings


def get_kd_student_options(wildcards):
    return config.get("models", {}).get(KD["student"], {})


def get_condense_input(wildcards):
    inputs = {"store": frame_store(wildcards)}
    for name in METHODS[wildcards.method].get("requires", []):
        inputs[name] = REQUIREMENTS[name](wildcards)
    return inputs


def get_method_params(wildcards):
    return method_params(wildcards.method, wildcards.dataset, int(wildcards.ipc))


def get_method_models(wildcards):
    return models_used(get_method_params(wildcards))


def get_method_kind(wildcards):
    return method_kind(wildcards.method)


def get_eval_settings(wildcards):
    return eval_settings(wildcards.dataset, wildcards.method, wildcards.get("variant", "default"))


def get_full_settings(wildcards):
    return full_settings(wildcards.dataset)


def needs_teacher(settings):
    # TrainSettings' default label mode is multi_soft.
    return settings.get("labels", "multi_soft") != "hard"


def _teacher_if(settings, dataset):
    return {"teacher": f"{teacher_stem(dataset)}.safetensors"} if needs_teacher(settings) else {}


def get_eval_input(wildcards):
    inputs = {
        "store": frame_store(wildcards),
        "condensed": f"{CONDENSED.format(**wildcards)}.json",
    }
    inputs.update(_teacher_if(get_eval_settings(wildcards), wildcards.dataset))
    return inputs


def get_full_input(wildcards):
    inputs = {"store": frame_store(wildcards)}
    inputs.update(_teacher_if(get_full_settings(wildcards), wildcards.dataset))
    return inputs


# ---------------------------------------------------------------- targets
# Every job behind the tables as (rule, wildcards): outputs and benchmarks derive from it.


def _condense_jobs():
    return [
        ("condense", {"dataset": d, "method": m, "ipc": ipc})
        for d in DATASETS
        for m in METHODS
        for ipc in method_ipcs(m)
    ]


def _eval_jobs():
    arch, seeds = EVALUATION["arch"], EVALUATION["seeds"]
    jobs = [
        ("evaluate", {**wc, "arch": arch, "variant": "default", "seed": s})
        for _, wc in _condense_jobs()
        for s in seeds
    ]
    jobs += [
        ("evaluate_full", {"dataset": d, "arch": arch, "seed": s}) for d in DATASETS for s in seeds
    ]
    return jobs


def _cross_arch_jobs():
    cross = EVALUATION.get("cross_arch", {})
    return [
        ("cross_arch", {**wc, "arch": a, "seed": s})
        for _, wc in _condense_jobs()
        if wc["method"] in cross.get("methods", []) and wc["ipc"] in cross.get("ipcs", [1])
        for a in cross.get("archs", [])
        for s in cross.get("seeds", [0])
    ]


def _teacher_jobs():
    """Teachers some job reads (soft labels, selection features, knowledge distillation)."""
    needed = {
        wc["dataset"]
        for _, wc in _condense_jobs()
        if "teacher" in METHODS[wc["method"]].get("requires", [])
        or needs_teacher(eval_settings(wc["dataset"], wc["method"], "default"))
    } | {d for d in DATASETS if needs_teacher(full_settings(d))}
    jobs = [("teacher", {"dataset": d, "arch": config["teacher"]["arch"]}) for d in sorted(needed)]
    if KD:
        kd_teachers = [("teacher", {"dataset": d, "arch": KD["teacher"]}) for d in DATASETS]
        jobs += [job for job in kd_teachers if job not in jobs]
    return jobs


def _kd_jobs():
    """Student alone, then every KD method in every mode: the rows of the KD table."""
    if not KD:
        return []
    jobs = []
    for d in DATASETS:
        for s in KD.get("seeds", [0]):
            base = {"dataset": d, "setting": "default", "seed": s}
            jobs.append(("kd", {**base, "kd_method": "none", "mode": "vanilla"}))
            jobs += [
                ("kd", {**base, "kd_method": m, "mode": mode})
                for m in KD["methods"]
                for mode in kd_modes()
            ]
    return jobs


def _kd_ablation_jobs():
    if not KD or not KD.get("ablation"):
        return []
    ablation = KD["ablation"]
    mode = f"sakd_every{ablation.get('every', 5)}"
    settings = sorted({s for runs in kd_ablation_grid().values() for _, s in runs})
    return [
        (
            "kd",
            {"dataset": d, "kd_method": ablation["method"], "mode": mode, "setting": st, "seed": s},
        )
        for d in DATASETS
        for s in KD.get("seeds", [0])
        for st in settings
    ]


def _dataset_jobs():
    jobs = [("generate_synthetic", {"dataset": d}) for d in SYNTHETIC_DATASETS]
    return jobs + [("extract_frames", {"dataset": d}) for d in DATASETS]


OUTPUTS = {
    "condense": f"{CONDENSED}.json",
    "evaluate": EVAL,
    "evaluate_full": EVAL_FULL,
    "cross_arch": CROSS_ARCH,
    "kd": KD_ROW,
}


def get_eval_targets():
    return [OUTPUTS[rule].format(**wc) for rule, wc in _eval_jobs()]


def get_cross_arch_targets():
    return [OUTPUTS[rule].format(**wc) for rule, wc in _cross_arch_jobs()]


def get_condensed_metas():
    return [OUTPUTS[rule].format(**wc) for rule, wc in _condense_jobs()]


def get_kd_targets():
    return [OUTPUTS[rule].format(**wc) for rule, wc in _kd_jobs()]


def get_kd_ablation_targets():
    return [OUTPUTS[rule].format(**wc) for rule, wc in _kd_ablation_jobs()]


def get_kd_teacher_metas():
    return [f"{kd_teacher_stem(d)}.json" for d in DATASETS]


def get_run_benchmarks():
    """The benchmark file of every job behind the tables."""
    jobs = _dataset_jobs() + _teacher_jobs() + _condense_jobs() + _eval_jobs() + _cross_arch_jobs()
    jobs += _kd_jobs() + [job for job in _kd_ablation_jobs() if job not in _kd_jobs()]
    return [BENCHMARKS[rule].format(**wc) for rule, wc in jobs]


def get_all_frames():
    return expand("results/frames/{dataset}/manifest.parquet", dataset=DATASETS)


def get_all_tables():
    tables = [
        "results/datasets.parquet",
        "results/main.parquet",
        "results/cross_arch.parquet",
        "results/runs.parquet",
    ]
    if KD:
        tables.append("results/kd.parquet")
    if _kd_ablation_jobs():
        tables.append("results/kd_ablation.parquet")
    return tables


# ---------------------------------------------------------------- report
# Files `snakemake --report` shows; `all_tables` builds them. Every table of
# `get_all_tables()` is rendered to HTML, so a new table appears without further changes.

REPORT_TABLE = "results/report/tables/{table}.html"
REPORT_ACCURACY = "results/report/accuracy_ipc/{dataset}.png"
REPORT_CROSS_ARCH = "results/report/cross_arch/{dataset}.png"
REPORT_PREVIEW = "results/report/previews/{dataset}/{method}/ipc{ipc}.png"
REPORT_RUNS = "results/report/runs.png"


def report_tables():
    """Names of the tables `all_tables` builds as `results/<name>.parquet`."""
    return [
        Path(p).stem
        for p in get_all_tables()
        if Path(p).parent == Path("results") and p.endswith(".parquet")
    ]


def report_table_category(wildcards):
    return "Runs" if wildcards.table == "runs" else "Tables"


def get_report_targets():
    targets = [REPORT_TABLE.format(table=t) for t in report_tables()]
    targets += [REPORT_ACCURACY.format(dataset=d) for d in DATASETS]
    targets += [
        REPORT_CROSS_ARCH.format(dataset=d)
        for d in sorted({wc["dataset"] for _, wc in _cross_arch_jobs()})
    ]
    smallest_ipc = {}  # one preview per dataset and method, at the smallest IPC condensed
    for _, wc in _condense_jobs():
        key = (wc["dataset"], wc["method"])
        smallest_ipc[key] = min(smallest_ipc.get(key, wc["ipc"]), wc["ipc"])
    targets += [
        REPORT_PREVIEW.format(dataset=d, method=m, ipc=i) for (d, m), i in smallest_ipc.items()
    ]
    return targets + [REPORT_RUNS]
