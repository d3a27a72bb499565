"""Config checks that run before any job: short messages with the key path, the bad value,
the allowed values and the nearest allowed name.

`schema_problem` turns the first schema error into such a message (instead of Snakemake's
`validate`, which prints the whole schema and config); `reference_problems` checks the names
one part of the config gives to another (architectures, `models` options, methods,
datasets); `slurm_problem` is the preflight of the SLURM profile.
"""

from __future__ import annotations

import contextlib
import difflib
import inspect
import io
import shutil
import subprocess
from typing import Iterable

# Allowed names listed in a message at most; longer lists end with "... (N more)".
MAX_LISTED = 20
# Keys of a method entry whose value names one network, or a list of them.
METHOD_ARCH_KEYS = ("arch",)
METHOD_ARCH_LIST_KEYS = ("condensation_models",)


class ConfigError(ValueError):
    """A config mistake found before any job runs; the message is short and final."""


def did_you_mean(value, allowed: Iterable) -> str | None:
    """The allowed name nearest to ``value`` (case-insensitive difflib match), or None."""
    if not isinstance(value, str):
        return None
    allowed = [str(a) for a in allowed]
    by_lower = {a.lower(): a for a in allowed}
    if value.lower() in by_lower:
        return by_lower[value.lower()]
    close = difflib.get_close_matches(value.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[close[0]] if close else None


def _listed(allowed: Iterable) -> str:
    names = [str(a) for a in allowed]
    shown = ", ".join(names[:MAX_LISTED])
    return shown + (f", ... ({len(names) - MAX_LISTED} more)" if len(names) > MAX_LISTED else "")


def _short(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def unknown_name(where: str, value, allowed: Iterable, what: str) -> str:
    """``config <where>: unknown <what> <value>`` with the allowed names and a suggestion."""
    allowed = list(allowed)
    lines = [f"config {where}: unknown {what} {_short(value)}", f"  allowed: {_listed(allowed)}"]
    suggestion = did_you_mean(value, allowed)
    if suggestion is not None:
        lines.append(f"  did you mean {suggestion!r}?")
    return "\n".join(lines)


# ---------------------------------------------------------------- schema


def _key_path(parts) -> str:
    return ".".join(str(p) for p in parts) or "(top level)"


def _schema_message(error) -> str:
    where = _key_path(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        schema = error.schema
        allowed = list(schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        if extra and allowed:
            key = extra[0]
            prefix = f"{where}." if error.absolute_path else ""
            return unknown_name(f"{prefix}{key}", key, allowed, "key")
    if error.validator == "enum":
        return unknown_name(where, error.instance, error.validator_value, "value")
    message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
    return f"config {where}: {message}"


def schema_problem(config: dict, schema: dict) -> str | None:
    """The short message of the most relevant schema error of ``config``, or None."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    error = best_match(Draft202012Validator(schema).iter_errors(config))
    return None if error is None else _schema_message(error)


# ---------------------------------------------------------------- model options


def _init_options(factory) -> tuple[set[str], bool]:
    """Keyword parameters with defaults of a constructor (its options) and whether it also
    takes ``**options``. Parameters without default are filled by the registry or by the
    factory that forwards to it (``cell`` of the recurrent ConvNets, the stage kinds of the
    ResNets)."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    params = list(inspect.signature(target).parameters.values())
    named = {
        p.name
        for p in params
        if p.default is not inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    return named, any(p.kind == p.VAR_KEYWORD for p in params)


def _forwarded_class(factory):
    """The model class a registered factory function builds (a global name it calls)."""
    from .models import VideoModel

    for name in factory.__code__.co_names:
        candidate = factory.__globals__.get(name)
        if inspect.isclass(candidate) and issubclass(candidate, VideoModel):
            return candidate
    return None


def _open_options(arch: str) -> set[str] | None:
    """Options of a model that passes ``**options`` on to a configuration class (VideoMAE:
    transformers' ``VideoMAEConfig``, which would keep a misspelt key silently)."""
    if arch == "videomae":
        from transformers import VideoMAEConfig

        return set(inspect.signature(VideoMAEConfig).parameters) - {"kwargs"}
    return None


def model_options(arch: str) -> set[str] | None:
    """The options ``models.<arch>`` may give, read from the constructor's signature
    (None: any option is accepted)."""
    from .models import REGISTRY

    factory = REGISTRY[arch]
    options, takes_more = _init_options(factory)
    if takes_more and not inspect.isclass(factory):
        target = _forwarded_class(factory)
        if target is not None:
            options, takes_more = _init_options(target)
    if takes_more:
        extra = _open_options(arch)
        if extra is None:
            return None
        options |= extra
    return options


# ---------------------------------------------------------------- references between keys


def _named_archs(config: dict) -> dict[str, str]:
    """Every key path that names one network -> the name it gives."""
    named = {}
    evaluation = config.get("evaluation", {})
    for where, section in (("evaluation", evaluation), ("teacher", config.get("teacher", {}))):
        if "arch" in section:
            named[f"{where}.arch"] = section["arch"]
    if "arch" in (config.get("experts") or {}):
        named["experts.arch"] = config["experts"]["arch"]
    for i, arch in enumerate(evaluation.get("cross_arch", {}).get("archs", [])):
        named[f"evaluation.cross_arch.archs[{i}]"] = arch
    for i, arch in enumerate((config.get("temporal") or {}).get("archs", [])):
        named[f"temporal.archs[{i}]"] = arch
    for name, entry in (config.get("methods") or {}).items():
        parts = {f"methods.{name}": entry}
        parts.update({f"methods.{name}.by_dataset.{k}": v for k, v in entry.get("by_dataset", {}).items()})
        parts.update({f"methods.{name}.by_ipc.{k}": v for k, v in entry.get("by_ipc", {}).items()})
        for where, part in parts.items():
            for key in METHOD_ARCH_KEYS:
                if key in part:
                    named[f"{where}.{key}"] = part[key]
            for key in METHOD_ARCH_LIST_KEYS:
                for i, arch in enumerate(part.get(key, [])):
                    named[f"{where}.{key}[{i}]"] = arch
    return named


def _named_methods(config: dict) -> dict[str, str]:
    """Every key path that names a `methods` entry -> the name it gives."""
    evaluation = config.get("evaluation", {})
    named = {}
    for section in ("cross_arch", "labels_ablation"):
        for i, method in enumerate((evaluation.get(section) or {}).get("methods", [])):
            named[f"evaluation.{section}.methods[{i}]"] = method
    for section in ("temporal", "static_dynamic"):
        if "method" in (config.get(section) or {}):
            named[f"{section}.method"] = config[section]["method"]
    for name, entry in (config.get("methods") or {}).items():
        if isinstance(entry.get("static"), dict) and "method" in entry["static"]:
            named[f"methods.{name}.static.method"] = entry["static"]["method"]
    return named


def reference_problems(config: dict, archs: Iterable[str], option_names=model_options) -> list[str]:
    """Messages for names that refer to nothing: architectures (registry or `models`
    entries), options of `models` entries (checked against ``option_names(arch)``),
    `methods` entries, dataset names under `by_dataset`."""
    archs = list(archs)
    variants = list(config.get("models") or {})
    problems = []
    for where, arch in _named_archs(config).items():
        if arch not in archs and arch not in variants:
            problems.append(unknown_name(where, arch, archs + [v for v in variants if v not in archs], "architecture"))
    for name, options in (config.get("models") or {}).items():
        arch = options.get("arch", name)
        if arch not in archs:
            continue  # an unregistered variant without `arch`: reported by the workflow
        allowed = option_names(arch)
        if allowed is None:
            continue
        for key in options:
            if key != "arch" and key not in allowed:
                problems.append(unknown_name(f"models.{name}.{key}", key, sorted(allowed), f"{arch} option"))
    methods = list(config.get("methods") or {})
    for where, method in _named_methods(config).items():
        if method not in methods:
            problems.append(unknown_name(where, method, methods, "method"))
    datasets = list(config.get("datasets") or {})
    for name, entry in (config.get("methods") or {}).items():
        for dataset in entry.get("by_dataset", {}):
            if dataset not in datasets:
                problems.append(unknown_name(f"methods.{name}.by_dataset.{dataset}", dataset, datasets, "dataset"))
    return problems


def first_of(problems: list[str]) -> str:
    """The first problem, with a count of the others (one at a time keeps it short)."""
    more = len(problems) - 1
    return problems[0] + (f"\n  ({more} more problem{'s' * (more > 1)} after this one)" if more else "")


# ---------------------------------------------------------------- SLURM preflight

LOCAL_HINT = "To run on this machine instead: snakemake --cores N all_tables (without --profile slurm)."


def slurm_problem(which=shutil.which, run=subprocess.run) -> str | None:
    """Why jobs cannot be submitted to SLURM from here (None when they can): `sbatch` and
    `squeue` must be on PATH and `squeue` must get an answer from the controller."""
    missing = [tool for tool in ("sbatch", "squeue") if which(tool) is None]
    if missing:
        return (
            f"--profile slurm: {' and '.join(missing)} not found on PATH: this machine is not a "
            f"SLURM submit host.\n{LOCAL_HINT}"
        )
    try:
        answer = run(["squeue", "--noheader", "--me"], capture_output=True, text=True, timeout=30)
        failed = answer.returncode != 0
        reason = (answer.stderr or answer.stdout).strip().splitlines()[:1]
    except subprocess.TimeoutExpired:
        failed, reason = True, ["no answer within 30 s"]
    if failed:
        detail = f": {reason[0]}" if reason else ""
        return f"--profile slurm: `squeue` failed (no SLURM controller answering?){detail}\n{LOCAL_HINT}"
    return None


def intended_executor(argv: list[str], search_dirs: Iterable = (".",)) -> str | None:
    """The executor a `snakemake` command line asks for, profiles included (the Snakefile is
    parsed before Snakemake hands the executor to the workflow). A relative `--profile` is
    looked up from each of ``search_dirs`` in turn: Snakemake has already moved into
    `--directory` when it parses the Snakefile."""
    from snakemake.cli import parse_args

    for folder in search_dirs:
        try:
            # quiet: Snakemake's own parse has already said which profiles it uses
            with contextlib.chdir(folder), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(
                io.StringIO()
            ):
                _, args = parse_args(argv)
        except (SystemExit, Exception):  # e.g. a profile not found from this folder
            continue
        return args.executor
    return None
