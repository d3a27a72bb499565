"""The interface every condensation method implements: the method class, its typed
hyperparameters (:class:`Params`) and the inputs it requires."""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from abc import ABC, abstractmethod
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import torch

from ..data.framestore import FrameStore
from ..data.sampling import center_clip, random_clip, to_clip_tensor
from ..models import VideoModel, build_model

METHODS: dict[str, type["Method"]] = {}
# Keys of a method's config entry that configure the workflow, not the method.
RESERVED_KEYS = ("kind", "ipcs", "evaluation", "by_dataset", "by_ipc")
# The inputs a method may require, each built by its own rule before condensation.
REQUIREMENT_KINDS = ("teacher", "teachers", "experts", "static", "interpolator", "diffusion")
# How a method builds its set: picks real clips, optimises synthetic ones, or generates them.
FAMILIES = ("selection", "distillation", "diffusion")


def register_method(cls: type["Method"]) -> type["Method"]:
    """Register ``cls`` under its ``name``; it must declare (itself, not by inheritance) its
    hyperparameters (``params_class``) and tiny test values of them (``tiny_params``)."""
    for attr in ("name", "params_class", "tiny_params"):
        if attr not in vars(cls):
            raise TypeError(f"method {cls.__name__} declares no `{attr}`")
    for attr in ("family", "paper_protocol"):
        if not hasattr(cls, attr):
            raise TypeError(f"method {cls.__name__} declares no `{attr}` (nor does a base class)")
    if cls.family not in FAMILIES:
        raise TypeError(f"method {cls.__name__}: family {cls.family!r} is not one of {FAMILIES}")
    if not (isinstance(cls.params_class, type) and issubclass(cls.params_class, Params)):
        raise TypeError(f"method {cls.name}: params_class must be a Params dataclass")
    unknown = set(cls.needs) - set(REQUIREMENT_KINDS)
    if unknown:
        raise TypeError(f"method {cls.name}: unknown requirements {sorted(unknown)}; known: {REQUIREMENT_KINDS}")
    METHODS[cls.name] = cls
    return cls


# ---------------------------------------------------------------- typed hyperparameters


def param(default: Any = MISSING, doc: str = "", *, minimum=None, above=None, maximum=None) -> Any:
    """A hyperparameter field: its default (none: required), one-line doc and bounds
    (``minimum`` <= value <= ``maximum``, ``above`` < value). A list default becomes a tuple."""
    if isinstance(default, list):
        default = tuple(default)
    metadata = {"doc": doc, "minimum": minimum, "above": above, "maximum": maximum}
    if isinstance(default, (dict, set)):
        raise TypeError("a mutable default: give a tuple or a Params dataclass")
    return field(default=default, metadata=metadata)


def _describe(hint) -> str:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(hint))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_describe(a) for a in typing.get_args(hint))
    if origin is tuple:
        return "a list"
    if hint is type(None):
        return "null"
    return getattr(hint, "__name__", str(hint))


def _convert(value, hint, where: str):
    """``value`` as the type ``hint`` says (a list as a tuple, an int as a float, a dict as
    a nested Params); ValueError naming ``where`` otherwise."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _convert(value, option, where)
            except ValueError:
                continue
    elif origin is Literal:
        if value in typing.get_args(hint) and type(value) in {type(a) for a in typing.get_args(hint)}:
            return value
        suggestion = difflib.get_close_matches(str(value), [str(a) for a in typing.get_args(hint)], n=1)
        hint_text = f"; did you mean {suggestion[0]!r}?" if suggestion else ""
        raise ValueError(f"{where}: {value!r} is not one of {_describe(hint)}{hint_text}")
    elif origin is tuple:
        if isinstance(value, (list, tuple)):
            args = typing.get_args(hint)
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
            if len(value) == len(args):
                return tuple(_convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    elif isinstance(hint, type) and issubclass(hint, Params):
        if isinstance(value, hint):
            return value
        if isinstance(value, dict):
            return hint.from_dict(value, where=f"{where}.")
    elif hint is type(None):
        if value is None:
            return None
    elif hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(hint, type) and isinstance(value, hint):
        return value
    raise ValueError(f"{where}: {value!r} is not {_describe(hint)}")


@dataclass(frozen=True, kw_only=True)
class Params:
    """A method's hyperparameters: one field per key of its config entry (:func:`param`
    gives the default, one-line doc and bounds). Subclasses add fields or override one's
    default by redeclaring it; :meth:`check` adds relations between fields."""

    @classmethod
    def from_dict(cls, values: dict, where: str = "") -> "Params":
        """The typed hyperparameters of a config entry's ``values`` (reserved keys excluded
        by the caller); ValueError for an unknown key (naming the allowed ones and the
        nearest), a missing required one, a wrong type or a value out of bounds."""
        allowed = [f.name for f in dataclasses.fields(cls)]
        for key in values:
            if key not in allowed:
                lines = [f"{where}{key}: unknown key", f"  allowed: {', '.join(sorted(allowed)) or '(none)'}"]
                close = difflib.get_close_matches(str(key), allowed, n=1)
                if close:
                    lines.append(f"  did you mean {close[0]!r}?")
                raise ValueError("\n".join(lines))
        missing = [f.name for f in dataclasses.fields(cls) if f.default is MISSING and f.name not in values]
        if missing:
            raise ValueError(f"{where}{missing[0]}: required (no default)")
        hints = typing.get_type_hints(cls)
        converted = {k: _convert(v, hints[k], f"{where}{k}") for k, v in values.items()}
        params = cls(**converted)
        params.check_bounds(where)
        params.check()
        return params

    @classmethod
    def of(cls, values) -> "Params":
        """``values`` when already typed as ``cls`` (or a subclass, e.g. a +SD method's),
        else :meth:`from_dict`."""
        return values if isinstance(values, cls) else cls.from_dict(dict(values))

    @classmethod
    def docs(cls) -> dict[str, str]:
        """Each field's one-line doc."""
        return {f.name: f.metadata.get("doc", "") for f in dataclasses.fields(cls)}

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Each field's default (``MISSING`` for a required one)."""
        return {f.name: f.default for f in dataclasses.fields(cls)}

    def check_bounds(self, where: str = "") -> None:
        for f in dataclasses.fields(self):
            value, meta = getattr(self, f.name), f.metadata
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            if meta.get("minimum") is not None and value < meta["minimum"]:
                raise ValueError(f"{where}{f.name}: {value!r} is below its minimum {meta['minimum']}")
            if meta.get("above") is not None and value <= meta["above"]:
                raise ValueError(f"{where}{f.name}: {value!r} must be above {meta['above']}")
            if meta.get("maximum") is not None and value > meta["maximum"]:
                raise ValueError(f"{where}{f.name}: {value!r} is above its maximum {meta['maximum']}")

    def check(self) -> None:
        """Relations between fields (ValueError); none by default."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True, kw_only=True)
class NoParams(Params):
    """A method without hyperparameters."""


@dataclass
class CondenseContext:
    """Everything a method may use: the real data, its settings and its inputs."""

    store: FrameStore
    dataset: str
    ipc: int
    params: Any  # the method's hyperparameters: a config entry's dict (resolved for dataset and IPC) or its Params
    clip: dict  # num_frames, stride
    seed: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    inputs: dict[str, str] = field(default_factory=dict)  # required inputs (teacher, experts, ...)
    model_options: dict = field(default_factory=dict)  # config `models`: options per architecture
    work_dir: Path | None = None  # checkpoints for resuming
    progress: bool = True

    @property
    def num_classes(self) -> int:
        return self.store.num_classes

    @property
    def clip_shape(self) -> tuple[int, int, int, int]:
        return (self.clip["num_frames"], 3, *self.store.frame_size)

    @property
    def train_videos(self) -> pd.DataFrame:
        return self.store.videos("train")

    def rng(self, *salt: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, *salt])

    def build_model(self, arch: str, **overrides) -> VideoModel:
        options = {**self.model_options.get(arch, {}), **overrides}
        return build_model(arch, self.num_classes, self.clip_shape, **options).to(self.device)

    def require(self, name: str) -> str:
        if name not in self.inputs:
            raise ValueError(f"method needs input {name!r}; declare it in the method class's `requirements`")
        return self.inputs[name]

    def clips(self, videos: pd.DataFrame, rng: np.random.Generator | None = None) -> torch.Tensor:
        """One clip per row of ``videos`` (random with ``rng``, centred otherwise), float [N, T, C, H, W]."""
        n_frames, stride = self.clip["num_frames"], self.clip["stride"]
        frames = []
        for offset, n in zip(videos["offset"], videos["n_stored"]):
            pick = random_clip(n, n_frames, stride, rng) if rng is not None else center_clip(n, n_frames, stride)
            frames.append(self.store.frames[offset + pick])
        return to_clip_tensor(np.stack(frames))


@dataclass
class Condensed:
    """What a method returns: the tensors of the format and sidecar entries of its own
    (``frames`` when not the clip length, ``interpolation``, ``integrator`` spec, ...)."""

    tensors: dict[str, torch.Tensor]
    meta: dict = field(default_factory=dict)


class Method(ABC):
    """A condensation method. A subclass declares its ``name``, its hyperparameters
    (``params_class``), tiny values of them that make a test run take seconds
    (``tiny_params``, checked by tests/test_method_contract.py) and the inputs it requires
    (``needs``, or :meth:`requirements` when they depend on the hyperparameters), and
    where it comes from: its ``family`` and the evaluation protocol of its paper
    (``paper_protocol``, a preset of `evaluation.protocols`), usually from its base class."""

    name: ClassVar[str]
    params_class: ClassVar[type[Params]]
    tiny_params: ClassVar[dict]
    needs: ClassVar[tuple[str, ...]] = ()
    family: ClassVar[str]  # one of FAMILIES
    paper_protocol: ClassVar[str]  # dancing | videodc | gvd

    @classmethod
    def requirements(cls, params: Params) -> tuple[str, ...]:
        """The inputs a condensation with ``params`` reads (a subset of REQUIREMENT_KINDS)."""
        return cls.needs

    @classmethod
    def typed(cls, ctx: CondenseContext) -> CondenseContext:
        """``ctx`` with its hyperparameters typed as ``params_class``."""
        return dataclasses.replace(ctx, params=cls.params_class.of(ctx.params))

    @abstractmethod
    def condense(self, ctx: CondenseContext) -> Condensed:
        """Build the condensed set of ``ctx.ipc`` videos per class."""
