"""Censored demand from stock logs: recovery on synthetic worlds with the truth, lead times, the held-out check,
the fit directory, errors, seeds, and what the fitted simulator is worth to a base-stock policy."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from agents.baselines_inventory import lead_time_cost, tune_base_stock
from envs.fit_stock import fit_stock
from envs.models import load_model
from envs.models.lead_time import match_orders
from envs.models.stock_demand import StockDemandModel
from envs.models.stock_holdout import holdout_check, split_by_period
from envs.params import InventoryParams
from sim_data.logs import StockLog
from sim_data.synthetic.stock_world import make_stock_world

PLAIN = {"day_of_week": False, "trend": False}


def _inside(rows: list[dict], truth: np.ndarray, key: str = "ci") -> np.ndarray:
    return np.array([lo <= t <= hi for (lo, hi), t in zip((r[key] for r in rows), truth, strict=True)])


@pytest.fixture(scope="module")
def many_worlds():
    """120 product-worlds (5 worlds x 24 products, 120 periods, about a third of the periods sold out)."""
    fits = []
    for seed in range(5):
        log, truth = make_stock_world(24, 120, seed=seed, service_level=0.6)
        fits.append((log, truth, StockDemandModel(**PLAIN).fit(log).report()["products"]))
    return fits


def test_censored_intervals_cover_the_true_means_and_the_naive_mean_misses(many_worlds):
    rows = [r for *_, report in many_worlds for r in report]
    truth = np.concatenate([t.demand_mean for _, t, _ in many_worlds])
    est = np.array([r["estimate"] for r in rows])
    naive = np.array([r["naive_mean"] for r in rows])
    assert len(rows) >= 120
    assert np.mean([r["stockout_share"] for r in rows]) > 0.2
    assert _inside(rows, truth).mean() >= 0.90
    assert _inside(rows, truth, "naive_ci").mean() < 0.5
    assert abs(np.mean(est / truth - 1)) < 0.01                      # unbiased to within 1%
    assert np.mean(naive / truth - 1) < -0.05 and (naive < truth).mean() > 0.95  # biased low


def test_dropping_stock_out_periods_is_biased_when_stock_outs_follow_high_demand():
    weekday = [0.7, 0.8, 0.8, 0.9, 1.1, 1.5, 1.2]
    log, truth = make_stock_world(20, 140, seed=3, weekday=weekday, service_level=0.6)
    rows = StockDemandModel().fit(log).report()["products"]
    t = log.table
    high = (t["period"] % 7).isin([5, 6])
    sold_out = t["sold"] >= t["on_hand"] + t["received"]
    assert sold_out[high].mean() > 2 * sold_out[~high].mean()          # stock-outs follow high demand
    dropped = np.array([r["dropped_stockouts_mean"] for r in rows])
    est = np.array([r["estimate"] for r in rows])
    assert np.mean(dropped / truth.demand_mean - 1) < -0.05
    assert (dropped < truth.demand_mean).mean() > 0.9
    assert abs(np.mean(est / truth.demand_mean - 1)) < 0.02
    assert _inside(rows, truth.demand_mean).mean() >= 0.85
    assert np.mean([r["effects"]["day_of_week"] for r in rows]) >= 0.9  # the weekday pattern is found


def test_trend_is_kept_when_present_and_the_estimate_is_the_level_at_the_end():
    log, truth = make_stock_world(12, 140, seed=4, trend=0.006, service_level=0.6)
    rows = StockDemandModel().fit(log).report()["products"]
    assert sum(r["effects"]["trend"] for r in rows) >= 10
    est = np.array([r["estimate"] for r in rows])
    assert abs(np.mean(est / truth.demand_mean - 1)) < 0.05
    first_level = truth.period_means[:7].mean(axis=0)
    assert (est > first_level * 1.3).all()                            # not the average over the log
    assert rows[0]["estimate_kind"].startswith("level at the end")


def test_negative_binomial_is_chosen_for_overdispersed_demand_and_poisson_otherwise():
    poisson_log, _ = make_stock_world(20, 150, seed=5)
    nb_log, _ = make_stock_world(20, 150, seed=6, dispersion=0.3)
    poisson_rows = StockDemandModel(**PLAIN).fit(poisson_log).report()["products"]
    nb_rows = StockDemandModel(**PLAIN).fit(nb_log).report()["products"]
    assert sum(r["family"] == "poisson" for r in poisson_rows) >= 17
    assert all(r["family"] == "negbin" for r in nb_rows)
    covered = [r["dispersion"]["ci"][0] <= 0.3 <= r["dispersion"]["ci"][1] for r in nb_rows]
    assert np.mean(covered) >= 0.85


def test_lost_sales_are_used_where_recorded():
    log, truth = make_stock_world(6, 100, seed=7, lost_sales_share=1.0)
    model = StockDemandModel(family="poisson", **PLAIN).fit(log)
    rows = model.report()["products"]
    assert all(r["censored_share"] == 0 and r["stockout_share"] > 0.1 for r in rows)
    np.testing.assert_allclose(model.demand_means(), truth.demand.mean(axis=0), rtol=1e-5)  # the exact MLE
    half, _ = make_stock_world(6, 100, seed=7, lost_sales_share=0.5)
    none, _ = make_stock_world(6, 100, seed=7)
    width = {name: np.array([np.log(r["ci"][1] / r["ci"][0]) for r in
                             StockDemandModel(family="poisson", **PLAIN).fit(lg).report()["products"]])
             for name, lg in (("all", log), ("half", half), ("none", none))}
    assert (width["all"] < width["half"]).all() and (width["half"] < width["none"]).all()


def test_lead_time_is_recovered_from_orders_and_receipts():
    log, truth = make_stock_world(4, 200, seed=8, lead_time=2, lead_time_spread=2)
    model = StockDemandModel(**PLAIN).fit(log)
    lt = model.report()["lead_time"]
    for name, lags in truth.lags.items():
        assert lt["products"][name]["n_orders"] == len(lags)
        assert lt["products"][name]["mean"] == pytest.approx(np.mean(lags))
        assert lt["products"][name]["sd"] == pytest.approx(np.std(lags, ddof=1))
    assert abs(lt["pooled"]["mean"] - truth.lead_time_mean) < 0.2
    assert lt["pooled"]["sd"] > 0.5                                    # the spread is seen
    assert model.env_lead_time() == round(lt["pooled"]["mean"]) - 1   # orders at the end of the period


def test_fifo_matching_rules():
    periods = np.arange(6)
    # two orders of 5; the first arrives in two parts (periods 2 and 3), the second at once (period 4)
    m = match_orders(periods, np.array([5, 5, 0, 0, 0, 0.0]), np.array([0, 0, 3, 2, 5, 0.0]))
    assert m["lags"] == [3, 3] and m["split_orders"] == 1 and m["open_orders"] == 0
    # a receipt before any order is unmatched; an order never received stays open
    m = match_orders(periods, np.array([0, 4, 0, 0, 0, 6.0]), np.array([2, 0, 0, 4, 0, 0.0]))
    assert m["lags"] == [2] and m["unmatched_received"] == 2 and m["open_orders"] == 1
    # same-period receipt: only when orders are placed at the start of the period
    same = np.array([4, 0, 0.0]), np.array([4, 0, 0.0])
    assert match_orders(np.arange(3), *same, "start")["lags"] == [0]
    assert match_orders(np.arange(3), *same, "end")["lags"] == []
    with pytest.raises(ValueError, match="order_timing"):
        match_orders(periods, np.zeros(6), np.zeros(6), "noon")


def test_held_out_predictive_intervals_cover_observed_sales(many_worlds):
    inside = []
    for log, _, _ in many_worlds:
        train, test = split_by_period(log, 0.25)
        held = holdout_check(StockDemandModel(**PLAIN).fit(train), test, n_draws=400, seed=1)
        inside += [h["inside_ci"] for h in held["products"]]
        for h in held["products"]:
            assert h["simulated_ci"][0] < h["simulated"] < h["simulated_ci"][1]
    assert len(inside) >= 120
    assert np.mean(inside) >= 0.90


def test_fit_stock_writes_a_fit_directory_that_drives_the_inventory_env(tmp_path):
    import gymnasium as gym

    import envs  # noqa: F401  (registers the environments)

    log, truth = make_stock_world(3, 90, seed=9, lost_sales_share=0.2)
    (tmp_path / "params.json").write_text(json.dumps({"demand": {"kept": True}}))
    f = fit_stock(log, tmp_path, holding_cost=2.0, backorder_cost=[5.0, 6.0, 7.0], n_draws=200)
    names = {p.name for p in tmp_path.iterdir()}
    assert {"params.json", "fidelity.json", "fidelity.md", "stock_demand.json", "stock_demand.png"} <= names
    doc = json.loads((tmp_path / "params.json").read_text())
    assert doc["demand"] == {"kept": True}                            # other sections are kept
    params = InventoryParams.from_fit_dir(tmp_path)
    np.testing.assert_allclose(params.demand_mean, [r["estimate"] for r in f["products"]])
    assert params.holding_cost.tolist() == [2.0] * 3 and params.backorder_cost.tolist() == [5.0, 6.0, 7.0]
    assert params.lead_time == f["env_lead_time"] == 1
    saved = json.loads((tmp_path / "fidelity.json").read_text())
    assert saved["source"] == "stock" and len(saved["held_out"]["products"]) == 3
    assert {"simulated", "simulated_ci", "observed", "inside_ci"} <= set(saved["held_out"]["products"][0])
    assert "stock_demand.png" in (tmp_path / "fidelity.md").read_text()
    model = load_model(tmp_path / "stock_demand.json")
    np.testing.assert_allclose(model.demand_means(), params.demand_mean)
    assert model.report()["products"][0]["ci"] == f["products"][0]["ci"]
    env = gym.make("retailrl/Inventory-v0", params=params)
    env.reset(seed=0)
    env.step(env.action_space.sample())


def test_same_seed_same_numbers(tmp_path):
    log_a, _ = make_stock_world(3, 80, seed=10, dispersion=0.2)
    log_b, _ = make_stock_world(3, 80, seed=10, dispersion=0.2)
    pd.testing.assert_frame_equal(log_a.table, log_b.table)
    fit_stock(log_a, tmp_path / "a", n_draws=100, seed=3)
    fit_stock(log_b, tmp_path / "b", n_draws=100, seed=3)
    for name in ("fidelity.json", "params.json"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()
    other, _ = make_stock_world(3, 80, seed=11, dispersion=0.2)
    assert not other.table["sold"].equals(log_a.table["sold"])


def _table(**columns) -> StockLog:
    base = {"product": ["a"] * 4 + ["b"] * 4, "period": list(range(4)) * 2, "on_hand": [5.0] * 8,
            "ordered": [0.0] * 8, "received": [0.0] * 8, "sold": [5.0, 5.0, 5.0, 5.0, 3.0, 5.0, 2.0, 4.0]}
    return StockLog.from_frame(pd.DataFrame({**base, **columns}))


def test_clear_errors_for_bad_input():
    with pytest.raises(ValueError, match=r"product 'a': all 4 periods sold out .*lost_sales"):
        StockDemandModel(**PLAIN).fit(_table())
    fixed = StockDemandModel(**PLAIN).fit(_table(lost_sales=[1.0, np.nan, np.nan, np.nan, np.nan, np.nan,
                                                             np.nan, np.nan]))
    assert fixed.product("a").summary["censored_share"] == 0.75
    with pytest.raises(ValueError, match=r"column sold: expected whole units .* product 'b' at period\(s\) \[0\]"):
        StockDemandModel(**PLAIN).fit(_table(sold=[1.0, 2.0, 3.0, 1.0, 2.5, 1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="no order is received"):
        fixed.env_lead_time()
    with pytest.raises(TypeError, match="StockLog"):
        StockDemandModel().fit(pd.DataFrame())
    with pytest.raises(ValueError, match="family"):
        StockDemandModel(family="gamma")
    with pytest.raises(KeyError, match="product 'z'"):
        fixed.product("z")


def test_fit_stock_without_receipts_needs_a_lead_time_and_writes_strict_json(tmp_path):
    log = _table(lost_sales=[1.0] + [np.nan] * 7)
    with pytest.raises(ValueError, match="no order is received"):
        fit_stock(log, tmp_path / "none", n_draws=50)
    assert not (tmp_path / "none").exists()                             # nothing half-written
    f = fit_stock(log, tmp_path / "given", lead_time=1, n_draws=50)
    assert f["lead_time_used"] == "given" and InventoryParams.from_fit_dir(tmp_path / "given").lead_time == 1

    def refuse(name: str) -> None:
        raise ValueError(f"non-standard JSON constant {name}")

    doc = json.loads((tmp_path / "given" / "fidelity.json").read_text(), parse_constant=refuse)
    assert doc["lead_time"]["pooled"]["mean"] is None


def test_base_stock_on_the_censored_fit_is_near_optimal_on_the_true_world_and_naive_is_not():
    """The benchmark's exact counterpart: levels tuned on each fitted simulator, costed exactly on the truth."""
    excess = {"censored": [], "naive": []}
    for seed in range(8):
        log, truth = make_stock_world(1, 365, seed=seed, demand_mean=[10.0], lead_time=3, service_level=0.5)
        model = StockDemandModel().fit(log)
        true = InventoryParams(demand_mean=10.0, lead_time=model.env_lead_time(), holding_cost=1.0,
                               backorder_cost=9.0)
        _, best = tune_base_stock(true)
        for kind in excess:
            levels, _ = tune_base_stock(model.to_params(naive=kind == "naive"))
            cost = float(lead_time_cost(levels, 10.0, true.lead_time, 1.0, 9.0)[0])
            excess[kind].append(cost / best - 1)
    censored, naive = np.array(excess["censored"]), np.array(excess["naive"])
    assert np.mean(censored) < 0.03 and np.median(censored) < 0.03   # one year of data: a level may be 1-2 off
    assert (naive > censored).all() and naive.min() > 0.03
