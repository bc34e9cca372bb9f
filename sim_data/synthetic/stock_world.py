"""A stock world for censored-demand recovery: stock-outs that follow high demand, weekday patterns, random lead
times and lost sales recorded or not.

Per product ``j`` and period ``t = 0..T-1``:

1. mean demand ``mu_tj = demand_mean_j * weekday[t mod 7] * exp(trend * (t - (T - 1)))``; ``weekday`` has mean 1,
   so ``demand_mean_j`` is the average demand per period over a week at the level of the last period;
2. ``demand_tj ~ Poisson(mu_tj)`` (``dispersion = 0``) or negative binomial with mean ``mu`` and variance
   ``mu + dispersion * mu^2`` (NB2);
3. ``received_tj``: the orders whose arrival period is ``t``; ``sold_tj = min(demand_tj, on_hand_tj + received_tj)``;
4. at the end of the period (after its sales) an order brings the inventory position (stock after sales + orders
   not yet received) back to the base-stock level ``S_j``; its lead time is ``lead_time + U{0..lead_time_spread}``
   and it arrives in period ``max(t + lead, arrival of the previous order)``: orders never cross, so the realised
   lag can exceed the drawn one (``StockWorldTruth.lags`` holds the realised lags);
5. ``on_hand_{t+1} = on_hand_t + received_t - sold_t``; ``on_hand_0 = S_j``.

A period sells out exactly when its demand exceeds the stock available, so the periods that sell out are the
high-demand ones (and, with a weekday pattern, the high-demand weekdays): dropping them biases the mean down.
``lost_sales`` (``demand - sold``) is recorded in a ``lost_sales_share`` of the periods (NaN in the others; the
column is absent when the share is 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from sim_data.logs import Provenance, StockLog
from sim_data.synthetic._common import check_float, check_int, make_rng


@dataclass
class StockWorldTruth:
    """The known parameters of a :func:`make_stock_world` world.

    :param products: product names, length ``J``.
    :param demand_mean: ``(J,)`` mean demand per period over a week at the last period's level.
    :param period_means: ``(T, J)`` the mean demand of every period.
    :param demand: ``(T, J)`` the realised demand.
    :param dispersion: NB2 dispersion (0: Poisson).
    :param base_stock: ``(J,)`` the logging policy's order-up-to levels.
    :param lags: ``{product: [realised lag of each order received within the log, in order]}``.
    :param lead_time_mean: mean of the drawn lead time, ``lead_time + lead_time_spread / 2``.
    :param seed: the seed the world was drawn from.
    """

    products: tuple[str, ...]
    demand_mean: np.ndarray
    period_means: np.ndarray
    demand: np.ndarray
    dispersion: float
    base_stock: np.ndarray
    lags: dict[str, list[int]]
    lead_time_mean: float
    seed: int = 0


def _weekday_profile(weekday: Sequence[float] | None) -> np.ndarray:
    if weekday is None:
        return np.ones(7)
    w = np.asarray(weekday, dtype=np.float64)
    if w.shape != (7,) or not np.all(np.isfinite(w)) or (w <= 0).any():
        raise ValueError(f"weekday must be 7 finite values > 0 (one per period mod 7), got {weekday!r}")
    return w / w.mean()


def _draw_demand(rng: np.random.Generator, means: np.ndarray, dispersion: float) -> np.ndarray:
    if dispersion == 0.0:
        return rng.poisson(means).astype(np.float64)
    return rng.poisson(rng.gamma(1.0 / dispersion, dispersion * means)).astype(np.float64)  # gamma-Poisson = NB2


def make_stock_world(
    n_products: int = 5,
    n_periods: int = 180,
    seed: int = 0,
    *,
    demand_mean: Sequence[float] | None = None,
    dispersion: float = 0.0,
    weekday: Sequence[float] | None = None,
    trend: float = 0.0,
    lead_time: int = 2,
    lead_time_spread: int = 0,
    service_level: float = 0.7,
    base_stock: Sequence[float] | None = None,
    lost_sales_share: float = 0.0,
) -> tuple[StockLog, StockWorldTruth]:
    """Simulate a base-stock policy that often sells out, and log it as a stock table.

    :param n_products: number of products ``J``.
    :param n_periods: number of periods ``T``.
    :param seed: seed of the one generator everything is drawn from.
    :param demand_mean: ``(J,)`` mean demand per period (see the module docstring); default ``U(4, 30)`` draws.
    :param dispersion: NB2 dispersion ``alpha >= 0`` (variance ``mu + alpha mu^2``); 0 is Poisson.
    :param weekday: 7 positive multipliers of the mean by ``period mod 7`` (rescaled to mean 1); default flat.
    :param trend: log-linear trend per period (the mean grows by ``exp(trend)`` each period).
    :param lead_time: smallest lead time in periods from an order (end of period) to its receipt, >= 1.
    :param lead_time_spread: lead times are ``lead_time + U{0..spread}``.
    :param service_level: default base stock: this quantile of Poisson demand over ``lead_time + spread / 2``
        periods at the mean level; low values give many stock-outs. In (0, 1).
    :param base_stock: ``(J,)`` order-up-to levels instead of the default.
    :param lost_sales_share: share of periods (drawn at random) whose ``lost_sales`` is recorded, in [0, 1].
    :return: the validated :class:`~sim_data.logs.StockLog` and the :class:`StockWorldTruth`.
    """
    n_products = check_int("n_products", n_products)
    n_periods = check_int("n_periods", n_periods)
    lead_time = check_int("lead_time", lead_time, minimum=1)
    spread = check_int("lead_time_spread", lead_time_spread, minimum=0)
    dispersion = check_float("dispersion", dispersion, lower=0.0)
    trend = check_float("trend", trend)
    service_level = check_float("service_level", service_level, lower=0.0, upper=1.0, lower_open=True,
                                upper_open=True)
    share = check_float("lost_sales_share", lost_sales_share, lower=0.0, upper=1.0)
    profile = _weekday_profile(weekday)
    rng = make_rng(seed)
    mean = rng.uniform(4.0, 30.0, size=n_products)
    if demand_mean is not None:
        mean = np.asarray(demand_mean, dtype=np.float64)
        if mean.shape != (n_products,) or not np.all(np.isfinite(mean)) or (mean <= 0).any():
            raise ValueError(f"demand_mean must be {n_products} finite values > 0, got {demand_mean!r}")
    lead_mean = lead_time + spread / 2
    if base_stock is None:
        level = stats.poisson.ppf(service_level, mean * lead_mean).astype(np.float64)
    else:
        level = np.asarray(base_stock, dtype=np.float64)
        if level.shape != (n_products,) or not np.all(np.isfinite(level)) or (level < 0).any():
            raise ValueError(f"base_stock must be {n_products} finite values >= 0, got {base_stock!r}")
    t = np.arange(n_periods)
    period_means = mean[None, :] * profile[t % 7][:, None] * np.exp(trend * (t - (n_periods - 1)))[:, None]
    demand = _draw_demand(rng, period_means, dispersion)
    draws = rng.integers(0, spread + 1, size=(n_periods, n_products)) + lead_time

    shape = (n_periods, n_products)
    on_hand, received, sold, ordered = (np.zeros(shape) for _ in range(4))
    arrivals = np.zeros((n_periods + lead_time + spread + 1, n_products))
    last_arrival = np.full(n_products, -1)
    lags: list[list[int]] = [[] for _ in range(n_products)]
    stock, pipeline = level.copy(), np.zeros(n_products)
    for p in range(n_periods):
        on_hand[p] = stock
        received[p] = arrivals[p]
        pipeline -= received[p]
        sold[p] = np.minimum(demand[p], stock + received[p])
        stock = stock + received[p] - sold[p]
        ordered[p] = np.maximum(level - stock - pipeline, 0.0)
        pipeline += ordered[p]
        for j in np.flatnonzero(ordered[p] > 0):
            when = max(p + int(draws[p, j]), int(last_arrival[j]))
            last_arrival[j] = when
            arrivals[when, j] += ordered[p, j]
            if when < n_periods:
                lags[j].append(when - p)

    lost = demand - sold
    recorded = rng.random(shape) < share
    names = tuple(f"product_{j}" for j in range(n_products))
    columns = {
        "product": np.tile(np.asarray(names, dtype=object), n_periods),
        "period": np.repeat(t.astype(np.int64), n_products),
        "on_hand": on_hand.ravel(), "ordered": ordered.ravel(), "received": received.ravel(), "sold": sold.ravel(),
    }
    if share > 0:
        columns["lost_sales"] = np.where(recorded, lost, np.nan).ravel()
    truth = StockWorldTruth(products=names, demand_mean=mean, period_means=period_means, demand=demand,
                            dispersion=dispersion, base_stock=level, lags=dict(zip(names, lags, strict=True)),
                            lead_time_mean=lead_mean, seed=int(seed))
    details = {"n_products": n_products, "n_periods": n_periods, "seed": int(seed), "lead_time": lead_time,
               "lead_time_spread": spread, "dispersion": dispersion, "trend": trend, "weekday": profile.tolist(),
               "demand_mean": mean.tolist(), "base_stock": level.tolist(), "lost_sales_share": share}
    log = StockLog.from_frame(pd.DataFrame(columns),
                              provenance=Provenance("synthetic:stock_world", licence="generated", details=details))
    return log, truth
