"""Inventory baselines: exact (s, S) and base-stock tuning, the myopic lost-sales policy, table policies."""

from __future__ import annotations

import numpy as np
import pytest

from agents.baselines_inventory import (
    BaseStockPolicy,
    LostSalesTablePolicy,
    SSPolicy,
    inventory_position,
    myopic_lost_sales,
    renewal_masses,
    s_S_cost,
    tune_base_stock,
    tune_s_S,
)
from agents.evaluate import evaluate_policy
from envs.defaults import default_inventory_params, zipkin_lost_sales_params
from envs.inventory_vector import InventoryVectorEnv
from envs.lost_sales import lost_sales_optimal
from envs.params import InventoryParams


def test_s_S_without_fixed_cost_is_the_base_stock_optimum():
    s, big_s, cost = tune_s_S(10.0, 2, 1.0, 9.0)
    assert (s, big_s) == (36, 37)
    assert cost == pytest.approx(9.953, abs=5e-4)
    levels, base_cost = tune_base_stock(default_inventory_params())
    assert levels.tolist() == [37] and base_cost == pytest.approx(cost, rel=1e-12)


def test_renewal_masses_tend_to_one_over_the_mean():
    m = renewal_masses(4.0, 200)
    assert m[0] == pytest.approx(1.0 / (1.0 - np.exp(-4.0)))
    assert m[-1] == pytest.approx(0.25, rel=1e-6)


def test_s_S_exact_cost_matches_the_simulated_env():
    fixed = 40.0
    s, big_s, cost = tune_s_S(10.0, 2, 1.0, 9.0, fixed_order_cost=fixed)
    assert big_s - s > 1  # a fixed ordering cost makes batching pay
    assert cost < s_S_cost(big_s - 1, big_s, 10.0, 2, 1.0, 9.0, fixed) - 1.0
    params = InventoryParams(demand_mean=10.0, lead_time=2, holding_cost=1.0, backorder_cost=9.0,
                             fixed_order_cost=fixed)
    policy = SSPolicy(s, big_s, 1, 2, max_action=200)
    res = evaluate_policy(policy, lambda n: InventoryVectorEnv(n, params, max_action=200, horizon=2000),
                          n_seeds=30, seed=3, oracle=cost, kind="cost", per_period=True, warmup=50)
    lo, hi = res["value_ci"]
    half = (hi - lo) / 2
    assert lo - half <= cost <= hi + half  # within ~4 standard errors


def test_base_stock_policy_actions():
    obs = np.array([[5.0, 3.0, 2.0], [40.0, 0.0, 0.0], [-4.0, 1.0, 0.0]])  # net, o_1, o_2 (L = 3)
    assert inventory_position(obs, 1, 3).ravel().tolist() == [10.0, 40.0, -3.0]
    qty = BaseStockPolicy(12, 1, 3, action_mode="quantity", max_action=14)
    assert qty(obs).tolist() == [2, 0, 14]
    assert BaseStockPolicy(12, 1, 3)(obs).tolist() == [12, 12, 12]
    ss = SSPolicy(9, 20, 1, 3)
    assert ss(obs).tolist() == [0, 0, 23]


def test_policies_refuse_bad_arguments():
    with pytest.raises(ValueError, match="S > s"):
        SSPolicy(5, 5)
    with pytest.raises(ValueError, match="levels"):
        BaseStockPolicy(-1)
    with pytest.raises(ValueError, match="obs"):
        inventory_position(np.zeros((2, 3)), 1, 2)
    with pytest.raises(ValueError, match="lead_time"):
        myopic_lost_sales(5.0, 5)


def test_lost_sales_optimal_table_reproduces_its_cost_in_the_env():
    params = zipkin_lost_sales_params(lead_time=1)
    sol = lost_sales_optimal(5.0, 1, 1.0, 4.0, with_base_stock=False)
    res = evaluate_policy(LostSalesTablePolicy(sol.policy), lambda n: InventoryVectorEnv(n, params, horizon=2000),
                          n_seeds=30, seed=5, oracle=sol.average_cost, kind="cost", per_period=True, warmup=20)
    lo, hi = res["value_ci"]
    half = (hi - lo) / 2
    assert lo - half <= sol.average_cost <= hi + half


def test_myopic_lost_sales_is_about_seven_percent_above_the_optimum_zipkin():
    optimum = lost_sales_optimal(5.0, 4, 1.0, 4.0, with_base_stock=False).average_cost
    myopic = myopic_lost_sales(5.0, 4, 1.0, 4.0)
    assert optimum == pytest.approx(4.73, abs=0.02)
    assert 1.05 < myopic.average_cost / optimum < 1.09
    assert myopic.policy.shape == (30, 15, 15, 15)
    # more stock on hand and in the pipeline never makes the myopic order larger
    assert (np.diff(myopic.policy, axis=0) <= 0).all()
