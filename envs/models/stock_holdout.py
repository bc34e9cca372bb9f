"""Held-out check of a censored-demand fit: fit on the earlier periods, replay the later ones.

For each product of the held-out log, with its logged ``available = on_hand + received`` per period:

* **sales, with a predictive interval.** Parameters are drawn ``n_draws`` times from the fit's normal
  approximation ``N(params, cov)`` (parametric bootstrap); per draw, demand is simulated for every held-out
  period and censored by the logged stock, ``sales = min(demand, available)``, and averaged over the periods.
  ``simulated`` is the mean of those averages, ``simulated_ci`` their 2.5% and 97.5% quantiles (parameter and
  sampling uncertainty together), compared with the observed mean held-out sales (``inside_ci``).
* **demand where it is seen.** On the held-out periods whose demand is exact (lost sales recorded, or the stock
  did not sell out), the observed mean demand beside the model's prediction for the same periods given what the
  log says about them: ``E[D]`` where lost sales are recorded, ``E[D | D < available]`` where the shelf did not
  empty (those periods are selected for low demand, so the unconditional mean would not be a fair comparison).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from envs.models.stock_data import product_demands
from sim_data.logs import StockLog


def split_by_period(log: StockLog, test_share: float = 0.2) -> tuple[StockLog, StockLog]:
    """The rows before the cut period and from it on; the cut leaves ``test_share`` of the distinct periods last."""
    if not 0.0 < test_share < 1.0:
        raise ValueError(f"test_share: expected a number in (0, 1), found {test_share!r}")
    periods = np.sort(log.table["period"].unique())
    k = int(round((1 - test_share) * periods.size))
    if k < 1 or k >= periods.size:
        raise ValueError(f"test_share={test_share} leaves no train or no test periods out of {periods.size}")
    early = log.table["period"] < periods[k]
    return (StockLog(table=log.table[early].reset_index(drop=True), provenance=log.provenance),
            StockLog(table=log.table[~early].reset_index(drop=True), provenance=log.provenance))


def _conditional_mean(fit, periods: np.ndarray, available: np.ndarray, below: np.ndarray) -> np.ndarray:
    """``E[D]``, or ``E[D | D < available]`` where ``below``, at the point estimate."""
    x = fit.x(periods)
    mu = np.exp(x @ fit.fit.beta)
    top = int(max(available[below].max(initial=0), 1))
    k = np.arange(top)
    if fit.fit.family == "poisson":
        pmf = stats.poisson.pmf(k[None, :], mu[:, None])
    else:
        r = 1.0 / fit.fit.alpha
        pmf = stats.nbinom.pmf(k[None, :], r, r / (r + mu[:, None]))
    pmf = np.where(k[None, :] < available[:, None], pmf, 0.0)
    cond = (pmf * k).sum(axis=1) / np.maximum(pmf.sum(axis=1), 1e-300)
    return np.where(below, cond, mu)


def holdout_check(model, test: StockLog, n_draws: int = 1000, seed: int = 0) -> dict:
    """Replay ``test``'s periods through ``model`` (a :class:`~envs.models.stock_demand.StockDemandModel` fit on
    the earlier periods).

    :param n_draws: parameter draws of the bootstrap.
    :param seed: seed of the draws (same seed, same numbers).
    :return: ``{"products": [...], "n_inside": int, "n_products": int, "skipped": [names]}``; per product
        ``observed``, ``simulated``, ``simulated_ci``, ``inside_ci``, ``periods``, ``exact_periods``,
        ``observed_demand_exact``, ``predicted_demand_exact``.
    """
    if int(n_draws) < 20:
        raise ValueError(f"n_draws: expected a whole number >= 20, found {n_draws!r}")
    rng = np.random.default_rng(seed)
    known = set(model.product_names)
    rows, skipped = [], []
    for p in product_demands(test.table, require_exact=False):
        if p.name not in known:
            skipped.append(p.name)
            continue
        fit = model.product(p.name)
        draws = fit.draw_params(rng, int(n_draws))
        sales = np.minimum(fit.simulate_demand(p.periods, draws, rng), p.available[None, :]).mean(axis=1)
        lo, hi = (float(v) for v in np.quantile(sales, [0.025, 0.975]))
        observed = float(p.sold.mean())
        exact = ~p.censored
        predicted = _conditional_mean(fit, p.periods[exact], p.available[exact], ~p.lost_recorded[exact])
        rows.append({"product": p.name, "periods": p.n, "observed": observed, "simulated": float(sales.mean()),
                     "simulated_ci": [lo, hi], "inside_ci": bool(lo <= observed <= hi),
                     "exact_periods": int(exact.sum()),
                     "observed_demand_exact": float(p.demand[exact].mean()) if exact.any() else None,
                     "predicted_demand_exact": float(predicted.mean()) if exact.any() else None})
    return {"products": rows, "n_inside": int(sum(r["inside_ci"] for r in rows)), "n_products": len(rows),
            "skipped": skipped, "n_draws": int(n_draws), "seed": int(seed)}
