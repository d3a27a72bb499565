"""`herding`: per class, the real clips whose running feature mean tracks the class mean.

Features are the soft-label teacher's embeddings of each training video's centre clip; the
stored clips are those centre clips (uint8)."""

from __future__ import annotations

from .base import Condensed, CondenseContext, Method, register_method
from .selection import FeatureSelectionParams, herding_order, select_by_features


@register_method
class Herding(Method):
    name, params_class, needs = "herding", FeatureSelectionParams, ("teacher",)
    family, paper_protocol = "selection", "dancing"
    tiny_params: dict = {}  # one teacher pass over the 3 videos per class, already seconds

    def condense(self, ctx: CondenseContext) -> Condensed:
        return select_by_features(ctx, herding_order)
