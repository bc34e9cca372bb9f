"""Overlap diagnostics for importance weights, with warnings a non-statistician can act on.

For weights ``w_i = pi(a_i | x_i, k_i) / p_i`` (shape ``(n_rounds,)``):

- effective sample size ``ESS = (sum w)^2 / sum w^2`` (Kish), and its share of the rows;
- the largest weight and the share of the total weight it carries;
- the share of logged rows whose action the evaluated policy would never take (``pi = 0``);
- the mean weight, which is 1 in expectation when the propensities are right and the logging policy gives
  every action the evaluated policy takes a chance.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ESS_LOW = 0.10
ESS_VERY_LOW = 0.01
MAX_WEIGHT_SHARE = 0.05
NEVER_TAKEN_HIGH = 0.5


def weight_diagnostics(weights: np.ndarray, eval_probs: np.ndarray | None = None) -> dict[str, Any]:
    """Diagnostics of importance weights.

    :param weights: ``(n_rounds,)`` importance weights (unclipped).
    :param eval_probs: ``(n_rounds,)`` ``pi(a_i | x_i, k_i)``; ``weights == 0`` is used when omitted.
    :return: a dict with ``n_rounds``, ``ess``, ``ess_share``, ``max_weight``, ``max_weight_share``,
        ``mean_weight``, ``never_taken_share`` and ``warnings`` (a list of sentences).
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or w.size == 0:
        raise ValueError(f"weights: expected a non-empty array of shape (n_rounds,), got shape {w.shape}")
    n = w.size
    total = float(w.sum())
    sq = float(np.dot(w, w))
    ess = total * total / sq if sq > 0 else 0.0
    never = (np.asarray(eval_probs) == 0) if eval_probs is not None else (w == 0)
    never_share = float(np.count_nonzero(never) / n)
    max_w = float(w.max())
    mean_w = total / n
    se_mean = float(w.std(ddof=1) / np.sqrt(n)) if n > 1 else float("inf")
    diag = {
        "n_rounds": n,
        "ess": ess,
        "ess_share": ess / n,
        "max_weight": max_w,
        "max_weight_share": max_w / total if total > 0 else 0.0,
        "mean_weight": mean_w,
        "never_taken_share": never_share,
    }
    diag["warnings"] = overlap_warnings(diag, se_mean)
    return diag


def overlap_warnings(diag: dict[str, Any], se_mean_weight: float = 0.0) -> list[str]:
    """Plain-language warnings for the diagnostics of :func:`weight_diagnostics`."""
    out = []
    n, ess = diag["n_rounds"], diag["ess"]
    if diag["ess_share"] < ESS_VERY_LOW:
        out.append(f"Very little overlap: the {n:,} logged rows are worth only about {ess:,.0f} rows "
                   f"({diag['ess_share']:.2%}) for this policy. Importance-weighted estimates are unreliable; "
                   "prefer DM/DR-type estimators and treat intervals with caution.")
    elif diag["ess_share"] < ESS_LOW:
        out.append(f"Limited overlap: the logged rows are worth only about {ess:,.0f} of {n:,} rows "
                   f"({diag['ess_share']:.1%}) for this policy, so the intervals are wide.")
    if diag["max_weight_share"] > MAX_WEIGHT_SHARE:
        out.append(f"A single logged row carries {diag['max_weight_share']:.1%} of the total importance weight "
                   f"(weight {diag['max_weight']:.3g}): the estimate hinges on it; consider clipping (SLOPE).")
    if diag["never_taken_share"] > NEVER_TAKEN_HIGH:
        out.append(f"The policy would never take {diag['never_taken_share']:.1%} of the logged actions, so only "
                   f"{1 - diag['never_taken_share']:.1%} of the rows inform the importance-weighted estimators.")
    mean_w = diag["mean_weight"]
    if abs(mean_w - 1.0) > max(0.1, 3.0 * se_mean_weight):
        out.append(f"The mean importance weight is {mean_w:.3g} instead of about 1: the logged propensities may be "
                   "wrong, or the logging policy rarely or never shows actions this policy takes. IPS and DR may "
                   "be biased; compare with the self-normalised estimators (SNIPS, SNDR).")
    return out
