"""Sequential estimators for episodes (pricing, inventory): PDIS, weighted PDIS, DR and weighted DR.

With ``rho[i, t] = prod_{s <= t} pi_e(a_is | s_is) / pi_b(a_is | s_is)`` (:meth:`EpisodeInputs.cumulative_ratios`),
discount ``gamma``, model values ``q[i, t] = Q(s_it, a_it)`` and ``v[i, t] = E_{a ~ pi_e} Q(s_it, a)``:

- PDIS (per-decision IS, Precup et al. 2000): ``V = (1/n) sum_i sum_t gamma^t rho[i, t] r[i, t]``.
- WIS (weighted per-decision IS): ``V = sum_t gamma^t sum_i (rho[i, t] / sum_j rho[j, t]) r[i, t]``.
- DR (Jiang & Li 2016): ``V = (1/n) sum_i sum_t gamma^t (rho[i, t] (r[i, t] - q[i, t]) + rho[i, t-1] v[i, t])``
  with ``rho[i, -1] = 1``.
- WDR (Thomas & Brunskill 2016): DR with the weights ``rho[i, t] / n`` replaced by ``rho[i, t] / sum_j rho[j, t]``.

Per-round terms are per episode, so the bootstrap resamples whole episodes. For the weighted estimators an
episode's term is ``n`` times its share of the weighted sum (so their mean is the estimate); the normalisers
``sum_j rho[j, t]`` come from the full log and stay fixed in the bootstrap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from policies.ope.base import Estimator, RoundTerms
from policies.ope.validation import EpisodeInputs


def _normalised(rho: np.ndarray) -> np.ndarray:
    """``rho[i, t] / sum_j rho[j, t]`` (0 where a whole column is 0)."""
    col = rho.sum(axis=0, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(col > 0, rho / col, 0.0)


def _terms(per_episode: np.ndarray) -> RoundTerms:
    return RoundTerms(direct=np.zeros_like(per_episode), weighted=per_episode)


def _require_models(inputs: EpisodeInputs, name: str) -> tuple[np.ndarray, np.ndarray]:
    if inputs.q_pred is None or inputs.v_pred is None:
        raise ValueError(f"{name} needs q_pred and v_pred of shape (n_episodes, horizon) = "
                         f"({inputs.n_episodes}, {inputs.horizon})")
    return inputs.q_pred, inputs.v_pred


@dataclass
class PerDecisionIS(Estimator):
    """PDIS: ``V = mean_i sum_t gamma^t rho[i, t] r[i, t]``."""

    name: str = "pdis"

    def round_terms(self, inputs: EpisodeInputs) -> RoundTerms:
        return _terms((inputs.cumulative_ratios() * inputs.rewards) @ inputs.discounts())


@dataclass
class WeightedIS(Estimator):
    """Weighted per-decision IS: ``V = sum_t gamma^t sum_i rho[i, t] r[i, t] / sum_j rho[j, t]``."""

    name: str = "wis"

    def round_terms(self, inputs: EpisodeInputs) -> RoundTerms:
        share = (_normalised(inputs.cumulative_ratios()) * inputs.rewards) @ inputs.discounts()
        return _terms(share * inputs.n_episodes)


def _dr_terms(inputs: EpisodeInputs, weights: np.ndarray, name: str) -> np.ndarray:
    q, v = _require_models(inputs, name)
    prev = np.concatenate([np.full((inputs.n_episodes, 1), 1.0 / inputs.n_episodes), weights[:, :-1]], axis=1)
    return (weights * (inputs.rewards - q) + prev * v) @ inputs.discounts()


@dataclass
class SequentialDR(Estimator):
    """Step-wise DR (Jiang & Li 2016). Needs ``q_pred`` and ``v_pred``."""

    name: str = "seq-dr"

    def round_terms(self, inputs: EpisodeInputs) -> RoundTerms:
        share = _dr_terms(inputs, inputs.cumulative_ratios() / inputs.n_episodes, self.name)
        return _terms(share * inputs.n_episodes)


@dataclass
class WeightedDR(Estimator):
    """Weighted DR (Thomas & Brunskill 2016). Needs ``q_pred`` and ``v_pred``."""

    name: str = "wdr"

    def round_terms(self, inputs: EpisodeInputs) -> RoundTerms:
        share = _dr_terms(inputs, _normalised(inputs.cumulative_ratios()), self.name)
        return _terms(share * inputs.n_episodes)
