"""Fit a stock log into an inventory simulator (``retailrl sim fit FILE --kind stock``)::

    DIR/params.json         section "inventory" (other sections of an existing file are kept)
    DIR/stock_demand.json   the fitted StockDemandModel (envs.models.load_model)
    DIR/fidelity.json       per product: estimate, 95% interval, naive mean, stock-out share, family, lead time;
                            and the held-out check with simulated_ci (envs.models.stock_holdout)
    DIR/fidelity.md         the same as tables, with DIR/stock_demand.png beside them

The held-out check fits a second model on the earlier ``1 - test_share`` of the periods and replays the rest; the
simulator's parameters come from the fit on the whole log.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from envs.models.report import figure, md_table, save_figure
from envs.models.stock_demand import StockDemandModel
from envs.models.stock_holdout import holdout_check, split_by_period
from sim_data.io import write_text
from sim_data.logs import StockLog

Progress = Callable[[str], None]


def _noop(_: str) -> None:
    return None


def _strict(value: Any) -> Any:
    """NaN and infinities as ``None`` (strict JSON), recursively through dicts and lists."""
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return None
    return value


def fit_stock(log: StockLog, out: str | Path, progress: Progress = _noop, *, holding_cost: Any = 1.0,
              backorder_cost: Any = 9.0, lost_sale_cost: Any = 9.0, backorders: bool = True,
              fixed_order_cost: Any = 0.0, unit_order_cost: Any = 0.0, lead_time: int | None = None,
              test_share: float = 0.2, n_draws: int = 1000, seed: int = 0,
              model_kwargs: dict | None = None) -> dict:
    """Fit censored demand and lead time from a stock log and write a fit directory (see the module docstring).

    :param log: the validated stock log.
    :param out: the fit directory (created).
    :param progress: callable receiving one line per step.
    :param holding_cost: per unit per period, scalar or ``(J,)`` (stock logs hold no costs; the defaults are
        ``Inventory-v0``'s).
    :param backorder_cost: per unit backlogged per period.
    :param lost_sale_cost: per unit of demand lost.
    :param backorders: whether the simulator backlogs unmet demand (True) or loses it.
    :param fixed_order_cost: per order placed.
    :param unit_order_cost: per unit ordered.
    :param lead_time: the simulator's lead time; default the estimate (:meth:`StockDemandModel.env_lead_time`).
    :param test_share: share of the last periods held out for the check.
    :param n_draws: parametric-bootstrap draws of the held-out check.
    :param seed: seed of those draws.
    :param model_kwargs: arguments of :class:`~envs.models.stock_demand.StockDemandModel`.
    :return: the fidelity dict written to ``fidelity.json``: ``source`` ("stock"), ``products`` (per product
        ``estimate``, ``ci``, ``naive_mean``, ``naive_ci``, ``dropped_stockouts_mean``, ``stockout_share``,
        ``family``, ``effects``, ``lead_time``, ...), ``lead_time``, ``env_lead_time``, ``held_out``,
        ``params``. Undefined figures (a naive interval from one period, a lead time with no received order)
        are NaN here and ``null`` in ``fidelity.json``.
    """
    if not isinstance(log, StockLog):
        raise TypeError(f"log: expected a StockLog, found {type(log).__name__}")
    out = Path(out)
    kwargs = dict(model_kwargs or {})
    progress(f"fitting censored demand of {log.table['product'].nunique():,} products on {len(log):,} rows")
    model = StockDemandModel(**kwargs).fit(log, progress=progress)
    params = model.to_params(holding_cost=holding_cost, backorder_cost=backorder_cost, lost_sale_cost=lost_sale_cost,
                             backorders=backorders, fixed_order_cost=fixed_order_cost,
                             unit_order_cost=unit_order_cost, lead_time=lead_time)
    train, test = split_by_period(log, test_share)
    progress(f"held-out check: fit on {len(train):,} earlier rows, replay {len(test):,} later rows")
    held = holdout_check(StockDemandModel(**kwargs).fit(train), test, n_draws=n_draws, seed=seed)
    report = model.report()
    fidelity = {"source": "stock", "rows": len(log), "provenance": log.provenance.source, **report,
                "held_out": {**held, "test_share": test_share,
                             "note": ("simulated: mean held-out sales when demand drawn from the fit on the earlier "
                                      "periods is censored by the logged stock; simulated_ci: its 95% predictive "
                                      "interval over parameter draws (parametric bootstrap) and demand draws")},
                "params": params.to_dict(),
                "lead_time_used": ("given" if lead_time is not None else "estimated")}
    progress("writing the model, params.json and the report")
    out.mkdir(parents=True, exist_ok=True)
    model.save(out)
    params.to_json(out / "params.json")
    write_text(out / "fidelity.json", json.dumps(_strict(fidelity), indent=2, default=float, allow_nan=False))
    write_text(out / "fidelity.md", _markdown(fidelity, out))
    return fidelity


def _plot(f: dict, out: Path) -> str:
    rows = f["products"]
    xs = np.arange(len(rows))
    fig, ax = figure(2, width=max(4.8, 0.5 * len(rows)))
    est = np.array([r["estimate"] for r in rows])
    err = np.abs(np.array([r["ci"] for r in rows]).T - est)
    ax[0].errorbar(xs - 0.1, est, yerr=err, fmt="o", ms=4, label="censored fit (95%)")
    naive = np.array([r["naive_mean"] for r in rows])
    ax[0].errorbar(xs + 0.1, naive, yerr=np.abs(np.array([r["naive_ci"] for r in rows]).T - naive), fmt="s", ms=4,
                   label="mean of sales (95%)")
    ax[0].set_xticks(xs, [r["product"] for r in rows], rotation=60, ha="right")
    ax[0].set_ylabel("demand per period")
    ax[0].set_title("mean demand: censored fit vs naive")
    ax[0].legend()
    held = f["held_out"]["products"]
    hx = np.arange(len(held))
    sim = np.array([h["simulated"] for h in held])
    ax[1].errorbar(hx, sim, yerr=np.abs(np.array([h["simulated_ci"] for h in held]).T - sim), fmt="o", ms=4,
                   label="simulated (95% predictive)")
    ax[1].plot(hx, [h["observed"] for h in held], "kx", label="observed")
    ax[1].set_xticks(hx, [h["product"] for h in held], rotation=60, ha="right")
    ax[1].set_title("held-out mean sales")
    ax[1].legend()
    return save_figure(fig, out / "stock_demand.png")


def _markdown(f: dict, out: Path) -> str:
    png = _plot(f, out)
    held = f["held_out"]
    pooled = f["lead_time"]["pooled"]
    lines = [
        "# Simulator fidelity: stock log", "",
        f"{f['rows']:,} rows. Demand per product by right-censored maximum likelihood: a period that sold out "
        "(sold == on_hand + received) without recorded lost sales counts as demand >= sold; lost_sales, where "
        "recorded, gives demand exactly.", "",
        md_table(["product", "estimate", "95% interval", "mean of sales", "drop stock-outs", "stock-out share",
                  "family", "weekday", "trend", "lead time (mean, sd)"],
                 [[r["product"], r["estimate"], f"[{r['ci'][0]:.4g}, {r['ci'][1]:.4g}]", r["naive_mean"],
                   r["dropped_stockouts_mean"], r["stockout_share"], r["family"],
                   "yes" if r["effects"]["day_of_week"] else "no", "yes" if r["effects"]["trend"] else "no",
                   f"{r['lead_time']['mean']:.3g}, {r['lead_time']['sd']:.3g}"] for r in f["products"]]), "",
        f"Lead time (FIFO order-to-receipt lag, {pooled['n_orders']:,} orders): mean {pooled['mean']:.3g}, "
        f"sd {pooled['sd']:.3g} periods; orders placed at the `{f['lead_time']['order_timing']}` of a period; the "
        f"simulator uses lead time {f['params']['lead_time']} ({f['lead_time_used']}).", "",
        f"![censored fit vs naive mean, held-out sales]({png})", "",
        f"Held-out check: fit on the first {1 - held['test_share']:.0%} of periods; {held['n_inside']} of "
        f"{held['n_products']} products' observed mean sales inside the 95% predictive interval.", "",
        md_table(["product", "periods", "observed sales", "simulated", "simulated_ci", "inside",
                  "exact-demand periods", "observed demand there", "predicted there"],
                 [[h["product"], h["periods"], h["observed"], h["simulated"],
                   f"[{h['simulated_ci'][0]:.4g}, {h['simulated_ci'][1]:.4g}]", "yes" if h["inside_ci"] else "**no**",
                   h["exact_periods"], h["observed_demand_exact"], h["predicted_demand_exact"]]
                  for h in held["products"]]), "",
        f"_{held['note']}._", "",
    ]
    return "\n".join(lines)
