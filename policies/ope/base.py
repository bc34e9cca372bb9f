"""What every estimator shares: per-round terms, the estimator interface, and the result record.

Every bandit estimator in this package has the form

    V = mean_i(direct_i) + sum_i(weighted_i) / sum_i(normaliser_i)

(``normaliser`` is all ones for the unnormalised estimators), so an estimator only has to produce the three
per-round arrays of :class:`RoundTerms`; the point estimate, the bootstrap, the lower bounds, the diagnostics and
SLOPE all reuse them. A "round" is one logged row (one slate for slate estimators, one episode for sequential ones).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class RoundTerms:
    """Per-round contributions: ``V = mean(direct) + sum(weighted) / sum(normaliser)``.

    :param direct: ``(n_rounds,)`` model-based part (zeros for pure importance sampling).
    :param weighted: ``(n_rounds,)`` importance-weighted part.
    :param normaliser: ``(n_rounds,)`` denominators (importance weights for self-normalised estimators), or
        ``None`` meaning all ones.
    """

    direct: np.ndarray
    weighted: np.ndarray
    normaliser: np.ndarray | None = None

    @property
    def n_rounds(self) -> int:
        return int(self.weighted.shape[0])

    def denominators(self) -> np.ndarray:
        return np.ones(self.n_rounds) if self.normaliser is None else self.normaliser

    def value(self) -> float:
        """The estimate."""
        den = float(self.n_rounds if self.normaliser is None else self.normaliser.sum())
        ratio = float(self.weighted.sum()) / den if den > 0 else 0.0
        return float(self.direct.mean()) + ratio

    def influence(self) -> np.ndarray:
        """Per-round pseudo-values ``psi_i`` with ``mean(psi) = V`` (the delta-method linearisation of the ratio).

        ``psi_i = direct_i + (weighted_i - R * normaliser_i) / mean(normaliser) + R`` with ``R`` the ratio; for
        unnormalised estimators ``psi_i = direct_i + weighted_i``. Shape ``(n_rounds,)``.
        """
        if self.normaliser is None:
            return self.direct + self.weighted
        mean_den = float(self.normaliser.mean())
        if mean_den <= 0:
            return self.direct.copy()
        ratio = float(self.weighted.sum()) / float(self.normaliser.sum())
        return self.direct + (self.weighted - ratio * self.normaliser) / mean_den + ratio

    def std_error(self) -> float:
        """Standard error of the estimate from the pseudo-values."""
        n = self.n_rounds
        return float(np.std(self.influence(), ddof=1) / np.sqrt(n)) if n > 1 else float("inf")


class Estimator(ABC):
    """The interface every estimator shares: ``round_terms`` does the work, ``estimate`` is their value.

    Subclasses are small dataclasses; ``name`` is the short name used by the CLI and reports.
    """

    name: str = "estimator"

    @abstractmethod
    def round_terms(self, inputs: Any) -> RoundTerms:
        """Per-round contributions for ``inputs`` (see the subclass for the formula)."""

    def estimate(self, inputs: Any) -> float:
        """The estimated policy value."""
        return self.round_terms(inputs).value()

    def params(self) -> dict[str, Any]:
        """Hyper-parameters, for reports."""
        return {k: v for k, v in asdict(self).items() if k != "name"} if hasattr(self, "__dataclass_fields__") else {}

    def label(self) -> str:
        """``name`` plus non-default hyper-parameters, e.g. ``switch-dr(threshold=20)``."""
        shown = {k: v for k, v in self.params().items() if v is not None and not (isinstance(v, float) and np.isinf(v))}
        if not shown:
            return self.name
        return f"{self.name}(" + ", ".join(f"{k}={_fmt(v)}" for k, v in shown.items()) + ")"


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


@dataclass
class EstimateResult:
    """One estimator's answer, with its uncertainty and overlap diagnostics; ``to_dict`` is JSON-ready.

    :param name: the estimator's short name (``ipw``, ``dr``, ...).
    :param label: name plus hyper-parameters.
    :param estimate: the point estimate.
    :param ci: the bootstrap percentile interval ``(lo, hi)``.
    :param confidence: the interval's level, e.g. 0.95.
    :param lower_bound: the high-confidence lower bound.
    :param lower_bound_method: ``t`` or ``bernstein``.
    :param std_error: delta-method standard error.
    :param diagnostics: effective sample size, max weight, ... (see :mod:`policies.ope.diagnostics`).
    :param params: the estimator's hyper-parameters (chosen by SLOPE where it says so).
    """

    name: str
    label: str
    estimate: float
    ci: tuple[float, float]
    confidence: float
    lower_bound: float
    lower_bound_method: str
    std_error: float
    diagnostics: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ci"] = [float(self.ci[0]), float(self.ci[1])]
        return jsonable(d)


def jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        f = float(obj)
        return f if np.isfinite(f) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj
