"""Contextual-bandit estimators: DM, IPS, SNIPS, DR, SNDR, Switch-DR and DR with optimistic shrinkage.

Notation (per logged row ``i``): ``w_i = pi(a_i | x_i, k_i) / p_i`` the importance weight (clipped at ``clip``
where the estimator has one), ``q_i = q(x_i, a_i, k_i)`` the reward model at the logged action and
``q_pi_i = sum_a pi(a | x_i, k_i) q(x_i, a, k_i)`` its value under the evaluation policy. All inputs come from
:func:`policies.ope.validation.bandit_inputs`; every estimator returns :class:`~policies.ope.base.RoundTerms`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from policies.ope.base import Estimator, RoundTerms
from policies.ope.validation import BanditInputs


def _check_positive(name: str, value: float | None, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if value is None or not (float(value) > 0):
        raise ValueError(f"{name}: expected a positive number (np.inf for none), got {value!r}")


def clipped_weights(inputs: BanditInputs, clip: float | None) -> np.ndarray:
    """``min(w_i, clip)``, shape ``(n_rounds,)``; ``clip=None`` leaves the weights as they are."""
    w = inputs.weights()
    return w if clip is None else np.minimum(w, clip)


@dataclass
class DirectMethod(Estimator):
    """DM: ``V = mean_i q_pi_i``. Needs ``reward_pred``."""

    name: str = "dm"

    def round_terms(self, inputs: BanditInputs) -> RoundTerms:
        q_pi = inputs.policy_pred(self.name)
        return RoundTerms(direct=q_pi, weighted=np.zeros_like(q_pi))


@dataclass
class IPS(Estimator):
    """Inverse propensity scoring: ``V = mean_i min(w_i, clip) r_i``.

    :param clip: largest weight kept (``None``: no clipping).
    """

    clip: float | None = None
    name: str = "ipw"

    def __post_init__(self):
        _check_positive("clip", self.clip)

    def round_terms(self, inputs: BanditInputs) -> RoundTerms:
        w = clipped_weights(inputs, self.clip)
        return RoundTerms(direct=np.zeros_like(w), weighted=w * inputs.rewards)


@dataclass
class SNIPS(Estimator):
    """Self-normalised IPS: ``V = sum_i w_i r_i / sum_i w_i``.

    :param clip: largest weight kept (``None``: no clipping).
    """

    clip: float | None = None
    name: str = "snipw"

    def __post_init__(self):
        _check_positive("clip", self.clip)

    def round_terms(self, inputs: BanditInputs) -> RoundTerms:
        w = clipped_weights(inputs, self.clip)
        return RoundTerms(direct=np.zeros_like(w), weighted=w * inputs.rewards, normaliser=w)


@dataclass
class DoublyRobust(Estimator):
    """DR: ``V = mean_i [q_pi_i + w_i (r_i - q_i)]``. Needs ``reward_pred``.

    :param clip: largest weight kept (``None``: no clipping).
    """

    clip: float | None = None
    name: str = "dr"

    def __post_init__(self):
        _check_positive("clip", self.clip)

    def round_terms(self, inputs: BanditInputs) -> RoundTerms:
        w = clipped_weights(inputs, self.clip)
        return RoundTerms(direct=inputs.policy_pred(self.name),
                          weighted=w * (inputs.rewards - inputs.factual_pred(self.name)))


@dataclass
class SelfNormalizedDR(Estimator):
    """SNDR: ``V = mean_i q_pi_i + sum_i w_i (r_i - q_i) / sum_i w_i``. Needs ``reward_pred``.

    :param clip: largest weight kept (``None``: no clipping).
    """

    clip: float | None = None
    name: str = "sndr"

    def __post_init__(self):
        _check_positive("clip", self.clip)

    def round_terms(self, inputs: BanditInputs) -> RoundTerms:
        w = clipped_weights(inputs, self.clip)
        return RoundTerms(direct=inputs.policy_pred(self.name),
                          weighted=w * (inputs.rewards - inputs.factual_pred(self.name)), normaliser=w)


@dataclass
class SwitchDR(Estimator):
    """Switch-DR (Wang, Agarwal & Dudik 2017): the DR correction only where the weight is small.

    ``V = mean_i [q_pi_i + 1{w_i <= threshold} w_i (r_i - q_i)]``; ``threshold=inf`` is DR, ``0`` is DM.
    Needs ``reward_pred``.

    :param threshold: largest weight whose row keeps its correction term.
    """

    threshold: float = np.inf
    name: str = "switch-dr"

    def __post_init__(self):
        if not (float(self.threshold) >= 0):
            raise ValueError(f"threshold: expected a number >= 0 (np.inf for plain DR), got {self.threshold!r}")

    def round_terms(self, inputs: BanditInputs) -> RoundTerms:
        w = inputs.weights()
        keep = w <= self.threshold
        return RoundTerms(direct=inputs.policy_pred(self.name),
                          weighted=np.where(keep, w * (inputs.rewards - inputs.factual_pred(self.name)), 0.0))


@dataclass
class DROptimisticShrinkage(Estimator):
    """DR with optimistic shrinkage (Su, Dimakopoulou, Krishnamurthy & Dudik 2020).

    ``V = mean_i [q_pi_i + w~_i (r_i - q_i)]`` with ``w~ = shrinkage * w / (w**2 + shrinkage)``;
    ``shrinkage=inf`` is DR, ``0`` is DM. Needs ``reward_pred``.

    :param shrinkage: the shrinkage hyper-parameter lambda, >= 0.
    """

    shrinkage: float = np.inf
    name: str = "dr-os"

    def __post_init__(self):
        if not (float(self.shrinkage) >= 0):
            raise ValueError(f"shrinkage: expected a number >= 0 (np.inf for plain DR), got {self.shrinkage!r}")

    def round_terms(self, inputs: BanditInputs) -> RoundTerms:
        w = inputs.weights()
        if np.isinf(self.shrinkage):
            shrunk = w
        else:
            shrunk = self.shrinkage * w / (w * w + self.shrinkage) if self.shrinkage > 0 else np.zeros_like(w)
        return RoundTerms(direct=inputs.policy_pred(self.name),
                          weighted=shrunk * (inputs.rewards - inputs.factual_pred(self.name)))


NEEDS_REWARD_MODEL = (DirectMethod, DoublyRobust, SelfNormalizedDR, SwitchDR, DROptimisticShrinkage)
