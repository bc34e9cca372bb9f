"""The envs' default parameters are the ones our own fitting code produces from the shipped real data."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

import envs  # noqa: F401
from envs.calibrate import differences, fit_calibrated
from envs.defaults import default_click_params, default_demand_params


def test_shipped_calibration_equals_a_fresh_fit(tmp_path):
    assert differences(fit_calibrated(tmp_path)) == []


def test_defaults_have_the_real_data_shapes():
    click = default_click_params()
    assert click.relevance.shape[1] == 80 and len(click.position_bias) == 3
    demand = default_demand_params()
    assert list(demand.product_names) == ["kleebler", "nabisco", "private", "sunshine"]
    assert np.all(np.asarray(demand.beta_price) < 0)


def test_default_envs_build_and_step():
    for env_id in ("retailrl/AdAllocation-v0", "retailrl/Pricing-v0"):
        env = gym.make(env_id)
        env.reset(seed=0)
        _, reward, *_ = env.step(env.action_space.sample())
        assert np.isfinite(reward)
        env.close()
