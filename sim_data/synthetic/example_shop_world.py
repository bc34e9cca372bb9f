"""A made-up shop's logs in the shop's own column names and ids: banners, baskets and stock (the example of
``docs/own-data.md``; ``retailrl data example-shop --out DIR`` and ``examples/shop/make_shop.py`` call it).

:func:`write_shop` writes ``DIR/banners.parquet`` (impressions; banner ids like ``BNR-007``, slots numbered
from 1), ``DIR/baskets.csv`` (one row per offered product and visit, visits without a purchase included, a cost
index that shifts prices), ``DIR/stock.csv`` (per SKU and day; lost sales not recorded, so sold-out days are
censored), and copies the mappings and ``shop.toml`` (package data in ``example_shop/``) beside them. The truth
behind the logs is drawn by the synthetic worlds of this package, so a fit can be checked against it;
``DIR/truth.json`` holds it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from sim_data.synthetic.click import make_click_world
from sim_data.synthetic.demand import make_demand_world
from sim_data.synthetic.stock import make_stock_log

FILES = Path(__file__).resolve().parent / "example_shop"  # the mappings and shop.toml, copied out
SIZES = {"tiny": {"impressions": 3_000, "shoppers": 60, "weeks": 20, "days": 120},
         "full": {"impressions": 40_000, "shoppers": 400, "weeks": 52, "days": 365}}


def write_shop(out: str | Path, size: str = "tiny", seed: int = 0) -> dict:
    """Write the three logs, the mappings and shop.toml into ``out``; return the truth as a dict.

    :param out: the directory (created when missing).
    :param size: ``tiny`` (tests) or ``full`` (the demo).
    :param seed: seeds the synthetic worlds: the same seed writes the same files.
    """
    if size not in SIZES:
        raise ValueError(f"size: expected one of {sorted(SIZES)}, found {size!r}")
    n = SIZES[size]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clicks, click_truth = make_click_world(n["impressions"], n_actions=8, n_positions=3, n_features=3,
                                           logging="softmax", seed=seed)
    banner_ids = np.array([f"BNR-{k:03d}" for k in (7, 1, 13, 21, 4, 30, 9, 18)])
    t = clicks.table
    banners = t.rename(columns={"event_id": "impression_id", "timestamp": "shown_at", "propensity": "pscore",
                                "reward": "clicked", "context_0": "visits_30d", "context_1": "basket_value",
                                "context_2": "recency"})
    banners["banner"] = banner_ids[t["action"].to_numpy()]
    banners["slot"] = t["position"].to_numpy() + 1
    banners = banners.drop(columns=["action", "position"])
    banners.to_parquet(out / "banners.parquet", index=False)

    choice, demand_truth = make_demand_world(n_shoppers=n["shoppers"], n_weeks=n["weeks"], seed=seed,
                                             outside_utility=1.0,
                                             products=("SKU-GRANOLA", "SKU-MUESLI", "SKU-OATS"))
    b = choice.table.rename(columns={"shopper_id": "customer", "occasion_id": "visit", "time": "week",
                                     "product": "sku", "price": "unit_price", "display": "on_display",
                                     "feature": "in_newsletter", "chosen": "bought", "quantity": "units"})
    inst = demand_truth.instruments.rename(columns={"time": "week", "product": "sku", "cost_shifter": "cost_idx"})
    b = b.merge(inst, on=["week", "sku"], how="left")
    b.to_csv(out / "baskets.csv", index=False)

    stock, stock_truth = make_stock_log(n_products=3, n_periods=n["days"], seed=seed, lead_time=2,
                                        service_level=0.7)
    s = stock.table.drop(columns=["lost_sales"], errors="ignore").rename(columns={
        "product": "article", "period": "day", "on_hand": "stock_start", "ordered": "po_units",
        "received": "gr_units", "sold": "sales_units"})
    s.to_csv(out / "stock.csv", index=False)

    for name in ("banners.toml", "baskets.toml", "stock.toml", "shop.toml"):
        shutil.copy(FILES / name, out / name)
    truth = {"position_bias": click_truth.position_bias.tolist(), "banner_ids": banner_ids.tolist(),
             "beta_price": demand_truth.beta_price, "stock_demand_mean": stock_truth.demand_mean.tolist(),
             "stock_products": list(stock_truth.products), "lead_time": stock_truth.lead_time, "seed": seed,
             "size": size}
    (out / "truth.json").write_text(json.dumps(truth, indent=2))
    return truth
