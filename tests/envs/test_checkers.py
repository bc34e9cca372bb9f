"""Every registered id (and its main variants) passes gymnasium's and SB3's environment checkers."""

from __future__ import annotations

import warnings

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import envs
from envs._vector_base import NumpyVectorEnv
from envs.defaults import ferreira_demand_params, zipkin_lost_sales_params
from envs.params import DemandParams, InventoryParams

CASES = [
    ("retailrl/AdAllocation-v0", {"arrivals_per_day": 50}),
    ("retailrl/AdAllocation-v0", {"arrivals_per_day": 50, "include_purchases": True, "budget": 3.0}),
    ("retailrl/Pricing-v0", {}),
    ("retailrl/Pricing-v0", {"action_type": "continuous"}),
    ("retailrl/Pricing-v0", {"inventory": 300, "horizon": 20}),
    ("retailrl/Pricing-v0", {"demand": ferreira_demand_params(), "inventory": 25, "horizon": 100}),
    ("retailrl/Inventory-v0", {}),
    ("retailrl/Inventory-v0", {"action_mode": "order_up_to"}),
    ("retailrl/Inventory-v0", {"params": zipkin_lost_sales_params()}),
    ("retailrl/Inventory-v0", {"params": zipkin_lost_sales_params(), "observation": "scaled"}),
    ("retailrl/Inventory-v0", {"action_mode": "order_up_to", "observation": "scaled"}),
    ("retailrl/Inventory-v0", {"action_mode": "order_up_to", "observation": "scaled", "action_type": "continuous"}),
    ("retailrl/Inventory-v0", {"params": InventoryParams(n_products=2, lead_time=1, backorders=False),
                               "demand": DemandParams(["a", "b"], [1.0, 0.5], -1.0, 0.5, 1.0, 3.0),
                               "n_price_levels": 3}),
]


@pytest.mark.parametrize(("env_id", "kwargs"), CASES)
def test_env_checkers_pass(env_id, kwargs):
    env = gym.make(env_id, **kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym_check_env(env.unwrapped, skip_render_check=True)
        sb3_check_env(env.unwrapped, warn=True)
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize("env_id", sorted(envs.ENV_IDS))
def test_make_vec_gives_the_native_vector_env(env_id):
    venv = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point")
    assert isinstance(venv.unwrapped, NumpyVectorEnv)
    obs, _ = venv.reset(seed=1)
    assert obs.shape == (3,) + venv.unwrapped.single_observation_space.shape
    assert venv.observation_space.contains(obs)
    for _ in range(3):
        obs, rewards, terminated, truncated, _ = venv.step(venv.action_space.sample())
        assert venv.observation_space.contains(obs)
        assert rewards.shape == terminated.shape == truncated.shape == (3,)
