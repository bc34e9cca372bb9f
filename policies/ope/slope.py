"""SLOPE: pick an estimator's clipping / switch / shrinkage hyper-parameter from the data.

SLOPE (Su, Srinath & Krishnamurthy 2020; Tucker & Lee 2021) is Lepski's method for estimators ordered from
low bias / high variance to high bias / low variance. With ``theta_m`` and ``width_m = z * std_error_m`` for each
candidate, candidates are visited in order of decreasing width; candidate ``m`` is accepted while its interval
overlaps all earlier ones, ``|theta_m - theta_j| <= width_m + C * width_j`` with ``C = sqrt(6) - 1``; the last one
accepted is chosen. The hyper-parameter is chosen once on the whole log (the bootstrap then keeps it fixed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from policies.ope.base import Estimator, RoundTerms

SLOPE_C = float(np.sqrt(6.0) - 1.0)


def slope_select(candidates: Sequence[Estimator], inputs: Any, z: float = 2.0) -> tuple[int, list[dict]]:
    """Choose among candidate estimators with SLOPE.

    :param candidates: estimators of one family with different hyper-parameters.
    :param inputs: what the estimators take.
    :param z: width multiplier of the standard error.
    :return: ``(index of the chosen candidate, one record per candidate: label, estimate, width, accepted)``.
    """
    if not candidates:
        raise ValueError("candidates: expected at least one estimator")
    terms = [c.round_terms(inputs) for c in candidates]
    return slope_choose([c.label() for c in candidates], [t.value() for t in terms],
                        [z * t.std_error() for t in terms])


def slope_choose(labels: Sequence[str], estimates: Sequence[float], widths: Sequence[float]) -> tuple[int, list[dict]]:
    """SLOPE on candidates given by their estimates ``theta_m`` and widths ``z * std_error_m`` (see the module).

    :return: as :func:`slope_select`.
    """
    theta = np.asarray(estimates, dtype=np.float64)
    width = np.asarray(widths, dtype=np.float64)
    order = np.argsort(-width, kind="stable")
    chosen = int(order[0])
    accepted = [chosen]
    for m in order[1:]:
        if all(abs(theta[m] - theta[j]) <= width[m] + SLOPE_C * width[j] for j in accepted):
            accepted.append(int(m))
            chosen = int(m)
        else:
            break
    table = [{"label": label, "estimate": float(theta[i]), "width": float(width[i]), "accepted": i in accepted}
             for i, label in enumerate(labels)]
    return chosen, table


def default_grid(weights: np.ndarray, n_points: int = 12, power: float = 1.0) -> list[float]:
    """A geometric grid from 1 to ``max(weights) ** power`` (``n_points`` values), plus inf (no clipping).

    :param weights: ``(n_rounds,)`` importance weights.
    :param power: 1 for clipping / switch thresholds (a weight scale), 2 for DR-OS shrinkage (a squared-weight scale).
    """
    w = np.asarray(weights, dtype=np.float64)
    hi = float(w.max()) ** power if w.size else 1.0
    if not hi > 1.0:
        return [np.inf]
    return [float(g) for g in np.geomspace(1.0, hi, n_points)] + [np.inf]


@dataclass
class SlopeTuned(Estimator):
    """An estimator family whose hyper-parameter SLOPE chooses on the data it is given.

    :param make: builds the estimator for one hyper-parameter value, e.g. ``lambda t: SwitchDR(threshold=t)``.
    :param param: the hyper-parameter's name, for reports.
    :param grid: candidate values; a grid over the observed weights (:func:`default_grid`) when ``None``.
    :param grid_power: the ``power`` of :func:`default_grid` (2 for a shrinkage parameter on the ``w**2`` scale).
    """

    make: Callable[[float], Estimator]
    param: str
    grid: Sequence[float] | None = None
    grid_power: float = 1.0
    name: str = ""
    selected: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if not self.name:
            self.name = self.make(np.inf).name

    def choose(self, inputs: Any) -> Estimator:
        """Run SLOPE on ``inputs`` and return the chosen estimator (recorded in ``selected``)."""
        grid = list(self.grid) if self.grid is not None else default_grid(inputs.weights(), power=self.grid_power)
        candidates = [self.make(g) for g in grid]
        idx, table = slope_select(candidates, inputs)
        self.selected = {"param": self.param, "value": grid[idx], "candidates": table}
        return candidates[idx]

    def round_terms(self, inputs: Any) -> RoundTerms:
        return self.choose(inputs).round_terms(inputs)

    def params(self) -> dict[str, Any]:
        if not self.selected:
            return {self.param: "slope"}
        return {self.param: self.selected["value"], "tuning": "slope"}

    def label(self) -> str:
        if not self.selected:
            return f"{self.name}({self.param}=slope)"
        value = self.selected["value"]
        return f"{self.name}({self.param}={value:.4g}, slope)"
