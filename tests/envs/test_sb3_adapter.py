"""The SB3 VecEnv adapter: SB3's conventions, masks for MaskablePPO, and a short training run."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from sb3_contrib.common.maskable.utils import get_action_masks
from stable_baselines3 import PPO

import envs  # noqa: F401
from envs.params import ClickParams
from envs.sb3_vec_env import SB3VecEnv


def _vec(env_id, n, **kwargs):
    return SB3VecEnv(gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **kwargs))


def test_done_envs_are_reset_in_the_same_step_with_terminal_observation():
    venv = _vec("retailrl/Pricing-v0", 3, horizon=2)
    venv.seed(5)
    obs = venv.reset()
    assert obs.shape == (3, 1)
    venv.step(np.zeros((3, 4), dtype=np.int64))
    obs, rewards, dones, infos = venv.step(np.zeros((3, 4), dtype=np.int64))
    assert dones.all() and rewards.dtype == np.float32
    assert all(info["TimeLimit.truncated"] for info in infos)
    np.testing.assert_array_equal([info["terminal_observation"][0] for info in infos], 1.0)
    np.testing.assert_array_equal(obs[:, 0], 0.0)


def test_seed_makes_reset_reproducible():
    a, b = _vec("retailrl/AdAllocation-v0", 4), _vec("retailrl/AdAllocation-v0", 4)
    a.seed(11)
    b.seed(11)
    np.testing.assert_array_equal(a.reset(), b.reset())


def test_action_masks_reach_maskable_ppo_per_sub_env():
    params = ClickParams(relevance=[[1.0, 0.0]], position_bias=[1.0], context_probs=[1.0])
    venv = _vec("retailrl/AdAllocation-v0", 2, params=params, budget=1.0, arrivals_per_day=5)
    venv.reset()
    venv.step(np.array([[0], [2]]))
    masks = get_action_masks(venv)
    assert masks.tolist() == [[False, False, True], [True, True, True]]


def test_ppo_runs_on_the_adapter():
    venv = _vec("retailrl/Inventory-v0", 4, horizon=20)
    model = PPO("MlpPolicy", venv, n_steps=32, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=128)
    assert model.num_timesteps >= 128
