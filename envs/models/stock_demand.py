"""Per-product demand from a stock log, by right-censored maximum likelihood (sold-out periods are lower bounds).

For each product ``j`` (rows and censoring rule: :mod:`envs.models.stock_data`), demand in period ``t`` is
Poisson or NB2 (:mod:`envs.models.censored_counts`) with mean

``mu_t = exp(b0 + sum_d b_d [t mod 7 = d] + g (t - mid) / span)``,  ``d = 1..6``, ``mid``/``span`` the centre
and length of the product's fitted periods.

Terms and family (``"auto"``):

* day of week: considered when the product has at least ``min_weeks_day_of_week`` weeks (default 4, i.e. 28
  periods) and every weekday has an exactly observed period (else its term is not identified); trend: considered
  with at least ``min_weeks_trend`` weeks (default 8). A considered term is kept when the likelihood-ratio test against the
  model without it rejects at ``test_level`` (default 5%; 6 df for the weekdays, 1 for the trend).
* family: NB2 when the likelihood-ratio test of Poisson within NB (with all considered terms) rejects at
  ``test_level``; alpha = 0 is on the boundary, so the p-value is half the chi-square(1) tail.

The estimate per product is the mean demand per period: ``m = (1/7) sum_d mu_d`` over the weekdays (``mu`` without
weekday terms), at the trend's level at the product's last period when a trend is kept ("level at the end of the
log"), else the stationary mean. Its 95% interval is ``m exp(+-1.96 se)`` with ``se`` the delta-method standard
error of ``log m`` from the observed information. Reported beside it: the naive mean of sales (with its normal
interval), the mean of sales over periods that did not sell out (the "drop stock-out days" estimate), and the
stock-out share. Lead times come from :mod:`envs.models.lead_time`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats

from envs.models.base import BehaviourModel
from envs.models.censored_counts import CensoredCounts, CountFit, covariance, fit_counts
from envs.models.lead_time import ORDER_TIMINGS, estimate_lead_times
from envs.models.stock_data import ProductDemand, product_demands
from envs.params import InventoryParams
from sim_data.logs import StockLog

Z95 = float(stats.norm.ppf(0.975))
FAMILY_CHOICES = ("auto", "poisson", "negbin")
TERM_CHOICES = ("auto", True, False)


def design(periods: np.ndarray, effects: dict, mid: float, span: float) -> np.ndarray:
    """``(n, P)`` design rows: constant, weekday dummies ``t mod 7 = 1..6`` (if ``effects["day_of_week"]``),
    trend ``(t - mid) / span`` (if ``effects["trend"]``)."""
    cols = [np.ones(periods.size)]
    if effects["day_of_week"]:
        cols += [(periods % 7 == d).astype(np.float64) for d in range(1, 7)]
    if effects["trend"]:
        cols.append((periods - mid) / span)
    return np.stack(cols, axis=1)


def _lr_pvalue(full: CountFit, reduced: CountFit, df: int, boundary: bool = False) -> float:
    stat = max(2.0 * (full.loglik - reduced.loglik), 0.0)
    p = float(stats.chi2.sf(stat, df))
    return 0.5 * p if boundary else p


class ProductFit:
    """One product's fitted demand: terms, family, parameters and the period geometry."""

    def __init__(self, name: str, effects: dict, fit: CountFit, mid: float, span: float, last_period: int,
                 tests: dict, summary: dict):
        self.name, self.effects, self.fit = name, effects, fit
        self.mid, self.span, self.last_period = mid, span, last_period
        self.tests, self.summary = tests, summary

    def x(self, periods: np.ndarray) -> np.ndarray:
        return design(np.asarray(periods, dtype=np.int64), self.effects, self.mid, self.span)

    def _week_rows(self) -> np.ndarray:
        """Design rows of the 7 weekdays at the last period's trend level (one row without weekday terms)."""
        week = self.last_period - np.arange(7) if self.effects["day_of_week"] else np.array([self.last_period])
        x = self.x(week)
        if self.effects["trend"]:
            x[:, -1] = (self.last_period - self.mid) / self.span
        return x

    def mean_and_se(self, params: np.ndarray | None = None) -> tuple[float, float]:
        """The mean demand per period ``m`` and the delta-method standard error of ``log m``."""
        p = self.fit.params if params is None else params
        x = self._week_rows()
        mu = np.exp(x @ p[: x.shape[1]])
        m = float(mu.mean())
        grad = (mu[:, None] * x).mean(axis=0) / m
        cov = self.fit.cov[: x.shape[1], : x.shape[1]]
        return m, float(np.sqrt(max(grad @ cov @ grad, 0.0)))

    def draw_params(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``(n, n_params)`` draws from the normal approximation ``N(params, cov)`` (a fixed log alpha stays fixed)."""
        p, cov = self.fit.params, self.fit.cov
        free = ~np.isnan(np.diag(cov))
        out = np.tile(p, (n, 1))
        out[:, free] = rng.multivariate_normal(p[free], cov[np.ix_(free, free)], size=n, method="cholesky")
        return out

    def simulate_demand(self, periods: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``(n_draws, n_periods)`` demand drawn at each parameter row of ``params`` ``(n_draws, n_params)``."""
        x = self.x(periods)
        mu = np.exp(np.clip(params[:, : x.shape[1]] @ x.T, -30.0, 30.0))
        if self.fit.family == "poisson":
            return rng.poisson(mu).astype(np.float64)
        alpha = np.exp(params[:, -1])[:, None]
        return rng.poisson(rng.gamma(1.0 / alpha, alpha * mu)).astype(np.float64)


def _naive(p: ProductDemand) -> dict:
    n = p.n
    mean = float(p.sold.mean())
    se = float(p.sold.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    kept = p.sold[~p.stockout]
    return {"naive_mean": mean, "naive_ci": [mean - Z95 * se, mean + Z95 * se],
            "dropped_stockouts_mean": float(kept.mean()) if kept.size else float("nan"),
            "stockout_share": float(p.stockout.mean()), "censored_share": float(p.censored.mean()),
            "lost_sales_recorded_share": float(p.lost_recorded.mean()), "n_periods": n}


class StockDemandModel(BehaviourModel):
    """Censored-demand model of a stock log (see the module docstring).

    :param family: ``"auto"`` (likelihood-ratio test), ``"poisson"`` or ``"negbin"``.
    :param day_of_week: ``"auto"`` (when long enough, kept if significant), ``True`` (when long enough) or ``False``.
    :param trend: ``"auto"``, ``True`` or ``False``, as ``day_of_week``.
    :param min_weeks_day_of_week: weeks of data a product needs for weekday terms.
    :param min_weeks_trend: weeks of data a product needs for a trend.
    :param test_level: significance level of the family and term tests.
    :param order_timing: when orders are placed within a period, ``"end"`` (after its sales) or ``"start"``;
        see :mod:`envs.models.lead_time` and :meth:`env_lead_time`.
    """

    kind = "stock_demand"

    def __init__(self, family: str = "auto", day_of_week: str | bool = "auto", trend: str | bool = "auto",
                 min_weeks_day_of_week: int = 4, min_weeks_trend: int = 8, test_level: float = 0.05,
                 order_timing: str = "end"):
        if family not in FAMILY_CHOICES:
            raise ValueError(f"family: expected one of {FAMILY_CHOICES}, found {family!r}")
        for name, value in (("day_of_week", day_of_week), ("trend", trend)):
            if value not in TERM_CHOICES:
                raise ValueError(f"{name}: expected 'auto', True or False, found {value!r}")
        if int(min_weeks_day_of_week) < 1 or int(min_weeks_trend) < 1:
            raise ValueError("min_weeks_day_of_week, min_weeks_trend: expected whole numbers >= 1")
        if not 0.0 < test_level < 1.0:
            raise ValueError(f"test_level: expected a number in (0, 1), found {test_level!r}")
        if order_timing not in ORDER_TIMINGS:
            raise ValueError(f"order_timing: expected one of {ORDER_TIMINGS}, found {order_timing!r}")
        self.family, self.day_of_week, self.trend = family, day_of_week, trend
        self.min_weeks_day_of_week, self.min_weeks_trend = int(min_weeks_day_of_week), int(min_weeks_trend)
        self.test_level, self.order_timing = float(test_level), order_timing

    def config(self) -> dict:
        return {"family": self.family, "day_of_week": self.day_of_week, "trend": self.trend,
                "min_weeks_day_of_week": self.min_weeks_day_of_week, "min_weeks_trend": self.min_weeks_trend,
                "test_level": self.test_level, "order_timing": self.order_timing}

    # ------------------------------------------------------------------------------------------ fitting
    def _candidates(self, p: ProductDemand) -> dict:
        exact = ~p.censored
        weekdays_ok = all((exact & (p.periods % 7 == d)).any() for d in range(7))
        return {"day_of_week": self.day_of_week is not False and p.n >= 7 * self.min_weeks_day_of_week
                and weekdays_ok,
                "trend": self.trend is not False and p.n >= 7 * self.min_weeks_trend}

    def _fit_product(self, p: ProductDemand) -> ProductFit:
        rows = p.take(p.informative)
        mid = float((p.periods.min() + p.periods.max()) / 2)
        span = float(max(p.periods.max() - p.periods.min(), 1))

        def data(effects: dict) -> CensoredCounts:
            return CensoredCounts(design(rows.periods, effects, mid, span), rows.demand, rows.censored)

        def fit(family: str, effects: dict) -> CountFit:
            return fit_counts(family, data(effects), with_cov=False)

        effects = self._candidates(p)
        tests: dict = {}
        poisson = fit("poisson", effects)
        if self.family == "auto":
            negbin = fit("negbin", effects)
            tests["negbin_vs_poisson_p"] = _lr_pvalue(negbin, poisson, 1, boundary=True)
            family = "negbin" if tests["negbin_vs_poisson_p"] < self.test_level else "poisson"
            full = negbin if family == "negbin" else poisson
        else:
            family = self.family
            full = poisson if family == "poisson" else fit("negbin", effects)
        final = dict(effects)
        for term, df in (("day_of_week", 6), ("trend", 1)):
            if effects[term] and getattr(self, term) == "auto":
                tests[f"{term}_p"] = _lr_pvalue(full, fit(family, {**effects, term: False}), df)
                final[term] = tests[f"{term}_p"] < self.test_level
        chosen = full if final == effects else fit(family, final)
        try:
            chosen.cov = covariance(family, data(final), chosen.params)
        except ValueError as exc:
            raise ValueError(f"product {p.name!r}: {exc} (terms {final}, {family})") from None
        return ProductFit(p.name, final, chosen, mid, span, int(p.periods.max()), tests, _naive(p))

    def fit(self, data: StockLog, progress: Callable[[str], None] | None = None) -> StockDemandModel:
        """Fit every product of a stock log; returns ``self``.

        :param progress: optional callable receiving a line after about every tenth of the products.

        :raises TypeError: ``data`` is not a :class:`~sim_data.logs.StockLog`.
        :raises ValueError: naming the product, for non-whole counts, all-censored products or unidentified terms.
        """
        if not isinstance(data, StockLog):
            raise TypeError(f"data: expected a StockLog, found {type(data).__name__}")
        products = product_demands(data.table)
        every = max(len(products) // 10, 1)
        self.products_ = []
        for k, p in enumerate(products, start=1):
            self.products_.append(self._fit_product(p))
            if progress is not None and (k % every == 0 or k == len(products)):
                progress(f"censored demand: {k:,} of {len(products):,} products fitted")
        self.lead_times_ = estimate_lead_times(data.table, self.order_timing)
        self._fitted = True
        return self

    # ------------------------------------------------------------------------------------------ results
    @property
    def product_names(self) -> list[str]:
        self._require_fitted()
        return [p.name for p in self.products_]

    def product(self, name: str) -> ProductFit:
        """The fit of one product; raises ``KeyError`` naming the known products."""
        for p in self.products_:
            if p.name == name:
                return p
        raise KeyError(f"product {name!r} is not in the fit; products: {self.product_names}")

    def demand_means(self) -> np.ndarray:
        """``(J,)`` the fitted mean demand per period of each product (see the module docstring)."""
        self._require_fitted()
        return np.array([p.mean_and_se()[0] for p in self.products_])

    def naive_means(self) -> np.ndarray:
        """``(J,)`` the mean of sales per period of each product (biased low when stock runs out)."""
        self._require_fitted()
        return np.array([p.summary["naive_mean"] for p in self.products_])

    def env_lead_time(self) -> int:
        """The environment's lead time: the pooled mean lag rounded, minus 1 with ``order_timing="end"``
        (an order placed after period t's sales and received in period t + k is, in ``Inventory-v0``'s terms, an
        order at the start of t + 1 usable k - 1 periods later), never below 0."""
        self._require_fitted()
        if self.lead_times_["pooled"]["n_orders"] == 0:
            raise ValueError("columns ordered/received: no order is received within the log for any product, so "
                             "the lead time cannot be estimated; give it explicitly (lead_time=...)")
        lag = int(round(self.lead_times_["pooled"]["mean"]))
        return max(lag - (1 if self.order_timing == "end" else 0), 0)

    def report(self) -> dict:
        """Per product: estimate, 95% interval, naive figures, stock-out share, family, terms, tests, lead time."""
        self._require_fitted()
        rows = []
        for p in self.products_:
            m, se = p.mean_and_se()
            f = p.fit
            disp = None
            if f.family == "negbin":
                sd = float(np.sqrt(f.cov[-1, -1])) if np.isfinite(f.cov[-1, -1]) else float("nan")
                disp = {"alpha": f.alpha, "ci": [float(np.exp(f.params[-1] - Z95 * sd)),
                                                 float(np.exp(f.params[-1] + Z95 * sd))]}
            rows.append({"product": p.name, "estimate": m, "ci": [m * float(np.exp(-Z95 * se)),
                                                                   m * float(np.exp(Z95 * se))],
                         "se_log": se, **p.summary, "family": f.family, "dispersion": disp, "effects": p.effects,
                         "estimate_kind": (f"level at the end of the log (period {p.last_period})"
                                           if p.effects["trend"] else "stationary mean per period"),
                         "tests": p.tests, "loglik": f.loglik, "converged": f.converged,
                         "lead_time": self.lead_times_["products"][p.name]})
        known = self.lead_times_["pooled"]["n_orders"] > 0
        return {"products": rows, "lead_time": self.lead_times_,
                "env_lead_time": self.env_lead_time() if known else None,
                "config": self.config()}

    def to_params(self, holding_cost=1.0, backorder_cost=9.0, lost_sale_cost=9.0, backorders: bool = True,
                  fixed_order_cost=0.0, unit_order_cost=0.0, lead_time: int | None = None,
                  naive: bool = False) -> InventoryParams:
        """The ``inventory`` section for ``Inventory-v0``: fitted mean demands and lead time; costs as given
        (stock logs hold no costs; defaults are the environment's).

        :param lead_time: overrides :meth:`env_lead_time`.
        :param naive: use the naive means of sales instead (for comparisons only).
        """
        means = self.naive_means() if naive else self.demand_means()
        return InventoryParams(demand_mean=np.maximum(means, 1e-6),
                               lead_time=self.env_lead_time() if lead_time is None else int(lead_time),
                               holding_cost=holding_cost, backorder_cost=backorder_cost, lost_sale_cost=lost_sale_cost,
                               fixed_order_cost=fixed_order_cost, unit_order_cost=unit_order_cost,
                               backorders=backorders)

    def evaluate(self, data: StockLog) -> dict:
        """Held-out check (:func:`envs.models.stock_holdout.holdout_check` with its defaults)."""
        from envs.models.stock_holdout import holdout_check

        return holdout_check(self, data)

    # ------------------------------------------------------------------------------------------ persistence
    def _state(self) -> dict:
        return {"products": [{"name": p.name, "effects": p.effects, "family": p.fit.family,
                              "params": p.fit.params, "cov": np.nan_to_num(p.fit.cov, nan=-1.0),
                              "cov_nan": np.isnan(p.fit.cov), "loglik": p.fit.loglik, "converged": p.fit.converged,
                              "mid": p.mid, "span": p.span, "last_period": p.last_period, "tests": p.tests,
                              "summary": p.summary} for p in self.products_],
                "lead_times": self.lead_times_}

    def _restore(self, state: dict) -> None:
        self.products_ = []
        for s in state["products"]:
            cov = np.asarray(s["cov"], dtype=np.float64)
            cov[np.asarray(s["cov_nan"], dtype=bool)] = np.nan
            fit = CountFit(s["family"], np.asarray(s["params"], dtype=np.float64), cov, s["loglik"], s["converged"])
            self.products_.append(ProductFit(s["name"], s["effects"], fit, s["mid"], s["span"], s["last_period"],
                                             s["tests"], s["summary"]))
        self.lead_times_ = state["lead_times"]
