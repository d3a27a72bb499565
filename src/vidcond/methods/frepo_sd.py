"""`frepo_sd`: FRePo on the static/dynamic parametrisation of "Dancing with Still Images"
(a frozen static memory, learned dynamic memories and the integrator; :mod:`.static_dynamic`)."""

# A module of its own: its code version follows its base's imports only, so editing another
# base method leaves its jobs alone.

from __future__ import annotations

from dataclasses import dataclass

from .base import register_method
from .frepo import FRePo, FRePoParams
from .static_dynamic import STATIC_TINY, StaticDynamicMethod, StaticDynamicParams


@dataclass(frozen=True, kw_only=True)
class FRePoStaticDynamicParams(StaticDynamicParams, FRePoParams):
    pass


@register_method
class FRePoStaticDynamic(StaticDynamicMethod):
    name, base, params_class = "frepo_sd", FRePo, FRePoStaticDynamicParams
    tiny_params = {**STATIC_TINY, "lr_dynamic": 0.001, "lr_hal": 0.001, "iterations": 2, "num_models": 2, "batch_real": 4}
