"""`kcenter`: per class, greedy farthest-point clips in the teacher's feature space.

The traversal starts from the video nearest the class's mean feature (as DC's and the
Dancing code's coreset); the stored clips are the centre clips the features were computed
on (uint8)."""

from __future__ import annotations

import numpy as np

from .base import Condensed, CondenseContext, Method, register_method
from .selection import FeatureSelectionParams, kcenter_order, nearest_to_mean, select_by_features


@register_method
class KCenter(Method):
    name, params_class, needs = "kcenter", FeatureSelectionParams, ("teacher",)
    family, paper_protocol = "selection", "dancing"
    tiny_params: dict = {}

    def condense(self, ctx: CondenseContext) -> Condensed:
        def order(features: np.ndarray, count: int) -> np.ndarray:
            return kcenter_order(features, count, start=nearest_to_mean(features))

        return select_by_features(ctx, order)
