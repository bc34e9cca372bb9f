"""Lead times from a stock log: orders matched to receipts first-in first-out, per product.

Rule. Per product, in period order, each period's receipt consumes the oldest open orders' units first. With
``order_timing="end"`` (orders are placed at the end of the period, after its sales) a receipt in period ``t``
can fill only orders from periods before ``t``; with ``"start"`` (orders placed before the period's sales) also
the order of period ``t`` itself. An order's *lag* is the period of the receipt that delivers its last unit
minus the period it was placed in (the completion lag).

Limits, which the report counts:

* partial receipts: an order split over several receipts gets the lag of its last part;
* crossing orders (a later order arriving first) are matched to the earlier order, so FIFO cannot see them; the
  lags then look more regular than they are;
* receipts before the first open order (stock ordered before the log began) are ``unmatched_received`` units and
  are left out; orders still open at the end of the log are ``open_orders`` and left out, which biases the mean
  lag down when lead times are long relative to the log;
* receipts larger or smaller than the orders (short shipments, cancelled orders) shift the matching.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pandas as pd

ORDER_TIMINGS = ("end", "start")


def match_orders(periods: np.ndarray, ordered: np.ndarray, received: np.ndarray,
                 order_timing: str = "end") -> dict:
    """FIFO-match one product's orders to its receipts.

    :param periods: ``(n,)`` increasing period indexes.
    :param ordered: ``(n,)`` units ordered per period (>= 0).
    :param received: ``(n,)`` units received per period (>= 0).
    :param order_timing: ``"end"`` or ``"start"`` (see the module docstring).
    :return: ``lags`` (one per completed order, in order), ``open_orders``, ``open_units``,
        ``unmatched_received`` (units), ``split_orders`` (orders filled by more than one receipt).
    """
    if order_timing not in ORDER_TIMINGS:
        raise ValueError(f"order_timing: expected one of {ORDER_TIMINGS}, found {order_timing!r}")
    queue: deque[list[float]] = deque()  # [period, units left, receipts so far]
    lags: list[int] = []
    unmatched = 0.0
    split = 0

    def receive(period: int, units: float) -> float:
        nonlocal split
        while units > 1e-9 and queue:
            head = queue[0]
            take = min(units, head[1])
            head[1] -= take
            head[2] += 1
            units -= take
            if head[1] <= 1e-9:
                lags.append(int(period - head[0]))
                split += head[2] > 1
                queue.popleft()
        return units

    for p, q, r in zip(periods.tolist(), ordered.tolist(), received.tolist(), strict=True):
        if order_timing == "start" and q > 0:
            queue.append([p, q, 0])
        if r > 0:
            unmatched += receive(p, r)
        if order_timing == "end" and q > 0:
            queue.append([p, q, 0])
    return {"lags": lags, "open_orders": len(queue), "open_units": float(sum(o[1] for o in queue)),
            "unmatched_received": float(unmatched), "split_orders": int(split)}


def lead_time_summary(lags: list[int]) -> dict:
    """Mean, standard deviation, min, max and count of the lags (NaN statistics when there are none)."""
    a = np.asarray(lags, dtype=np.float64)
    if a.size == 0:
        return {"n_orders": 0, "mean": float("nan"), "sd": float("nan"), "min": None, "max": None}
    return {"n_orders": int(a.size), "mean": float(a.mean()), "sd": float(a.std(ddof=1)) if a.size > 1 else 0.0,
            "min": int(a.min()), "max": int(a.max())}


def estimate_lead_times(table: pd.DataFrame, order_timing: str = "end") -> dict:
    """Per-product and pooled lead times of a stock table (columns ``product``, ``period``, ``ordered``, ``received``).

    :return: ``{"rule": str, "order_timing": str, "products": {name: summary + match counts}, "pooled": summary}``
        where a summary is :func:`lead_time_summary`'s dict.
    ``pooled["n_orders"]`` is 0 when no order is received within the log (the lead time is then unknown).
    """
    products: dict[str, dict] = {}
    pooled: list[int] = []
    for name, g in table.sort_values(["product", "period"], kind="stable").groupby("product", sort=False):
        m = match_orders(g["period"].to_numpy(), g["ordered"].to_numpy(dtype=np.float64),
                         g["received"].to_numpy(dtype=np.float64), order_timing)
        pooled += m["lags"]
        products[str(name)] = {**lead_time_summary(m["lags"]),
                               **{k: v for k, v in m.items() if k != "lags"}}
    return {"rule": "FIFO: each receipt fills the oldest open orders; an order's lag is the period of the receipt "
                    "completing it minus the period it was placed", "order_timing": order_timing,
            "products": products, "pooled": lead_time_summary(pooled)}
