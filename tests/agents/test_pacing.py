"""Budget pacing: the serve/skip env never overruns, linear pacing follows its schedule, the fluid bound, the
hand-written threshold policy, and the RL pacers (threshold PPO and serve/skip PPO) on a tiny bimodal instance."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agents.evaluate import run_episodes
from agents.pacing import (
    GreedyPacing,
    LinearPacing,
    PacingVectorEnv,
    StaticThresholdPacing,
    compare_pacing,
    cpm_params,
    fluid_pacing_bound,
    lp_threshold,
    slate_ctr,
)
from agents.pacing_rl import (
    OBS_COLUMNS,
    ThresholdPacer,
    ThresholdPacingVectorEnv,
    load_pacer,
    train_pacing_ppo,
    train_threshold_ppo,
)
from envs.defaults import synthetic_click_params
from envs.oracles import best_slates
from envs.params import ClickParams
from policies.policy import Policy

T = 400


@pytest.fixture(scope="module")
def cpm():
    return cpm_params(synthetic_click_params(), 40.0, T, 0.5)


def test_fluid_bound_serves_everyone_when_the_budget_does_not_bind(cpm):
    slates = np.asarray(best_slates(cpm)["slates"])
    everyone = T * float(cpm.context_probs.mean(axis=0) @ slate_ctr(cpm, slates))
    assert fluid_pacing_bound(cpm, 1e9, T)["clicks"] == pytest.approx(everyone)
    half = fluid_pacing_bound(cpm, 40.0, T)
    # half the arrivals, the best half: more than half the clicks, less than all
    assert everyone / 2 < half["clicks"] < everyone
    assert np.array(half["serve_share"]).max() == 1.0


def test_linear_pacing_spends_the_budget_evenly_and_a_threshold_policy_beats_it(cpm):
    out = compare_pacing({"linear": LinearPacing(T), "greedy": GreedyPacing(),
                          "threshold": StaticThresholdPacing(lp_threshold(cpm, 40.0, T))},
                         cpm, 40.0, T, n_seeds=30, seed=2)
    lin, greedy, thr = (out["policies"][k] for k in ("linear", "greedy", "threshold"))
    assert lin["spend_share"] == pytest.approx(1.0, abs=0.02) and lin["overruns"] == 0
    assert greedy["overruns"] == 0 and thr["overruns"] == 0
    assert thr["clicks"] > 1.1 * lin["clicks"]
    assert thr["ratio"] <= 1.05 and lin["ratio"] < thr["ratio"]
    # linear pacing serves about half of its slates in the first half of the day
    env = PacingVectorEnv(30, cpm, 40.0, T)
    obs, _ = env.reset(seed=4)
    served_first_half = 0
    policy = LinearPacing(T)
    for _ in range(T // 2):
        obs, _, _, _, info = env.step(policy(obs))
        served_first_half += info["served"].sum()
    assert served_first_half / 30 == pytest.approx(0.5 * lin["served"], rel=0.05)


def test_the_guard_prevents_overruns_under_random_click_costs():
    params = synthetic_click_params()  # cost per click 0.5 .. 1.5, clicks are random
    env = PacingVectorEnv(30, params, 5.0, T)
    runs = run_episodes(GreedyPacing(), env, 1)
    assert (runs["info"]["spend"] <= 5.0 + 1e-9).all()
    # it stops only when the remaining budget cannot cover a slate's worst-case cost
    assert (runs["info"]["spend"] > 5.0 - env.slate_cost.max()).all()


def test_pacing_refuses_bad_arguments(cpm):
    with pytest.raises(ValueError, match="serve_share"):
        cpm_params(cpm, 10.0, 100, 0.0)
    with pytest.raises(ValueError, match="slates"):
        PacingVectorEnv(2, cpm, 10.0, 100, slates=np.zeros((2, 2), dtype=int))
    with pytest.raises(ValueError, match="arrivals_per_day"):
        LinearPacing(0)


# A tiny bimodal instance with a known answer: half the shoppers click with 0.8, half with 0.2, every impression
# costs 1, and the budget (40 of 100 arrivals) cannot serve even all the good half: serve only good shoppers.
TINY_T, TINY_BUDGET = 100, 40.0


@pytest.fixture(scope="module")
def bimodal():
    return ClickParams(relevance=[[0.8, 0.1], [0.1, 0.2]], position_bias=[1.0], context_probs=[0.5, 0.5],
                       cost_per_click=0.0, cost_per_impression=1.0)


def _states(params, n_days=20):
    """Observations of ``n_days`` days run by linear pacing (the states a pacer meets)."""
    env = PacingVectorEnv(n_days, params, TINY_BUDGET, TINY_T)
    obs, _ = env.reset(seed=9)
    seen = []
    for _ in range(TINY_T):
        seen.append(obs)
        obs, *_ = env.step(LinearPacing(TINY_T)(obs))
    return np.concatenate(seen)


def test_pacing_features_are_relative_value_and_affordable_share(bimodal):
    env = PacingVectorEnv(3, bimodal, TINY_BUDGET, TINY_T)
    np.testing.assert_allclose(env.value, [1.6, 0.4], rtol=1e-6)  # clicks per unit cost / mean 0.5
    obs, _ = env.reset(seed=0)
    assert obs.shape == (3, 2 + 4) and env.observation_space.contains(obs)
    ctx = np.argmax(obs[:, :2], axis=1)
    np.testing.assert_allclose(obs[:, PacingVectorEnv.VALUE], env.value[ctx])
    np.testing.assert_allclose(obs[:, PacingVectorEnv.AFFORD], 0.4)  # 40 of 100 arrivals affordable
    np.testing.assert_allclose(obs[:, [PacingVectorEnv.TIME, PacingVectorEnv.BUDGET]], [[0.0, 1.0]] * 3)
    for _ in range(50):
        obs, *_ = env.step(np.ones(3, dtype=int))
    np.testing.assert_allclose(obs[:, PacingVectorEnv.AFFORD], 0.0, atol=1e-9)  # greedy: all spent by t = 40
    assert lp_threshold(bimodal, TINY_BUDGET, TINY_T) == pytest.approx(1.6)


def test_the_threshold_env_replays_the_serve_skip_env_on_the_same_seed(bimodal):
    """Threshold level 0 serves everyone: the same days, click for click, as greedy pacing on the same seed."""
    env = ThresholdPacingVectorEnv(4, bimodal, TINY_BUDGET, TINY_T, block=10, n_levels=5)
    obs, _ = env.reset(seed=3)
    assert obs.shape == (4, len(OBS_COLUMNS)) and env.levels[0] == 0.0
    clicks, steps, done = np.zeros(4), 0, np.zeros(4, dtype=bool)
    while not done.all():
        obs, rewards, done, _, _ = env.step(np.zeros(4, dtype=int))
        clicks += rewards
        steps += 1
    assert steps == TINY_T // 10
    greedy = run_episodes(GreedyPacing(), PacingVectorEnv(4, bimodal, TINY_BUDGET, TINY_T), 3)["reward"]
    np.testing.assert_array_equal(clicks, greedy)


def test_threshold_ppo_learns_to_skip_low_value_arrivals(bimodal, tmp_path):
    import torch

    states = torch.as_tensor(_states(bimodal)[:, list(OBS_COLUMNS)])
    serves_low = None
    for days, lr in ((1, 1e-12), (300, 3e-4)):  # (nearly) untrained, then trained
        pacer = train_threshold_ppo(bimodal, TINY_BUDGET, TINY_T, days, seed=0, n_envs=8, block=10, n_levels=9,
                                    learning_rate=lr)
        probs = pacer.model.policy.get_distribution(states).distribution.probs.detach().numpy()
        # mass on thresholds that would also serve the low-value shoppers (value 0.4)
        serves_low = probs[:, pacer.levels <= 0.4 + 1e-6].sum(axis=1)
        if days == 1:
            assert serves_low.mean() > 0.3  # 3 of 9 levels
    assert serves_low.max() < 0.2 and serves_low.mean() < 0.1
    pacer.export(tmp_path / "pacer")
    exported = Policy.load(tmp_path / "pacer")  # the numpy artefact, read without torch
    np.testing.assert_array_equal(exported.predict(states.numpy()), pacer.model.predict(states.numpy(), deterministic=True)[0])
    np.testing.assert_allclose(exported.action_dist(states.numpy())[:, :, 0], probs, atol=1e-5)
    meta = json.loads((tmp_path / "pacer" / "pacer.json").read_text())
    assert meta["levels"] == pacer.levels.tolist() and meta["block"] == 10
    out = compare_pacing({"rl": pacer, "linear": LinearPacing(TINY_T), "loaded": load_pacer(tmp_path / "pacer")},
                         bimodal, TINY_BUDGET, TINY_T, n_seeds=30, seed=5)
    rl, lin = out["policies"]["rl"], out["policies"]["linear"]
    assert out["policies"]["loaded"]["clicks_per_day"] == rl["clicks_per_day"]  # the artefact acts the same
    assert rl["overruns"] == 0 and rl["clicks"] > 1.4 * lin["clicks"] and rl["ratio"] > 0.95


def test_serve_skip_ppo_learns_to_skip_low_value_arrivals(bimodal):
    import torch

    states = _states(bimodal)
    model = train_pacing_ppo(bimodal, TINY_BUDGET, TINY_T, 30_000, seed=0, n_envs=8, batch_size=200)
    serve = model.policy.get_distribution(torch.as_tensor(states)).distribution.probs.detach().numpy()[:, 1]
    good = states[:, 0] > 0.5
    assert serve[good].mean() > 0.9 and serve[~good].mean() < 0.05


def test_threshold_pacer_keeps_a_threshold_for_the_block():
    class Fixed:
        def __init__(self):
            self.calls = []

        def predict(self, obs, deterministic=True):
            self.calls.append(obs.shape[0])
            return np.full(obs.shape[0], 1), None

    model = Fixed()
    pacer = ThresholdPacer(model, np.array([0.0, 1.0]), block=5, arrivals_per_day=10)
    obs = np.zeros((2, 6), dtype=np.float32)
    obs[:, PacingVectorEnv.VALUE] = [0.5, 1.5]
    for t in range(10):
        obs[:, PacingVectorEnv.TIME] = t / 10
        np.testing.assert_array_equal(pacer(obs), [0, 1])
    assert model.calls == [2, 2]  # asked at t = 0 and t = 5 only


def test_rl_pacing_refuses_bad_arguments(bimodal):
    with pytest.raises(ValueError, match="block"):
        ThresholdPacingVectorEnv(2, bimodal, TINY_BUDGET, TINY_T, block=0)
    with pytest.raises(ValueError, match="n_levels"):
        ThresholdPacingVectorEnv(2, bimodal, TINY_BUDGET, TINY_T, n_levels=1)
    with pytest.raises(ValueError, match="reward_scale"):
        ThresholdPacingVectorEnv(2, bimodal, TINY_BUDGET, TINY_T, reward_scale=0.0)
    with pytest.raises(ValueError, match="model"):
        ThresholdPacer(object(), np.array([0.0, 1.0]), 5, 10)
    with pytest.raises(ValueError, match="threshold"):
        StaticThresholdPacing(float("nan"))


def test_load_pacer_says_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no pacer.json; write one with ThresholdPacer.export"):
        load_pacer(tmp_path)
    (tmp_path / "pacer.json").write_text(json.dumps({"levels": [0.0, 1.0]}))
    with pytest.raises(ValueError, match=r"lacks \['block', 'arrivals_per_day'\]"):
        load_pacer(tmp_path)
