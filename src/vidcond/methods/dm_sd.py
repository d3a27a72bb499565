"""`dm_sd`: distribution matching on the static/dynamic parametrisation of "Dancing with Still Images"
(a frozen static memory, learned dynamic memories and the integrator; :mod:`.static_dynamic`)."""

# A module of its own: its code version follows its base's imports only, so editing another
# base method leaves its jobs alone.

from __future__ import annotations

from dataclasses import dataclass

from .base import register_method
from .dm import DistributionMatching, DMParams
from .static_dynamic import STATIC_TINY, StaticDynamicMethod, StaticDynamicParams


@dataclass(frozen=True, kw_only=True)
class DMStaticDynamicParams(StaticDynamicParams, DMParams):
    pass


@register_method
class DMStaticDynamic(StaticDynamicMethod):
    name, base, params_class = "dm_sd", DistributionMatching, DMStaticDynamicParams
    tiny_params = {**STATIC_TINY, "lr_dynamic": 100.0, "lr_hal": 0.001, "iterations": 2, "batch_real": 2}
