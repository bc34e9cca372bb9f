"""The torch vector envs: same spaces and same statistics as the numpy vector envs, known answers on tiny
instances, seeded reproducibility, autoreset semantics, the tensor API and device errors.

Runs on the CPU; where CUDA is available the device-parametrised tests run on it too."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from sb3_contrib.common.maskable.utils import get_action_masks
from stable_baselines3 import PPO

import envs  # noqa: F401
from envs._torch_common import CUDA_MISSING, resolve_device
from envs.defaults import ferreira_demand_params, synthetic_click_params, synthetic_demand_params
from envs.params import BernoulliDemandParams, ClickParams, DemandParams
from envs.sb3_vec_env import SB3VecEnv
from envs.torch_ad_allocation import TorchAdAllocationVectorEnv
from envs.torch_factory import make_torch_vec_env
from envs.torch_pricing import TorchPricingVectorEnv

AD = "retailrl/AdAllocation-v0"
PRICING = "retailrl/Pricing-v0"
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
TWO_CLASSES = DemandParams(["a", "b", "c"], intercepts=[[2.0, 1.0, 0.5], [0.0, 1.5, 1.0]], beta_price=[-2.0, -0.7],
                           unit_cost=0.5, price_low=1.0, price_high=3.0, arrival_rate=20.0, class_probs=[0.3, 0.7])

# (id, kwargs, fixed action)
CASES = [
    (AD, {"arrivals_per_day": 40, "budget": 8.0, "include_purchases": True}, [5, 17, 5]),
    (PRICING, {"horizon": 10}, [1, 2, 0, 3]),
    (PRICING, {"horizon": 10, "action_type": "continuous"}, [0.1, -0.3, 0.5, 0.0]),
    (PRICING, {"horizon": 12, "inventory": 40}, [0, 0, 1, 1]),
    (PRICING, {"demand": ferreira_demand_params(), "inventory": 10, "horizon": 15}, 1),
    (PRICING, {"demand": TWO_CLASSES, "horizon": 8, "inventory": [30, 20, 10], "n_price_levels": 3}, [0, 1, 2]),
    (PRICING, {"demand": TWO_CLASSES, "horizon": 8, "action_type": "continuous"}, [-0.5, 0.0, 0.5]),
]
# The budget and stock-out cases below are sized for the seeded synthetic instances (costs per click vary,
# prices 1 to 4), not for the OBD/Cracker-calibrated defaults.
SYN_CLICK, SYN_DEMAND = synthetic_click_params(), synthetic_demand_params()
IDS = ["ad", "mnl", "continuous", "inventory", "bernoulli", "classes_inventory", "classes_continuous"]


def _numpy_env(env_id, n, **kwargs):
    return gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **kwargs).unwrapped


def _actions(env, action, n_steps, seed):
    """``n_steps`` batches: the fixed ``action`` for every sub-env, or (``action is None``) seeded random ones."""
    if action is not None:
        batch = np.broadcast_to(np.asarray(action), (env.num_envs,) + np.shape(action)).copy()
        return [batch] * n_steps
    space = env.action_space
    space.seed(seed)
    return [space.sample() for _ in range(n_steps)]


def _rewards(env, actions, seed):
    """``(n_steps, num_envs)`` rewards of ``env`` fed ``actions`` (numpy API) after ``reset(seed=seed)``."""
    env.reset(seed=seed)
    return np.stack([env.step(a)[1] for a in actions])


def _within(a, b, n_se=4.0):
    """Means of the independent samples ``a`` and ``b`` agree within ``n_se`` standard errors (and vary)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    assert se > 0, "no variation: the comparison would be vacuous"
    assert abs(a.mean() - b.mean()) < n_se * se, f"means {a.mean():.5g} vs {b.mean():.5g}, se {se:.3g}"


# -- same spaces, same statistics as the numpy vector envs ------------------------------------------------------
@pytest.mark.parametrize(("env_id", "kwargs", "action"), CASES, ids=IDS)
def test_spaces_are_those_of_the_numpy_vector_env(env_id, kwargs, action):
    ref = _numpy_env(env_id, 5, **kwargs)
    env = make_torch_vec_env(env_id, 5, device="cpu", **kwargs)
    assert env.single_observation_space == ref.single_observation_space
    assert env.single_action_space == ref.single_action_space
    assert env.observation_space == ref.observation_space
    assert env.action_space == ref.action_space
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.float32 and env.observation_space.contains(obs)


@pytest.mark.parametrize("policy", ["fixed", "random"])
@pytest.mark.parametrize(("env_id", "kwargs", "action"), CASES, ids=IDS)
def test_mean_reward_per_step_matches_the_numpy_vector_env(env_id, kwargs, action, policy):
    n_envs, n_steps = 300, 60
    ref = _numpy_env(env_id, n_envs, **kwargs)
    env = make_torch_vec_env(env_id, n_envs, device="cpu", **kwargs)
    fixed = action if policy == "fixed" else None
    ref_rewards = _rewards(ref, _actions(ref, fixed, n_steps, seed=3), seed=1)
    torch_rewards = _rewards(env, _actions(env, fixed, n_steps, seed=4), seed=2)
    assert torch_rewards.dtype == np.float64 and torch_rewards.shape == (n_steps, n_envs)
    _within(ref_rewards.mean(axis=0), torch_rewards.mean(axis=0))  # per sub-env means: independent samples


def _first_episode(env, actions, seed):
    """Per sub-env, over its first episode (disabled autoreset): length, return, and the step after which the
    last observation entry (budget or last product's stock share) first hit 0 (``-1``: never)."""
    env.reset(seed=seed)
    n = env.num_envs
    length, ret, hit_zero = np.zeros(n, np.int64), np.zeros(n), np.full(n, -1)
    running = np.ones(n, dtype=bool)
    for step, a in enumerate(actions, start=1):
        obs, reward, terminated, truncated, _ = env.step(a)
        ret += np.where(running, reward, 0.0)
        hit_zero[running & (hit_zero < 0) & (obs[:, -1] == 0)] = step
        ended = running & (terminated | truncated)
        length[ended] = step
        running &= ~ended
        if not running.any():
            break
    assert not running.any(), "some episode outlived the action list"
    return length, ret, hit_zero


@pytest.mark.parametrize("policy", ["fixed", "random"])
def test_ad_budget_exhaustion_and_episode_length_match_the_numpy_env(policy):
    # budgets near the expected daily spend (about 10.4 for the top-3 slate, 3.1 for random slates), so they bind
    # on some days only
    budget = 10.0 if policy == "fixed" else 3.0
    kwargs = {"arrivals_per_day": 40, "budget": budget, "include_purchases": True, "autoreset_mode": "Disabled",
              "params": SYN_CLICK}
    ref, env = _numpy_env(AD, 400, **kwargs), make_torch_vec_env(AD, 400, device="cpu", **kwargs)
    fixed = [33, 71, 28] if policy == "fixed" else None
    ref_len, ref_ret, ref_out = _first_episode(ref, _actions(ref, fixed, 40, seed=5), seed=6)
    len_, ret, out = _first_episode(env, _actions(env, fixed, 40, seed=7), seed=8)
    np.testing.assert_array_equal(ref_len, 40)  # terminated after exactly T arrivals, never truncated
    np.testing.assert_array_equal(len_, 40)
    _within(ref_out > 0, out > 0)  # share of days whose budget ran out
    assert 0.1 < (out > 0).mean() < 0.9
    _within(ref_out[ref_out > 0], out[out > 0])  # when it ran out
    _within(ref_ret, ret)


# inventories near 0.7-0.9 of the season's expected demand under each policy: some seasons sell out early, some not
STOCK_OUT_CASES = [
    ({"demand": SYN_DEMAND, "horizon": 12, "inventory": [214, 144, 31, 21]}, [0, 0, 1, 1]),
    ({"demand": SYN_DEMAND, "horizon": 12, "inventory": [76, 56, 40, 29]}, None),
    ({"demand": ferreira_demand_params(), "horizon": 15, "inventory": 10}, 1),
    ({"demand": ferreira_demand_params(), "horizon": 15, "inventory": 7}, None),
    ({"demand": TWO_CLASSES, "horizon": 8, "n_price_levels": 3, "inventory": [34, 35, 10]}, [0, 1, 2]),
    ({"demand": TWO_CLASSES, "horizon": 8, "n_price_levels": 3, "inventory": [15, 36, 23]}, None),
]


@pytest.mark.parametrize(("kwargs", "action"), STOCK_OUT_CASES, ids=[
    "mnl-fixed", "mnl-random", "bernoulli-fixed", "bernoulli-random", "classes-fixed", "classes-random"])
def test_pricing_stock_outs_match_the_numpy_env(kwargs, action):
    kwargs = {**kwargs, "autoreset_mode": "Disabled"}
    ref, env = _numpy_env(PRICING, 400, **kwargs), make_torch_vec_env(PRICING, 400, device="cpu", **kwargs)
    horizon = kwargs["horizon"]
    ref_len, ref_ret, ref_out = _first_episode(ref, _actions(ref, action, horizon, seed=9), seed=10)
    len_, ret, out = _first_episode(env, _actions(env, action, horizon, seed=11), seed=12)
    assert 0.02 < (len_ < horizon).mean() < 0.98 and 0.02 < (out >= 0).mean() < 0.98  # not all or nothing
    _within(ref_len < horizon, len_ < horizon)  # seasons ended early by selling out
    _within(ref_out >= 0, out >= 0)  # the last product sold out
    _within(ref_out[ref_out >= 0], out[out >= 0])  # when it sold out
    _within(ref_len, len_)
    _within(ref_ret, ret)


# -- known answers on tiny instances ----------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
def test_ad_budget_runs_out_on_schedule_and_duplicates_are_empty_slots(device):
    params = ClickParams(relevance=[[1.0, 1.0]], position_bias=[1.0, 1.0], context_probs=[1.0], cost_per_click=1.0)
    env = TorchAdAllocationVectorEnv(3, params=params, budget=5.0, arrivals_per_day=6, device=device)
    env.reset(seed=0)
    actions = np.array([[0, 1], [0, 0], [2, 2]])  # two clicks; a duplicate (one click); the skip action
    rewards, spends = [], []
    for _ in range(6):
        obs, reward, terminated, truncated, info = env.step(actions)
        rewards.append(reward)
        spends.append(info["spend"])
    np.testing.assert_array_equal(np.array(rewards).T, [[2, 2, 2, 0, 0, 0], [1, 1, 1, 1, 1, 0], [0] * 6])
    np.testing.assert_array_equal(np.array(spends)[2], [2.0, 1.0, 0.0])  # the third slate overspends: 6 > 5
    assert terminated.all() and not truncated.any()
    np.testing.assert_array_equal(obs[:, -1], [0.0, 0.0, 1.0])  # budget share left
    np.testing.assert_array_equal(env.action_masks()[0], [False, False, True] * 2)  # only "empty" once spent
    np.testing.assert_array_equal(env.action_masks()[2], [True] * 6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("device", DEVICES)
def test_bernoulli_season_sells_one_unit_a_period_until_stock_is_gone(device, dtype):
    demand = BernoulliDemandParams(prices=[10.0, 20.0], purchase_probs=[1.0, 0.0], unit_cost=4.0)
    env = TorchPricingVectorEnv(2, demand=demand, inventory=3, horizon=10, device=device, dtype=dtype)
    env.reset(seed=0)
    _, rewards, *_ = env.step_tensors(torch.tensor([0, 1], device=env.device))
    assert rewards.dtype == dtype and rewards.tolist() == [6.0, 0.0]
    env.reset(seed=0)
    for step in range(1, 4):
        obs, reward, terminated, truncated, info = env.step(np.array([0, 1]))
        np.testing.assert_array_equal(reward, [6.0, 0.0])
        np.testing.assert_allclose(obs[0], [step / 10, (3 - step) / 3], rtol=1e-6)
    np.testing.assert_array_equal(terminated, [True, False])  # sold out after 3 periods
    np.testing.assert_array_equal(info["inventory"][:, 0], [0.0, 3.0])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("demand", [None, TWO_CLASSES], ids=["one_class", "two_classes"])
def test_mnl_mean_profit_is_the_analytic_expectation(device, demand):
    env = TorchPricingVectorEnv(4000, demand=demand, horizon=1000, action_type="continuous", device=device)
    d = env.demand
    action = np.linspace(-0.8, 0.6, d.n_products)
    prices = d.price_low + (action + 1.0) * 0.5 * (d.price_high - d.price_low)
    expected = float(((prices - d.unit_cost) * d.arrival_rate * d.choice_probs(prices)).sum())
    env.reset(seed=21)
    rewards = np.concatenate([env.step(np.tile(action, (4000, 1)))[1] for _ in range(5)])
    se = rewards.std(ddof=1) / np.sqrt(rewards.size)
    assert abs(rewards.mean() - expected) < 4 * se


# -- seeding ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("env_id", "kwargs", "action"), [CASES[0], CASES[3]], ids=["ad", "inventory"])
def test_same_seed_same_numbers_on_one_device(env_id, kwargs, action, device):
    def run(seed):
        env = make_torch_vec_env(env_id, 16, device=device, **kwargs)
        return _rewards(env, _actions(env, None, 30, seed=0), seed=seed)

    a, b, c = run(7), run(7), run(8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_reset_with_the_seed_again_repeats_the_stream():
    env = make_torch_vec_env(PRICING, 8, device="cpu", horizon=5)
    actions = _actions(env, [1, 1, 1, 1], 12, seed=0)
    np.testing.assert_array_equal(_rewards(env, actions, seed=3), _rewards(env, actions, seed=3))


def test_tensor_api_gives_the_numbers_of_the_numpy_api():
    kwargs = {"arrivals_per_day": 20, "budget": 5.0, "include_purchases": True, "autoreset_mode": "SameStep",
              "params": SYN_CLICK}
    a = make_torch_vec_env(AD, 32, device="cpu", **kwargs)
    b = make_torch_vec_env(AD, 32, device="cpu", **kwargs)
    obs_a, _ = a.reset(seed=4)
    obs_b, _ = b.reset_tensors(seed=4)
    assert isinstance(obs_b, torch.Tensor) and obs_b.device == b.device
    np.testing.assert_array_equal(obs_a, obs_b.numpy())
    ended = False
    for actions in _actions(a, None, 45, seed=1):
        obs_a, rew_a, term_a, _, info_a = a.step(actions)
        ended |= bool(term_a.any())
        obs_b, rew_b, term_b, trunc_b, info_b = b.step_tensors(torch.as_tensor(actions))
        assert rew_b.dtype == torch.float32 and term_b.dtype == trunc_b.dtype == torch.bool
        assert obs_b.dtype == torch.float32 and obs_b.shape == (32, 10)
        np.testing.assert_array_equal(obs_a, obs_b.numpy())
        np.testing.assert_allclose(rew_a, rew_b.numpy(), rtol=1e-6)
        np.testing.assert_array_equal(term_a, term_b.numpy())
        np.testing.assert_array_equal(info_a["clicks"], info_b["clicks"].numpy())
        assert ("final_obs" in info_a) == bool(info_b["_final_obs"].any())
    assert ended  # the run crossed episode ends


# -- autoreset --------------------------------------------------------------------------------------------------
def test_next_step_autoreset_returns_the_reset_obs_and_zero_reward():
    env = make_torch_vec_env(PRICING, 2, device="cpu", horizon=2)
    env.reset(seed=0)
    action = np.ones((2, 4), dtype=np.int64)
    env.step(action)
    _, _, terminated, truncated, _ = env.step(action)
    assert truncated.all() and not terminated.any()
    obs, rewards, terminated, truncated, _ = env.step(action)
    np.testing.assert_array_equal(obs[:, 0], 0.0)
    np.testing.assert_array_equal(rewards, 0.0)
    assert not terminated.any() and not truncated.any()
    obs, rewards, *_ = env.step(action)
    np.testing.assert_array_equal(obs[:, 0], 0.5)
    assert (rewards > 0).all()


def test_same_step_autoreset_reports_the_final_observation():
    env = make_torch_vec_env(PRICING, 3, device="cpu", horizon=2, inventory=1000, autoreset_mode="SameStep")
    env.reset(seed=0)
    action = np.zeros((3, 4), dtype=np.int64)
    _, _, _, _, info = env.step(action)
    assert "final_obs" not in info  # as the numpy envs: only on a step where some sub-env finished
    obs, _, terminated, _, info = env.step(action)
    assert terminated.all() and info["_final_obs"].all()
    np.testing.assert_array_equal(info["final_obs"][:, 0], 1.0)
    assert (info["final_obs"][:, 1:] < 1.0).all()  # stock was sold
    np.testing.assert_array_equal(obs, np.ones_like(obs) * [0.0, 1, 1, 1, 1])  # fresh season


def test_disabled_autoreset_resets_only_the_masked_sub_envs():
    env = make_torch_vec_env(PRICING, 3, device="cpu", horizon=4, autoreset_mode="Disabled")
    with pytest.raises(ValueError, match="first reset must reset every sub-environment"):
        env.reset(seed=0, options={"reset_mask": np.array([True, False, True])})
    env.reset(seed=0)
    for _ in range(4):
        obs, *_ = env.step(np.zeros((3, 4), dtype=np.int64))
    np.testing.assert_array_equal(obs[:, 0], 1.0)
    obs, _ = env.reset(options={"reset_mask": torch.tensor([True, False, True])})
    np.testing.assert_array_equal(obs[:, 0], [0.0, 1.0, 0.0])
    with pytest.raises(ValueError, match=r"expected shape \(3,\)"):
        env.reset(options={"reset_mask": np.ones(2, dtype=bool)})


# -- SB3 through the existing adapter ---------------------------------------------------------------------------
def test_sb3_adapter_runs_the_torch_env():
    params = ClickParams(relevance=[[1.0, 0.0]], position_bias=[1.0], context_probs=[1.0])
    venv = SB3VecEnv(make_torch_vec_env(AD, 2, device="cpu", params=params, budget=1.0, arrivals_per_day=2))
    venv.seed(3)
    venv.reset()
    obs, rewards, dones, _ = venv.step(np.array([[0], [2]]))
    assert rewards.dtype == np.float32 and rewards.tolist() == [1.0, 0.0]
    assert get_action_masks(venv).tolist() == [[False, False, True], [True, True, True]]
    obs, _, dones, infos = venv.step(np.array([[0], [2]]))
    assert dones.all() and not infos[0]["TimeLimit.truncated"]
    np.testing.assert_array_equal(infos[0]["terminal_observation"], [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(obs, [[1.0, 0.0, 1.0]] * 2)  # reset in the same step, full budget


def test_ppo_trains_on_the_torch_env_through_the_adapter():
    venv = SB3VecEnv(make_torch_vec_env(PRICING, 4, device="cpu", horizon=20))
    model = PPO("MlpPolicy", venv, n_steps=32, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=128)
    assert model.num_timesteps >= 128


# -- errors -----------------------------------------------------------------------------------------------------
def test_cuda_without_a_gpu_says_what_to_use_instead(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError) as excinfo:
        make_torch_vec_env(PRICING, 4, device="cuda")
    assert str(excinfo.value) == CUDA_MISSING
    assert "use device='cpu' or 'auto'" in CUDA_MISSING
    assert resolve_device("auto") == torch.device("cpu")


def test_auto_picks_cuda_exactly_when_available():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert make_torch_vec_env(AD, 2, device="cpu").device == torch.device("cpu")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"env_id": "retailrl/Inventory-v0"}, "env_id: expected one of"),
    ({"device": "tpu"}, "device: expected one of"),
    ({"device": 3}, "device: expected one of"),
    ({"dtype": torch.int32}, "dtype: expected torch.float32 or torch.float64"),
    ({"num_envs": 0}, "num_envs: expected a whole number >= 1"),
    ({"horizon": 0}, "horizon: expected a whole number >= 1"),
])
def test_bad_arguments_are_rejected(kwargs, match):
    args = {"env_id": PRICING, "num_envs": 2, "device": "cpu", **kwargs}
    with pytest.raises(ValueError, match=match):
        make_torch_vec_env(**args)


def test_bad_actions_are_rejected_with_what_was_expected():
    env = make_torch_vec_env(AD, 2, device="cpu")
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(np.zeros((2, 3), dtype=np.int64))
    env.reset(seed=0)
    with pytest.raises(ValueError, match="expected every entry in"):
        env.step(np.full((2, 3), 81))
    with pytest.raises(ValueError, match="expected shape"):
        env.step(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="expected every entry in"):
        env.step_tensors(torch.full((2, 3), -1))
    with pytest.raises(ValueError, match="expected an integer tensor"):
        env.step_tensors(torch.zeros((2, 3)))
    with pytest.raises(ValueError, match="expected a torch.Tensor"):
        env.step_tensors(np.zeros((2, 3), dtype=np.int64))
    cont = make_torch_vec_env(PRICING, 2, device="cpu", action_type="continuous")
    cont.reset(seed=0)
    with pytest.raises(ValueError, match="expected finite numbers"):
        cont.step_tensors(torch.full((2, 4), float("nan")))
    with pytest.raises(ValueError, match="expected a floating-point tensor"):
        cont.step_tensors(torch.zeros((2, 4), dtype=torch.int64))


# -- the benchmark runs (tiny sizes; its numbers are not checked) -----------------------------------------------
def test_benchmark_reports_every_variant(capsys):
    from benchmarks.bench_torch_env import main

    result = main(["--device", "cpu", "--num-envs", "32", "--rounds", "1", "--steps", "5", "--threads", "0"])
    assert [row["env_id"] for row in result["rows"]] == [AD, PRICING]
    for row in result["rows"]:
        assert "skipped" not in row and row["num_envs"] == 32
        assert min(row["torch_tensor_steps_per_s"], row["torch_numpy_steps_per_s"], row["numpy_steps_per_s"]) > 0
    assert result["machine"]["device"] == "cpu" and '"rows"' in capsys.readouterr().out
