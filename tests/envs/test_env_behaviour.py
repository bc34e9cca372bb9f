"""Behaviour of each environment on tiny instances with known answers."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401
from envs.ad_allocation import AdAllocationEnv
from envs.ad_allocation_vector import AdAllocationVectorEnv
from envs.defaults import ferreira_demand_params, synthetic_demand_params
from envs.inventory import InventoryEnv
from envs.params import ClickParams, DemandParams, InventoryParams
from envs.pricing import PricingEnv


def _sure_clicks(cost_per_click=1.0):
    # item 0 is always clicked in any slot, item 1 never
    return ClickParams(relevance=[[1.0, 0.0]], position_bias=[1.0, 1.0], context_probs=[1.0],
                       cost_per_click=cost_per_click)


def test_budget_runs_out_then_slots_go_unfilled_and_mask_allows_only_empty():
    env = AdAllocationEnv(_sure_clicks(), budget=2.5, arrivals_per_day=5)
    obs, info = env.reset(seed=0)
    assert info["action_mask"].all()
    rewards = []
    for _ in range(5):
        obs, reward, terminated, _, info = env.step([0, 2])
        rewards.append(reward)
    assert rewards == [1.0, 1.0, 1.0, 0.0, 0.0]  # the third click overspends 0.5 and empties the budget
    assert terminated and obs[-1] == 0.0
    assert env.action_masks().tolist() == [False, False, True, False, False, True]


def test_duplicate_items_get_no_extra_click_and_skip_costs_nothing():
    env = AdAllocationEnv(_sure_clicks(), budget=100.0, arrivals_per_day=3)
    env.reset(seed=0)
    _, reward, _, _, info = env.step([0, 0])
    assert reward == 1.0 and info["spend"] == 1.0
    _, reward, _, _, info = env.step([2, 2])  # skip
    assert reward == 0.0 and info["spend"] == 0.0
    venv = AdAllocationVectorEnv(2, _sure_clicks(), budget=100.0, arrivals_per_day=3)
    venv.reset(seed=0)
    _, rewards, _, _, info = venv.step(np.array([[0, 0], [2, 2]]))
    assert rewards.tolist() == [1.0, 0.0] and info["spend"].tolist() == [1.0, 0.0]


def test_vector_mask_and_budget_per_sub_env():
    venv = AdAllocationVectorEnv(2, _sure_clicks(), budget=1.0, arrivals_per_day=4)
    venv.reset(seed=0)
    venv.step(np.array([[0, 2], [2, 2]]))
    masks = venv.action_masks()
    assert masks[0].tolist() == [False, False, True, False, False, True] and masks[1].all()
    _, rewards, *_ = venv.step(np.array([[0, 2], [0, 2]]))
    assert rewards.tolist() == [0.0, 1.0]


def test_click_rate_follows_position_bias_times_relevance():
    params = ClickParams(relevance=[[0.5, 0.2]], position_bias=[0.8, 0.4], context_probs=[1.0], cost_per_click=0.0)
    venv = AdAllocationVectorEnv(4000, params, budget=1.0, arrivals_per_day=10)
    venv.reset(seed=3)
    rewards = np.concatenate([venv.step(np.tile([0, 1], (4000, 1)))[1] for _ in range(5)])
    expected = 0.8 * 0.5 + 0.4 * 0.2
    assert rewards.mean() == pytest.approx(expected, abs=4 * np.sqrt(0.25 / rewards.size))


def test_bernoulli_pricing_sells_until_stock_is_gone():
    env = PricingEnv(ferreira_demand_params(), inventory=3, horizon=1000)
    env.reset(seed=0)
    sold, steps, terminated = 0.0, 0, False
    while not terminated:
        _, reward, terminated, truncated, info = env.step(0)
        sold += info["units"][0]
        steps += 1
        assert reward in (0.0, 29.90)
    assert sold == 3 and steps < 1000 and info["inventory"][0] == 0


def test_stocked_out_products_leave_the_choice_set():
    demand = DemandParams(["a", "b"], [1.0, 1.0], -1.0, 0.0, 1.0, 2.0, arrival_rate=20.0)
    env = PricingEnv(demand, inventory=[0, 100000], horizon=50)
    env.reset(seed=0)
    units = np.array([env.step([0, 0])[4]["units"] for _ in range(50)])
    assert units[:, 0].sum() == 0
    # b alone: rate 20 * e^0 / (1 + e^0) = 10 per period (not 20 * 1/3 as with a on offer)
    assert units[:, 1].mean() == pytest.approx(10.0, abs=4 * np.sqrt(10 / 50))


def test_continuous_action_maps_to_the_price_range():
    env = PricingEnv(synthetic_demand_params(), action_type="continuous")  # every price range is [1, 4]
    np.testing.assert_allclose(env.prices_of([-1, 1, 0, 2]), [1.0, 4.0, 2.5, 4.0])
    with pytest.raises(ValueError, match="discrete"):
        PricingEnv(ferreira_demand_params(), action_type="continuous")


def test_inventory_lead_time_delivers_after_l_periods():
    params = InventoryParams(demand_mean=0.0, lead_time=2, holding_cost=1.0)
    env = InventoryEnv(params, initial_on_hand=0, max_action=10)
    obs, _ = env.reset(seed=0)
    obs, reward, *_ = env.step(5)
    assert obs.tolist() == [0.0, 5.0]  # on hand, arriving next period
    obs, reward, *_ = env.step(0)
    assert obs.tolist() == [5.0, 0.0] and reward == 0.0
    obs, reward, *_ = env.step(0)
    assert reward == -5.0  # five units held through a period


def test_scaled_observation_is_in_mean_demands_with_the_inventory_position():
    params = InventoryParams(n_products=2, demand_mean=[2.0, 4.0], lead_time=2)
    raw, scaled = (InventoryEnv(params, initial_on_hand=[40, 80], max_action=10, observation=o) for o in ("raw", "scaled"))
    raw.reset(seed=3)
    obs0, *_ = scaled.reset(seed=3)
    np.testing.assert_allclose(obs0, [20.0, 20.0, 0.0, 0.0, 40 / 6 - 1, 80 / 12 - 1], rtol=1e-6)
    raw_obs, *_, info = raw.step([6, 0])
    obs, *_ = scaled.step([6, 0])  # same seed, same demand
    demand = info["demand"]
    np.testing.assert_allclose(raw_obs, [40 - demand[0], 80 - demand[1], 6.0, 0.0])
    mean = np.array([2.0, 4.0])
    np.testing.assert_allclose(obs[:4], raw_obs / np.r_[mean, mean], rtol=1e-6)
    position = np.array([40 - demand[0] + 6, 80 - demand[1]])  # on hand + the order placed (arrives next period)
    np.testing.assert_allclose(obs[4:], (position - 3 * mean) / (3 * mean), rtol=1e-6)
    assert scaled.observation_space.shape == (6,) and scaled.observation_space.contains(obs)
    with pytest.raises(ValueError, match=r"observation: expected one of \('raw', 'scaled'\), found 'units'"):
        InventoryEnv(observation="units")


def test_order_up_to_orders_the_gap_to_the_inventory_position():
    params = InventoryParams(demand_mean=0.0, lead_time=1)
    env = InventoryEnv(params, action_mode="order_up_to", initial_on_hand=3, max_action=20)
    env.reset(seed=0)
    _, _, _, _, info = env.step(10)
    assert info["order"].tolist() == [7.0]
    _, _, _, _, info = env.step(10)
    assert info["order"].tolist() == [0.0]


def test_base_stock_policy_cost_in_the_env_matches_the_oracle():
    venv = gym.make_vec("retailrl/Inventory-v0", num_envs=500, vectorization_mode="vector_entry_point",
                        action_mode="order_up_to", horizon=1000)
    venv.reset(seed=0)
    level = venv.unwrapped.oracle()["levels"][0]
    costs = np.array([venv.step(np.full(500, level))[4]["cost"] for _ in range(60)])[10:]  # after warm-up
    per_env = costs.mean(axis=0)
    assert per_env.mean() == pytest.approx(9.953, abs=4 * per_env.std() / np.sqrt(per_env.size))


def test_lost_sales_substitution_with_a_choice_model():
    demand = DemandParams(["a", "b"], [1.0, 1.0], -1.0, 0.0, 1.0, 2.0, arrival_rate=20.0)
    params = InventoryParams(n_products=2, lead_time=1, backorders=False, lost_sale_cost=0.0, holding_cost=0.0)
    env = InventoryEnv(params, demand, prices=[1.0, 1.0], initial_on_hand=[0, 10000], max_action=5)
    env.reset(seed=0)
    demand_b = np.array([env.step([0, 0])[4]["demand"][1] for _ in range(50)])
    assert demand_b.mean() == pytest.approx(10.0, abs=4 * np.sqrt(10 / 50))


def test_constructor_errors_name_the_argument():
    with pytest.raises(ValueError, match="action_mode"):
        InventoryEnv(action_mode="levels")
    with pytest.raises(ValueError, match="action_type"):
        PricingEnv(action_type="box")
    with pytest.raises(ValueError, match="budget"):
        AdAllocationEnv(budget=0)
    with pytest.raises(ValueError, match="demand"):
        InventoryEnv(InventoryParams(n_products=2), DemandParams(["a"], [1.0], -1.0, 0.0, 1.0, 2.0))


def test_continuous_inventory_actions_round_onto_the_levels():
    params = InventoryParams(demand_mean=0.0, lead_time=1)
    env = InventoryEnv(params, action_mode="order_up_to", action_type="continuous", initial_on_hand=0, max_action=40)
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    env.reset(seed=0)
    # (a + 1) / 2 * 40: 0.85 -> 37, then the position is 37 so 0.9 (-> 38) orders 1; beyond 1 is clipped to 40
    assert [env.step(np.array([a]))[4]["order"][0] for a in (0.85, 0.9, 3.0)] == [37.0, 1.0, 2.0]
    np.testing.assert_array_equal(env.config.integer_actions([[-1.0], [0.0], [1.0]]).ravel(), [0, 20, 40])
    with pytest.raises(ValueError, match=r"action: expected 1 finite numbers in \[-1, 1\]"):
        env.step(np.array([np.nan]))
    with pytest.raises(ValueError, match="action_type: expected one of"):
        InventoryEnv(action_type="box")
