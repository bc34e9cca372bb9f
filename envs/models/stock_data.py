"""A stock log as per-product demand observations: exact where demand is seen, right-censored where the stock
sold out and the unmet demand was not recorded.

Per row (product ``j``, period ``t``), with ``available = on_hand + received``:

* ``lost_sales`` recorded (column present, value not NaN): demand ``= sold + lost_sales``, exact;
* otherwise, sold out (``sold >= available``): demand ``>= sold``, right-censored at ``sold`` (a sold-out period
  with nothing available, ``sold = 0``, says nothing about demand and is left out of the likelihood);
* otherwise demand ``= sold``, exact (the shelf never emptied).

``stockout`` marks the sold-out periods (whether or not lost sales were recorded); ``censored`` the ones the
likelihood treats as lower bounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

TOL = 1e-9


@dataclass
class ProductDemand:
    """One product's rows, sorted by period; every array has shape ``(n,)``.

    :param name: the product.
    :param periods: period indexes (increasing).
    :param sold: units sold.
    :param available: ``on_hand + received``.
    :param demand: exact demand, or the censoring bound ``sold`` where ``censored``.
    :param censored: True where demand is only known to be ``>= sold``.
    :param stockout: True where the period sold out (``sold >= available``).
    :param lost_recorded: True where ``lost_sales`` is recorded.
    """

    name: str
    periods: np.ndarray
    sold: np.ndarray
    available: np.ndarray
    demand: np.ndarray
    censored: np.ndarray
    stockout: np.ndarray
    lost_recorded: np.ndarray

    @property
    def n(self) -> int:
        return int(self.periods.size)

    @property
    def informative(self) -> np.ndarray:
        """Rows that enter the likelihood: exact ones, and censored ones with a bound >= 1."""
        return ~self.censored | (self.demand >= 1)

    def take(self, mask: np.ndarray) -> ProductDemand:
        """The rows where ``mask`` holds."""
        return ProductDemand(self.name, *(getattr(self, f)[mask] for f in (
            "periods", "sold", "available", "demand", "censored", "stockout", "lost_recorded")))


def _whole(values: np.ndarray, column: str, name: str, periods: np.ndarray) -> None:
    bad = np.flatnonzero(np.abs(values - np.round(values)) > TOL)
    if bad.size:
        raise ValueError(f"column {column}: expected whole units (a count model), found {values[bad[0]]!r} for "
                         f"product {name!r} at period(s) {periods[bad[:5]].tolist()}")


def product_demands(table: pd.DataFrame, require_exact: bool = True) -> list[ProductDemand]:
    """Split a validated stock table into per-product observations (products in first-appearance order).

    :raises ValueError: non-whole ``sold`` or ``lost_sales`` (naming the product and periods), or a product whose
        every period is censored (no finite maximum-likelihood estimate exists) unless ``require_exact`` is False.
    """
    has_lost = "lost_sales" in table.columns
    out = []
    for name, g in table.groupby("product", sort=False):
        g = g.sort_values("period", kind="stable")
        periods = g["period"].to_numpy(dtype=np.int64)
        sold = g["sold"].to_numpy(dtype=np.float64)
        available = (g["on_hand"] + g["received"]).to_numpy(dtype=np.float64)
        lost = g["lost_sales"].to_numpy(dtype=np.float64) if has_lost else np.full(sold.size, np.nan)
        recorded = ~np.isnan(lost)
        _whole(sold, "sold", str(name), periods)
        _whole(lost[recorded], "lost_sales", str(name), periods[recorded])
        stockout = sold >= available - TOL
        censored = stockout & ~recorded
        demand = np.where(recorded, sold + np.nan_to_num(lost), sold)
        pd_ = ProductDemand(str(name), periods, sold, available, np.round(demand), censored, stockout, recorded)
        if require_exact and not (~censored).any():
            raise ValueError(
                f"product {name!r}: all {sold.size} periods sold out (sold == on_hand + received) and lost_sales is "
                "not recorded, so its demand is only known to be >= its sales and the censored likelihood has no "
                "finite maximum; record lost_sales for some periods, or leave the product out")
        out.append(pd_)
    return out
