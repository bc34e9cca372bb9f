"""Oracles against known answers from the literature and closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from envs.defaults import default_demand_params, ferreira_demand_params
from envs.lost_sales import lost_sales_optimal
from envs.oracles import (
    base_stock_backorders,
    best_grid_prices,
    best_slates,
    expected_profit,
    ferreira_lp_bound,
    mnl_equal_markup_prices,
    optimal_static_prices,
)
from envs.params import ClickParams, DemandParams
from envs.pricing import PricingEnv


def test_base_stock_poisson10_lead2_h1_b9():
    level, cost = base_stock_backorders(10.0, 2, 1.0, 9.0)
    assert level == 37
    assert cost == pytest.approx(9.953, abs=5e-4)


@pytest.mark.parametrize(("lead_time", "zipkin_cost"), [(1, 4.04), (2, 4.40), (3, 4.60), (4, 4.73)])
def test_lost_sales_value_iteration_matches_zipkin_2008(lead_time, zipkin_cost):
    sol = lost_sales_optimal(5.0, lead_time, holding=1.0, penalty=4.0, with_base_stock=lead_time <= 2)
    assert sol.average_cost == pytest.approx(zipkin_cost, abs=0.006)
    assert sol.upper - sol.lower < 1e-3
    if lead_time <= 2:  # the best base-stock policy is worse than optimal
        assert sol.base_stock_cost > sol.average_cost + 0.05


def test_ferreira_lp_bound_mixes_the_two_highest_prices():
    bound = ferreira_lp_bound(ferreira_demand_params(), inventory=250, horizon=1000)
    # 0.3 x3 + 0.1 x4 = 0.25 with x3 + x4 = 1: x3 = 0.75; revenue 0.75 * 11.97 + 0.25 * 4.49 = 10.10
    np.testing.assert_allclose(bound["price_mixture"], [0, 0, 0.75, 0.25], atol=1e-9)
    assert bound["value"] == pytest.approx(10100.0)


def test_ferreira_lp_bound_without_binding_inventory_is_the_best_single_price():
    bound = ferreira_lp_bound(ferreira_demand_params(), inventory=1000, horizon=1000)
    assert bound["per_period"] == pytest.approx(29.90 * 0.8)


def test_lambert_w_prices_match_the_numerical_optimum():
    demand = DemandParams(["a", "b", "c"], [2.0, 1.0, 0.5], -1.2, [0.5, 0.4, 0.3], 0.0, 100.0)
    closed = mnl_equal_markup_prices(demand)
    numeric, profit = optimal_static_prices(demand)
    np.testing.assert_allclose(numeric, closed, atol=1e-4)
    markups = closed - demand.unit_cost
    np.testing.assert_allclose(markups, markups[0])  # equal markups
    assert profit == pytest.approx(float(expected_profit(demand, closed)), rel=1e-8)


def test_single_product_closed_form_is_the_argmax_of_profit():
    demand = DemandParams(["a"], [3.0], -0.5, 2.0, 0.0, 50.0)
    p = mnl_equal_markup_prices(demand)[0]
    grid = np.linspace(2.0, 20.0, 20001)
    assert p == pytest.approx(grid[np.argmax(expected_profit(demand, grid[:, None]))], abs=2e-3)


def test_numerical_optimum_with_latent_classes_beats_perturbations():
    demand = DemandParams(["a", "b"], [[1.0, 0.2], [0.0, 1.5]], [-0.8, -2.0], 0.5, 0.5, 10.0, class_probs=[0.4, 0.6])
    prices, profit = optimal_static_prices(demand)
    rng = np.random.default_rng(0)
    for _ in range(50):
        assert expected_profit(demand, prices + rng.normal(0, 0.05, 2)) <= profit + 1e-9


def test_best_grid_prices_and_pricing_env_oracle():
    demand = default_demand_params()
    env = PricingEnv(demand)
    idx, prices, per_period = best_grid_prices(demand, env.config.grid)
    oracle = env.oracle()
    assert oracle["price_index"] == idx.tolist()
    assert per_period <= optimal_static_prices(demand)[1] + 1e-9


def test_best_slates_put_top_items_in_the_best_slots():
    params = ClickParams(relevance=[[0.1, 0.5, 0.3, 0.2], [0.4, 0.1, 0.1, 0.2]], position_bias=[0.6, 1.0],
                         context_probs=[0.5, 0.5])
    out = best_slates(params)
    assert out["slates"] == [[2, 1], [3, 0]]  # slot 1 is examined more, so it gets the best item
    np.testing.assert_allclose(out["expected_reward"], [0.5 + 0.6 * 0.3, 0.4 + 0.6 * 0.2])
