"""Condensation methods: one module per method, each registering one :class:`Method` with
its hyperparameters (a :class:`Params` dataclass), tiny test values and requirements.

Modules in this package are discovered automatically, so adding a method means adding
its module here plus its entry in the config; tests/test_method_contract.py holds every
registered method to the contract.
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import (  # noqa: F401
    METHODS,
    REQUIREMENT_KINDS,
    RESERVED_KEYS,
    CondenseContext,
    Condensed,
    Method,
    Params,
    register_method,
)


def _discover() -> None:
    for module in pkgutil.iter_modules(__path__):
        if module.name not in ("base", "doc"):
            importlib.import_module(f"{__name__}.{module.name}")


def method_kinds() -> list[str]:
    """Every registered method kind, sorted."""
    _discover()
    return sorted(METHODS)


def method_class(kind: str) -> type[Method]:
    """The class registered as ``kind`` (importing every method module on first use)."""
    if kind not in METHODS:
        _discover()
    if kind not in METHODS:
        raise KeyError(f"unknown condensation method {kind!r}; known: {sorted(METHODS)}")
    return METHODS[kind]


def get_method(kind: str) -> Method:
    """An instance of the registered method ``kind``."""
    return method_class(kind)()


def check_params(kind: str, params: dict) -> Params:
    """The typed hyperparameters of ``kind`` from a config entry's ``params`` (reserved
    keys are ignored); ValueError with a short message for an unknown kind, an unknown or
    missing key, a wrong type or a value out of range."""
    try:
        cls = method_class(kind)
    except KeyError:
        from difflib import get_close_matches

        close = get_close_matches(str(kind), sorted(METHODS), n=1)
        hint = f"\n  did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown method kind {kind!r}\n  known: {', '.join(sorted(METHODS))}{hint}") from None
    return cls.params_class.from_dict({k: v for k, v in params.items() if k not in RESERVED_KEYS})


def static_dynamic_bases() -> dict[str, str]:
    """+SD kind -> the kind whose objective it applies to static/dynamic memories."""
    return {kind: METHODS[kind].base.name for kind in method_kinds() if getattr(METHODS[kind], "base", None)}


def requirements(kind: str, params: dict) -> tuple[str, ...]:
    """The inputs a condensation of ``kind`` with ``params`` reads (teacher, experts, ...)."""
    return method_class(kind).requirements(check_params(kind, params))
