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


# Half the shoppers click with 0.8, half with 0.2; every impression costs 1; a budget of 40 for 100 arrivals.
BIMODAL = ClickParams(relevance=[[0.8, 0.1], [0.1, 0.2]], position_bias=[1.0], context_probs=[0.5, 0.5],
                      cost_per_click=0.0, cost_per_impression=1.0)


def test_ad_allocation_budget_bound_is_the_fractional_knapsack():
    from envs.ad_allocation import AdAllocationEnv

    oracle = AdAllocationEnv(BIMODAL, budget=40.0, arrivals_per_day=100).oracle()
    assert oracle["slates"] == [[0], [1]]  # the best slates are still reported
    bound = oracle["budget_bound"]
    # 50 good shoppers would cost 50 > 40: serve 80% of them, none of the others: 40 x 0.8 = 32 clicks
    assert bound["binding"] and bound["reward"] == pytest.approx(32.0)
    np.testing.assert_allclose(bound["serve_share"], [[0.8, 0.0]])
    assert bound["reward_per_day_unconstrained"] == pytest.approx(50 * 0.8 + 50 * 0.2)
    loose = AdAllocationEnv(BIMODAL, budget=1e6, arrivals_per_day=100).oracle()["budget_bound"]
    assert not loose["binding"] and loose["reward"] == pytest.approx(loose["reward_per_day_unconstrained"])


def test_budget_bound_holds_for_greedy_serving_in_the_env():
    import gymnasium as gym

    venv = gym.make_vec("retailrl/AdAllocation-v0", num_envs=200, vectorization_mode="vector_entry_point",
                        params=BIMODAL, budget=40.0, arrivals_per_day=100)
    oracle = venv.unwrapped.oracle()
    slates = np.asarray(oracle["slates"])
    obs, _ = venv.reset(seed=4)
    total = np.zeros(200)
    for _ in range(100):  # serve every arrival its best slate while budget remains
        contexts = obs[:, :2].argmax(axis=1)
        obs, reward, *_ = venv.step(slates[contexts])
        total += reward
    assert total.mean() < oracle["budget_bound"]["reward"]  # serving everyone spends the budget on bad shoppers too
    assert total.mean() == pytest.approx(40 * 0.5, rel=0.1)  # ~40 impressions at the average CTR 0.5
