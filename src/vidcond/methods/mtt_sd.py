"""`mtt_sd`: MTT on the static/dynamic parametrisation of "Dancing with Still Images"
(a frozen static memory, learned dynamic memories and the integrator; :mod:`.static_dynamic`)."""

# A module of its own: its code version follows its base's imports only, so editing another
# base method leaves its jobs alone.

from __future__ import annotations

from dataclasses import dataclass

from .base import register_method
from .mtt import MTT, MTTParams
from .static_dynamic import STATIC_TINY, StaticDynamicMethod, StaticDynamicParams


@dataclass(frozen=True, kw_only=True)
class MTTStaticDynamicParams(StaticDynamicParams, MTTParams):
    pass


@register_method
class MTTStaticDynamic(StaticDynamicMethod):
    name, base, params_class = "mtt_sd", MTT, MTTStaticDynamicParams
    tiny_params = {
        **STATIC_TINY, "lr_dynamic": 0.1, "lr_hal": 1e-6, "iterations": 2, "syn_steps": 2, "max_start_epoch": 1, "batch_syn": 0,
    }
