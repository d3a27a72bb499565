"""What the workflow runs, as plain data: the checked config, the settings of every job and
the job grids behind the tables.

`Plan(config)` takes a config that passed the schema (with its defaults filled in, as
Snakemake's `validate` leaves it), raises `ConfigError` with a short message for anything
the schema cannot say (a name that refers to nothing, checked by
`vidcond.config_checks.reference_problems`; a method hyperparameter that is not the
method's; an IPC above a class's training videos), and adds the derived method
entries of the ablations (+SD static/dynamic pairs, temporal grid points, guidance
strengths). Jobs are `Job(rule, wildcards)`; wildcards are plain values (IPC and seed
ints). Paths, wildcard patterns and input functions stay in workflow/rules/*.smk.

What the planner knows about a method kind comes from its class (vidcond.methods):
`check_method_params` (are these hyperparameters the kind's?), `method_requirements`
(which prerequisites does a method entry read: teacher, experts, static, teachers,
interpolator, diffusion?) and the +SD kinds' base kinds.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import yaml

from vidcond import methods
from vidcond.config_checks import ConfigError, first_of, reference_problems
from vidcond.data.splits import validation_count
from vidcond.methods.base import RESERVED_KEYS
from vidcond.methods.distill import TemporalParams, WindowParams
from vidcond.protocols import REFERENCE, evaluation_protocols

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
# The options of a temporal grid point, with their defaults (the taxonomy's and the slide
# window's syn_frames).
TEMPORAL_OPTIONS = {**TemporalParams.defaults(), **WindowParams.defaults()}
# The SAKD hyperparameters the KD ablation varies.
KD_ABLATED = ("eta", "lam", "ratio")
# The architecture `condensation_models` defaults to (a `teachers` method's teachers).
DEFAULT_CONDENSATION_MODELS = ["miniC3D"]


class Job(NamedTuple):
    rule: str
    wildcards: dict


@lru_cache(maxsize=1)
def config_schema() -> dict:
    with open(SCHEMA_PATH) as schema_file:
        return yaml.safe_load(schema_file)


def known_archs() -> list[str]:
    """Names the model registry builds (the schema's `arch_name`)."""
    return config_schema()["$defs"]["arch_name"]["enum"]


def method_kinds() -> list[str]:
    return methods.method_kinds()


# ---------------------------------------------------------------- what a method kind takes


def check_method_params(kind: str, params: dict) -> list[str]:
    """Problems of ``params`` as hyperparameters of method ``kind`` (empty: all fine),
    checked by the kind's Params dataclass (vidcond.methods)."""
    try:
        methods.check_params(kind, params)
    except ValueError as error:
        return [str(error)]
    return []


def method_requirements(kind: str, entry: dict) -> tuple[str, ...]:
    """Prerequisites a method entry reads, by name (keys of the workflow's inputs), as its
    class declares them for its hyperparameters."""
    return methods.requirements(kind, hyperparameters(entry))


def takes_temporal_options(kind: str) -> bool:
    return set(TEMPORAL_OPTIONS) <= set(methods.method_class(kind).params_class.docs())


def hyperparameters(entry: dict) -> dict:
    """A method entry (or a by_dataset / by_ipc part) less the workflow's keys."""
    return {k: v for k, v in entry.items() if k not in RESERVED_KEYS}


def needs_teacher(settings: dict) -> bool:
    # TrainSettings' default label mode is multi_soft.
    return settings.get("labels", "multi_soft") != "hard"


def training_part(settings: dict) -> dict:
    """Evaluation settings less `teacher_arch`: what `TrainSettings` takes."""
    return {k: v for k, v in settings.items() if k != "teacher_arch"}


def _unique(jobs):
    """``jobs`` in order, each once."""
    kept = []
    for job in jobs:
        if job not in kept:
            kept.append(job)
    return kept


class Plan:
    """The checked settings and job grids of one validated config."""

    def __init__(self, config: dict):
        self.config = config
        self.datasets = config["datasets"]
        self.synthetic_datasets = [
            n for n, d in self.datasets.items() if d["format"] == "synthetic"
        ]
        self.methods = config["methods"]
        self.evaluation = config["evaluation"]
        # Every set is evaluated under this protocol, and also under its own paper's.
        self.common_protocol = self.evaluation["protocol"]
        self.teacher_arch = config["teacher"]["arch"]
        self.models = config.get("models", {})
        self.kd = config.get("kd")  # the knowledge-distillation stage runs only when configured
        # the kd student's pretraining on a source dataset ({}: students start from scratch)
        self.kd_pretrain = (self.kd or {}).get("pretrain") or {}
        self.diversity = config.get("diversity")
        self.sd_ablation = config.get("static_dynamic")
        self.temporal = config.get("temporal")
        self.guidance = config.get("guidance_ablation")
        # +SD kind -> the kind whose objective it applies (declared on the method classes)
        self.sd_bases = methods.static_dynamic_bases()
        # Every method entry a job can name: those of the config and, after the checks,
        # the derived entries of the ablations (not in the main table).
        self.entries = dict(self.methods)
        problems = reference_problems(config, known_archs())
        if problems:
            raise ConfigError(first_of(problems))
        self._check_config()
        self._check_static_dynamic()
        self._check_guidance()
        self._check_temporal()
        self.entries.update(self._sd_derived_entries())
        self.entries.update(self._temporal_derived_entries())
        self.entries.update(self._guidance_derived_entries())
        self._check_experts()
        self.temporal_methods = {p["method"] for p in self.temporal_points()}
        # method entry -> the protocols its sets are evaluated under in the main table
        self.method_protocols = evaluation_protocols(
            {m: self.method_kind(m) for m in self.methods},
            self.common_protocol,
            self.evaluation["protocols"],
        )

    # ------------------------------------------------------------ checks beyond the schema

    def _check_config(self):
        archs = known_archs()
        for name, dataset in self.datasets.items():
            if dataset["format"] != "synthetic":
                for key in ("root", "videos"):
                    if key in dataset and not Path(dataset[key]).is_dir():
                        raise ConfigError(
                            f"config datasets.{name}.{key}: {dataset[key]!r} is not a directory"
                        )
                continue
            listed = dataset["generator"].get("train_per_class", 24)
            per_class = listed - validation_count(
                listed, dataset["validation"].get("fraction", 0.1)
            )
            for method in self.methods:
                for ipc in self.method_ipcs(method):
                    if ipc > per_class:
                        first = dataset["generator"]["classes"][0]["name"]
                        raise ConfigError(
                            f"config: IPC {ipc} of method {method!r} exceeds the {per_class} "
                            f"training videos of class {first!r} (and every other class; "
                            f"{listed - per_class} more are its validation split) "
                            f"of dataset {name!r}"
                        )
        kinds = method_kinds()
        for name, entry in self.methods.items():
            kind = self.method_kind(name)
            if kind not in kinds:
                raise ConfigError(
                    f"config methods.{name}: unknown method kind {kind!r}; known: {kinds}"
                )
            if "requires" in entry:
                raise ConfigError(
                    f"config methods.{name}.requires: a method's inputs are declared by its "
                    "class (vidcond.methods, `requirements`); remove the key"
                )
            # each override checked merged over the entry (a required key may come from it)
            base = hyperparameters(entry)
            parts = {"": base}
            for section in ("by_dataset", "by_ipc"):
                for key, part in entry.get(section, {}).items():
                    parts[f".{section}.{key}"] = {**base, **part}
            for where, part in parts.items():
                for problem in check_method_params(kind, part):
                    raise ConfigError(f"config methods.{name}{where}: {problem}")
        labels = self.evaluation.get("labels_ablation")
        if labels:
            for method in labels["methods"]:
                if method not in self.methods:
                    raise ConfigError(
                        f"config evaluation.labels_ablation.methods: {method!r} is not in methods"
                    )
                for ipc in labels.get("ipcs", [1]):
                    if ipc not in self.method_ipcs(method):
                        raise ConfigError(
                            f"config evaluation.labels_ablation.ipcs: method {method!r} "
                            f"is not condensed at IPC {ipc}"
                        )
            for variant in labels["variants"]:
                if variant not in self.evaluation["variants"]:
                    raise ConfigError(
                        f"config evaluation.labels_ablation.variants: {variant!r} is not in evaluation.variants"
                    )
        sections = {
            "evaluation": self.evaluation,
            "evaluation.labels_ablation": labels,
            "temporal": self.temporal,
            "static_dynamic": self.sd_ablation,
        }
        for where, section in sections.items():
            protocol = (section or {}).get("protocol")
            if protocol is not None and protocol not in self.evaluation["protocols"]:
                raise ConfigError(
                    f"config {where}.protocol: {protocol!r} is not in evaluation.protocols "
                    f"({', '.join(self.evaluation['protocols'])})"
                )
        for name, options in self.models.items():
            if name not in archs and "arch" not in options:
                raise ConfigError(
                    f"config models.{name}: not an architecture ({archs}); a variant needs `arch`"
                )
        if self.kd:
            for role in ("teacher", "student"):
                if self.kd[role] not in archs and self.kd[role] not in self.models:
                    raise ConfigError(
                        f"config kd.{role}: {self.kd[role]!r} is neither an architecture nor a `models` entry"
                    )
            ablation = self.kd.get("ablation")
            if ablation and ablation["method"] not in self.kd["methods"]:
                raise ConfigError(
                    f"config kd.ablation.method: {ablation['method']!r} is not in kd.methods"
                )
        self._check_teacher_archs()

    def _check_experts(self):
        """A trajectory method reads its experts up to `experts_epochs_read` (declared on its
        parameters): the experts of the config must train at least that far."""
        trained = self.config.get("experts", {}).get("epochs")
        if trained is None:
            return
        for name in self.entries:
            if "experts" not in self.requirements(name):
                continue
            kind = self.method_kind(name)
            for dataset in self.datasets:
                for ipc in self.method_ipcs(name):
                    typed = methods.check_params(kind, self.method_params(name, dataset, ipc))
                    if typed.experts_epochs_read > trained:
                        raise ConfigError(
                            f"config methods.{name}: max_start_epoch {typed.max_start_epoch} and "
                            f"expert_epochs {typed.expert_epochs} read expert epoch "
                            f"{typed.experts_epochs_read}, but experts.epochs is {trained}"
                        )

    def _check_teacher_archs(self):
        """Teachers named by evaluations (`teacher_arch`) and by `diversity.arch` must be
        networks; `teacher_arch` belongs to evaluation settings only."""
        known = set(known_archs()) | set(self.models)
        evaluation = self.evaluation
        named = {f"evaluation.protocols.{k}": v for k, v in evaluation["protocols"].items()}
        named.update({f"evaluation.variants.{k}": v for k, v in evaluation["variants"].items()})
        named["evaluation.overrides"] = evaluation.get("overrides", {})
        named["evaluation.full"] = evaluation["full"]
        named.update(
            {f"datasets.{k}.evaluation": d.get("evaluation", {}) for k, d in self.datasets.items()}
        )
        named.update(
            {f"methods.{k}.evaluation": m.get("evaluation", {}) for k, m in self.methods.items()}
        )
        named = {
            f"{k}.teacher_arch": v["teacher_arch"] for k, v in named.items() if "teacher_arch" in v
        }
        if self.diversity and "arch" in self.diversity:
            named["diversity.arch"] = self.diversity["arch"]
        for where, arch in named.items():
            if arch not in known:
                raise ConfigError(
                    f"config {where}: {arch!r} is neither an architecture nor a `models` entry"
                )
        teacher = self.config["teacher"]
        trainings = {"teacher.training": teacher["training"]}
        trainings.update({f"teacher.by_arch.{k}": v for k, v in teacher.get("by_arch", {}).items()})
        for where, settings in trainings.items():
            if "teacher_arch" in settings:
                raise ConfigError(f"config {where}: `teacher_arch` applies to evaluations only")

    def _check_static_dynamic(self):
        for name, entry in self.methods.items():
            if self.method_kind(name) not in self.sd_bases:
                continue
            static = entry.get("static", {}).get("method")
            if static not in self.methods:
                raise ConfigError(
                    f"config methods.{name}.static.method: {static!r} is not a methods entry"
                )
        ablation = self.sd_ablation
        if ablation and (
            ablation["method"] not in self.methods
            or self.method_kind(ablation["method"]) not in self.sd_bases
        ):
            raise ConfigError(
                f"config static_dynamic.method: {ablation['method']!r} is not a +SD method entry"
            )

    def _check_guidance(self):
        if self.guidance and (
            self.guidance["method"] not in self.methods
            or self.method_kind(self.guidance["method"]) != "gvd"
        ):
            raise ConfigError(
                f"config guidance_ablation.method: {self.guidance['method']!r} is not a methods entry of kind gvd"
            )

    def _check_temporal(self):
        if not self.temporal:
            return
        name = self.temporal["method"]
        if name not in self.methods or not takes_temporal_options(self.method_kind(name)):
            raise ConfigError(
                f"config temporal.method: {name!r} is not a methods entry whose kind takes "
                "n_syn, n_real, segments, interpolation, syn_frames"
            )
        names = [p["method"] for p in self.temporal_points()]
        if len(set(names)) < len(names):
            raise ConfigError("config temporal.grid: a point is listed twice")
        kind = self.method_kind(name)
        for i, point in enumerate(self.temporal_points()):
            options = {k: point[k] for k in TEMPORAL_OPTIONS}
            for problem in check_method_params(kind, {**hyperparameters(self.methods[name]), **options}):
                raise ConfigError(f"config temporal.grid[{i}]: {problem}")
            for d, dataset in self.datasets.items():
                clip_frames = dataset.get("clip", {}).get("num_frames", 8)
                if 0 < point["syn_frames"] < clip_frames:
                    raise ConfigError(
                        f"config temporal.grid[{i}]: syn_frames {point['syn_frames']} is shorter "
                        f"than dataset {d}'s clip ({clip_frames} frames)"
                    )

    # ------------------------------------------------------------ settings of one job

    def method_kind(self, method: str) -> str:
        return self.entries[method].get("kind", method)

    def method_ipcs(self, method: str) -> list[int]:
        return self.entries[method].get("ipcs", self.config["ipcs"])

    def requirements(self, method: str) -> tuple[str, ...]:
        return method_requirements(self.method_kind(method), self.entries[method])

    def method_params(self, method: str, dataset: str, ipc: int) -> dict:
        """Hyperparameters of ``method`` for one dataset and IPC (base < by_dataset < by_ipc)."""
        entry = self.entries[method]
        params = hyperparameters(entry)
        params.update(entry.get("by_dataset", {}).get(dataset, {}))
        params.update(entry.get("by_ipc", {}).get(str(ipc), {}))
        return params

    def method_models(self, method: str, dataset: str, ipc: int) -> dict:
        """Options of the `models` entries a condensation of ``method`` builds: those its entry
        names and those its class's defaults name (FRePo's pool is the default `miniC3D`)."""
        params = self.method_params(method, dataset, ipc)
        return self.models_used(methods.check_params(self.method_kind(method), params).to_dict())

    def models_used(self, value) -> dict:
        """Options of the `models` entries named anywhere in ``value`` (so that editing the
        options of one network reruns only the jobs that build it)."""
        names = set()

        def visit(v):
            if isinstance(v, str) and v in self.models:
                names.add(v)
            elif isinstance(v, dict):
                list(map(visit, v.values()))
            elif isinstance(v, (list, tuple)):
                list(map(visit, v))

        visit(value)
        return {name: self.models[name] for name in sorted(names)}

    def arch_options(self, arch: str) -> dict:
        return self.models.get(arch, {})

    def static_memory(self, method: str, dataset: str, ipc: int) -> tuple[str, int]:
        """(method entry, IPC) of the condensed single frames a +SD job starts from."""
        static = self.method_params(method, dataset, ipc)["static"]
        return static["method"], static["spc"]

    def condensation_teachers(self, method: str, dataset: str, ipc: int) -> list[str]:
        """Architectures whose teachers a `teachers` method reads (its `condensation_models`)."""
        return self.method_params(method, dataset, ipc).get(
            "condensation_models", DEFAULT_CONDENSATION_MODELS
        )

    def teacher_training(self, arch: str) -> dict:
        """`teacher.training`, refined for this architecture by `teacher.by_arch`."""
        teacher = self.config["teacher"]
        return {**teacher["training"], **teacher.get("by_arch", {}).get(arch, {})}

    def experts_arch(self) -> str:
        return self.config["experts"]["arch"]

    def experts_settings(self) -> dict:
        """Number of experts, epochs and training settings (the `experts` section less `arch`)."""
        return {k: v for k, v in self.config["experts"].items() if k != "arch"}

    def eval_settings(
        self, dataset: str, method: str, variant: str = "default", protocol: str | None = None
    ) -> dict:
        """Protocol preset < evaluation.overrides < dataset < method < variant."""
        settings = dict(self.evaluation["protocols"][protocol or self.common_protocol])
        settings.update(self.evaluation.get("overrides", {}))
        settings.update(self.datasets[dataset].get("evaluation", {}))
        if method != "full":
            settings.update(self.entries[method].get("evaluation", {}))
        settings.update(self.evaluation["variants"][variant])
        return settings

    def full_settings(self, dataset: str) -> dict:
        return {**self.evaluation["full"], **self.datasets[dataset].get("evaluation_full", {})}

    def eval_teacher_arch(self, settings: dict) -> str | None:
        """The teacher giving an evaluation's soft labels (None with hard labels)."""
        if not needs_teacher(settings):
            return None
        return settings.get("teacher_arch", self.teacher_arch)

    def eval_seeds(self, method: str, variant: str) -> list[int]:
        """Seeds of an evaluation job: those of the table it feeds (every set of one table is
        evaluated with the same seeds, so that comparisons are paired)."""
        if method in self.temporal_methods:
            return self.temporal.get("seeds", [0])
        if variant != "default":
            return self.evaluation["labels_ablation"].get("seeds", [0])
        return self.evaluation["seeds"]

    def cross_arch_seeds(self) -> list[int]:
        return self.evaluation.get("cross_arch", {}).get("seeds", [0])

    def ablation_protocol(self, section: dict | None) -> str:
        """The protocol an ablation's evaluations use: its own `protocol`, else the common one."""
        return (section or {}).get("protocol", self.common_protocol)

    def diversity_arch(self) -> str:
        """The network whose features and predictions the diversity metrics use."""
        return self.diversity.get("arch", self.teacher_arch)

    def diversity_settings(self) -> dict:
        """Clusters, percentile and normalisation (the `diversity` section less `arch`)."""
        return {k: v for k, v in self.diversity.items() if k != "arch"}

    # ------------------------------------------------------------ knowledge distillation

    def kd_modes(self) -> list[str]:
        """``vanilla`` and one SAKD mode per selection interval."""
        return ["vanilla"] + [f"sakd_every{k}" for k in self.kd["sakd"].get("every", [1, 5])]

    def kd_setting(self, param: str, value) -> str:
        """The setting wildcard of an ablation run: ``default`` at the configured value."""
        return "default" if value == self.kd["sakd"][param] else f"{param}{value:g}"

    def kd_ablation_grid(self) -> dict:
        """param -> [(value, setting)] of the ablation runs."""
        ablation = self.kd.get("ablation") or {}
        return {
            p: [(v, self.kd_setting(p, v)) for v in ablation.get(p, [])]
            for p in KD_ABLATED
            if ablation.get(p)
        }

    def kd_sakd(self, mode: str, setting: str) -> dict:
        """SAKD settings of a job ({} for vanilla runs, so that SAKD edits leave them alone)."""
        if mode == "vanilla":
            return {}
        settings = {k: v for k, v in self.kd["sakd"].items() if k != "every"}
        settings["every"] = int(mode[len("sakd_every") :])
        if setting not in ("default", "scratch"):
            param = next(p for p in KD_ABLATED if setting.startswith(p))
            settings[param] = float(setting[len(param) :])
        return settings

    def kd_method_options(self, kd_method: str) -> dict:
        return self.kd["methods"].get(kd_method, {})

    # ------------------------------------------------------------ derived method entries

    def sd_ablation_runs(self) -> list[dict]:
        """The runs of the static/dynamic ablation at IPC `ipc`: dicts of spc, dpc and the
        (method, run_ipc) that condenses each. A pair equal to the +SD entry's own reuses it;
        DPC 0 is the static method alone at IPC = SPC; the others are derived entries
        `<method>_s<SPC>d<DPC>`."""
        if not self.sd_ablation:
            return []
        name, ipc = self.sd_ablation["method"], self.sd_ablation.get("ipc", 1)
        entry = self.methods[name]
        own = {**entry, **entry.get("by_ipc", {}).get(str(ipc), {})}
        runs = []
        for spc, dpc in self.sd_ablation["grid"]:
            run = {
                "spc": spc,
                "dpc": dpc,
                "ipc": ipc,
                "method": f"{name}_s{spc}d{dpc}",
                "run_ipc": ipc,
            }
            if dpc == 0:
                run.update(method=own["static"]["method"], run_ipc=spc)
            elif (own["static"]["spc"], own.get("dpc", 1)) == (
                spc,
                dpc,
            ) and ipc in self.method_ipcs(name):
                run["method"] = name
            runs.append(run)
        return runs

    def _sd_derived_entries(self) -> dict:
        derived = {}
        for run in self.sd_ablation_runs():
            if run["method"] not in self.methods:
                base = self.methods[self.sd_ablation["method"]]
                pair = {"static": {**base["static"], "spc": run["spc"]}, "dpc": run["dpc"]}
                entry = copy.deepcopy(base)
                entry.update(
                    pair, kind=self.method_kind(self.sd_ablation["method"]), ipcs=[run["run_ipc"]]
                )
                entry.setdefault("by_ipc", {}).setdefault(str(run["run_ipc"]), {}).update(pair)
                derived[run["method"]] = entry
        return derived

    def static_dynamic_runs(self) -> list[dict]:
        """Every (dataset, ablation run) with its static method."""
        if not self.sd_ablation:
            return []
        static_method = self.entries[self.sd_ablation["method"]]["static"]["method"]
        return [
            {"dataset": d, **run, "static_method": static_method}
            for d in self.datasets
            for run in self.sd_ablation_runs()
        ]

    def temporal_ipc(self) -> int:
        return self.temporal.get("ipc", 1) if self.temporal else 1

    def temporal_points(self) -> list[dict]:
        """The grid of the temporal table: each point's options (defaults filled in) and the
        derived method entry `<method>_syn<n>_real<n>_k<K>_<interpolation>` condensing it
        (`_window<syn_frames>` appended for a slide-window point)."""
        if not self.temporal:
            return []
        points = []
        for point in self.temporal["grid"]:
            options = {**TEMPORAL_OPTIONS, **point}
            name = "{}_syn{n_syn}_real{n_real}_k{segments}_{interpolation}".format(
                self.temporal["method"], **options
            )
            if options["syn_frames"]:
                name += f"_window{options['syn_frames']}"
            points.append({**options, "method": name})
        return points

    def _temporal_derived_entries(self) -> dict:
        derived = {}
        ipc = self.temporal_ipc()
        for point in self.temporal_points():
            options = {k: point[k] for k in TEMPORAL_OPTIONS}
            entry = copy.deepcopy(self.methods[self.temporal["method"]])
            entry.update(options, ipcs=[ipc], kind=self.method_kind(self.temporal["method"]))
            entry.setdefault("by_ipc", {}).setdefault(str(ipc), {}).update(options)
            derived[point["method"]] = entry
        return derived

    def temporal_runs(self) -> list[dict]:
        """Every (dataset, grid point) of the temporal table with its frame counts resolved
        (0 = the dataset's clip length)."""
        runs = []
        for d, dataset in self.datasets.items():
            clip_frames = dataset.get("clip", {}).get("num_frames", 8)
            for p in self.temporal_points():
                resolved = {k: p[k] or clip_frames for k in ("n_syn", "n_real", "syn_frames")}
                runs.append({"dataset": d, **p, **resolved, "ipc": self.temporal_ipc()})
        return runs

    def guidance_runs(self) -> list[tuple[str, float]]:
        """(derived entry `<method>_strength<λ>`, λ) of the guidance ablation ('.' written 'p')."""
        if not self.guidance:
            return []
        return [
            (f"{self.guidance['method']}_strength{strength:g}".replace(".", "p"), strength)
            for strength in self.guidance["strengths"]
        ]

    def _guidance_derived_entries(self) -> dict:
        derived = {}
        for name, strength in self.guidance_runs():
            entry = copy.deepcopy(self.methods[self.guidance["method"]])
            entry.update(
                strength=strength,
                ipcs=[self.guidance["ipc"]],
                kind=self.method_kind(self.guidance["method"]),
            )
            derived[name] = entry
        return derived

    # ------------------------------------------------------------ job grids

    def _evaluate(self, condense: list[Job], protocol: str) -> list[Job]:
        """The default-variant evaluation of each condensed set under ``protocol``."""
        arch = self.evaluation["arch"]
        return [
            Job("evaluate", {**wc, "arch": arch, "protocol": protocol, "variant": "default"})
            for _, wc in condense
        ]

    def condense_jobs(self) -> list[Job]:
        """The main grid: dataset x method entry x IPC."""
        return [
            Job("condense", {"dataset": d, "method": m, "ipc": ipc})
            for d in self.datasets
            for m in self.methods
            for ipc in self.method_ipcs(m)
        ]

    def eval_jobs(self) -> list[Job]:
        """Every main-grid set under each of its protocols, and the full training sets. The
        reference (random) is evaluated under a paper's protocol only at the IPCs where
        another method is, the sets it is paired with."""
        arch = self.evaluation["arch"]
        grid = [
            {**wc, "arch": arch, "protocol": p, "variant": "default"}
            for _, wc in self.condense_jobs()
            for p in self.method_protocols[wc["method"]]
        ]
        compared = {
            (wc["dataset"], wc["ipc"], wc["protocol"])
            for wc in grid
            if self.method_kind(wc["method"]) != REFERENCE
        }
        jobs = [
            Job("evaluate", wc)
            for wc in grid
            if self.method_kind(wc["method"]) != REFERENCE
            or wc["protocol"] == self.common_protocol
            or (wc["dataset"], wc["ipc"], wc["protocol"]) in compared
        ]
        return jobs + [Job("evaluate_full", {"dataset": d, "arch": arch}) for d in self.datasets]

    def cross_arch_jobs(self) -> list[Job]:
        cross = self.evaluation.get("cross_arch", {})
        return [
            Job("cross_arch", {**wc, "arch": a})
            for _, wc in self.condense_jobs()
            if wc["method"] in cross.get("methods", []) and wc["ipc"] in cross.get("ipcs", [1])
            for a in cross.get("archs", [])
        ]

    def labels_ablation_runs(self) -> list[tuple[Job, str]]:
        """The label ablation, method x IPC x variant (label mode, loss, CutMix): per cell, the
        evaluation job whose rows it reports and the variant's name. A variant that trains
        exactly as the set's default evaluation under the same protocol and seeds (the video
        study's multi-soft MSE-GT is its protocol's default) reads that job's rows instead of
        training the same networks again."""
        labels = self.evaluation.get("labels_ablation")
        if not labels:
            return []
        protocol = self.ablation_protocol(labels)
        arch = self.evaluation["arch"]
        evaluated = self.eval_jobs()
        runs = []
        for _, wc in self.condense_jobs():
            if wc["method"] not in labels["methods"] or wc["ipc"] not in labels.get("ipcs", [1]):
                continue
            default = Job("evaluate", {**wc, "arch": arch, "protocol": protocol, "variant": "default"})
            for variant in labels["variants"]:
                same = (
                    default in evaluated
                    and self.eval_seeds(wc["method"], variant) == self.eval_seeds(wc["method"], "default")
                    and self.eval_settings(wc["dataset"], wc["method"], variant, protocol)
                    == self.eval_settings(wc["dataset"], wc["method"], "default", protocol)
                )
                job = default if same else Job("evaluate", {**default.wildcards, "variant": variant})
                runs.append((job, variant))
        return runs

    def labels_ablation_jobs(self) -> list[Job]:
        """The evaluation jobs the label ablation reads, each once."""
        return _unique(job for job, _ in self.labels_ablation_runs())

    def sd_ablation_condense_jobs(self) -> list[Job]:
        return [
            Job("condense", {"dataset": d, "method": run["method"], "ipc": run["run_ipc"]})
            for d in self.datasets
            for run in self.sd_ablation_runs()
        ]

    def sd_ablation_eval_jobs(self) -> list[Job]:
        return self._evaluate(
            self.sd_ablation_condense_jobs(), self.ablation_protocol(self.sd_ablation)
        )

    def static_memory_jobs(self) -> list[Job]:
        """Condense jobs of the static memories the +SD jobs read (IPC = SPC, whether or not
        the static method's own `ipcs` list it)."""
        jobs = []
        for _, wc in self.condense_jobs() + self.sd_ablation_condense_jobs():
            if self.method_kind(wc["method"]) in self.sd_bases:
                method, spc = self.static_memory(wc["method"], wc["dataset"], wc["ipc"])
                jobs.append(
                    Job("condense", {"dataset": wc["dataset"], "method": method, "ipc": spc})
                )
        return _unique(jobs)

    def temporal_condense_jobs(self) -> list[Job]:
        return [
            Job("condense", {"dataset": d, "method": p["method"], "ipc": self.temporal_ipc()})
            for d in self.datasets
            for p in self.temporal_points()
        ]

    def temporal_archs(self) -> list[str]:
        """The evaluation networks of the temporal table (default: evaluation.arch)."""
        return self.temporal.get("archs", [self.evaluation["arch"]]) if self.temporal else []

    def temporal_eval_jobs(self) -> list[Job]:
        """Every temporal point's set under each of `temporal.archs`."""
        protocol = self.ablation_protocol(self.temporal)
        return [
            Job("evaluate", {**wc, "arch": arch, "protocol": protocol, "variant": "default"})
            for _, wc in self.temporal_condense_jobs()
            for arch in self.temporal_archs()
        ]

    def guidance_condense_jobs(self) -> list[Job]:
        return [
            Job("condense", {"dataset": d, "method": name, "ipc": self.guidance["ipc"]})
            for d in self.datasets
            for name, _ in self.guidance_runs()
        ]

    def _datasets_needing(self, requirement: str, condense: list[Job]) -> list[str]:
        return sorted(
            {wc["dataset"] for _, wc in condense if requirement in self.requirements(wc["method"])}
        )

    def diffusion_jobs(self) -> list[Job]:
        """Diffusion models some condense job reads."""
        condense = self.condense_jobs() + self.guidance_condense_jobs()
        return [
            Job("diffusion", {"dataset": d}) for d in self._datasets_needing("diffusion", condense)
        ]

    def experts_jobs(self) -> list[Job]:
        """Expert trajectories some condense job reads (trajectory matching)."""
        condense = (
            self.condense_jobs() + self.sd_ablation_condense_jobs() + self.temporal_condense_jobs()
        )
        arch = self.config.get("experts", {}).get("arch")
        return [
            Job("experts", {"dataset": d, "arch": arch})
            for d in self._datasets_needing("experts", condense)
        ]

    def interpolator_jobs(self) -> list[Job]:
        """The interpolator of every dataset where a condense job interpolates parametrically."""
        condense = (
            self.condense_jobs() + self.sd_ablation_condense_jobs() + self.temporal_condense_jobs()
        )
        return [
            Job("interpolator", {"dataset": d})
            for d in self._datasets_needing("interpolator", condense)
        ]

    def teacher_jobs(self) -> list[Job]:
        """Teachers some job reads (soft labels, selection features, knowledge distillation,
        diversity metrics, a `teachers` method's condensation models)."""
        needed = {
            (wc["dataset"], self.teacher_arch)
            for _, wc in self.condense_jobs()
            if "teacher" in self.requirements(wc["method"])
        }
        evaluations = self.eval_jobs() + self.labels_ablation_jobs() + self.cross_arch_jobs()
        evaluations += self.sd_ablation_eval_jobs() + self.temporal_eval_jobs()
        for _, wc in evaluations:
            if "method" not in wc:  # the full training set: its teacher is added below
                continue
            settings = self.eval_settings(
                wc["dataset"], wc["method"], wc.get("variant", "default"), wc.get("protocol")
            )
            needed.add((wc["dataset"], self.eval_teacher_arch(settings)))
        needed |= {(d, self.eval_teacher_arch(self.full_settings(d))) for d in self.datasets}
        if self.diversity:
            needed |= {(d, self.diversity_arch()) for d in self.datasets}
        jobs = [
            Job("teacher", {"dataset": d, "arch": a})
            for d, a in sorted(needed - {(d, None) for d in self.datasets})
        ]
        if self.kd:
            jobs += [
                Job("teacher", {"dataset": d, "arch": self.kd["teacher"]}) for d in self.datasets
            ]
        for _, wc in self.condense_jobs():
            if "teachers" in self.requirements(wc["method"]):
                archs = self.condensation_teachers(wc["method"], wc["dataset"], wc["ipc"])
                jobs += [Job("teacher", {"dataset": wc["dataset"], "arch": arch}) for arch in archs]
        return _unique(jobs)

    def kd_jobs(self) -> list[Job]:
        """Student alone, then every KD method in every mode: the rows of the KD table."""
        if not self.kd:
            return []
        jobs = []
        for d in self.datasets:
            for s in self.kd.get("seeds", [0]):
                base = {"dataset": d, "setting": "default", "seed": s}
                jobs.append(Job("kd", {**base, "kd_method": "none", "mode": "vanilla"}))
                jobs += [
                    Job("kd", {**base, "kd_method": m, "mode": mode})
                    for m in self.kd["methods"]
                    for mode in self.kd_modes()
                ]
                jobs += self.kd_scratch_jobs({**base, "setting": "scratch"})
        return jobs

    def kd_scratch_jobs(self, base: dict) -> list[Job]:
        """With `kd.pretrain`: the student alone and each of its `scratch_methods` in every
        mode, from scratch (the rows that show what the pretrained student brings)."""
        if not self.kd_pretrain:
            return []
        methods = ["none", *self.kd_pretrain.get("scratch_methods", ["kd"])]
        return [
            Job("kd", {**base, "kd_method": m, "mode": mode})
            for m in methods
            for mode in (["vanilla"] if m == "none" else self.kd_modes())
        ]

    def student_jobs(self) -> list[Job]:
        """The kd student pretrained on the source dataset, once per target dataset."""
        if not self.kd_pretrain:
            return []
        return [Job("pretrain_student", {"dataset": d, "arch": self.kd["student"]}) for d in self.datasets]

    def kd_starts_pretrained(self, setting: str) -> bool:
        """Whether a kd job starts from the pretrained student (`scratch` runs never do)."""
        return bool(self.kd_pretrain) and setting != "scratch"

    def kd_ablation_jobs(self) -> list[Job]:
        if not self.kd or not self.kd.get("ablation"):
            return []
        ablation = self.kd["ablation"]
        mode = f"sakd_every{ablation.get('every', 5)}"
        settings = sorted({s for runs in self.kd_ablation_grid().values() for _, s in runs})
        return [
            Job(
                "kd",
                {
                    "dataset": d,
                    "kd_method": ablation["method"],
                    "mode": mode,
                    "setting": st,
                    "seed": s,
                },
            )
            for d in self.datasets
            for s in ablation.get("seeds", [0])
            for st in settings
        ]

    def dataset_jobs(self) -> list[Job]:
        jobs = [Job("generate_synthetic", {"dataset": d}) for d in self.synthetic_datasets]
        return jobs + [Job("extract_frames", {"dataset": d}) for d in self.datasets]

    def diversity_jobs(self) -> list[Job]:
        """One job per dataset: its real features and clusters are computed once."""
        return [Job("diversity", {"dataset": d}) for d in self.datasets] if self.diversity else []

    def diversity_sets(self, dataset: str) -> list[list]:
        """Every condensed set of ``dataset`` (the main grid and the ablations' sets) as
        [method, ipc] pairs, each once."""
        condense = (
            self.condense_jobs() + self.static_memory_jobs() + self.sd_ablation_condense_jobs()
        )
        condense += self.temporal_condense_jobs() + self.guidance_condense_jobs()
        return _unique(
            [[wc["method"], wc["ipc"]] for _, wc in condense if wc["dataset"] == dataset]
        )

    def run_jobs(self) -> list[Job]:
        """Every job behind the tables (the rows of the runs table), each once."""
        jobs = self.dataset_jobs() + self.teacher_jobs() + self.condense_jobs() + self.eval_jobs()
        jobs += self.cross_arch_jobs() + self.diffusion_jobs() + self.experts_jobs()
        jobs += self.student_jobs() + self.kd_jobs() + [
            job for job in self.kd_ablation_jobs() if job not in self.kd_jobs()
        ]
        jobs += [job for job in self.labels_ablation_jobs() if job not in self.eval_jobs()]
        sd_jobs = (
            self.static_memory_jobs()
            + self.sd_ablation_condense_jobs()
            + self.sd_ablation_eval_jobs()
        )
        jobs += [job for job in sd_jobs if job not in jobs]
        jobs += self.interpolator_jobs() + self.temporal_condense_jobs() + self.temporal_eval_jobs()
        return jobs + self.guidance_condense_jobs() + self.diversity_jobs()

    # ------------------------------------------------------------ tables and figures

    def tables(self) -> list[str]:
        """Names of the tables `all_tables` builds, in order."""
        tables = ["datasets", "main", "cross_arch", "runs"]
        if self.kd:
            tables.append("kd")
        if self.kd_ablation_jobs():
            tables.append("kd_ablation")
        if self.labels_ablation_jobs():
            tables.append("labels")
        if self.sd_ablation:
            tables.append("static_dynamic")
        if self.temporal:
            tables.append("temporal")
        if self.diversity:
            tables.append("diversity")
        return tables + ["claims"]

    def preview_sets(self) -> dict[tuple[str, str], int]:
        """(dataset, method) -> the smallest IPC condensed: one preview each."""
        smallest = {}
        for _, wc in self.condense_jobs():
            key = (wc["dataset"], wc["method"])
            smallest[key] = min(smallest.get(key, wc["ipc"]), wc["ipc"])
        return smallest

    def differenced_sets(self) -> dict[tuple[str, str], int]:
        """The preview sets of the +SD methods and their bases: their frame differences are drawn."""
        differenced = set(self.sd_bases) | set(self.sd_bases.values())
        return {
            key: ipc
            for key, ipc in self.preview_sets().items()
            if self.method_kind(key[1]) in differenced
        }
