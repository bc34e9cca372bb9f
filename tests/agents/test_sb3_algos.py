"""The algorithm table: each algorithm learns a tiny instance with a known best action; mismatches are refused
with errors that say what to use instead."""

from __future__ import annotations

import re

import numpy as np
import pytest

from agents.run_config import RunConfig
from agents.sb3_algos import ALGORITHMS, get_algorithm, make_model
from agents.train import make_vec_env, run_training

# One product, two prices: 1.0 bought with probability 0.9 (expected revenue 0.9) and 2.0 with 0.2 (0.4).
TWO_PRICES = {"id": "retailrl/Pricing-v0", "n_envs": 4, "kwargs": {"horizon": 10},
              "params": {"bernoulli_demand": {"prices": [1.0, 2.0], "purchase_probs": [0.9, 0.2]}}}
# One MNL product priced in [1, 2]: revenue p * P(p) rises over the whole range, so the best action is +1 (p = 2).
RISING_REVENUE = {"id": "retailrl/Pricing-v0", "n_envs": 4, "kwargs": {"horizon": 10, "action_type": "continuous"},
                  "params": {"demand": {"product_names": ["a"], "intercepts": [3.0], "beta_price": -0.5,
                                        "unit_cost": 0.0, "price_low": 1.0, "price_high": 2.0, "arrival_rate": 5.0}}}
# One slot, two items with click probabilities 0.9 and 0.1, a budget that never binds.
TWO_ITEMS = {"id": "retailrl/AdAllocation-v0", "n_envs": 4, "kwargs": {"budget": 1e9, "arrivals_per_day": 10},
             "params": {"click": {"relevance": [[0.9, 0.1]], "position_bias": [1.0], "context_probs": [1.0]}}}

CASES = {
    "PPO": (TWO_PRICES, 2000, {"n_steps": 64, "batch_size": 64, "learning_rate": 3e-3, "gamma": 0.0}),
    "A2C": (TWO_PRICES, 2000, {"n_steps": 8, "learning_rate": 3e-3, "gamma": 0.0}),
    "DQN": (TWO_PRICES, 1500, {"learning_starts": 200, "buffer_size": 5000, "batch_size": 64, "learning_rate": 1e-3,
                               "gamma": 0.0, "exploration_fraction": 0.3, "target_update_interval": 100}),
    "SAC": (RISING_REVENUE, 1500, {"learning_starts": 200, "batch_size": 64, "gamma": 0.0, "learning_rate": 3e-3,
                                   "policy_kwargs": {"net_arch": [32, 32]}}),
    "TD3": (RISING_REVENUE, 1500, {"learning_starts": 200, "batch_size": 64, "gamma": 0.0, "learning_rate": 3e-3,
                                   "policy_kwargs": {"net_arch": [32, 32]}}),
    "MaskablePPO": (TWO_ITEMS, 1500, {"n_steps": 64, "batch_size": 64, "learning_rate": 3e-3, "gamma": 0.0}),
}


def tiny_config(tmp_path, algo: str, env: dict, steps: int, hyperparams: dict, **train) -> RunConfig:
    return RunConfig.from_dict({"name": f"tiny-{algo}", "out": str(tmp_path), "env": env,
                                "algo": {"name": algo, "hyperparams": hyperparams},
                                "train": {"steps": steps, "normalize_reward": False, **train},
                                "eval": {"n_seeds": 5}})


def test_table_names_every_algorithm():
    assert set(ALGORITHMS) == {"PPO", "A2C", "DQN", "SAC", "TD3", "MaskablePPO"}
    assert get_algorithm("maskableppo").name == "MaskablePPO"
    with pytest.raises(ValueError, match=r"algo: expected one of .*'PPO'.*found 'XYZ'"):
        get_algorithm("XYZ")


@pytest.mark.parametrize("algo", sorted(CASES))
def test_learns_the_known_best_action(tmp_path, algo):
    env, steps, hyperparams = CASES[algo]
    result = run_training(tiny_config(tmp_path, algo, env, steps, hyperparams), progress=False)
    policy = result.policy
    if algo in ("SAC", "TD3"):
        # the deterministic action in Box units; +1 is the top price
        mean = policy.mean_action(np.array([[0.0], [0.5], [0.9]]))
        assert (mean > 0.5).all(), mean
        return
    obs = np.array([[1.0, 0.0, 1.0], [1.0, 0.5, 1.0]]) if algo == "MaskablePPO" else np.array([[0.0], [0.5], [0.9]])
    if result.vecnormalize is not None:  # the exported policy normalises raw observations itself
        assert policy.obs_mean is not None
    dist = policy.action_dist(obs)[:, :, 0]
    assert (dist[:, 0] > 0.8).all(), dist  # action 0 (price 1.0 / item 0) is clearly better
    assert result.eval_returns.shape == (5,)


def test_dqn_on_a_slate_says_use_ppo_or_a2c(tmp_path):
    cfg = tiny_config(tmp_path, "DQN", TWO_ITEMS, 100, {})
    venv = make_vec_env(cfg, n_envs=2)
    with pytest.raises(ValueError, match=r"DQN needs a Discrete action space, found MultiDiscrete.*use PPO or A2C"):
        make_model("DQN", venv)


def test_sac_on_discrete_prices_says_what_to_use(tmp_path):
    venv = make_vec_env(tiny_config(tmp_path, "SAC", TWO_PRICES, 100, {}), n_envs=2)
    with pytest.raises(ValueError, match=r"SAC needs a Box action space, found Discrete\(2\): use PPO, A2C or DQN"):
        make_model("SAC", venv)


def test_td3_on_a_slate_and_maskable_ppo_on_box_are_refused(tmp_path):
    with pytest.raises(ValueError, match="TD3 needs a Box action space"):
        make_model("TD3", make_vec_env(tiny_config(tmp_path, "TD3", TWO_ITEMS, 100, {}), n_envs=2))
    with pytest.raises(ValueError, match=r"MaskablePPO needs a .* action space, found Box.*use SAC, TD3, PPO or A2C"):
        make_model("MaskablePPO", make_vec_env(tiny_config(tmp_path, "PPO", RISING_REVENUE, 100, {}), n_envs=2))


def test_maskable_ppo_needs_action_masks(tmp_path):
    venv = make_vec_env(tiny_config(tmp_path, "PPO", TWO_PRICES, 100, {}), n_envs=2)
    with pytest.raises(ValueError, match=r"MaskablePPO needs an environment with action_masks\(\).*use PPO or A2C"):
        make_model("MaskablePPO", venv)


def test_unknown_hyperparameter_is_named(tmp_path):
    venv = make_vec_env(tiny_config(tmp_path, "PPO", TWO_PRICES, 100, {}), n_envs=2)
    with pytest.raises(ValueError, match=r"algo.hyperparams: PPO has no parameter\(s\) \['n_stepz'\]"):
        make_model("PPO", venv, hyperparams={"n_stepz": 8})


def test_lin_learning_rate_decays_to_zero_and_survives_save(tmp_path):
    venv = make_vec_env(tiny_config(tmp_path, "PPO", TWO_PRICES, 100, {}), n_envs=2)
    model = make_model("PPO", venv, hyperparams={"learning_rate": "lin_1e-3", "n_steps": 16, "batch_size": 32})
    assert model.lr_schedule(1.0) == pytest.approx(1e-3) and model.lr_schedule(0.25) == pytest.approx(2.5e-4)
    model.learn(total_timesteps=64)
    assert model.policy.optimizer.param_groups[0]["lr"] < 1e-3  # the schedule ran during training
    model.save(tmp_path / "m.zip")
    assert type(model).load(tmp_path / "m.zip").lr_schedule(0.5) == pytest.approx(5e-4)


@pytest.mark.parametrize(("bad", "expected"), [
    ("fast", "expected a number or 'lin_X'"), ("lin_", "expected a number or 'lin_X'"),
    ("lin_x", "expected a number or 'lin_X'"), ("lin_-1e-3", "expected 'lin_X' with X a finite number > 0"),
    ("lin_inf", "expected 'lin_X' with X a finite number > 0"), ("lin_1e999", "expected 'lin_X' with X a finite number > 0")])
def test_bad_schedule_is_named_by_the_model_and_by_the_config(tmp_path, bad, expected):
    venv = make_vec_env(tiny_config(tmp_path, "PPO", TWO_PRICES, 100, {}), n_envs=2)
    with pytest.raises(ValueError, match=r"algo\.hyperparams\.learning_rate: " + re.escape(expected)):
        make_model("PPO", venv, hyperparams={"learning_rate": bad})
    with pytest.raises(ValueError, match=r"algo\.hyperparams\.learning_rate: " + re.escape(expected)):
        tiny_config(tmp_path / "cfg", "PPO", TWO_PRICES, 100, {"learning_rate": bad})
    assert not (tmp_path / "cfg").exists()  # refused before any run directory is made
