"""The native vector envs behave like the scalar envs: same statistics under a fixed policy, seeded reproducibility,
gymnasium's autoreset semantics."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401
from envs.defaults import ferreira_demand_params

# (id, kwargs, fixed action): the policy always plays the same action
CASES = [
    ("retailrl/AdAllocation-v0", {"arrivals_per_day": 40, "budget": 8.0, "include_purchases": True}, [5, 17, 5]),
    ("retailrl/Pricing-v0", {"horizon": 10}, [1, 2, 0, 3]),
    ("retailrl/Pricing-v0", {"horizon": 10, "action_type": "continuous"}, [0.1, -0.3, 0.5, 0.0]),
    ("retailrl/Pricing-v0", {"horizon": 12, "inventory": 40}, [0, 0, 1, 1]),
    ("retailrl/Pricing-v0", {"demand": ferreira_demand_params(), "inventory": 10, "horizon": 15}, 1),
    ("retailrl/Inventory-v0", {"horizon": 30}, 12),
    ("retailrl/Inventory-v0", {"horizon": 30, "action_mode": "order_up_to"}, 37),
    ("retailrl/Inventory-v0", {"horizon": 30, "action_mode": "order_up_to", "observation": "scaled"}, 37),
    ("retailrl/Inventory-v0", {"horizon": 30, "action_mode": "order_up_to", "action_type": "continuous"}, [0.25]),
]


def _scalar_returns(env_id, kwargs, action, n_episodes, seed):
    env = gym.make(env_id, **kwargs).unwrapped
    env.reset(seed=seed)
    returns = np.zeros(n_episodes)
    for i in range(n_episodes):
        done = False
        while not done:
            _, reward, terminated, truncated, _ = env.step(np.asarray(action))
            returns[i] += reward
            done = terminated or truncated
        env.reset()
    return returns


def _vector_rewards(env_id, kwargs, action, n_envs, n_steps, seed, returns=None):
    venv = gym.make_vec(env_id, num_envs=n_envs, vectorization_mode="vector_entry_point",
                        autoreset_mode="SameStep", **kwargs)
    venv.reset(seed=seed)
    batch = np.broadcast_to(np.asarray(action), (n_envs,) + np.shape(action)).copy()
    running = np.zeros(n_envs)
    first = np.ones(n_envs, dtype=bool)  # only each env's first episode: later ones in the window favour short ones
    rewards = []
    for _ in range(n_steps):
        _, reward, terminated, truncated, _ = venv.step(batch)
        rewards.append(reward)
        running += reward
        done = terminated | truncated
        if returns is not None:
            returns.extend(running[done & first].tolist())
        first &= ~done
        running[done] = 0.0
    return np.concatenate(rewards)


@pytest.mark.parametrize(("env_id", "kwargs", "action"), CASES)
def test_vector_env_has_the_scalar_env_mean_episode_return(env_id, kwargs, action):
    horizon = kwargs.get("arrivals_per_day", kwargs.get("horizon"))
    scalar = _scalar_returns(env_id, kwargs, action, n_episodes=60, seed=1)
    vector: list[float] = []
    _vector_rewards(env_id, kwargs, action, n_envs=60, n_steps=horizon, seed=2, returns=vector)
    vector = np.array(vector)
    assert vector.size == 60 and scalar.std() > 0 and vector.std() > 0
    se = np.sqrt(scalar.var(ddof=1) / scalar.size + vector.var(ddof=1) / vector.size)
    assert abs(scalar.mean() - vector.mean()) < 4 * se


@pytest.mark.parametrize(("env_id", "kwargs", "action"), CASES[:2] + CASES[5:6])
def test_seeded_vector_env_is_reproducible(env_id, kwargs, action):
    a = _vector_rewards(env_id, kwargs, action, n_envs=16, n_steps=25, seed=7)
    b = _vector_rewards(env_id, kwargs, action, n_envs=16, n_steps=25, seed=7)
    c = _vector_rewards(env_id, kwargs, action, n_envs=16, n_steps=25, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_seeded_scalar_env_is_reproducible():
    a = _scalar_returns("retailrl/Pricing-v0", {}, [1, 1, 1, 1], 5, seed=3)
    b = _scalar_returns("retailrl/Pricing-v0", {}, [1, 1, 1, 1], 5, seed=3)
    np.testing.assert_array_equal(a, b)


def test_next_step_autoreset_returns_reset_obs_and_zero_reward():
    venv = gym.make_vec("retailrl/Pricing-v0", num_envs=2, vectorization_mode="vector_entry_point", horizon=2)
    venv.reset(seed=0)
    action = np.ones((2, 4), dtype=np.int64)
    venv.step(action)
    _, _, _, truncated, _ = venv.step(action)
    assert truncated.all()
    obs, rewards, terminated, truncated, _ = venv.step(action)
    np.testing.assert_array_equal(obs[:, 0], 0.0)  # t / horizon back to 0
    np.testing.assert_array_equal(rewards, 0.0)
    assert not terminated.any() and not truncated.any()
    obs, rewards, *_ = venv.step(action)
    np.testing.assert_array_equal(obs[:, 0], 0.5)
    assert (rewards > 0).all()


def test_same_step_autoreset_reports_the_final_observation():
    venv = gym.make_vec("retailrl/Pricing-v0", num_envs=3, vectorization_mode="vector_entry_point", horizon=2,
                        autoreset_mode="SameStep")
    venv.reset(seed=0)
    action = np.zeros((3, 4), dtype=np.int64)
    venv.step(action)
    obs, _, _, truncated, info = venv.step(action)
    assert truncated.all() and info["_final_obs"].all()
    np.testing.assert_array_equal(info["final_obs"][:, 0], 1.0)
    np.testing.assert_array_equal(obs[:, 0], 0.0)


def test_bad_vector_actions_are_rejected_with_the_expected_range():
    venv = gym.make_vec("retailrl/AdAllocation-v0", num_envs=2, vectorization_mode="vector_entry_point")
    venv.reset(seed=0)
    with pytest.raises(ValueError, match="expected every entry in"):
        venv.step(np.full((2, 3), 81))
    with pytest.raises(ValueError, match="expected shape"):
        venv.step(np.zeros((2, 2), dtype=np.int64))
