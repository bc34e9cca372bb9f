"""evaluate_policy / ratio_interval: ratios to the oracle with t-intervals over evaluation seeds."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from agents.baselines_inventory import BaseStockPolicy
from agents.evaluate import evaluate_policy, ratio_interval, run_episodes, sb3_actor
from envs.defaults import default_inventory_params
from envs.inventory_vector import InventoryVectorEnv


def test_ratio_interval_rewards_and_costs():
    values = np.array([1.0, 2.0, 3.0, 4.0])
    half = stats.t.ppf(0.975, 3) * values.std(ddof=1) / 2.0
    r = ratio_interval(values, 2.0, "reward")
    assert r["value"] == 2.5 and r["ratio"] == 1.25
    assert r["ci"] == pytest.approx([(2.5 - half) / 2, (2.5 + half) / 2])
    costs = np.array([10.0, 11.0, 12.0, 13.0])
    c = ratio_interval(costs, 9.0, "cost")
    assert c["ratio"] == pytest.approx(9.0 / 11.5)
    assert c["ci"] == pytest.approx([9.0 / (11.5 + half), 9.0 / (11.5 - half)])
    assert ratio_interval(values, None)["ratio"] is None


def test_ratio_interval_refuses_bad_input():
    with pytest.raises(ValueError, match="kind"):
        ratio_interval(np.ones(3), 1.0, "profit")
    with pytest.raises(ValueError, match="values"):
        ratio_interval(np.ones(1), 1.0)
    with pytest.raises(ValueError, match="oracle"):
        ratio_interval(np.ones(3), 0.0)
    with pytest.raises(ValueError, match="values"):
        ratio_interval(np.array([1.0, np.nan]), 1.0)


def _make(n):
    return InventoryVectorEnv(n, default_inventory_params(), action_mode="order_up_to", horizon=1000)


def test_optimal_base_stock_reaches_the_oracle_and_a_bad_level_does_not():
    oracle = 9.953185
    best = evaluate_policy(BaseStockPolicy(37), _make, n_seeds=30, seed=11, oracle=oracle, kind="cost",
                           per_period=True, warmup=10)
    assert best["n_seeds"] == 30 and len(best["values"]) == 30
    assert best["ci"][0] <= 1.0 <= best["ci"][1] + 0.01
    bad = evaluate_policy(BaseStockPolicy(30), _make, n_seeds=30, seed=11, oracle=oracle, kind="cost",
                          per_period=True, warmup=10)
    assert bad["ci"][1] < 0.7  # S = 30 costs about 16.9 per period
    again = evaluate_policy(BaseStockPolicy(37), _make, n_seeds=30, seed=11, oracle=oracle, kind="cost",
                            per_period=True, warmup=10)
    assert again["values"] == best["values"]


def test_run_episodes_counts_steps_after_the_warmup_and_sums_info():
    runs = run_episodes(BaseStockPolicy(37), InventoryVectorEnv(4, default_inventory_params(),
                                                                action_mode="order_up_to", horizon=50), 0, warmup=5)
    assert runs["steps"].tolist() == [45] * 4
    assert np.allclose(runs["reward"], -runs["info"]["cost"])


def test_evaluate_policy_refuses_bad_arguments():
    with pytest.raises(ValueError, match="n_seeds"):
        evaluate_policy(BaseStockPolicy(37), _make, n_seeds=1)
    with pytest.raises(ValueError, match="venv"):
        run_episodes(BaseStockPolicy(37), object(), 0)
    with pytest.raises(ValueError, match="model"):
        sb3_actor(object())
