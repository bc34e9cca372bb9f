"""A small stock world: Poisson demand served by a known base-stock (order-up-to) policy, with lost sales.

Per product and period ``t`` (``lead_time = L >= 1``):

1. ``received_t`` = the order placed in period ``t - L`` (0 before any arrives);
2. ``sold_t = min(demand_t, on_hand_t + received_t)``, ``lost_sales_t = demand_t - sold_t``;
3. ``ordered_t = S - (on_hand_t + received_t - sold_t + orders still in the pipeline)``: the inventory position
   is brought back to the base-stock level ``S`` every period;
4. ``on_hand_{t+1} = on_hand_t + received_t - sold_t``; ``on_hand_0 = S``.

``demand_t ~ Poisson(demand_mean)`` i.i.d.
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
class StockTruth:
    """The known parameters of a stock world.

    :param products: product names, length ``J``.
    :param demand_mean: Poisson mean demand per period, shape ``(J,)``.
    :param base_stock: order-up-to level ``S``, shape ``(J,)``.
    :param lead_time: periods between placing and receiving an order.
    :param demand: the realised demand, shape ``(n_periods, J)`` (the log shows only sold + lost).
    :param seed: the seed the world was drawn from.
    """

    products: tuple[str, ...]
    demand_mean: np.ndarray
    base_stock: np.ndarray
    lead_time: int
    demand: np.ndarray
    seed: int = 0


def make_stock_log(
    n_products: int = 3,
    n_periods: int = 52,
    seed: int = 0,
    *,
    demand_mean: Sequence[float] | None = None,
    base_stock: Sequence[float] | None = None,
    lead_time: int = 1,
    service_level: float = 0.9,
) -> tuple[StockLog, StockTruth]:
    """Simulate a base-stock policy under Poisson demand and log it as a stock table.

    :param n_products: number of products.
    :param n_periods: number of periods.
    :param seed: seed of the one generator everything is drawn from.
    :param demand_mean: mean demand per product, shape ``(n_products,)``; default ``U(5, 20)`` draws.
    :param base_stock: order-up-to levels, shape ``(n_products,)``; default the ``service_level`` quantile of
        Poisson demand over ``lead_time + 1`` periods.
    :param lead_time: periods from order to receipt (>= 1).
    :param service_level: the quantile used for the default base stock, in (0, 1).
    :return: the validated :class:`~sim_data.logs.StockLog` and the :class:`StockTruth`.
    """
    n_products = check_int("n_products", n_products)
    n_periods = check_int("n_periods", n_periods)
    lead_time = check_int("lead_time", lead_time, minimum=1)
    service_level = check_float("service_level", service_level, lower=0.0, upper=1.0, lower_open=True, upper_open=True)
    rng = make_rng(seed)
    mean = rng.uniform(5.0, 20.0, size=n_products)
    if demand_mean is not None:
        mean = np.asarray(demand_mean, dtype=np.float64)
        if mean.shape != (n_products,) or not np.all(np.isfinite(mean)) or (mean < 0).any():
            raise ValueError(f"demand_mean must be {n_products} finite values >= 0, got {demand_mean!r}")
    if base_stock is None:
        level = stats.poisson.ppf(service_level, mean * (lead_time + 1)).astype(np.float64)
    else:
        level = np.asarray(base_stock, dtype=np.float64)
        if level.shape != (n_products,) or not np.all(np.isfinite(level)) or (level < 0).any():
            raise ValueError(f"base_stock must be {n_products} finite values >= 0, got {base_stock!r}")
    demand = rng.poisson(mean, size=(n_periods, n_products)).astype(np.float64)

    shape = (n_periods, n_products)
    on_hand, received, sold, ordered = (np.zeros(shape) for _ in range(4))
    stock = level.copy()
    for t in range(n_periods):
        on_hand[t] = stock
        received[t] = ordered[t - lead_time] if t >= lead_time else 0.0
        sold[t] = np.minimum(demand[t], stock + received[t])
        stock = stock + received[t] - sold[t]
        pipeline = ordered[max(t - lead_time + 1, 0): t].sum(axis=0)
        ordered[t] = np.maximum(level - stock - pipeline, 0.0)

    names = tuple(f"product_{j}" for j in range(n_products))
    table = pd.DataFrame({
        "product": np.tile(np.asarray(names, dtype=object), n_periods),
        "period": np.repeat(np.arange(n_periods, dtype=np.int64), n_products),
        "on_hand": on_hand.ravel(),
        "ordered": ordered.ravel(),
        "received": received.ravel(),
        "sold": sold.ravel(),
        "lost_sales": (demand - sold).ravel(),
    })
    truth = StockTruth(products=names, demand_mean=mean, base_stock=level, lead_time=lead_time, demand=demand,
                       seed=int(seed))
    details = {"n_products": n_products, "n_periods": n_periods, "seed": int(seed), "lead_time": lead_time,
               "demand_mean": mean.tolist(), "base_stock": level.tolist()}
    return StockLog.from_frame(table, provenance=Provenance("synthetic:stock_world", licence="generated",
                                                            details=details)), truth
