"""Export behind the deployable policy interface: the numpy MLP gives the torch network's outputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.export import export_policy, to_mlp_policy
from agents.run_config import RunConfig
from agents.sb3_algos import make_model
from agents.train import make_vec_env
from policies.mlp_policy import MLPPolicy
from policies.policy import Policy

ROOT = Path(__file__).resolve().parents[2]
PRICING = {"id": "retailrl/Pricing-v0", "kwargs": {"horizon": 10}}  # MultiDiscrete([5, 5, 5, 5])
BERNOULLI = {"id": "retailrl/Pricing-v0", "kwargs": {"horizon": 10, "inventory": 5},  # Discrete(4), 2 features
             "params": {"bernoulli_demand": {"prices": [29.9, 34.9, 39.9, 44.9], "purchase_probs": [.8, .6, .3, .1]}}}
CONTINUOUS = {"id": "retailrl/Pricing-v0", "kwargs": {"horizon": 10, "action_type": "continuous"}}  # Box (4,)
JOINT = {"id": "retailrl/Inventory-v0",  # MultiDiscrete([max_action + 1, 3]): unequal sizes
         "kwargs": {"n_price_levels": 3, "horizon": 10},
         "params": {"inventory": {"demand_mean": 3.0, "lead_time": 1},
                    "demand": {"product_names": ["a"], "intercepts": [1.0], "beta_price": -1.0, "unit_cost": 0.5,
                               "price_low": 1.0, "price_high": 3.0, "arrival_rate": 4.0}}}
ADS = {"id": "retailrl/AdAllocation-v0", "kwargs": {"budget": 2.0, "arrivals_per_day": 20}}


def build(algo: str, env: dict, **hyperparams):
    cfg = RunConfig.from_dict({"name": "x", "env": {**env, "n_envs": 2}, "algo": {"name": algo}})
    venv = make_vec_env(cfg)
    return make_model(algo, venv, seed=3, hyperparams=hyperparams), venv


def observations(venv, n: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    low = np.maximum(venv.observation_space.low, -50.0)
    high = np.minimum(venv.observation_space.high, 50.0)
    return rng.uniform(low, high, size=(n, low.shape[0])).astype(np.float32)


def torch_probs(model, obs: np.ndarray, masks: np.ndarray | None = None) -> list[np.ndarray]:
    with torch.no_grad():
        x, _ = model.policy.obs_to_tensor(obs)
        dist = model.policy.get_distribution(x)
        if masks is not None:  # sb3-contrib's masked distributions: one per slot
            dist.apply_masking(masks)
            return [c.probs.numpy() for c in dist.distributions]
        d = dist.distribution
        return [c.probs.numpy() for c in d] if isinstance(d, list) else [d.probs.numpy()]


@pytest.mark.parametrize(("algo", "env"), [("PPO", PRICING), ("A2C", BERNOULLI), ("PPO", JOINT)])
def test_categorical_heads_match_torch(algo, env):
    model, venv = build(algo, env)
    obs = observations(venv)
    policy = to_mlp_policy(model)
    dist = policy.action_dist(obs)
    probs = torch_probs(model, obs)
    assert dist.shape == (64, max(p.shape[1] for p in probs), len(probs))
    for k, p in enumerate(probs):
        np.testing.assert_allclose(dist[:, : p.shape[1], k], p, atol=1e-6)
        assert (dist[:, p.shape[1]:, k] == 0).all()  # padding of a shorter slot
    np.testing.assert_array_equal(policy.predict(obs), model.predict(obs, deterministic=True)[0])


def test_maskable_ppo_matches_torch_with_masks():
    model, venv = build("MaskablePPO", ADS)
    obs = observations(venv, 16)
    masks = np.ones((16, 3 * 81), dtype=bool)
    masks[::2, :] = False
    masks[::2, 80::81] = True  # budget spent: only "empty" in each slot
    masks[1::2, 5:40] = False
    policy = to_mlp_policy(model)
    dist = policy.action_dist(obs, action_masks=masks)
    for k, p in enumerate(torch_probs(model, obs, masks)):
        np.testing.assert_allclose(dist[:, :, k], p, atol=1e-6)
    np.testing.assert_array_equal(policy.predict(obs, masks),
                                  model.predict(obs, deterministic=True, action_masks=masks)[0])
    assert (policy.predict(obs, masks)[::2] == 80).all()


def test_dqn_exports_its_greedy_action():
    model, venv = build("DQN", BERNOULLI)
    obs = observations(venv)
    policy = to_mlp_policy(model)
    with torch.no_grad():
        q = model.policy.q_net(model.policy.obs_to_tensor(obs)[0]).numpy()
    np.testing.assert_allclose(policy.forward(obs), q, atol=1e-5)
    dist = policy.action_dist(obs)[:, :, 0]
    np.testing.assert_array_equal(dist.argmax(axis=1), q.argmax(axis=1))
    assert set(np.unique(dist)) <= {0.0, 1.0}
    np.testing.assert_array_equal(policy.predict(obs), model.predict(obs, deterministic=True)[0])


@pytest.mark.parametrize("algo", ["SAC", "TD3", "PPO"])
def test_box_policies_export_the_deterministic_mean(algo):
    model, venv = build(algo, CONTINUOUS)
    obs = observations(venv)
    policy = to_mlp_policy(model, action_grid=np.linspace(-1, 1, 5)[None, :].repeat(4, axis=0))
    expected = model.predict(obs, deterministic=True)[0]
    np.testing.assert_allclose(policy.mean_action(obs), expected, atol=1e-5)
    dist = policy.action_dist(obs)
    assert dist.shape == (64, 5, 4)
    nearest = np.abs(expected[:, :, None] - np.linspace(-1, 1, 5)[None, None, :]).argmin(axis=2)
    np.testing.assert_array_equal(dist.argmax(axis=1), nearest)


def test_vecnormalize_statistics_travel_with_the_policy(tmp_path):
    from stable_baselines3.common.vec_env import VecNormalize

    cfg = RunConfig.from_dict({"name": "x", "env": {**BERNOULLI, "n_envs": 2}, "algo": {"name": "PPO"}})
    vecnorm = VecNormalize(make_vec_env(cfg), clip_obs=3.0)
    vecnorm.obs_rms.mean = np.array([0.4, 0.2])
    vecnorm.obs_rms.var = np.array([0.05, 0.01])
    vecnorm.training = False
    model = make_model("PPO", vecnorm, seed=1)
    obs = observations(vecnorm)
    policy = export_policy(model, tmp_path / "policy", vecnorm)
    np.testing.assert_allclose(policy.action_dist(obs)[:, :, 0], torch_probs(model, vecnorm.normalize_obs(obs))[0],
                               atol=1e-6)
    loaded = Policy.load(tmp_path / "policy")
    assert isinstance(loaded, MLPPolicy)
    np.testing.assert_array_equal(loaded.action_dist(obs), policy.action_dist(obs))


def test_an_exported_policy_loads_and_serves_without_torch(tmp_path):
    model, venv = build("PPO", PRICING)
    obs = observations(venv, 8)
    policy = export_policy(model, tmp_path / "policy")
    np.save(tmp_path / "obs.npy", obs)
    script = ("import sys; sys.modules['torch'] = None; sys.modules['stable_baselines3'] = None\n"
              "import numpy as np; from policies.policy import Policy\n"
              f"p = Policy.load({str(tmp_path / 'policy')!r})\n"
              f"np.save({str(tmp_path / 'out.npy')!r}, p.action_dist(np.load({str(tmp_path / 'obs.npy')!r})))\n")
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), policy.action_dist(obs))


def test_unsupported_networks_are_refused():
    model, _ = build("PPO", PRICING, policy_kwargs={"activation_fn": torch.nn.ELU})
    with pytest.raises(ValueError, match="cannot export a ELU layer"):
        to_mlp_policy(model)
