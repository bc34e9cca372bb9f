"""Error bars of a choice model's held-out fidelity numbers: predicted purchase shares (and, when the log records
no-purchase occasions, the purchase rate) against the observed ones, each with a 95% interval from the fit's
parameter uncertainty.

**Parametric bootstrap.** Parameters are drawn ``n_draws`` times from the fit's normal approximation
``N(params_, cov_)`` (``cov_`` is the model's own covariance: the observed information, or the two-step sandwich
clustered by time when prices are corrected by a control function, so first-stage error is in it); per draw the
held-out numbers are recomputed; ``simulated_ci`` is their 2.5% and 97.5% quantiles. This rather than the delta
method because the model has a handful of parameters and its dense covariance is already formed, so draws are
cheap, and the numbers are ratios of softmaxes (latent-class mixtures too) that a draw handles without
derivatives while staying inside (0, 1).

The estimands, given the held-out occasions as logged (their prices, display, feature ads):

* the **share** of product ``j`` among the purchases: ``mean over purchase occasions of P(j | x_n, a purchase)``
  (the expected observed share: given that occasion ``n`` bought, what it bought follows the conditional logit);
* the **purchase rate** (outside option estimated only): ``mean over all occasions of 1 - P(no purchase | x_n)``.

``difference`` is ``simulated - observed`` with the parameter standard error (the draws' spread) and the
observed binomial one combined (:func:`~envs.models.report.difference_interval`); ``agrees`` when it holds 0.
"""

from __future__ import annotations

import numpy as np

from envs.models.choice import ChoiceModel
from envs.models.choice_data import choice_arrays
from envs.models.report import difference_interval, wilson_interval
from sim_data.logs import ChoiceLog


def _numbers(model: ChoiceModel, full: np.ndarray, bought, everything) -> np.ndarray:
    """Purchase shares ``(J,)`` and, when the outside option is estimated, the purchase rate appended."""
    shares = model._probs(full, bought, outside=False, shift=0.0).mean(axis=0)
    if model.mode_ != "estimate":
        return shares
    rate = model._probs(full, everything, outside=True).sum(axis=1).mean()
    return np.append(shares, rate)


def _row(name: str, simulated: float, draws: np.ndarray, successes: float, n: int) -> dict:
    observed = successes / n
    lo, hi = (float(v) for v in np.quantile(draws, [0.025, 0.975]))
    olo, ohi = wilson_interval(successes, n)
    diff = difference_interval(simulated, float(draws.std(ddof=1)), observed, float(np.sqrt(observed * (1 - observed) / n)))
    return {"name": name, "simulated": float(simulated), "simulated_ci": [lo, hi], "observed": float(observed),
            "observed_ci": [olo, ohi], "intervals_overlap": bool(lo <= ohi and olo <= hi), "difference": diff,
            "agrees": diff["contains_zero"]}


def heldout_intervals(model: ChoiceModel, test: ChoiceLog, n_draws: int = 1000, seed: int = 0) -> dict:
    """Held-out shares (and purchase rate) of ``model`` on ``test`` with 95% parametric-bootstrap intervals.

    :param model: a fitted :class:`~envs.models.choice.ChoiceModel` (fit on occasions before ``test``'s).
    :param test: the held-out :class:`~sim_data.logs.ChoiceLog`.
    :param n_draws: parameter draws (>= 100).
    :param seed: seed of the draws (same seed, same numbers).
    :return: ``{"shares": [row per product], "purchase_rate": row or None, "n_agree", "n_numbers", "n_draws",
        "seed", "method"}``; a row has ``name``, ``simulated``, ``simulated_ci``, ``observed``, ``observed_ci``,
        ``intervals_overlap``, ``difference`` and ``agrees``.
    """
    if isinstance(n_draws, bool) or not isinstance(n_draws, int | np.integer) or n_draws < 100:
        raise ValueError(f"n_draws: expected a whole number >= 100, found {n_draws!r}")
    model._require_fitted()
    everything = choice_arrays(test, model.products_)
    inside = everything.y >= 0
    if not inside.any():
        raise ValueError("test: the held-out choice log has no purchase occasions, so there are no shares to compare")
    bought = everything.subset(inside)
    full = model._full_params()
    cov = 0.5 * (model.cov_ + model.cov_.T)
    if not np.all(np.isfinite(cov)):
        raise ValueError("the choice model's covariance has non-finite entries: its parameters are not identified")
    draws = np.random.default_rng(seed).multivariate_normal(full, cov, size=int(n_draws), method="eigh")
    point = _numbers(model, full, bought, everything)
    sims = np.array([_numbers(model, d, bought, everything) for d in draws])
    counts = np.bincount(bought.y, minlength=len(model.products_)).astype(float)
    n_bought = int(inside.sum())
    shares = [_row(p, point[j], sims[:, j], counts[j], n_bought) for j, p in enumerate(model.products_)]
    rate = (_row("purchase rate", point[-1], sims[:, -1], float(n_bought), everything.n)
            if model.mode_ == "estimate" else None)
    rows = shares + ([rate] if rate else [])
    return {"shares": shares, "purchase_rate": rate, "n_agree": int(sum(r["agrees"] for r in rows)),
            "n_numbers": len(rows), "n_draws": int(n_draws), "seed": int(seed),
            "method": "parametric bootstrap from N(params, cov) of the fit (" + model.se_method_ + ")"}
