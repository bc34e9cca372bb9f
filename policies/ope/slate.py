"""Slot-aware estimators: independent IPS per position (as in the Open Bandit Dataset) and standard slate IPS.

Each logged row is one (round, slot) impression with the propensity of its item *in that slot*.

- :class:`PositionIPS` treats every slot as its own bandit (the "independent IPS" assumption: a slot's reward
  depends only on the item in it), so ``V = mean_i w_i r_i`` with per-slot weights; :meth:`PositionIPS.per_position`
  gives ``V_k`` for each slot.
- :class:`SlateIPS` makes no such assumption: rows with the same ``slate_ids`` form one slate ``s`` whose weight is
  the product of its rows' weights, ``W_s = prod_{i in s} pi(a_i | x_i, k_i) / p_i`` (the joint probability of a
  slate under slot-wise independent policies), and ``V = mean_s W_s R_s / n_positions`` with ``R_s`` the slate's
  total reward, i.e. reward per slot, on the same scale as the per-row estimators. Rounds are slates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from policies.ope.bandit import IPS, clipped_weights
from policies.ope.base import RoundTerms
from policies.ope.validation import BanditInputs


@dataclass
class PositionIPS(IPS):
    """Independent IPS per position: ``V = mean_i min(w_i, clip) r_i`` with slot-wise weights.

    :param clip: largest weight kept (``None``: no clipping).
    """

    name: str = "position-ipw"

    def per_position(self, inputs: BanditInputs) -> dict[int, float]:
        """``{k: V_k}``: the IPS value of each slot over the rows logged in it (slots with no rows are left out)."""
        wr = self.round_terms(inputs).weighted
        sums = np.bincount(inputs.positions, weights=wr, minlength=inputs.n_positions)
        counts = np.bincount(inputs.positions, minlength=inputs.n_positions)
        return {int(k): float(sums[k] / counts[k]) for k in range(inputs.n_positions) if counts[k] > 0}


@dataclass
class SlateIPS(IPS):
    """Standard slate IPS: ``V = mean_s W_s R_s / n_positions``; needs ``slate_ids``.

    :param clip: largest *slate* weight kept (``None``: no clipping).
    """

    name: str = "slate-ipw"

    def round_terms(self, inputs: BanditInputs) -> RoundTerms:
        if inputs.slate_ids is None:
            raise ValueError("slate-ipw needs slate_ids of shape (n_rounds,): the slate each logged row belongs to")
        _, slate = np.unique(inputs.slate_ids, return_inverse=True)
        n_slates = int(slate.max()) + 1
        w = clipped_weights(inputs, None)
        with np.errstate(divide="ignore"):
            log_w = np.log(w)
        zero = np.bincount(slate, weights=(w == 0).astype(np.float64), minlength=n_slates) > 0
        slate_w = np.where(zero, 0.0, np.exp(np.bincount(slate, weights=np.where(w > 0, log_w, 0.0),
                                                          minlength=n_slates)))
        if self.clip is not None:
            slate_w = np.minimum(slate_w, self.clip)
        slate_r = np.bincount(slate, weights=inputs.rewards, minlength=n_slates)
        contrib = slate_w * slate_r / inputs.n_positions
        return RoundTerms(direct=np.zeros(n_slates), weighted=contrib)
