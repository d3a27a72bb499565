"""Config validation, path templates, target builders and wildcard constraints (no rules here)."""

import copy
import importlib.util
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from vidcond import config_checks
from vidcond.data import layouts
from vidcond.data.splits import validation_count
from vidcond.methods import check_params, method_class, method_kinds
from vidcond.protocols import SD_BASES, evaluation_protocols

# ---------------------------------------------------------------- checks before any job
# A short message (key, value, allowed values, nearest name) instead of the schema dump of
# `validate`, which then only fills in the defaults.
with open(Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml") as _schema_file:
    _SCHEMA = yaml.safe_load(_schema_file)
_problem = config_checks.schema_problem(config, _SCHEMA)
if _problem:
    raise WorkflowError(_problem)
validate(config, schema="../schemas/config.schema.yaml")
_problems = config_checks.reference_problems(config, _SCHEMA["$defs"]["arch_name"]["enum"])
if _problems:
    raise WorkflowError(config_checks.first_of(_problems))
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

DATASETS = config["datasets"]
SYNTHETIC_DATASETS = [n for n, d in DATASETS.items() if d["format"] == "synthetic"]
# A pattern no name matches when no dataset is synthetic.
SYNTHETIC_PATTERN = "|".join(SYNTHETIC_DATASETS) or "(?!)"
METHODS = config["methods"]
EVALUATION = config["evaluation"]
# Every set is evaluated under this protocol, and also under its own paper's (vidcond.protocols).
COMMON_PROTOCOL = EVALUATION["protocol"]
KD = config.get("kd")  # the knowledge-distillation stage runs only when configured
# Diversity metrics of every condensed set (results/diversity.parquet), when configured.
DIVERSITY = config.get("diversity")
# Keys of a method entry that configure the workflow, not the method itself.
METHOD_RESERVED = ("kind", "requires", "ipcs", "evaluation", "by_dataset", "by_ipc")
# Every method entry a job can name: those of the config, and after the checks the derived
# entries of the static/dynamic ablation (`static_dynamic`, not in the main table).
METHOD_ENTRIES = dict(METHODS)
SD_ABLATION = config.get("static_dynamic")
# The temporal-taxonomy table: one derived entry of `temporal.method` per grid point.
TEMPORAL = config.get("temporal")
TEMPORAL_OPTIONS = {"n_syn": 0, "n_real": 0, "segments": 1, "interpolation": "duplicate"}
# The guidance-strength ablation of GVD: derived entries measured in the diversity table.
GUIDANCE = config.get("guidance_ablation")

# ---------------------------------------------------------------- checks beyond the schema

_SCHEMA_DEFS = _SCHEMA["$defs"]
ARCHS = _SCHEMA_DEFS["arch_name"]["enum"]


def method_schema_errors(kind, hyper):
    """The error of a method's hyperparameters (checked by its Params dataclass), if any."""
    try:
        check_params(kind, hyper)
    except ValueError as error:
        yield str(error)


def _check_static_dynamic():
    for name in METHODS:
        if method_kind(name) in SD_BASES:
            static = METHODS[name].get("static", {}).get("method")
            if static not in METHODS:
                raise WorkflowError(
                    f"config methods.{name}.static.method: {static!r} is not a methods entry"
                )
            if "static" not in METHODS[name].get("requires", []):
                raise WorkflowError(f"config methods.{name}: add `static` to its `requires`")
            for key in ("lr_dynamic", "lr_hal", "iterations"):
                if key not in METHODS[name]:
                    raise WorkflowError(f"config methods.{name}: `{key}` is required")
    if SD_ABLATION and (
        SD_ABLATION["method"] not in METHODS or method_kind(SD_ABLATION["method"]) not in SD_BASES
    ):
        raise WorkflowError(
            f"config static_dynamic.method: {SD_ABLATION['method']!r} is not a +SD method entry"
        )


def _check_config():
    for name, dataset in DATASETS.items():
        if dataset["format"] != "synthetic":
            for key in ("root", "videos"):
                if key in dataset and not Path(dataset[key]).is_dir():
                    raise WorkflowError(
                        f"config datasets.{name}.{key}: {dataset[key]!r} is not a directory"
                    )
        if dataset["format"] == "synthetic":
            listed = dataset["generator"].get("train_per_class", 24)
            val = dataset["validation"]
            per_class = listed - validation_count(listed, val.get("fraction", 0.1))
            for method in METHODS:
                for ipc in method_ipcs(method):
                    if ipc > per_class:
                        first = dataset["generator"]["classes"][0]["name"]
                        raise WorkflowError(
                            f"config: IPC {ipc} of method {method!r} exceeds the {per_class} "
                            f"training videos of class {first!r} (and every other class; "
                            f"{listed - per_class} more are its validation split) "
                            f"of dataset {name!r}"
                        )
    for name, entry in METHODS.items():
        kind = method_kind(name)
        if kind not in method_kinds():
            raise WorkflowError(
                f"config methods.{name}: unknown method kind {kind!r}; known: {method_kinds()}"
            )
        # each override checked merged over the entry (a required key may come from it)
        base = {k: v for k, v in entry.items() if k not in METHOD_RESERVED}
        parts = {"": base}
        for section in ("by_dataset", "by_ipc"):
            for key, part in entry.get(section, {}).items():
                parts[f".{section}.{key}"] = {**base, **part}
        for where, hyper in parts.items():
            for error in method_schema_errors(kind, hyper):
                raise WorkflowError(f"config methods.{name}{where}: {error}")
    labels = EVALUATION.get("labels_ablation")
    if labels:
        for method in labels["methods"]:
            if method not in METHODS:
                raise WorkflowError(
                    f"config evaluation.labels_ablation.methods: {method!r} is not in methods"
                )
            for ipc in labels.get("ipcs", [1]):
                if ipc not in method_ipcs(method):
                    raise WorkflowError(
                        f"config evaluation.labels_ablation.ipcs: method {method!r} "
                        f"is not condensed at IPC {ipc}"
                    )
        for variant in labels["variants"]:
            if variant not in EVALUATION["variants"]:
                raise WorkflowError(
                    f"config evaluation.labels_ablation.variants: {variant!r} is not in evaluation.variants"
                )
    sections = {
        "evaluation": EVALUATION,
        "evaluation.labels_ablation": EVALUATION.get("labels_ablation"),
        "temporal": TEMPORAL,
        "static_dynamic": SD_ABLATION,
    }
    for where, section in sections.items():
        protocol = (section or {}).get("protocol")
        if protocol is not None and protocol not in EVALUATION["protocols"]:
            raise WorkflowError(
                f"config {where}.protocol: {protocol!r} is not in evaluation.protocols "
                f"({', '.join(EVALUATION['protocols'])})"
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
    _check_teacher_archs()


def _check_teacher_archs():
    """Teachers named by evaluations (`teacher_arch`) and by `diversity.arch` must be
    networks; `teacher_arch` belongs to evaluation settings only."""
    known = set(ARCHS) | set(config.get("models", {}))
    named = {f"evaluation.protocols.{k}": v for k, v in EVALUATION["protocols"].items()}
    named.update({f"evaluation.variants.{k}": v for k, v in EVALUATION["variants"].items()})
    named["evaluation.overrides"] = EVALUATION.get("overrides", {})
    named["evaluation.full"] = EVALUATION["full"]
    named.update({f"datasets.{k}.evaluation": d.get("evaluation", {}) for k, d in DATASETS.items()})
    named.update({f"methods.{k}.evaluation": m.get("evaluation", {}) for k, m in METHODS.items()})
    named = {
        f"{k}.teacher_arch": v["teacher_arch"] for k, v in named.items() if "teacher_arch" in v
    }
    if DIVERSITY and "arch" in DIVERSITY:
        named["diversity.arch"] = DIVERSITY["arch"]
    for where, arch in named.items():
        if arch not in known:
            raise WorkflowError(
                f"config {where}: {arch!r} is neither an architecture nor a `models` entry"
            )
    trainings = {"teacher.training": config["teacher"]["training"]}
    trainings.update(
        {f"teacher.by_arch.{k}": v for k, v in config["teacher"].get("by_arch", {}).items()}
    )
    for where, settings in trainings.items():
        if "teacher_arch" in settings:
            raise WorkflowError(f"config {where}: `teacher_arch` applies to evaluations only")


# ---------------------------------------------------------------- resolving settings


def method_kind(method):
    return METHOD_ENTRIES[method].get("kind", method)


def method_ipcs(method):
    return METHODS[method].get("ipcs", config["ipcs"])


def method_params(method, dataset, ipc):
    """Hyperparameters of ``method`` for one dataset and IPC (base < by_dataset < by_ipc)."""
    entry = METHOD_ENTRIES[method]
    params = {k: v for k, v in entry.items() if k not in METHOD_RESERVED}
    params.update(entry.get("by_dataset", {}).get(dataset, {}))
    params.update(entry.get("by_ipc", {}).get(str(ipc), {}))
    return params


def eval_settings(dataset, method, variant, protocol):
    """Protocol preset < evaluation.overrides < dataset < method < variant."""
    settings = dict(EVALUATION["protocols"][protocol])
    settings.update(EVALUATION.get("overrides", {}))
    settings.update(DATASETS[dataset].get("evaluation", {}))
    if method != "full":
        settings.update(METHOD_ENTRIES[method].get("evaluation", {}))
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
    if setting in ("default", "scratch"):
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


def sd_ablation_runs():
    """The runs of the static/dynamic ablation at IPC `ipc`: dicts of spc, dpc and the
    (method, run_ipc) that condenses each. A pair equal to the +SD entry's own reuses it;
    DPC 0 is the static method alone at IPC = SPC; the others are derived entries
    `<method>_s<SPC>d<DPC>`."""
    if not SD_ABLATION:
        return []
    name, ipc = SD_ABLATION["method"], SD_ABLATION.get("ipc", 1)
    entry = METHODS[name]
    own = {**entry, **entry.get("by_ipc", {}).get(str(ipc), {})}
    runs = []
    for spc, dpc in SD_ABLATION["grid"]:
        run = {"spc": spc, "dpc": dpc, "ipc": ipc, "method": f"{name}_s{spc}d{dpc}", "run_ipc": ipc}
        if dpc == 0:
            run.update(method=own["static"]["method"], run_ipc=spc)
        elif (own["static"]["spc"], own.get("dpc", 1)) == (spc, dpc) and ipc in method_ipcs(name):
            run["method"] = name
        runs.append(run)
    return runs


def _sd_derived_entries():
    derived = {}
    for run in sd_ablation_runs():
        if run["method"] not in METHODS:
            base = METHODS[SD_ABLATION["method"]]
            pair = {"static": {**base["static"], "spc": run["spc"]}, "dpc": run["dpc"]}
            entry = copy.deepcopy(base)
            entry.update(pair, kind=method_kind(SD_ABLATION["method"]), ipcs=[run["run_ipc"]])
            entry.setdefault("by_ipc", {}).setdefault(str(run["run_ipc"]), {}).update(pair)
            derived[run["method"]] = entry
    return derived


def temporal_points():
    """The grid of the temporal table: each point's options (defaults filled in) and the
    derived method entry `<method>_syn<n>_real<n>_k<K>_<interpolation>` condensing it."""
    if not TEMPORAL:
        return []
    points = []
    for point in TEMPORAL["grid"]:
        options = {**TEMPORAL_OPTIONS, **point}
        name = "{}_syn{n_syn}_real{n_real}_k{segments}_{interpolation}".format(
            TEMPORAL["method"], **options
        )
        points.append({**options, "method": name})
    return points


def _check_temporal():
    if not TEMPORAL:
        return
    name = TEMPORAL["method"]
    if name not in METHODS or "n_syn" not in method_class(method_kind(name)).params_class.docs():
        raise WorkflowError(
            f"config temporal.method: {name!r} is not a methods entry whose kind takes n_syn, n_real, segments, interpolation"
        )
    names = [p["method"] for p in temporal_points()]
    if len(set(names)) < len(names):
        raise WorkflowError("config temporal.grid: a point is listed twice")


def _temporal_derived_entries():
    derived = {}
    ipc = TEMPORAL.get("ipc", 1) if TEMPORAL else 1
    for point in temporal_points():
        options = {k: point[k] for k in TEMPORAL_OPTIONS}
        entry = copy.deepcopy(METHODS[TEMPORAL["method"]])
        entry.update(options, ipcs=[ipc], kind=method_kind(TEMPORAL["method"]))
        entry.setdefault("by_ipc", {}).setdefault(str(ipc), {}).update(options)
        requires = entry.get("requires", [])
        if options["interpolation"] == "parametric" and "interpolator" not in requires:
            entry["requires"] = [*requires, "interpolator"]
        derived[point["method"]] = entry
    return derived


def guidance_runs():
    """(derived entry `<method>_strength<λ>`, λ) of the guidance ablation ('.' written 'p')."""
    if not GUIDANCE:
        return []
    return [
        (f"{GUIDANCE['method']}_strength{strength:g}".replace(".", "p"), strength)
        for strength in GUIDANCE["strengths"]
    ]


def _guidance_derived_entries():
    derived = {}
    for name, strength in guidance_runs():
        entry = copy.deepcopy(METHODS[GUIDANCE["method"]])
        entry.update(strength=strength, ipcs=[GUIDANCE["ipc"]], kind=method_kind(GUIDANCE["method"]))
        derived[name] = entry
    return derived


def _check_guidance():
    if GUIDANCE and (
        GUIDANCE["method"] not in METHODS or method_kind(GUIDANCE["method"]) != "gvd"
    ):
        raise WorkflowError(
            f"config guidance_ablation.method: {GUIDANCE['method']!r} is not a methods entry of kind gvd"
        )


_check_config()
_check_static_dynamic()
_check_guidance()
_check_temporal()
METHOD_ENTRIES.update(_sd_derived_entries())
METHOD_ENTRIES.update(_temporal_derived_entries())
METHOD_ENTRIES.update(_guidance_derived_entries())
TEMPORAL_METHODS = {p["method"] for p in temporal_points()}
# method entry -> the protocols its sets are evaluated under in the main table
METHOD_PROTOCOLS = evaluation_protocols(
    {m: method_kind(m) for m in METHODS}, COMMON_PROTOCOL, EVALUATION["protocols"]
)


def ablation_protocol(section):
    """The protocol an ablation's evaluations use: its own `protocol`, else the common one."""
    return (section or {}).get("protocol", COMMON_PROTOCOL)


# ---------------------------------------------------------------- paths

TEACHER = "results/teachers/{dataset}/{arch}"
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

# Benchmark file of each rule, with the same wildcards as its output.
BENCHMARKS = {
    "generate_synthetic": "benchmarks/generate_synthetic/{dataset}.tsv",
    "extract_frames": "benchmarks/extract_frames/{dataset}.tsv",
    "teacher": "benchmarks/teacher/{dataset}/{arch}.tsv",
    "experts": "benchmarks/experts/{dataset}/{arch}.tsv",
    "diffusion": "benchmarks/diffusion/{dataset}.tsv",
    "condense": "benchmarks/condense/{dataset}/{method}/ipc{ipc}.tsv",
    "evaluate": "benchmarks/evaluate/{dataset}/{method}/ipc{ipc}/{arch}/{protocol}/{variant}.tsv",
    "evaluate_full": "benchmarks/evaluate_full/{dataset}/{arch}.tsv",
    "cross_arch": "benchmarks/cross_arch/{dataset}/{method}/ipc{ipc}/{arch}.tsv",
    "kd": "benchmarks/kd/{dataset}/{kd_method}/{mode}/{setting}/seed{seed}.tsv",
    "diversity": "benchmarks/diversity/{dataset}.tsv",
    "interpolator": "benchmarks/interpolator/{dataset}.tsv",
}


wildcard_constraints:
    dataset="|".join(DATASETS),
    method="|".join(METHOD_ENTRIES) or "(?!)",
    ipc=r"\d+",
    seed=r"\d+",
    arch=r"[A-Za-z0-9_]+",
    variant=r"[A-Za-z0-9_]+",
    protocol="|".join(EVALUATION["protocols"]),
    kd_method=r"none|kd|dkd|ctkd|fea",
    mode=r"vanilla|sakd_every\d+",
    setting=r"default|scratch|(eta|lam|ratio)[0-9.e+-]+",


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


def get_validation_options(wildcards):
    return DATASETS[wildcards.dataset]["validation"]


def get_clip(wildcards):
    return DATASETS[wildcards.dataset]["clip"]


def frame_store(wildcards):
    return f"results/frames/{wildcards.dataset}/manifest.parquet"


def teacher_stem(dataset):
    return TEACHER.format(dataset=dataset, arch=config["teacher"]["arch"])


def get_teacher_training(wildcards):
    """`teacher.training`, refined for this architecture by `teacher.by_arch`."""
    by_arch = config["teacher"].get("by_arch", {}).get(wildcards.arch, {})
    return {**config["teacher"]["training"], **by_arch}


def get_arch_options(wildcards):
    return config.get("models", {}).get(wildcards.arch, {})


def experts_stem(dataset):
    return EXPERTS.format(dataset=dataset, arch=config["experts"]["arch"])


def get_experts_settings(wildcards):
    """Number of experts, epochs and training settings (the `experts` section less `arch`)."""
    return {k: v for k, v in config["experts"].items() if k != "arch"}


# Inputs a method can name in its `requires`: name -> main file of that input for a
# condense job (the method receives the path without suffix as `ctx.inputs[name]`).
def static_memory_stem(wildcards):
    """The condensed set of single frames a +SD job starts from (its `static` settings)."""
    static = get_method_params(wildcards)["static"]
    return CONDENSED.format(dataset=wildcards.dataset, method=static["method"], ipc=static["spc"])


def condensation_teachers(method, dataset, ipc):
    """Architectures whose teachers a `teachers` method reads (its `condensation_models`)."""
    return method_params(method, dataset, ipc).get("condensation_models", ["miniC3D"])


def condensation_teacher_files(wildcards):
    """One trained teacher per condensation model, as inputs `teacher_<arch>`."""
    archs = condensation_teachers(wildcards.method, wildcards.dataset, int(wildcards.ipc))
    return {
        f"teacher_{arch}": f"{TEACHER.format(dataset=wildcards.dataset, arch=arch)}.safetensors"
        for arch in archs
    }


REQUIREMENTS = {
    "teacher": lambda wc: f"{teacher_stem(wc.dataset)}.safetensors",
    # the shard directory (EXPERTS) is the path of its index without suffix
    "experts": lambda wc: f"{experts_stem(wc.dataset)}.json",
    "teachers": condensation_teacher_files,  # several inputs: a dict of name -> file
    "interpolator": lambda wc: f"{INTERPOLATOR.format(dataset=wc.dataset)}.safetensors",
    "static": lambda wc: f"{static_memory_stem(wc)}.json",
    # the model directory (DIFFUSION) is the path of its summary without suffix
    "diffusion": lambda wc: f"{DIFFUSION.format(dataset=wc.dataset)}.json",
}


def get_diffusion_settings(wildcards):
    return config.get("diffusion", {})


def get_interpolator_model(wildcards):
    return config.get("interpolator", {}).get("model", {})


def get_interpolator_training(wildcards):
    return config.get("interpolator", {}).get("training", {})


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
    for name in METHOD_ENTRIES[wildcards.method].get("requires", []):
        files = REQUIREMENTS[name](wildcards)
        inputs.update(files if isinstance(files, dict) else {name: files})
    return inputs


def get_method_params(wildcards):
    return method_params(wildcards.method, wildcards.dataset, int(wildcards.ipc))


def get_method_models(wildcards):
    return models_used(get_method_params(wildcards))


def get_method_kind(wildcards):
    return method_kind(wildcards.method)


def _job_eval_settings(wildcards):
    return eval_settings(
        wildcards.dataset,
        wildcards.method,
        wildcards.get("variant", "default"),
        wildcards.get("protocol", COMMON_PROTOCOL),
    )


def get_eval_protocol(wildcards):
    return wildcards.get("protocol", COMMON_PROTOCOL)


def get_eval_seeds(wildcards):
    """Seeds of an evaluation job: those of the table it feeds (every set of one table is
    evaluated with the same seeds, so that comparisons are paired)."""
    if wildcards.method in TEMPORAL_METHODS:
        return TEMPORAL.get("seeds", [0])
    if wildcards.variant != "default":
        return EVALUATION["labels_ablation"].get("seeds", [0])
    return EVALUATION["seeds"]


def get_cross_arch_seeds(wildcards):
    return EVALUATION.get("cross_arch", {}).get("seeds", [0])


def get_full_seeds(wildcards):
    return EVALUATION["seeds"]


def training_part(settings):
    """Evaluation settings less `teacher_arch`: what `TrainSettings` takes."""
    return {k: v for k, v in settings.items() if k != "teacher_arch"}


def get_eval_settings(wildcards):
    return training_part(_job_eval_settings(wildcards))


def get_full_settings(wildcards):
    return training_part(full_settings(wildcards.dataset))


def needs_teacher(settings):
    # TrainSettings' default label mode is multi_soft.
    return settings.get("labels", "multi_soft") != "hard"


def eval_teacher_arch(settings):
    """The teacher giving an evaluation's soft labels (None with hard labels)."""
    if not needs_teacher(settings):
        return None
    return settings.get("teacher_arch", config["teacher"]["arch"])


def get_eval_teacher_arch(wildcards):
    return eval_teacher_arch(_job_eval_settings(wildcards))


def get_full_teacher_arch(wildcards):
    return eval_teacher_arch(full_settings(wildcards.dataset))


def _teacher_if(settings, dataset):
    arch = eval_teacher_arch(settings)
    return {"teacher": f"{TEACHER.format(dataset=dataset, arch=arch)}.safetensors"} if arch else {}


def get_eval_input(wildcards):
    inputs = {
        "store": frame_store(wildcards),
        "condensed": f"{CONDENSED.format(**wildcards)}.json",
    }
    inputs.update(_teacher_if(_job_eval_settings(wildcards), wildcards.dataset))
    return inputs


def get_full_input(wildcards):
    inputs = {"store": frame_store(wildcards)}
    inputs.update(_teacher_if(full_settings(wildcards.dataset), wildcards.dataset))
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
    arch = EVALUATION["arch"]
    jobs = [
        ("evaluate", {**wc, "arch": arch, "protocol": p, "variant": "default"})
        for _, wc in _condense_jobs()
        for p in METHOD_PROTOCOLS[wc["method"]]
    ]
    jobs += [("evaluate_full", {"dataset": d, "arch": arch}) for d in DATASETS]
    return jobs


def _cross_arch_jobs():
    cross = EVALUATION.get("cross_arch", {})
    return [
        ("cross_arch", {**wc, "arch": a})
        for _, wc in _condense_jobs()
        if wc["method"] in cross.get("methods", []) and wc["ipc"] in cross.get("ipcs", [1])
        for a in cross.get("archs", [])
    ]


def _labels_ablation_jobs():
    """Evaluations of the label ablation: method x IPC x variant (label mode, loss, CutMix)."""
    labels = EVALUATION.get("labels_ablation")
    if not labels:
        return []
    protocol = ablation_protocol(labels)
    return [
        ("evaluate", {**wc, "arch": EVALUATION["arch"], "protocol": protocol, "variant": v})
        for _, wc in _condense_jobs()
        if wc["method"] in labels["methods"] and wc["ipc"] in labels.get("ipcs", [1])
        for v in labels["variants"]
    ]


def _diffusion_jobs():
    """Diffusion models some condense job reads."""
    needed = {
        wc["dataset"]
        for _, wc in _condense_jobs() + _guidance_condense_jobs()
        if "diffusion" in METHOD_ENTRIES[wc["method"]].get("requires", [])
    }
    return [("diffusion", {"dataset": d}) for d in sorted(needed)]


def _experts_jobs():
    """Expert trajectories some condense job reads (trajectory matching)."""
    condense = _condense_jobs() + _sd_ablation_condense_jobs() + _temporal_condense_jobs()
    needed = {
        wc["dataset"]
        for _, wc in condense
        if "experts" in METHOD_ENTRIES[wc["method"]].get("requires", [])
    }
    return [("experts", {"dataset": d, "arch": config["experts"]["arch"]}) for d in sorted(needed)]


def _teacher_jobs():
    """Teachers some job reads (soft labels, selection features, knowledge distillation,
    diversity metrics)."""
    needed = {
        (wc["dataset"], config["teacher"]["arch"])
        for _, wc in _condense_jobs()
        if "teacher" in METHODS[wc["method"]].get("requires", [])
    }
    evaluations = _eval_jobs() + _labels_ablation_jobs() + _cross_arch_jobs()
    evaluations += _sd_ablation_eval_jobs() + _temporal_eval_jobs()
    for _, wc in evaluations:
        if "method" not in wc:  # the full training set: its teacher is added below
            continue
        settings = eval_settings(
            wc["dataset"],
            wc["method"],
            wc.get("variant", "default"),
            wc.get("protocol", COMMON_PROTOCOL),
        )
        needed.add((wc["dataset"], eval_teacher_arch(settings)))
    needed |= {(d, eval_teacher_arch(full_settings(d))) for d in DATASETS}
    if DIVERSITY:
        needed |= {(d, diversity_arch()) for d in DATASETS}
    jobs = [
        ("teacher", {"dataset": d, "arch": a})
        for d, a in sorted(needed - {(d, None) for d in DATASETS})
    ]
    if KD:
        kd_teachers = [("teacher", {"dataset": d, "arch": KD["teacher"]}) for d in DATASETS]
        jobs += [job for job in kd_teachers if job not in jobs]
    for _, wc in _condense_jobs():
        if "teachers" in METHOD_ENTRIES[wc["method"]].get("requires", []):
            for arch in condensation_teachers(wc["method"], wc["dataset"], wc["ipc"]):
                job = ("teacher", {"dataset": wc["dataset"], "arch": arch})
                if job not in jobs:
                    jobs.append(job)
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
            jobs += kd_scratch_jobs(base)  # kd.smk: the same runs from scratch
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
    "diversity": DIVERSITY_ROWS,
}


def get_eval_targets():
    return [OUTPUTS[rule].format(**wc) for rule, wc in _eval_jobs()]


def get_cross_arch_targets():
    return [OUTPUTS[rule].format(**wc) for rule, wc in _cross_arch_jobs()]


def get_condensed_metas():
    return [OUTPUTS[rule].format(**wc) for rule, wc in _condense_jobs()]


def get_labels_ablation_targets():
    return [OUTPUTS[rule].format(**wc) for rule, wc in _labels_ablation_jobs()]


def diversity_arch():
    """The network whose features and predictions the diversity metrics use."""
    return DIVERSITY.get("arch", config["teacher"]["arch"])


def diversity_sets(dataset):
    """Every condensed set of ``dataset`` (the main grid and the ablations' sets) as
    [method, ipc] pairs, each once."""
    condense = _condense_jobs() + _static_memory_jobs() + _sd_ablation_condense_jobs()
    sets = []
    for _, wc in condense + _temporal_condense_jobs() + _guidance_condense_jobs():
        if wc["dataset"] == dataset and [wc["method"], wc["ipc"]] not in sets:
            sets.append([wc["method"], wc["ipc"]])
    return sets


def _diversity_jobs():
    """One job per dataset: its real features and clusters are computed once."""
    return [("diversity", {"dataset": d}) for d in DATASETS] if DIVERSITY else []


def get_diversity_targets():
    return [OUTPUTS[rule].format(**wc) for rule, wc in _diversity_jobs()]


def get_diversity_covered():
    return [DIVERSITY_COVERED.format(**wc) for _, wc in _diversity_jobs()]


def get_diversity_sets(wildcards):
    return diversity_sets(wildcards.dataset)


def get_diversity_input(wildcards):
    teacher = TEACHER.format(dataset=wildcards.dataset, arch=diversity_arch())
    return {
        "store": frame_store(wildcards),
        "condensed": [
            f"{CONDENSED.format(dataset=wildcards.dataset, method=m, ipc=i)}.json"
            for m, i in diversity_sets(wildcards.dataset)
        ],
        "teacher": f"{teacher}.safetensors",
    }


def get_diversity_settings(wildcards):
    """Clusters, percentile and normalisation (the `diversity` section less `arch`)."""
    return {k: v for k, v in DIVERSITY.items() if k != "arch"}


def get_kd_targets():
    return [OUTPUTS[rule].format(**wc) for rule, wc in _kd_jobs()]


def get_kd_ablation_targets():
    return [OUTPUTS[rule].format(**wc) for rule, wc in _kd_ablation_jobs()]


def get_kd_teacher_metas():
    return [f"{kd_teacher_stem(d)}.json" for d in DATASETS]


def _sd_ablation_condense_jobs():
    return [
        ("condense", {"dataset": d, "method": run["method"], "ipc": run["run_ipc"]})
        for d in DATASETS
        for run in sd_ablation_runs()
    ]


def _sd_ablation_eval_jobs():
    protocol = ablation_protocol(SD_ABLATION)
    return [
        ("evaluate", {**wc, "arch": EVALUATION["arch"], "protocol": protocol, "variant": "default"})
        for _, wc in _sd_ablation_condense_jobs()
    ]


def _static_memory_jobs():
    """Condense jobs of the static memories the +SD jobs read (IPC = SPC, whether or not
    the static method's own `ipcs` list it)."""
    jobs = []
    for _, wc in _condense_jobs() + _sd_ablation_condense_jobs():
        if method_kind(wc["method"]) in SD_BASES:
            static = method_params(wc["method"], wc["dataset"], wc["ipc"])["static"]
            job = (
                "condense",
                {"dataset": wc["dataset"], "method": static["method"], "ipc": static["spc"]},
            )
            if job not in jobs:
                jobs.append(job)
    return jobs


def static_dynamic_runs():
    """Every (dataset, ablation run) with its static method, in the order of the inputs below."""
    return [
        {
            "dataset": d,
            **run,
            "static_method": METHOD_ENTRIES[SD_ABLATION["method"]]["static"]["method"],
        }
        for d in DATASETS
        for run in sd_ablation_runs()
    ]


def get_static_dynamic_input(wildcards):
    runs = static_dynamic_runs()
    return {
        "rows": [OUTPUTS[rule].format(**wc) for rule, wc in _sd_ablation_eval_jobs()],
        "metas": [
            f"{CONDENSED.format(dataset=r['dataset'], method=r['method'], ipc=r['run_ipc'])}.json"
            for r in runs
        ],
        "static_metas": [
            f"{CONDENSED.format(dataset=r['dataset'], method=r['static_method'], ipc=r['spc'])}.json"
            for r in runs
        ],
    }


def _guidance_condense_jobs():
    return [
        ("condense", {"dataset": d, "method": name, "ipc": GUIDANCE["ipc"]})
        for d in DATASETS
        for name, _ in guidance_runs()
    ]


def _temporal_condense_jobs():
    ipc = TEMPORAL.get("ipc", 1) if TEMPORAL else 1
    return [
        ("condense", {"dataset": d, "method": p["method"], "ipc": ipc})
        for d in DATASETS
        for p in temporal_points()
    ]


def _temporal_eval_jobs():
    protocol = ablation_protocol(TEMPORAL)
    return [
        ("evaluate", {**wc, "arch": EVALUATION["arch"], "protocol": protocol, "variant": "default"})
        for _, wc in _temporal_condense_jobs()
    ]


def _interpolator_jobs():
    """The interpolator of every dataset where a condense job interpolates parametrically."""
    condense = _condense_jobs() + _sd_ablation_condense_jobs() + _temporal_condense_jobs()
    needed = {
        wc["dataset"]
        for _, wc in condense
        if "interpolator" in METHOD_ENTRIES[wc["method"]].get("requires", [])
    }
    return [("interpolator", {"dataset": d}) for d in sorted(needed)]


def temporal_runs():
    """Every (dataset, grid point) of the temporal table with its frame counts resolved
    (0 = the dataset's clip length), in the order of the inputs below."""
    runs = []
    for d in DATASETS:
        clip_frames = DATASETS[d].get("clip", {}).get("num_frames", 8)
        for p in temporal_points():
            resolved = {k: p[k] or clip_frames for k in ("n_syn", "n_real")}
            runs.append({"dataset": d, **p, **resolved, "ipc": TEMPORAL.get("ipc", 1)})
    return runs


def get_temporal_input(wildcards):
    return {
        "rows": [EVAL.format(**wc) for _, wc in _temporal_eval_jobs()],
        "metas": [f"{CONDENSED.format(**wc)}.json" for _, wc in _temporal_condense_jobs()],
    }


def get_run_benchmarks():
    """The benchmark file of every job behind the tables."""
    jobs = _dataset_jobs() + _teacher_jobs() + _condense_jobs() + _eval_jobs() + _cross_arch_jobs()
    jobs += _diffusion_jobs() + _experts_jobs()
    jobs += _kd_jobs() + [job for job in _kd_ablation_jobs() if job not in _kd_jobs()]
    jobs += [job for job in _labels_ablation_jobs() if job not in _eval_jobs()]
    sd_jobs = _static_memory_jobs() + _sd_ablation_condense_jobs() + _sd_ablation_eval_jobs()
    jobs += [job for job in sd_jobs if job not in jobs]
    jobs += _interpolator_jobs() + _temporal_condense_jobs() + _temporal_eval_jobs()
    jobs += _guidance_condense_jobs() + _diversity_jobs()
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
    if _labels_ablation_jobs():
        tables.append("results/labels.parquet")
    if SD_ABLATION:
        tables.append("results/static_dynamic.parquet")
    if TEMPORAL:
        tables.append("results/temporal.parquet")
    if DIVERSITY:
        tables.append("results/diversity.parquet")
    tables.append("results/claims.parquet")
    return tables


# ---------------------------------------------------------------- report
# Files `snakemake --report` shows; `all_tables` builds them. Every table of
# `get_all_tables()` is rendered to HTML, so a new table appears without further changes.

REPORT_TABLE = "results/report/tables/{table}.html"
REPORT_ACCURACY = "results/report/accuracy_ipc/{dataset}.png"
REPORT_CROSS_ARCH = "results/report/cross_arch/{dataset}.png"
REPORT_PREVIEW = "results/report/previews/{dataset}/{method}/ipc{ipc}.png"
REPORT_RUNS = "results/report/runs.png"
REPORT_DIFFERENCES = "results/report/frame_differences/{dataset}/{method}/ipc{ipc}.png"


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
    differenced = set(SD_BASES) | set(SD_BASES.values())  # +SD methods and their bases
    targets += [
        REPORT_DIFFERENCES.format(dataset=d, method=m, ipc=i)
        for (d, m), i in smallest_ipc.items()
        if method_kind(m) in differenced
    ]
    return targets + [REPORT_RUNS]


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


def get_condense_code(wildcards):
    return CODE.condense_version("condense", method_kind(wildcards.method))
