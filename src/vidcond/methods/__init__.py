"""Condensation methods: one module per method, each registering one :class:`Method`.

Modules in this package are discovered automatically, so adding a method means adding
its module here plus its entry in the config (and schema).
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import METHODS, CondenseContext, Condensed, Method, register_method  # noqa: F401


def get_method(kind: str) -> Method:
    """The registered method ``kind`` (importing every method module on first use)."""
    if kind not in METHODS:
        for module in pkgutil.iter_modules(__path__):
            if module.name != "base":
                importlib.import_module(f"{__name__}.{module.name}")
    if kind not in METHODS:
        raise KeyError(f"unknown condensation method {kind!r}; known: {sorted(METHODS)}")
    return METHODS[kind]()
